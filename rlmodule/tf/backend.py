"""The TensorFlow backend (the names :mod:`rlmodule.backend` lists)."""

from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np
import tensorflow as tf

from rlmodule.tree import map_structure

NAME = "tf2"
TENSOR_TYPES = (tf.Tensor, tf.Variable)


def device_of(module: Any) -> None:
    """TensorFlow places ops itself: always ``None``."""
    return None


def to_tensor(x: Any, device: None = None) -> Any:
    """numpy structure -> tensors."""
    return map_structure(tf.convert_to_tensor, x)


def to_numpy(x: Any) -> Any:
    """Tensor structure -> numpy."""
    return map_structure(_numpy, x)


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
