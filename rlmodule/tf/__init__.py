"""The TensorFlow backend: TfRLModule and the tf action distributions."""

from rlmodule.tf.distributions import (
    Categorical,
    TfCategorical,
    TfDeterministic,
    TfDiagGaussian,
    TfMultiCategorical,
    TfMultiDistribution,
    TfSquashedGaussian,
)
from rlmodule.tf.tf_rl_module import TfRLModule

__all__ = [
    "TfRLModule",
    "Categorical",
    "TfCategorical",
    "TfDeterministic",
    "TfDiagGaussian",
    "TfMultiCategorical",
    "TfMultiDistribution",
    "TfSquashedGaussian",
]
