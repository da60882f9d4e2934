"""IMPALA: config and algorithm (the modules are PPO's)."""

from rlmodule.algorithms.impala.impala import IMPALA
from rlmodule.algorithms.impala.impala_config import ImpalaConfig

__all__ = ["IMPALA", "ImpalaConfig"]
