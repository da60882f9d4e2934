"""TfRLModule: an RLModule that is a ``tf.keras.Model`` (Keras 3)."""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np
import tensorflow as tf

from rlmodule.rl_module import RLModule, RLModuleConfig


_KERAS_COUNTER = re.compile(r"_\d+(?=/|$)")


def stable_weight_names(variables: List[Any]) -> List[str]:
    """Names for ``variables`` that do not depend on how many layers the process built
    before: the weight's index, then its Keras path without Keras' counter suffixes
    (``sequential_1/dense_2/kernel`` -> ``002/sequential/dense/kernel``)."""
    return [f"{i:03d}/{_KERAS_COUNTER.sub('', v.path)}" for i, v in enumerate(variables)]


class TfRLModule(tf.keras.Model, RLModule):
    """Base class of TensorFlow RLModules.

    Keras creates weights on the first call, so a module has weights once it has run
    a forward (``from_checkpoint`` does this with a sample observation).
    ``get_state()`` maps each weight's :func:`stable_weight_names` name to a numpy array.
    """

    framework = "tf2"

    def __init__(self, config: Optional[RLModuleConfig] = None) -> None:
        tf.keras.Model.__init__(self)
        RLModule.__init__(self, config)

    def _checked_forward(self, phase, fn, batch, kwargs):
        out = RLModule._checked_forward(self, phase, fn, batch, kwargs)
        if not self.built:  # sub-layers were built by this call; Keras saves built models only
            self.built = True
        return out

    def _trace_acting(self, step: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """An acting step (:class:`rlmodule.acting.Actor`: forward and sampling) as one
        ``tf.function``: eager TF costs milliseconds per step. A forward that cannot be
        traced (e.g. it returns Python distribution objects) falls back to eager on the
        first call."""
        current = {"fn": tf.function(step, reduce_retracing=True, autograph=False)}

        def traced(batch: Any) -> Any:
            try:
                return current["fn"](batch)
            except (TypeError, ValueError, NotImplementedError):
                if current["fn"] is step:
                    raise
                current["fn"] = step
                return step(batch)

        return traced

    def call(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """``module(batch)`` is ``forward_train(batch)``."""
        return self.forward_train(batch, **kwargs)

    def get_state(self) -> Dict[str, np.ndarray]:
        """``{stable name: numpy array}`` for every weight (trainable or not)."""
        weights = self.weights
        return {name: v.numpy() for name, v in zip(stable_weight_names(weights), weights)}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Assign weights by path; raises ValueError naming missing, unexpected or
        mis-shaped variables before assigning any."""
        weights = self.weights
        variables = dict(zip(stable_weight_names(weights), weights))
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
