"""IMPALA: config and algorithm (the modules are PPO's)."""

from rlmodule.algorithms.impala.impala import IMPALA, ImpalaConfig

__all__ = ["IMPALA", "ImpalaConfig"]
