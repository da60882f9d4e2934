"""What an env returned that the module cannot take: NaN / inf, None, wrong-shape or
wrong-structure observations and non-finite rewards, described by env, key and value.

The env runners check each batch cheaply (shapes are fixed by the batch buffers, so one
``np.isfinite(leaf).all()`` per float leaf) and call :func:`observation_problem` /
:func:`reward_problem` on the single observations only to name the culprit.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import gymnasium as gym
import numpy as np

# What stacking or copying observations into a batch raises on ones that do not fit.
BATCHING_ERRORS = (AttributeError, IndexError, KeyError, OverflowError, TypeError, ValueError)
# Spaces whose samples are numeric arrays of the space's shape (what is checked).
_ARRAY_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


class EnvDataError(ValueError):
    """An env returned an observation or reward that does not fit its spaces; the
    message names the env, its index, the step and the observation key."""


def env_name(env: Any) -> str:
    """The env's registered id (``env.spec.id``), else its class name."""
    spec = getattr(env, "spec", None)
    if getattr(spec, "id", None):
        return spec.id
    return type(getattr(env, "unwrapped", env)).__name__


def observation_problem(space: Optional[gym.Space], obs: Any, path: str = "observation") -> Optional[str]:
    """What is wrong with one (unbatched) observation for ``space``, or ``None``: the
    first None, missing key, wrong structure, non-numeric value, wrong shape or
    non-finite number, with its key path (``observation['a'][0]``). ``space`` None:
    only None, non-numeric and non-finite values are found."""
    if obs is None:
        return f"{path} is None, expected {space}"
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, Mapping):
            return f"{path} is a {type(obs).__name__}, expected a dict for {space}"
        for key, sub in space.spaces.items():
            if key not in obs:
                return f"{path} has no key {key!r} (keys: {list(obs)}), expected {space}"
            problem = observation_problem(sub, obs[key], f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(space, gym.spaces.Tuple):
        if not isinstance(obs, (tuple, list)):
            return f"{path} is a {type(obs).__name__}, expected a tuple for {space}"
        if len(obs) != len(space.spaces):
            return f"{path} has {len(obs)} items, expected {len(space.spaces)} for {space}"
        for j, (sub, item) in enumerate(zip(space.spaces, obs)):
            problem = observation_problem(sub, item, f"{path}[{j}]")
            if problem:
                return problem
        return None
    if space is None or isinstance(space, _ARRAY_SPACES):
        return _leaf_problem(space, obs, path)
    return None  # Text, Graph, ...: not numeric arrays


def _leaf_problem(space: Optional[gym.Space], obs: Any, path: str) -> Optional[str]:
    try:
        array = np.asarray(obs)
    except ValueError:  # ragged nested lists
        return f"{path} is a ragged {type(obs).__name__}, expected {space}"
    if array.dtype.kind not in "biuf":
        return f"{path} holds {array.dtype} values ({type(obs).__name__}), expected numbers of {space}"
    if space is not None and array.shape != space.shape:
        return f"{path} has shape {array.shape}, expected {space.shape} of {space}"
    if array.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(array))
        if len(bad):
            at = tuple(bad[0].tolist())
            where = f"holds {array[at]} at index {at}" if at else f"is {array[at]}"
            return f"{path} {where}, expected finite numbers ({space})"
    return None


def batch_fits(space: Optional[gym.Space], batch: Any) -> bool:
    """Whether a batched observation (``[B, ...]`` leaves) has ``space``'s structure and
    leaf shapes, numeric leaves and only finite floats: the cheap check per batch."""
    if isinstance(space, gym.spaces.Dict):
        return isinstance(batch, Mapping) and all(
            key in batch and batch_fits(sub, batch[key]) for key, sub in space.spaces.items()
        )
    if isinstance(space, gym.spaces.Tuple):
        return (
            isinstance(batch, tuple)
            and len(batch) == len(space.spaces)
            and all(batch_fits(sub, leaf) for sub, leaf in zip(space.spaces, batch))
        )
    if space is not None and not isinstance(space, _ARRAY_SPACES):
        return True
    if type(batch) is not np.ndarray or (space is not None and batch.shape[1:] != space.shape):
        return False
    kind = batch.dtype.kind
    return kind in "biu" or (kind == "f" and bool(np.isfinite(batch).all()))


def reward_problem(reward: Any) -> Optional[str]:
    """What is wrong with one reward (None, not a number, not finite), or ``None``."""
    if reward is None:
        return "reward is None, expected a finite number"
    try:
        value = float(reward)
    except (TypeError, ValueError):
        shape = f" of shape {np.shape(reward)}" if np.ndim(reward) else ""
        return f"reward is a {type(reward).__name__}{shape}, expected a finite number"
    if not np.isfinite(value):
        return f"reward is {value}, expected a finite number"
    return None
