"""Learners: train a module on env-runner fragments (PPO, IMPALA, APPO) or a dataset (BC).

``make_learner(module, config)`` returns a :class:`PPOLearner` (or ``learner_class``)
whose backend follows ``module.framework`` ("torch" or "tf2"). Importing this package
imports neither torch nor tensorflow; the backend loads when a learner is built.
"""

from __future__ import annotations

from typing import Any, Optional, Type

from rlmodule.learners.appo_learner import APPOLearner
from rlmodule.learners.batch import ADVANTAGES, LOSS_MASK, VALUE_TARGETS, TrainBatch, build_train_batch
from rlmodule.learners.bc_learner import BCLearner
from rlmodule.learners.gae import compute_advantages, compute_gae, discounted_reverse_cumsum, standardize
from rlmodule.learners.impala_learner import ImpalaLearner
from rlmodule.learners.learner import Learner, NonFiniteLossError
from rlmodule.learners.ppo_learner import PPOLearner
from rlmodule.learners.schedules import Schedule
from rlmodule.learners.sequences import SequenceCut, cut_sequences
from rlmodule.rl_module import DEFAULT_MODULE_ID


def make_learner(
    module: Any,
    config: Any,
    module_id: str = DEFAULT_MODULE_ID,
    learner_class: Optional[Type[Learner]] = None,
) -> Learner:
    """A learner for ``module`` (torch or tf2) with ``config``'s settings.

    :param learner_class: the algorithm's Learner subclass (default :class:`PPOLearner`;
        :class:`ImpalaLearner`, :class:`APPOLearner`, :class:`BCLearner`).
    """
    cls = learner_class if learner_class is not None else PPOLearner
    return cls(module, config, module_id=module_id)


__all__ = [
    "ADVANTAGES",
    "APPOLearner",
    "BCLearner",
    "ImpalaLearner",
    "LOSS_MASK",
    "Learner",
    "NonFiniteLossError",
    "PPOLearner",
    "Schedule",
    "SequenceCut",
    "TrainBatch",
    "VALUE_TARGETS",
    "build_train_batch",
    "compute_advantages",
    "compute_gae",
    "cut_sequences",
    "discounted_reverse_cumsum",
    "make_learner",
    "standardize",
]
