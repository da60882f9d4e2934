"""The torch backend: TorchRLModule and the torch action distributions."""

from rlmodule.torch import distributions
from rlmodule.torch.distributions import *  # noqa: F401,F403  (the Torch* distributions)
from rlmodule.torch.torch_rl_module import TorchRLModule

__all__ = ["TorchRLModule", *distributions.__all__]
