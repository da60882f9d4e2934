"""Legacy ``ray.rllib.models.torch.complex_input_net.ComplexInputNetwork``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Box, Discrete, MultiDiscrete
from torch import nn

from compat.legacy_torch_models.fcnet import FullyConnectedNetwork
from compat.legacy_torch_models.misc import SlimFC, normc_initializer
from compat.legacy_torch_models.spaces import flatten_space, one_hot
from compat.legacy_torch_models.torch_modelv2 import TorchModelV2
from compat.legacy_torch_models.visionnet import VisionNetwork
from compat.preprocessing import restore_original_dimensions
from rlmodule.tree import flatten


def _sub_model_config(**keys: Any) -> Dict[str, Any]:
    """``ComplexInputNetwork``'s partial sub-model dict, with the keys legacy read as
    missing (None) set explicitly, so completing it with MODEL_DEFAULTS changes nothing."""
    return {
        "vf_share_layers": False,
        "no_final_linear": False,
        "free_log_std": False,
        "post_fcnet_activation": None,
        **keys,
    }


def _vector_net(size: int, action_space: gym.Space, cfg: Dict[str, Any], name: str) -> FullyConnectedNetwork:
    """ComplexInputNetwork's sub-network for a one-hot or flattened component of ``size``
    features: an ``fcnet_hiddens`` FullyConnectedNetwork without outputs."""
    config = _sub_model_config(
        fcnet_hiddens=cfg["fcnet_hiddens"],
        fcnet_activation=cfg.get("fcnet_activation"),
        post_fcnet_hiddens=[],
    )
    return FullyConnectedNetwork(Box(-1.0, 1.0, (size,), np.float32), action_space, None, config, name)


class ComplexInputNetwork(TorchModelV2):
    """Legacy ``complex_input_net.ComplexInputNetwork``: each flattened component of a
    Dict/Tuple obs goes through a VisionNetwork (3D Box), a one-hot + FullyConnectedNetwork
    (Discrete/MultiDiscrete) or a FullyConnectedNetwork (other Box, flattened); the
    concatenation goes through the ``post_fcnet_hiddens`` stack, then the logits
    ``[B, num_outputs]`` and value heads."""

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        original_space = getattr(obs_space, "original_space", obs_space)
        TorchModelV2.__init__(
            self, original_space, action_space, num_outputs, model_config, name
        )
        self.original_space = original_space
        self.processed_obs_space = (
            self.original_space if model_config.get("_disable_preprocessor_api") else obs_space
        )
        cfg = self.model_config
        self.flattened_input_space = flatten_space(self.original_space)

        self.cnns = nn.ModuleDict()
        self.one_hot = nn.ModuleDict()
        self.flatten_dims = {}
        self.flatten = nn.ModuleDict()
        concat_size = 0
        for i, component in enumerate(self.flattened_input_space):
            i = str(i)
            if len(component.shape) == 3 and isinstance(component, Box):
                config = _sub_model_config(
                    conv_filters=cfg["conv_filters"],
                    conv_activation=cfg.get("conv_activation"),
                    post_fcnet_hiddens=[],
                )
                self.cnns[i] = VisionNetwork(
                    component, action_space, None, config, "cnn_{}".format(i)
                )
                concat_size += self.cnns[i].num_outputs
                self.add_module("cnn_{}".format(i), self.cnns[i])
            elif isinstance(component, (Discrete, MultiDiscrete)):
                size = component.n if isinstance(component, Discrete) else np.sum(component.nvec)
                self.one_hot[i] = _vector_net(size, action_space, cfg, "one_hot_{}".format(i))
                concat_size += self.one_hot[i].num_outputs
                self.add_module("one_hot_{}".format(i), self.one_hot[i])
            else:
                size = int(np.prod(component.shape))
                self.flatten[i] = _vector_net(size, action_space, cfg, "flatten_{}".format(i))
                self.flatten_dims[i] = size
                concat_size += self.flatten[i].num_outputs
                self.add_module("flatten_{}".format(i), self.flatten[i])

        self.post_fc_stack = FullyConnectedNetwork(
            Box(float("-inf"), float("inf"), shape=(concat_size,), dtype=np.float32),
            self.action_space,
            None,
            _sub_model_config(
                fcnet_hiddens=cfg.get("post_fcnet_hiddens", []),
                fcnet_activation=cfg.get("post_fcnet_activation", "relu"),
            ),
            "post_fc_stack",
        )

        self.logits_layer = None
        self.value_layer = None
        self._value_out = None
        if num_outputs:
            self.logits_layer = SlimFC(
                in_size=self.post_fc_stack.num_outputs,
                out_size=num_outputs,
                activation_fn=None,
                initializer=normc_initializer(0.01),
            )
            self.value_layer = SlimFC(
                in_size=self.post_fc_stack.num_outputs,
                out_size=1,
                activation_fn=None,
                initializer=normc_initializer(0.01),
            )
        else:
            self.num_outputs = concat_size

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        if "obs" in input_dict and "obs_flat" in input_dict:
            orig_obs = input_dict["obs"]
        else:
            orig_obs = restore_original_dimensions(input_dict["obs"], self.processed_obs_space)
        outs = []
        for i, component in enumerate(flatten(orig_obs, sort_keys=True, lists=True)):
            i = str(i)
            if i in self.cnns:
                cnn_out, _ = self.cnns[i]({"obs": component})
                outs.append(cnn_out)
            elif i in self.one_hot:
                if component.dtype in [torch.int8, torch.int16, torch.int32, torch.int64,
                                       torch.uint8]:
                    one_hot_in = {"obs": one_hot(component, self.flattened_input_space[int(i)])}
                else:
                    one_hot_in = {"obs": component}
                one_hot_out, _ = self.one_hot[i](one_hot_in)
                outs.append(one_hot_out)
            else:
                nn_out, _ = self.flatten[i](
                    {"obs": torch.reshape(component, [-1, self.flatten_dims[i]])}
                )
                outs.append(nn_out)

        out = torch.cat(outs, dim=1)
        out, _ = self.post_fc_stack({"obs": out})
        if self.logits_layer is None:
            return out, []
        logits, values = self.logits_layer(out), self.value_layer(out)
        self._value_out = torch.reshape(values, [-1])
        return logits, []

    def value_function(self) -> torch.Tensor:
        return self._value_out
