"""ImpalaConfig: IMPALA's settings (RLlib's names and defaults); PPO-layout modules."""

from __future__ import annotations

from typing import Optional

from rlmodule.algorithms.algorithm_config import AlgorithmConfig
from rlmodule.rl_module import SingleAgentRLModuleSpec


class ImpalaConfig(AlgorithmConfig):
    """IMPALA uses the PPO module layout (as RLlib does) with V-trace targets."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        super().__init__(algo_class=algo_class)
        self.lr = 5e-4
        self.gamma = 0.99
        self.train_batch_size = 500
        self.rollout_fragment_length = 50
        self.vtrace = True
        self.vtrace_clip_rho_threshold = 1.0
        self.vtrace_clip_pg_rho_threshold = 1.0
        self.vf_loss_coeff = 0.5
        self.entropy_coeff = 0.01
        self.grad_clip: Optional[float] = 40.0

    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        """The PPO modules (PPOTorchRLModule / PPOTfRLModule) with PPOCatalog."""
        from rlmodule.algorithms.ppo import PPOConfig

        return PPOConfig().framework(self.framework_str).get_default_rl_module_spec()
