"""Model configs: small dataclasses that build torch or Keras networks.

Every config has ``output_dims`` and ``build(framework)`` (``"torch"`` or ``"tf2"``).
Encoders built from them take a batch dict and return a dict (see ``base``); heads
take and return tensors. Importing this package imports no framework.
"""

from rlmodule.models.actor_critic import ActorCriticEncoderConfig
from rlmodule.models.base import ACTOR, CRITIC, ENCODER_OUT, ModelConfig
from rlmodule.models.cnn import CNNEncoderConfig, get_filter_config
from rlmodule.models.complex_input import ComplexInputEncoderConfig
from rlmodule.models.mlp import FreeLogStdMLPHeadConfig, MLPEncoderConfig, MLPHeadConfig
from rlmodule.models.recurrent import RecurrentEncoderConfig

__all__ = [
    "ACTOR",
    "CRITIC",
    "ENCODER_OUT",
    "ActorCriticEncoderConfig",
    "CNNEncoderConfig",
    "ComplexInputEncoderConfig",
    "FreeLogStdMLPHeadConfig",
    "MLPEncoderConfig",
    "MLPHeadConfig",
    "ModelConfig",
    "RecurrentEncoderConfig",
    "get_filter_config",
]
