"""Clipping actions to the bounds of a Box action space (Box leaves of Dict/Tuple spaces
too) before they reach the env."""

from __future__ import annotations

from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np


def make_action_clipper(space: gym.Space) -> Optional[Callable[[Any], Any]]:
    """A function clipping (batched or single) actions to ``space``'s Box bounds
    (Box leaves of Dict/Tuple spaces too), or ``None`` if nothing needs clipping.
    The input is not modified."""
    if isinstance(space, gym.spaces.Box):
        if not np.issubdtype(space.dtype, np.floating):
            return None
        low, high = space.low, space.high
        return lambda a: np.clip(a, low, high)
    if isinstance(space, gym.spaces.Dict):
        clippers = {k: make_action_clipper(s) for k, s in space.spaces.items()}
        if not any(c is not None for c in clippers.values()):
            return None
        return lambda a: {k: (c(a[k]) if c is not None else a[k]) for k, c in clippers.items()}
    if isinstance(space, gym.spaces.Tuple):
        clippers_t = [make_action_clipper(s) for s in space.spaces]
        if not any(c is not None for c in clippers_t):
            return None
        return lambda a: tuple(c(x) if c is not None else x for c, x in zip(clippers_t, a))
    return None
