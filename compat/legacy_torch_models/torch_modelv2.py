"""Legacy ``ray.rllib.models.torch.torch_modelv2.TorchModelV2``: the ModelV2 surface
(``ModelV2.__call__`` included) on an ``nn.Module``, the base of every built-in model."""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Dict, List, Optional, Tuple, Union

import gymnasium as gym
import torch
from torch import nn

from compat.preprocessing import restore_original_dimensions
from rlmodule.model_config import MODEL_DEFAULTS


class TorchModelV2(nn.Module):
    """Ray-free legacy ``TorchModelV2``: the ModelV2 surface on an ``nn.Module``.

    Subclasses implement ``forward`` (and ``value_function``); callers use ``__call__``.
    Like legacy, ``__call__`` bypasses ``nn.Module.__call__`` (no hooks).
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        if "_modules" not in self.__dict__:  # a migrated RLModule subclass is one already
            nn.Module.__init__(self)
        self.obs_space = obs_space
        self.action_space = action_space
        self.num_outputs = num_outputs
        self.model_config = {**copy.deepcopy(MODEL_DEFAULTS), **model_config}
        self.name = name or "default_model"
        self.framework = "torch"
        self._last_output = None
        self.time_major = self.model_config.get("_time_major")
        self.tower_stats = {}

    def get_initial_state(self) -> List[torch.Tensor]:
        """Initial RNN state tensors, each ``[size]`` (no batch dim); [] if not recurrent."""
        return []

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """``input_dict["obs"]`` (restored structure), ``["obs_flat"]`` ``[B, flat]``,
        ``state`` (each ``[B, size]``) -> ``([B, num_outputs], new state)``."""
        raise NotImplementedError

    def value_function(self) -> torch.Tensor:
        """``[B]`` values of the last ``forward``."""
        raise NotImplementedError

    def custom_loss(self, policy_loss: Any, loss_inputs: Dict[str, Any]) -> Any:
        return policy_loss

    def metrics(self) -> Dict[str, Any]:
        return {}

    def last_output(self) -> Any:
        return self._last_output

    def context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def is_time_major(self) -> bool:
        return self.time_major is True

    def variables(self, as_dict: bool = False) -> Union[List[torch.Tensor], Dict[str, Any]]:
        p = list(self.parameters())
        if as_dict:
            return {k: p[i] for i, k in enumerate(self.state_dict().keys())}
        return p

    def trainable_variables(
        self, as_dict: bool = False
    ) -> Union[List[torch.Tensor], Dict[str, Any]]:
        if as_dict:
            return {k: v for k, v in self.variables(as_dict=True).items() if v.requires_grad}
        return [v for v in self.variables() if v.requires_grad]

    def __call__(
        self,
        input_dict: Dict[str, Any],
        state: Optional[List[Any]] = None,
        seq_lens: Any = None,
    ) -> Tuple[Any, List[Any]]:
        """``input_dict["obs"]``: the flat preprocessed obs ``[B, ...]`` -> ``forward``'s
        ``(out, state_out)``; ``state_out`` is ``state`` when ``forward`` returns []."""
        restored = dict(input_dict)
        if not state:
            state = []
            i = 0
            while "state_in_{}".format(i) in input_dict:
                state.append(input_dict["state_in_{}".format(i)])
                i += 1
        if seq_lens is None:
            seq_lens = input_dict.get("seq_lens")

        if self.model_config.get("_disable_preprocessor_api"):
            restored["obs_flat"] = input_dict["obs"]
        else:
            restored["obs"] = restore_original_dimensions(input_dict["obs"], self.obs_space)
            try:
                if len(input_dict["obs"].shape) > 2:
                    restored["obs_flat"] = torch.flatten(input_dict["obs"], start_dim=1)
                else:
                    restored["obs_flat"] = input_dict["obs"]
            except AttributeError:
                restored["obs_flat"] = input_dict["obs"]

        with self.context():
            res = self.forward(restored, state or [], seq_lens)

        if (not isinstance(res, list) and not isinstance(res, tuple)) or len(res) != 2:
            raise ValueError(
                "forward() must return a tuple of (output, state) tensors, got {}".format(res)
            )
        outputs, state_out = res
        if not isinstance(state_out, list):
            raise ValueError("State output is not a list: {}".format(state_out))
        self._last_output = outputs
        return outputs, state_out if len(state_out) > 0 else (state or [])
