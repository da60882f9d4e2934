"""Legacy ``ray.rllib.models.torch.visionnet.VisionNetwork``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from compat.legacy_torch_models.misc import SlimConv2d, SlimFC, get_activation_fn, normc_initializer, same_padding
from compat.legacy_torch_models.torch_modelv2 import TorchModelV2
from rlmodule.models.cnn import get_filter_config


def _same_padded_convs(
    obs_shape: Tuple[int, ...], filters: List[Any], activation: Any
) -> Tuple[List[nn.Module], int, List[int]]:
    """Legacy VisionNetwork's conv layers before the last: ``SlimConv2d`` with TF-"same"
    padding, for a ``(w, h, c)`` observation. Returns the layers, the channels and the
    ``[w, h]`` size they output."""
    layers: List[nn.Module] = []
    (w, h, in_channels) = obs_shape
    in_size = [w, h]
    for out_channels, kernel, stride in filters:
        padding, out_size = same_padding(in_size, kernel, stride)
        layers.append(SlimConv2d(in_channels, out_channels, kernel, stride, padding, activation_fn=activation))
        in_channels = out_channels
        in_size = out_size
    return layers, in_channels, in_size


class VisionNetwork(TorchModelV2):
    """Legacy ``visionnet.VisionNetwork``: ``obs [B, w, h, c] -> [B, num_outputs]``
    (``num_outputs=None``: the flattened last conv output)."""

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
        if not cfg.get("conv_filters"):
            cfg["conv_filters"] = get_filter_config(obs_space.shape)

        activation = cfg.get("conv_activation")
        filters = cfg["conv_filters"]
        assert len(filters) > 0, "Must provide at least 1 entry in `conv_filters`!"

        post_fcnet_hiddens = cfg.get("post_fcnet_hiddens", [])
        post_fcnet_activation = get_activation_fn(cfg.get("post_fcnet_activation"), "torch")
        no_final_linear = cfg.get("no_final_linear")
        vf_share_layers = cfg.get("vf_share_layers")

        # Whether the last layer is a Flatten (rather than a n x (1,1) Conv2D).
        self.last_layer_is_flattened = False
        self._logits = None

        layers, in_channels, in_size = _same_padded_convs(obs_space.shape, filters[:-1], activation)

        out_channels, kernel, stride = filters[-1]

        # No final linear: the last layer has an activation and num_outputs nodes
        # (a 1x1-output conv, or the post-fc stack's last layer).
        if no_final_linear and num_outputs:
            out_channels = out_channels if post_fcnet_hiddens else num_outputs
            layers.append(
                SlimConv2d(
                    in_channels, out_channels, kernel, stride, None, activation_fn=activation
                )
            )
            layer_sizes = post_fcnet_hiddens[:-1] + ([num_outputs] if post_fcnet_hiddens else [])
            for out_size in layer_sizes:
                layers.append(
                    SlimFC(
                        in_size=out_channels,
                        out_size=out_size,
                        activation_fn=post_fcnet_activation,
                        initializer=normc_initializer(1.0),
                    )
                )
                out_channels = out_size
        # The conv stack, then a linear layer of size num_outputs.
        else:
            layers.append(
                SlimConv2d(
                    in_channels, out_channels, kernel, stride, None, activation_fn=activation
                )
            )
            if num_outputs:
                in_size = [
                    np.ceil((in_size[0] - kernel[0]) / stride),
                    np.ceil((in_size[1] - kernel[1]) / stride),
                ]
                padding, _ = same_padding(in_size, [1, 1], [1, 1])
                if post_fcnet_hiddens:
                    layers.append(nn.Flatten())
                    in_size = out_channels
                    for i, out_size in enumerate(post_fcnet_hiddens + [num_outputs]):
                        layers.append(
                            SlimFC(
                                in_size=in_size,
                                out_size=out_size,
                                activation_fn=post_fcnet_activation
                                if i < len(post_fcnet_hiddens) - 1
                                else None,
                                initializer=normc_initializer(1.0),
                            )
                        )
                        in_size = out_size
                    # The last layer is the logits layer.
                    self._logits = layers.pop()
                else:
                    self._logits = SlimConv2d(
                        out_channels, num_outputs, [1, 1], 1, padding, activation_fn=None
                    )
            else:
                self.last_layer_is_flattened = True
                layers.append(nn.Flatten())

        self._convs = nn.Sequential(*layers)

        # num_outputs unknown (Flatten at the end): a B=1 dummy pass gives it.
        if self.num_outputs is None:
            dummy_in = (
                torch.from_numpy(self.obs_space.sample()).permute(2, 0, 1).unsqueeze(0).float()
            )
            self.num_outputs = self._convs(dummy_in).shape[1]

        self._value_branch_separate = self._value_branch = None
        if vf_share_layers:
            self._value_branch = SlimFC(
                out_channels, 1, initializer=normc_initializer(0.01), activation_fn=None
            )
        else:
            vf_layers, in_channels, in_size = _same_padded_convs(obs_space.shape, filters[:-1], activation)
            out_channels, kernel, stride = filters[-1]
            vf_layers.append(
                SlimConv2d(
                    in_channels, out_channels, kernel, stride, None, activation_fn=activation
                )
            )
            vf_layers.append(
                SlimConv2d(out_channels, 1, 1, 1, None, activation_fn=None)
            )
            self._value_branch_separate = nn.Sequential(*vf_layers)

        # The last "base" output (before the logits layer).
        self._features = None

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        # [B, w, h, c] -> [B, c, w, h]
        self._features = input_dict["obs"].float().permute(0, 3, 1, 2)
        conv_out = self._convs(self._features)
        if not self._value_branch_separate:
            self._features = conv_out

        if not self.last_layer_is_flattened:
            if self._logits:
                conv_out = self._logits(conv_out)
            if len(conv_out.shape) == 4:
                if conv_out.shape[2] != 1 or conv_out.shape[3] != 1:
                    raise ValueError(
                        "Given `conv_filters` ({}) do not result in a [B, {} "
                        "(`num_outputs`), 1, 1] shape (but in {})! Please "
                        "adjust your Conv2D stack such that the last 2 dims "
                        "are both 1.".format(
                            self.model_config["conv_filters"],
                            self.num_outputs,
                            list(conv_out.shape),
                        )
                    )
                logits = conv_out.squeeze(3).squeeze(2)
            else:
                logits = conv_out
            return logits, state
        return conv_out, state

    def value_function(self) -> torch.Tensor:
        assert self._features is not None, "must call forward() first"
        if self._value_branch_separate:
            value = self._value_branch_separate(self._features)
            return value.squeeze(3).squeeze(2).squeeze(1)
        if not self.last_layer_is_flattened:
            features = self._features.squeeze(3).squeeze(2)
        else:
            features = self._features
        return self._value_branch(features).squeeze(1)

    def _hidden_layers(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, w, h, c] -> [B, C]``: the conv stack on channel-major input."""
        res = self._convs(obs.permute(0, 3, 1, 2))
        return res.squeeze(3).squeeze(2)
