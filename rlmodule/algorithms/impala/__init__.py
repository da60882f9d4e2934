"""IMPALA: config and algorithm (the modules are PPO's). ``Impala`` and
``IMPALAConfig`` are RLlib 2.60's other spellings of the same classes."""

from rlmodule.algorithms.impala.impala import IMPALA, ImpalaConfig

Impala = IMPALA
IMPALAConfig = ImpalaConfig

__all__ = ["IMPALA", "IMPALAConfig", "Impala", "ImpalaConfig"]
