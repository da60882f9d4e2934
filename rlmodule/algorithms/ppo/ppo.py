"""PPO: sample ``train_batch_size`` env steps, then minibatch epochs of the clipped
surrogate on them (the loss lives in ``rlmodule.learners.ppo_learner``)."""

from __future__ import annotations

from typing import Any, Dict

from rlmodule.algorithms.algorithm import Algorithm
from rlmodule.rl_module import RLModule


class PPO(Algorithm):
    """Synchronous PPO: one sampling round and one learner update per iteration."""

    @classmethod
    def get_default_config(cls) -> Any:
        from rlmodule.algorithms.ppo.ppo_config import PPOConfig

        return PPOConfig()

    def make_learner(self, module: RLModule, module_id: str) -> Any:
        from rlmodule.learners import make_learner

        return make_learner(module, self.config, module_id, learner_class=self.config.learner_class)

    def training_step(self) -> Dict[str, Any]:
        fragments = self.sample(self.config.train_batch_size)
        # every sampled step is trained on: env steps trained = env steps sampled
        return {"learners": self.update(fragments), "num_agent_steps_trained_this_iter": sum(len(f) for f in fragments)}
