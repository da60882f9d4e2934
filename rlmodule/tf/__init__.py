"""The TensorFlow backend: TfRLModule and the tf action distributions."""

import tensorflow as _tf

if not _tf.executing_eagerly():
    raise RuntimeError(
        "rlmodule.tf needs TensorFlow 2 behaviour, but it is switched off in this process. "
        "ray.rllib's try_import_tf() calls tf.compat.v1.disable_v2_behavior() when ray is "
        "imported before tensorflow: import tensorflow (or rlmodule.tf) before ray."
    )

from rlmodule.tf import distributions
from rlmodule.tf.distributions import *  # noqa: F401,F403  (the Tf* distributions, Categorical)
from rlmodule.tf.tf_rl_module import TfRLModule

__all__ = ["TfRLModule", *distributions.__all__]
