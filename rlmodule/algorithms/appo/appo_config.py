"""APPOConfig: IMPALA's settings plus PPO's clipping and the target network."""

from __future__ import annotations

from typing import Optional

from rlmodule.algorithms.impala.impala_config import ImpalaConfig
from rlmodule.rl_module import SingleAgentRLModuleSpec


class APPOConfig(ImpalaConfig):
    """APPO: V-trace targets, the clipped surrogate, a target (old) policy network."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        super().__init__(algo_class=algo_class)
        self.lr = 5e-4
        self.clip_param = 0.4
        self.use_kl_loss = False
        self.kl_coeff = 1.0
        self.kl_target = 0.01
        self.target_network_update_freq = 1
        self.tau = 1.0

    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        """APPOTorchRLModule (torch) or APPOTfRLModule (tf2), built by PPOCatalog."""
        from rlmodule.algorithms.ppo.ppo_catalog import PPOCatalog

        if self.framework_str == "torch":
            from rlmodule.algorithms.appo.torch_appo_rl_module import APPOTorchRLModule as module_class
        else:
            from rlmodule.algorithms.appo.tf_appo_rl_module import APPOTfRLModule as module_class
        return SingleAgentRLModuleSpec(module_class=module_class, catalog_class=PPOCatalog)
