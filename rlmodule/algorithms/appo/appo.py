"""APPO: IMPALA's loop with the APPO learner (clipped surrogate, target network)."""

from __future__ import annotations

from typing import Any

from rlmodule.algorithms.impala.impala import IMPALA
from rlmodule.rl_module import RLModule


class APPO(IMPALA):
    """IMPALA's sampling and update loop; the loss is ``APPOLearner``'s."""

    @classmethod
    def get_default_config(cls) -> Any:
        from rlmodule.algorithms.appo.appo_config import APPOConfig

        return APPOConfig()

    def make_learner(self, module: RLModule, module_id: str) -> Any:
        from rlmodule.learners import make_learner
        from rlmodule.learners.appo_learner import APPOLearner

        return make_learner(module, self.config, module_id, learner_class=self.config.learner_class or APPOLearner)
