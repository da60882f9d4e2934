"""What the env runners read from an AlgorithmConfig: ``getattr`` look-ups with the
documented defaults, and each sub-env's seed."""

from __future__ import annotations

import math
from typing import Any, Optional

DEFAULT_NUM_ENVS = 8
DEFAULT_ROLLOUT_FRAGMENT_LENGTH = 64
DEFAULT_SMOOTHING_WINDOW = 100


def config_num_envs(config: Any) -> int:
    """``config.num_envs_per_env_runner`` (default 8)."""
    n = getattr(config, "num_envs_per_env_runner", None)
    n = DEFAULT_NUM_ENVS if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"num_envs_per_env_runner must be an int >= 1, got {n!r}")
    return n


def config_rollout_fragment_length(config: Any, num_envs: int) -> int:
    """Steps per sub-env per ``sample()``: ``config.get_rollout_fragment_length()`` if
    the config has it, else ``config.rollout_fragment_length`` (default 64), where
    ``"auto"`` means ``ceil(train_batch_size / (max(num_env_runners, 1) *
    num_envs))`` (64 if the config has no ``train_batch_size``)."""
    length = getattr(config, "rollout_fragment_length", None)
    getter = getattr(config, "get_rollout_fragment_length", None)
    if length is not None and callable(getter) and getattr(config, "num_envs_per_env_runner", None) == num_envs:
        return int(getter())  # the config's own rule (same formula as below)
    if length is None:
        return DEFAULT_ROLLOUT_FRAGMENT_LENGTH
    if length == "auto":
        batch = getattr(config, "train_batch_size", None)
        if not batch:
            return DEFAULT_ROLLOUT_FRAGMENT_LENGTH
        runners = max(int(getattr(config, "num_env_runners", 0) or 0), 1)
        return max(1, math.ceil(batch / (runners * num_envs)))
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"rollout_fragment_length must be an int >= 1 or 'auto', got {length!r}")
    return length


def config_smoothing_window(config: Any) -> int:
    """``config.metrics_num_episodes_for_smoothing`` (default 100)."""
    n = getattr(config, "metrics_num_episodes_for_smoothing", None)
    return DEFAULT_SMOOTHING_WINDOW if n is None else max(int(n), 1)


def env_seed(config: Any, worker_index: int, env_index: int) -> Optional[int]:
    """``config.seed + 1000 * worker_index + env_index`` (``None`` if no seed)."""
    seed = getattr(config, "seed", None)
    return None if seed is None else int(seed) + 1000 * worker_index + env_index
