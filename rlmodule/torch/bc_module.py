"""DiscreteBCTorchModule: the specification's torch BC module."""

from torch import nn

from rlmodule.testing.bc_module import DiscreteBCModuleBase
from rlmodule.torch.distributions import TorchCategorical
from rlmodule.torch.torch_rl_module import TorchRLModule


class DiscreteBCTorchModule(DiscreteBCModuleBase, TorchRLModule):
    """Linear(obs_dim, hidden) -> ReLU -> Linear(hidden, n_actions)."""

    def setup(self) -> None:
        input_dim, hidden_dim, output_dim = self._sizes()
        self.policy = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim)
        )
        self.input_dim = input_dim

    def _default_action_dist_cls(self):
        return TorchCategorical
