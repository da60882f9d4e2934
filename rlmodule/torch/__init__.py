"""The torch backend: TorchRLModule and the torch action distributions."""

from rlmodule.torch.distributions import (
    TorchCategorical,
    TorchDeterministic,
    TorchDiagGaussian,
    TorchMultiCategorical,
    TorchMultiDistribution,
    TorchSquashedGaussian,
)
from rlmodule.torch.torch_rl_module import TorchRLModule

__all__ = [
    "TorchRLModule",
    "TorchCategorical",
    "TorchDeterministic",
    "TorchDiagGaussian",
    "TorchMultiCategorical",
    "TorchMultiDistribution",
    "TorchSquashedGaussian",
]
