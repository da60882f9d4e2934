"""Catalog: picks the encoder and action distribution for the spaces and ``model`` dict.

The ``model`` dict uses the legacy ``MODEL_DEFAULTS`` keys, merged with the defaults,
so a legacy config means the same network here:

- ``Box`` of rank 1: MLP with ``fcnet_hiddens`` / ``fcnet_activation``;
- ``Box`` of rank 3 (images, HWC): the legacy conv stack, ``conv_filters`` (default
  chosen from the image shape as legacy RLlib does) / ``conv_activation``;
- ``Dict`` / ``Tuple``: per-component encoders, concatenated (legacy ComplexInputNetwork);
- ``use_lstm``: the above as a per-step tokenizer, then an LSTM of ``lstm_cell_size``.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional, Tuple

import gymnasium as gym

from rlmodule.model_config import MODEL_DEFAULTS, validate_model_config
from rlmodule.models.base import ModelConfig


class Catalog:
    """Builds encoders and chooses action distributions for one pair of spaces.

    Attributes:
        observation_space, action_space: the spaces.
        model_config_dict: the user's dict merged over ``MODEL_DEFAULTS``.
        encoder_config: the config of the (single) encoder.
        latent_dims: the encoder's output shape.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        model_config_dict: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        config = copy.deepcopy(MODEL_DEFAULTS)
        config.update(copy.deepcopy(dict(model_config_dict or {})))
        validate_model_config(config, "model_config_dict")
        self._check_supported(config)
        self.model_config_dict = config
        self._encoder_config = self._get_encoder_config(observation_space, config, action_space)
        self.latent_dims: Tuple[int, ...] = self._encoder_config.output_dims

    @property
    def encoder_config(self) -> ModelConfig:
        return self._encoder_config

    @staticmethod
    def _check_supported(config: Mapping[str, Any]) -> None:
        if config["use_lstm"] and config["use_attention"]:
            raise ValueError(
                "model_config_dict: use_lstm=True and use_attention=True exclude each other; "
                "pick one (only use_lstm is supported here)"
            )
        if config["use_attention"]:
            raise ValueError(
                "model_config_dict['use_attention']=True: attention (GTrXL) encoders are not "
                "supported; use use_lstm=True or a custom RLModule"
            )
        for key in ("lstm_use_prev_action", "lstm_use_prev_reward"):
            if config[key]:
                raise ValueError(
                    f"model_config_dict[{key!r}]=True is not supported yet: feed previous "
                    "actions/rewards through the observation (e.g. a Dict space) instead"
                )

    @classmethod
    def _get_encoder_config(
        cls,
        observation_space: gym.Space,
        model_config_dict: Mapping[str, Any],
        action_space: Optional[gym.Space] = None,
    ) -> ModelConfig:
        """The encoder for ``observation_space`` (recurrent if ``use_lstm``)."""
        if model_config_dict["use_lstm"]:
            from rlmodule.models.recurrent import RecurrentEncoderConfig

            tokenizer = cls._get_encoder_config(
                observation_space, {**model_config_dict, "use_lstm": False}, action_space
            )
            return RecurrentEncoderConfig(
                input_dims=tuple(tokenizer.output_dims),
                recurrent_layer_type="lstm",
                hidden_dim=model_config_dict["lstm_cell_size"],
                tokenizer_config=tokenizer,
            )
        if isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1:
            from rlmodule.models.mlp import MLPEncoderConfig

            return MLPEncoderConfig(
                input_dims=tuple(observation_space.shape),
                hidden_layer_dims=list(model_config_dict["fcnet_hiddens"]),
                hidden_layer_activation=model_config_dict["fcnet_activation"],
            )
        if isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 3:
            from rlmodule.models.cnn import CNNEncoderConfig, get_filter_config

            filters = model_config_dict["conv_filters"] or get_filter_config(observation_space.shape)
            return CNNEncoderConfig(
                input_dims=tuple(observation_space.shape),
                cnn_filter_specifiers=[list(f) for f in filters],
                cnn_activation=model_config_dict["conv_activation"],
                flatten_non_1x1=bool(model_config_dict["post_fcnet_hiddens"]),
            )
        if isinstance(observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
            from rlmodule.models.complex_input import ComplexInputEncoderConfig

            return ComplexInputEncoderConfig.from_space(observation_space, model_config_dict)
        raise ValueError(
            f"no default encoder for observation space {observation_space!r}: supported are "
            "Box of rank 1 (MLP) or rank 3 (CNN, HWC images), Dict and Tuple; wrap other "
            "spaces (e.g. Discrete) in a Dict, or write a custom RLModule"
        )

    def build_encoder(self, framework: str) -> Any:
        """The encoder network for ``framework`` ("torch" or "tf2")."""
        return self._encoder_config.build(framework)

    def get_action_dist_cls(self, framework: str) -> Any:
        """The action distribution class (or partial) for the action space."""
        from rlmodule.distribution import get_action_dist_cls

        return get_action_dist_cls(self.action_space, framework)

    def action_dist_input_dim(self, framework: str) -> int:
        """``action_dist_inputs`` size per step: ``required_input_dim`` of the distribution."""
        return int(self.get_action_dist_cls(framework).required_input_dim(self.action_space))

    def summary(self) -> Dict[str, Any]:
        """What the catalog chose (for logs and error messages)."""
        return {
            "encoder": type(self._encoder_config).__name__,
            "latent_dims": self.latent_dims,
            "action_space": repr(self.action_space),
        }
