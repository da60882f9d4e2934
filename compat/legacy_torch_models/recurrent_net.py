"""Legacy ``ray.rllib.models.torch.recurrent_net``: ``RecurrentNetwork`` and the
``LSTMWrapper`` that ``use_lstm`` put around a model (``lstm_wrapped``)."""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Discrete, MultiDiscrete
from torch import nn

from compat.legacy_torch_models.misc import SlimFC
from compat.legacy_torch_models.rnn_sequencing import add_time_dimension
from compat.legacy_torch_models.spaces import flatten_space, one_hot
from compat.legacy_torch_models.torch_modelv2 import TorchModelV2
from rlmodule.tree import flatten


class RecurrentNetwork(TorchModelV2):
    """Legacy ``recurrent_net.RecurrentNetwork``: ``forward`` reshapes ``obs_flat``
    ``[B * T, n]`` to ``[B, T, n]`` (``[T, B, n]`` if ``_time_major``) for
    ``forward_rnn``, whose ``[B, T, num_outputs]`` output it flattens back."""

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        flat_inputs = input_dict["obs_flat"].float()
        self.time_major = self.model_config.get("_time_major", False)
        inputs = add_time_dimension(
            flat_inputs, seq_lens=seq_lens, framework="torch", time_major=self.time_major
        )
        output, new_state = self.forward_rnn(inputs, state, seq_lens)
        output = torch.reshape(output, [-1, self.num_outputs])
        return output, new_state

    def forward_rnn(
        self, inputs: torch.Tensor, state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """``inputs [B, T, n]``, ``state`` (each ``[B, size]``) -> ``([B, T, num_outputs],
        new state)``."""
        raise NotImplementedError("You must implement this for an RNN model")


def _flatten_inputs_to_1d_tensor(inputs: Any, flat_spaces: List[gym.Space]) -> torch.Tensor:
    """Legacy ``flatten_inputs_to_1d_tensor`` (no time axis): ``[B, sum of flat sizes]``."""
    flat_inputs = flatten(inputs, sort_keys=True, lists=True)
    batch = flat_inputs[0].shape[0]
    out = []
    for input_, space in zip(flat_inputs, flat_spaces):
        if isinstance(space, (Discrete, MultiDiscrete)):
            out.append(one_hot(input_, space).float())
        else:
            out.append(torch.reshape(input_, [batch, -1]).float())
    return torch.cat(out, dim=-1)


class LSTMWrapper(RecurrentNetwork):
    """Legacy ``recurrent_net.LSTMWrapper``: a mixin placed before the wrapped model class
    (see ``lstm_wrapped``). The wrapped model's output [B * T, n] (plus the one-hot/flat
    previous action and previous reward, if configured) feeds ``lstm``; ``_logits_branch``
    and ``_value_branch`` read the LSTM output."""

    _wrapped_forward: Callable

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        super().__init__(obs_space, action_space, None, model_config, name)
        cfg = self.model_config

        # Here self.num_outputs is the wrapped model's output size (the LSTM input size).
        if self.num_outputs is None:
            self.num_outputs = int(np.prod(self.obs_space.shape))

        self.cell_size = cfg["lstm_cell_size"]
        self.time_major = cfg.get("_time_major", False)
        self.use_prev_action = cfg["lstm_use_prev_action"]
        self.use_prev_reward = cfg["lstm_use_prev_reward"]

        # Python ints (legacy summed numpy ints, which torch>=2.13's nn.LSTM rejects).
        self.action_dim = 0
        for space in flatten_space(self.action_space):
            if isinstance(space, Discrete):
                self.action_dim += int(space.n)
            elif isinstance(space, MultiDiscrete):
                self.action_dim += int(np.sum(space.nvec))
            elif space.shape is not None:
                self.action_dim += int(np.prod(space.shape))
            else:
                self.action_dim += int(len(space))

        if self.use_prev_action:
            self.num_outputs += self.action_dim
        if self.use_prev_reward:
            self.num_outputs += 1

        self.lstm = nn.LSTM(self.num_outputs, self.cell_size, batch_first=not self.time_major)

        self.num_outputs = num_outputs
        self._logits_branch = SlimFC(
            in_size=self.cell_size,
            out_size=self.num_outputs,
            activation_fn=None,
            initializer=torch.nn.init.xavier_uniform_,
        )
        self._value_branch = SlimFC(
            in_size=self.cell_size,
            out_size=1,
            activation_fn=None,
            initializer=torch.nn.init.xavier_uniform_,
        )

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """``obs_flat [B * T, ...]``, ``state`` ``[h, c]`` (each ``[B, cell_size]``),
        ``seq_lens [B]`` -> ``([B * T, num_outputs], [h, c])``."""
        assert seq_lens is not None
        wrapped_out, _ = self._wrapped_forward(input_dict, [], None)

        prev_a_r = []
        if self.model_config["lstm_use_prev_action"]:
            prev_a = input_dict["prev_actions"]
            if self.model_config.get("_disable_action_flattening"):
                prev_a_r.append(
                    _flatten_inputs_to_1d_tensor(prev_a, flatten_space(self.action_space))
                )
            else:
                if isinstance(self.action_space, (Discrete, MultiDiscrete)):
                    prev_a = one_hot(prev_a.float(), self.action_space)
                else:
                    prev_a = prev_a.float()
                prev_a_r.append(torch.reshape(prev_a, [-1, self.action_dim]))
        if self.model_config["lstm_use_prev_reward"]:
            prev_a_r.append(torch.reshape(input_dict["prev_rewards"].float(), [-1, 1]))
        if prev_a_r:
            wrapped_out = torch.cat([wrapped_out] + prev_a_r, dim=1)

        input_dict["obs_flat"] = wrapped_out
        return super().forward(input_dict, state, seq_lens)

    def forward_rnn(
        self, inputs: torch.Tensor, state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        self._features, [h, c] = self.lstm(
            inputs, [torch.unsqueeze(state[0], 0), torch.unsqueeze(state[1], 0)]
        )
        model_out = self._logits_branch(self._features)
        return model_out, [torch.squeeze(h, 0), torch.squeeze(c, 0)]

    def get_initial_state(self) -> List[torch.Tensor]:
        """``[h, c]``, zeros of shape ``[cell_size]`` on the model's device."""
        linear = next(self._logits_branch._model.children())
        return [
            linear.weight.new(1, self.cell_size).zero_().squeeze(0),
            linear.weight.new(1, self.cell_size).zero_().squeeze(0),
        ]

    def value_function(self) -> torch.Tensor:
        assert self._features is not None, "must call forward() first"
        return torch.reshape(self._value_branch(self._features), [-1])


@functools.lru_cache(maxsize=None)
def lstm_wrapped(model_cls: Type[TorchModelV2]) -> Type[LSTMWrapper]:
    """The legacy ``ModelCatalog`` LSTM class for ``model_cls``:
    ``<model_cls>_as_LSTMWrapper(LSTMWrapper, model_cls)``, whose ``_wrapped_forward`` is
    ``model_cls.forward``. Construct it with ``model_cls``'s usual five arguments."""
    if issubclass(model_cls, LSTMWrapper):
        return model_cls
    name = "{}_as_{}".format(model_cls.__name__, LSTMWrapper.__name__)
    return type(
        name,
        (LSTMWrapper, model_cls),
        {"_wrapped_forward": model_cls.forward, "__qualname__": name, "__module__": __name__},
    )
