"""The observations both sides of a parity check see: given (raw, batch-first, checked
against the observation space) or sampled from the space with the check's seed; and
the batch helpers the other parts share."""

from __future__ import annotations

import copy
from typing import Any, List, Mapping, Tuple

import gymnasium as gym
import numpy as np
import torch

from rlmodule.spaces import sample_obs_batch
from rlmodule.tree import flatten, map_structure


def leaves(x: Any) -> List[Any]:
    """Leaves in a canonical order (dict keys sorted, so both sides line up)."""
    return flatten(x, sort_keys=True, lists=True)


def batch_size(x: Any) -> int:
    """``N`` of a structure of ``[N, ...]`` leaves."""
    return int(leaves(x)[0].shape[0])


def as_numpy(x: Any) -> np.ndarray:
    """A tensor (detached, on the CPU) or array-like as numpy."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def observation_steps(
    observations: Any, space: gym.Space, num_samples: int, seed: int, steps: int, stateful: bool
) -> Tuple[List[Any], int]:
    """Per step a batch of torch observations ``[N, ...]``, and ``N``."""
    if observations is None:
        if num_samples < 1:
            raise ValueError(f"check(): num_samples must be >= 1, got {num_samples}")
        sampler = copy.deepcopy(space)
        sampler.seed(seed)
        batches = [sample_obs_batch(sampler, num_samples) for _ in range(steps)]
        return [_as_obs_tensors(b, space, "sampled observations") for b in batches], num_samples
    time_axis = stateful and _has_time_axis(observations, space)
    obs = _as_obs_tensors(observations, space, "observations", time_axis=time_axis)
    n = batch_size(obs)
    if not time_axis:
        return [obs] * steps, n
    t = int(leaves(obs)[0].shape[1])
    if t != steps:
        raise ValueError(f"check(): observations have a time axis of length {t} but steps={steps}")
    return [map_structure(lambda x: x[:, i], obs) for i in range(t)], n


def _has_time_axis(observations: Any, space: gym.Space) -> bool:
    leaf, sub = _leaves_with_spaces(observations, space)[0]
    return np.ndim(leaf) == len(sub.shape or ()) + 2


def _leaves_with_spaces(obs: Any, space: gym.Space) -> List[Tuple[Any, gym.Space]]:
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, Mapping):
            raise ValueError(f"check(): observations must be a dict for {space}, got {type(obs).__name__}")
        missing = [k for k in space.spaces if k not in obs]
        if missing:
            raise ValueError(f"check(): observations lack the keys {missing} of the observation space")
        return [p for k in space.spaces for p in _leaves_with_spaces(obs[k], space.spaces[k])]
    if isinstance(space, gym.spaces.Tuple):
        if not isinstance(obs, (tuple, list)) or len(obs) != len(space.spaces):
            raise ValueError(f"check(): observations must be a {len(space.spaces)}-tuple for {space}")
        return [p for o, s in zip(obs, space.spaces) for p in _leaves_with_spaces(o, s)]
    return [(obs, space)]


def _as_obs_tensors(obs: Any, space: gym.Space, what: str, time_axis: bool = False) -> Any:
    """Observations as torch tensors in the space's dtypes, after checking their shapes."""
    lead = 2 if time_axis else 1
    sizes = set()

    def convert(x: Any, sub: gym.Space) -> torch.Tensor:
        arr = as_numpy(x)
        shape = tuple(sub.shape or ())
        if arr.ndim != lead + len(shape) or tuple(arr.shape[lead:]) != shape:
            raise ValueError(
                f"check(): {what} of shape {list(arr.shape)} do not match the observation space {sub} "
                f"(expected [N{', T' if time_axis else ''}, {', '.join(map(str, shape))}])"
            )
        sizes.add(arr.shape[:lead])
        dtype = sub.dtype if sub.dtype is not None else arr.dtype
        return torch.as_tensor(np.ascontiguousarray(arr, dtype=dtype))

    def walk(o: Any, s: gym.Space) -> Any:
        if isinstance(s, gym.spaces.Dict):
            return {k: walk(o[k], sub) for k, sub in s.spaces.items()}
        if isinstance(s, gym.spaces.Tuple):
            return tuple(walk(v, sub) for v, sub in zip(o, s.spaces))
        return convert(o, s)

    _leaves_with_spaces(obs, space)  # structure check
    out = walk(obs, space)
    if len(sizes) != 1:
        raise ValueError(f"check(): {what} have different batch sizes per component: {sorted(sizes)}")
    if next(iter(sizes))[0] < 1:
        raise ValueError(f"check(): {what} are empty")
    return out


# --------------------------------------------------------------------------------------
