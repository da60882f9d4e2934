"""The TensorFlow backend: TfRLModule and the tf action distributions."""

import logging as _logging

import tensorflow as _tf

_logger = _logging.getLogger(__name__)


def _tf2_behaviour_on() -> bool:
    return bool(_tf.executing_eagerly() and _tf.__internal__.tf2.enabled())


def _restore_tf2_behaviour() -> None:
    """Switch TensorFlow 2 behaviour back on when something switched it off before this
    import; raise a RuntimeError saying what happened when that is no longer possible.

    ray.rllib's ``try_import_tf()`` (called when ``ray.rllib.models.tf`` and most of
    ``ray.rllib`` are imported) runs ``tf.compat.v1.disable_v2_behavior()`` - graph mode,
    TF1 tensor shapes, control flow and tensor equality - if tensorflow was not imported
    before it; Keras 3, on which TfRLModule is built, needs TF 2 behaviour. When nothing
    has been built in the TF1 global graph yet, ``enable_v2_behavior()`` puts the process
    in the state ray leaves it in when tensorflow is imported first (ray then keeps TF 2
    behaviour, and switches eager execution on itself for ``framework="tf2"``; its
    ``framework="tf"`` policies build their graphs in graphs of their own)."""
    if _tf2_behaviour_on():
        return
    was_eager = _tf.executing_eagerly()
    try:
        # First, as it is the only step that can refuse (and then changes nothing):
        # eager execution cannot come back once TF1 code has used the global graph.
        _tf.compat.v1.enable_eager_execution()
    except ValueError as e:
        raise RuntimeError(
            "rlmodule.tf needs TensorFlow 2 behaviour (eager execution; TfRLModule is a Keras 3 "
            "model), but it was switched off in this process - tf.compat.v1.disable_v2_behavior(), "
            "which ray.rllib's try_import_tf() calls when ray.rllib is imported before tensorflow - "
            "and TF1 graph code has run since, so it cannot be switched back on "
            f"(TensorFlow: {e}). Import rlmodule.tf (or tensorflow) before anything imports ray, "
            "e.g. as the first import of your entry point, or import it before building any "
            "TF1 graph."
        ) from None
    _tf.compat.v1.enable_v2_behavior()
    if not _tf2_behaviour_on():
        raise RuntimeError(
            "rlmodule.tf needs TensorFlow 2 behaviour (eager execution), but it is imported "
            "inside a TF1 graph context (`with tf.Graph().as_default()`, a tf.function or a "
            "legacy static-graph policy's graph), where TensorFlow does not execute eagerly. "
            "Import rlmodule.tf at the top of your module, outside any graph."
        )
    _logger.info(
        "rlmodule.tf: TensorFlow 2 behaviour had been switched off in this process (eager execution "
        "was %s; ray.rllib's try_import_tf() does this when ray is imported before tensorflow); "
        "switched it back on with tf.compat.v1.enable_v2_behavior()",
        "on" if was_eager else "off",
    )


_restore_tf2_behaviour()

from rlmodule.tf import distributions  # noqa: E402
from rlmodule.tf.distributions import *  # noqa: E402,F401,F403  (the Tf* distributions, Categorical)
from rlmodule.tf.tf_rl_module import TfRLModule  # noqa: E402

__all__ = ["TfRLModule", *distributions.__all__]
