"""The TensorFlow backend (the names :mod:`rlmodule.backend` lists)."""

from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np
import tensorflow as tf

from rlmodule import distribution
from rlmodule.models.actor_critic import ActorCriticEncoderConfig
from rlmodule.models.cnn import CNNEncoderConfig
from rlmodule.models.complex_input import ComplexInputEncoderConfig
from rlmodule.models.mlp import FreeLogStdMLPHeadConfig, MLPEncoderConfig, MLPHeadConfig
from rlmodule.models.recurrent import RecurrentEncoderConfig
from rlmodule.tf import distributions, models
from rlmodule.tf.actor_critic import TfActorCriticEncoder
from rlmodule.tf.learner import TfLearnerBackend as LearnerBackend
from rlmodule.tf.learner import TfOps as Ops
from rlmodule.tf.models import activation  # noqa: F401  (a backend name)
from rlmodule.tf.recurrent import TfRecurrentEncoder
from rlmodule.tf.weights import (  # noqa: F401  (backend names)
    build_weights,
    check_before_building,
    load_weights,
    weight_leaves,
    write_weights,
)
from rlmodule.tree import map_structure

NAME = "tf2"
TENSOR_TYPES = (tf.Tensor, tf.Variable)

DISTRIBUTIONS = {
    distribution.Categorical: distributions.TfCategorical,
    distribution.Deterministic: distributions.TfDeterministic,
    distribution.DiagGaussian: distributions.TfDiagGaussian,
    distribution.MultiCategorical: distributions.TfMultiCategorical,
    distribution.MultiDistribution: distributions.TfMultiDistribution,
    distribution.SquashedGaussian: distributions.TfSquashedGaussian,
}

_NETWORKS = {
    MLPEncoderConfig: models.TfMLPEncoder,
    MLPHeadConfig: models.TfMLP.from_head_config,
    FreeLogStdMLPHeadConfig: models.TfFreeLogStdMLPHead,
    CNNEncoderConfig: models.TfCNNEncoder,
    ComplexInputEncoderConfig: models.TfComplexInputEncoder,
    RecurrentEncoderConfig: TfRecurrentEncoder,
    ActorCriticEncoderConfig: TfActorCriticEncoder.from_config,
}


def build_model(config: Any) -> Any:
    """The Keras layer of a model config (the nearest config class in its MRO)."""
    for cls in type(config).__mro__:
        if cls in _NETWORKS:
            return _NETWORKS[cls](config)
    raise TypeError(f"{type(config).__name__}: no Keras network for this config; implement its build()")


def rl_module_class(base: type) -> type:
    """The TF RLModule of a framework-free built-in one: ``PPORLModule`` ->
    ``PPOTfRLModule``, ``APPORLModule`` -> ``APPOTfRLModule``,
    ``DiscreteBCModuleBase`` -> ``DiscreteBCTfModule`` (imported on first use: they load
    the algorithm packages)."""
    from rlmodule.tf.appo_rl_module import APPOTfRLModule
    from rlmodule.tf.bc_module import DiscreteBCTfModule
    from rlmodule.tf.ppo_rl_module import PPOTfRLModule

    for cls in (PPOTfRLModule, APPOTfRLModule, DiscreteBCTfModule):
        if base in cls.__bases__:
            return cls
    raise TypeError(f"{base.__name__}: no TF RLModule for this class")


def set_num_threads(n: int) -> None:
    """Nothing (as before): TensorFlow fixes its thread pools when it starts
    (``TF_NUM_INTRAOP_THREADS``)."""


def device_of(module: Any) -> None:
    """TensorFlow places ops itself: always ``None``."""
    return None


def to_tensor(x: Any, device: None = None) -> Any:
    """numpy structure -> tensors."""
    return map_structure(tf.convert_to_tensor, x, lists=True)


def to_numpy(x: Any) -> Any:
    """Tensor structure -> numpy."""
    return map_structure(_numpy, x, lists=True)


def _numpy(x: Any) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def seed(value: int) -> None:
    import keras

    # Python, numpy, TensorFlow's global seed and Keras' own seed generator (which
    # unseeded Keras initializers and keras.random draw from).
    keras.utils.set_random_seed(value)


def rng_state() -> Dict[str, Any]:
    return {}


def set_rng_state(state: Mapping[str, Any]) -> None:
    """TensorFlow's global generator is not checkpointed (as before): nothing to do."""
