"""PPOTorchRLModule: the PPO layout as a torch module."""

from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule
from rlmodule.torch.torch_rl_module import TorchRLModule


class PPOTorchRLModule(TorchRLModule, PPORLModule):
    """``encoder`` (actor-critic), ``pi`` and ``vf`` heads as torch sub-modules."""
