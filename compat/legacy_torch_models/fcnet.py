"""Legacy ``ray.rllib.models.torch.fcnet.FullyConnectedNetwork``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from compat.legacy_torch_models.misc import AppendBiasLayer, SlimFC, normc_initializer
from compat.legacy_torch_models.torch_modelv2 import TorchModelV2


class FullyConnectedNetwork(TorchModelV2):
    """Legacy ``fcnet.FullyConnectedNetwork``: ``obs_flat [B, prod(obs_shape)] ->
    [B, num_outputs]`` (``num_outputs=None``: the last hidden layer's output)."""

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        cfg = self.model_config

        hiddens = list(cfg.get("fcnet_hiddens", [])) + list(cfg.get("post_fcnet_hiddens", []))
        activation = cfg.get("fcnet_activation")
        if not cfg.get("fcnet_hiddens", []):
            activation = cfg.get("post_fcnet_activation")
        no_final_linear = cfg.get("no_final_linear")
        self.vf_share_layers = cfg.get("vf_share_layers")
        self.free_log_std = cfg.get("free_log_std")
        # Free-floating bias variables (log stds) for the second half of the outputs.
        if self.free_log_std:
            assert num_outputs % 2 == 0, ("num_outputs must be divisible by two", num_outputs)
            num_outputs = num_outputs // 2

        layers = []
        prev_layer_size = int(np.prod(obs_space.shape))
        self._logits = None

        for size in hiddens[:-1]:
            layers.append(
                SlimFC(
                    in_size=prev_layer_size,
                    out_size=size,
                    initializer=normc_initializer(1.0),
                    activation_fn=activation,
                )
            )
            prev_layer_size = size

        # The last layer is of size num_outputs, with activation.
        if no_final_linear and num_outputs:
            layers.append(
                SlimFC(
                    in_size=prev_layer_size,
                    out_size=num_outputs,
                    initializer=normc_initializer(1.0),
                    activation_fn=activation,
                )
            )
            prev_layer_size = num_outputs
        # Hidden layers, then (iff num_outputs) a linear logits layer.
        else:
            if len(hiddens) > 0:
                layers.append(
                    SlimFC(
                        in_size=prev_layer_size,
                        out_size=hiddens[-1],
                        initializer=normc_initializer(1.0),
                        activation_fn=activation,
                    )
                )
                prev_layer_size = hiddens[-1]
            if num_outputs:
                self._logits = SlimFC(
                    in_size=prev_layer_size,
                    out_size=num_outputs,
                    initializer=normc_initializer(0.01),
                    activation_fn=None,
                )
            else:
                self.num_outputs = ([int(np.prod(obs_space.shape))] + hiddens[-1:])[-1]

        if self.free_log_std and self._logits:
            self._append_free_log_std = AppendBiasLayer(num_outputs)

        self._hidden_layers = nn.Sequential(*layers)

        self._value_branch_separate = None
        if not self.vf_share_layers:
            prev_vf_layer_size = int(np.prod(obs_space.shape))
            vf_layers = []
            for size in hiddens:
                vf_layers.append(
                    SlimFC(
                        in_size=prev_vf_layer_size,
                        out_size=size,
                        activation_fn=activation,
                        initializer=normc_initializer(1.0),
                    )
                )
                prev_vf_layer_size = size
            self._value_branch_separate = nn.Sequential(*vf_layers)

        self._value_branch = SlimFC(
            in_size=prev_layer_size,
            out_size=1,
            initializer=normc_initializer(0.01),
            activation_fn=None,
        )
        # The last "base" output (before the logits layer) and the last flat input.
        self._features = None
        self._last_flat_in = None

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        obs = input_dict["obs_flat"].float()
        self._last_flat_in = obs.reshape(obs.shape[0], -1)
        self._features = self._hidden_layers(self._last_flat_in)
        logits = self._logits(self._features) if self._logits else self._features
        if self.free_log_std:
            logits = self._append_free_log_std(logits)
        return logits, state

    def value_function(self) -> torch.Tensor:
        assert self._features is not None, "must call forward() first"
        # An empty separate branch (no hiddens) is falsy: legacy then uses the features.
        if self._value_branch_separate:
            return self._value_branch(
                self._value_branch_separate(self._last_flat_in)
            ).squeeze(1)
        return self._value_branch(self._features).squeeze(1)
