"""APPOTorchRLModule."""

import torch

from rlmodule.algorithms.appo.appo_rl_module import APPORLModule
from rlmodule.torch.torch_rl_module import TorchRLModule


class APPOTorchRLModule(TorchRLModule, APPORLModule):
    """Torch APPO module; target parameters have ``requires_grad=False``."""

    def setup(self) -> None:
        APPORLModule.setup(self)
        self.sync_target_networks(tau=1.0)
        for target, _ in self.get_target_network_pairs():
            target.requires_grad_(False)

    def _no_grad(self, fn, batch):
        with torch.no_grad():
            return fn(batch)

    @torch.no_grad()
    def sync_target_networks(self, tau: float = 1.0) -> None:
        for target, source in self.get_target_network_pairs():
            for t, s in zip(target.parameters(), source.parameters()):
                t.mul_(1.0 - tau).add_(s, alpha=tau)
