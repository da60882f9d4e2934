"""APPO: :class:`APPOConfig` (IMPALA's settings plus PPO's clipping and the target
network) and the :class:`APPO` algorithm, IMPALA's loop with the APPO learner (clipped
surrogate, target network). The config builds the algorithm and the algorithm makes
its default config, so both live here.

The training defaults are ImpalaConfig's (see there: 1024-step batches from 32 envs,
2 passes of 256-step minibatches, lr 2e-3 decaying to 2e-4 over 150k env steps,
gamma 0.98, a separate critic) except ``entropy_coeff`` 0.01 (the clipped surrogate
needs no extra entropy to stay stochastic); RLlib's APPO values are kept for ``clip_param`` (0.4),
``use_kl_loss`` (False), ``kl_coeff``, ``kl_target``, ``target_network_update_freq``
(here counted in learner updates: 1 syncs the target after every update, so within
an update the later minibatches are clipped against the policy the batch started
from) and ``tau`` (1.0: copy). ``APPOConfig().environment("CartPole-v1")`` reaches a
mean return of 400 in about 60-105k env steps (torch and tf2, seeds 0 and 1).
"""

from __future__ import annotations

from typing import Any, Optional

from rlmodule.algorithms.appo.appo_rl_module import APPORLModule
from rlmodule.algorithms.impala.impala import IMPALA, ImpalaConfig
from rlmodule.algorithms.ppo.ppo_catalog import PPOCatalog
from rlmodule.backend import backend
from rlmodule.rl_module import RLModule, SingleAgentRLModuleSpec


class APPOConfig(ImpalaConfig):
    """APPO: V-trace targets, the clipped surrogate, a target (old) policy network."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        super().__init__(algo_class=algo_class or APPO)
        self.entropy_coeff = 0.01
        self.clip_param = 0.4
        self.use_kl_loss = False
        self.kl_coeff = 1.0
        self.kl_target = 0.01
        self.target_network_update_freq = 1
        self.tau = 1.0

    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        """APPOTorchRLModule (torch) or APPOTfRLModule (tf2), built by PPOCatalog."""
        module_class = backend(self.framework_str).rl_module_class(APPORLModule)
        return SingleAgentRLModuleSpec(module_class=module_class, catalog_class=PPOCatalog)


class APPO(IMPALA):
    """IMPALA's sampling and update loop; the loss is ``APPOLearner``'s."""

    @classmethod
    def get_default_config(cls) -> Any:
        return APPOConfig()

    def make_learner(self, module: RLModule, module_id: str) -> Any:
        from rlmodule.learners import make_learner
        from rlmodule.learners.appo_learner import APPOLearner

        return make_learner(module, self.config, module_id, learner_class=self.config.learner_class or APPOLearner)
