"""The TensorFlow backend: TfRLModule and the tf action distributions."""

from rlmodule.tf import distributions
from rlmodule.tf.distributions import *  # noqa: F401,F403  (the Tf* distributions, Categorical)
from rlmodule.tf.tf_rl_module import TfRLModule

__all__ = ["TfRLModule", *distributions.__all__]
