"""Legacy ``ModelCatalog.get_model_v2(..., framework="torch")`` for the built-in models."""

from __future__ import annotations

from typing import Any, Dict, Optional

import gymnasium as gym
from gymnasium.spaces import Box

from compat.legacy_torch_models.complex_input_net import ComplexInputNetwork
from compat.legacy_torch_models.fcnet import FullyConnectedNetwork
from compat.legacy_torch_models.recurrent_net import lstm_wrapped
from compat.legacy_torch_models.spaces import flatten_space
from compat.legacy_torch_models.torch_modelv2 import TorchModelV2
from compat.legacy_torch_models.visionnet import VisionNetwork


def get_model_v2(
    obs_space: gym.Space,
    action_space: gym.Space,
    num_outputs: Optional[int],
    model_config: Dict[str, Any],
    name: str = "default_model",
) -> TorchModelV2:
    """Legacy ``ModelCatalog.get_model_v2(..., framework="torch")`` for the built-in
    models: VisionNetwork for a 3D Box, FullyConnectedNetwork for a 1D Box (whose
    ``original_space`` holds no >=2D Box), ComplexInputNetwork otherwise; wrapped with
    ``lstm_wrapped`` if ``use_lstm``. Custom models: construct the class directly."""
    if model_config.get("custom_model"):
        raise ValueError(
            "get_model_v2 builds the built-in models only; construct your custom model "
            "class directly (wrapped with lstm_wrapped(...) if use_lstm)."
        )
    if model_config.get("use_attention"):
        raise NotImplementedError("The legacy AttentionWrapper is not reproduced.")
    if (
        model_config.get("lstm_use_prev_action")
        and not model_config.get("_disable_action_flattening")
        and isinstance(action_space, (gym.spaces.Tuple, gym.spaces.Dict))
    ):
        raise ValueError(
            "For your complex action space (Tuple|Dict) and your model's "
            "`prev-actions` setup of your model, you must set "
            "`_disable_action_flattening=True` in your main config dict!"
        )
    orig_space = getattr(obs_space, "original_space", obs_space)
    if isinstance(obs_space, Box) and len(obs_space.shape) == 3:
        model_cls = VisionNetwork
    elif (
        isinstance(obs_space, Box)
        and len(obs_space.shape) == 1
        and (
            not isinstance(orig_space, (gym.spaces.Dict, gym.spaces.Tuple))
            or not any(
                isinstance(s, Box) and len(s.shape) >= 2 for s in flatten_space(orig_space)
            )
        )
    ):
        model_cls = FullyConnectedNetwork
    else:
        model_cls = ComplexInputNetwork
    if model_config.get("use_lstm"):
        model_cls = lstm_wrapped(model_cls)
    return model_cls(obs_space, action_space, num_outputs, model_config, name)
