"""TfRLModule: an RLModule that is a ``tf.keras.Model`` (Keras 3)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np
import tensorflow as tf

from rlmodule.rl_module import RLModule, RLModuleConfig


class TfRLModule(tf.keras.Model, RLModule):
    """Base class of TensorFlow RLModules.

    Keras creates weights on the first call, so a module has weights once it has run
    a forward (``from_checkpoint`` does this with a sample observation).
    ``get_state()`` maps each variable's Keras path to a numpy array.
    """

    framework = "tf2"

    def __init__(self, config: Optional[RLModuleConfig] = None) -> None:
        tf.keras.Model.__init__(self)
        RLModule.__init__(self, config)

    def call(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """``module(batch)`` is ``forward_train(batch)``."""
        return self.forward_train(batch, **kwargs)

    def get_state(self) -> Dict[str, np.ndarray]:
        """``{variable.path: numpy array}`` for every weight (trainable or not)."""
        return {v.path: v.numpy() for v in self.weights}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Assign weights by path; raises ValueError naming missing, unexpected or
        mis-shaped variables before assigning any."""
        variables = {v.path: v for v in self.weights}
        missing = sorted(set(variables) - set(state))
        unexpected = sorted(set(state) - set(variables))
        bad_shapes = [
            f"{k}: module {tuple(variables[k].shape)} vs state {tuple(np.shape(state[k]))}"
            for k in variables
            if k in state and tuple(variables[k].shape) != tuple(np.shape(state[k]))
        ]
        if missing or unexpected or bad_shapes:
            raise ValueError(
                f"{type(self).__name__}.set_state(): missing {missing}, unexpected {unexpected}, "
                f"shape mismatches {bad_shapes}"
            )
        for path, variable in variables.items():
            variable.assign(np.asarray(state[path]))
