"""Algorithms: configs, the algorithm loop, and the built-in algorithm packages."""

from rlmodule.algorithms.algorithm import Algorithm
from rlmodule.algorithms.algorithm_config import AlgorithmConfig, NotProvided

__all__ = ["Algorithm", "AlgorithmConfig", "NotProvided"]
