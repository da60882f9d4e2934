"""IMPALA: config (the modules are PPO's)."""

from rlmodule.algorithms.impala.impala_config import ImpalaConfig

__all__ = ["ImpalaConfig"]
