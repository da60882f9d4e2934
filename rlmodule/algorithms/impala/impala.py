"""IMPALA: sample ``train_batch_size`` env steps, then V-trace updates on them (the loss
lives in ``rlmodule.learners.impala_learner``)."""

from __future__ import annotations

from typing import Any, Dict

from rlmodule.algorithms.algorithm import Algorithm
from rlmodule.rl_module import RLModule


class IMPALA(Algorithm):
    """IMPALA: one sampling round and one learner update per iteration.

    ``asynchronous_sampling`` tells the Algorithm loop that sampling may run ahead of
    learning with remote env runners (V-trace corrects for the lag); in this process
    sampling and learning alternate.
    """

    asynchronous_sampling = True

    @classmethod
    def get_default_config(cls) -> Any:
        from rlmodule.algorithms.impala.impala_config import ImpalaConfig

        return ImpalaConfig()

    def make_learner(self, module: RLModule, module_id: str) -> Any:
        from rlmodule.learners import make_learner
        from rlmodule.learners.impala_learner import ImpalaLearner

        return make_learner(module, self.config, module_id, learner_class=self.config.learner_class or ImpalaLearner)

    def training_step(self) -> Dict[str, Any]:
        fragments = self.sample(self.config.train_batch_size)
        return {"learners": self.update(fragments), "num_agent_steps_trained_this_iter": sum(len(f) for f in fragments)}
