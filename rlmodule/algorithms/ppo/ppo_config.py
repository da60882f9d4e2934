"""PPOConfig: the PPO settings (RLlib's names and defaults) and its default module spec."""

from __future__ import annotations

from typing import Optional

from rlmodule.algorithms.algorithm_config import AlgorithmConfig
from rlmodule.rl_module import SingleAgentRLModuleSpec


class PPOConfig(AlgorithmConfig):
    """``PPOConfig().framework("torch").environment("CartPole-v1").training(lr=...)``."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        super().__init__(algo_class=algo_class)
        self.lr = 5e-5
        self.gamma = 0.99
        self.lambda_ = 1.0
        self.use_gae = True
        self.use_critic = True
        self.train_batch_size = 4000
        self.sgd_minibatch_size = 128
        self.num_sgd_iter = 30
        self.clip_param = 0.3
        self.vf_clip_param = 10.0
        self.vf_loss_coeff = 1.0
        self.entropy_coeff = 0.0
        self.kl_coeff = 0.2
        self.kl_target = 0.01
        self.grad_clip: Optional[float] = None

    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        """PPOTorchRLModule (torch) or PPOTfRLModule (tf2), built by PPOCatalog."""
        from rlmodule.algorithms.ppo.ppo_catalog import PPOCatalog

        if self.framework_str == "torch":
            from rlmodule.algorithms.ppo.torch_ppo_rl_module import PPOTorchRLModule as module_class
        else:
            from rlmodule.algorithms.ppo.tf_ppo_rl_module import PPOTfRLModule as module_class
        return SingleAgentRLModuleSpec(module_class=module_class, catalog_class=PPOCatalog)
