"""The legacy observation preprocessor, ray-free: raw observations -> the flat float
tensor a legacy policy fed its model (``input_dict["obs"]``).

Legacy RLlib (``ray.rllib.models.preprocessors.get_preprocessor``) one-hot encodes
``Discrete`` / ``MultiDiscrete``, flattens ``Dict`` (in the space's key order) and
``Tuple`` observations into one ``float32`` vector, and passes ``Box`` observations
through unchanged. ``legacy_obs_size(space)`` is that vector's length.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch


def legacy_obs_size(space: gym.Space) -> int:
    """Length of the flat preprocessed observation for ``space``."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, gym.spaces.Dict):
        return sum(legacy_obs_size(s) for s in space.spaces.values())
    if isinstance(space, gym.spaces.Tuple):
        return sum(legacy_obs_size(s) for s in space.spaces)
    return int(np.prod(space.shape))


def is_flattened(space: gym.Space) -> bool:
    """Whether legacy preprocessing changes the observation's structure."""
    return isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.Dict, gym.spaces.Tuple))


def preprocess_obs(obs: Any, space: gym.Space, batch_dims: int = 1) -> torch.Tensor:
    """Raw observations (tensors/arrays, nested for Dict/Tuple) with ``batch_dims``
    leading dims -> legacy model input: ``[*batch, size]`` float32 for flattened
    spaces, the observation itself (as a tensor) for ``Box``."""
    if not is_flattened(space):
        return torch.as_tensor(np.asarray(obs) if not isinstance(obs, torch.Tensor) else obs)
    return _flatten(obs, space, batch_dims)


def _flatten(obs: Any, space: gym.Space, batch_dims: int) -> torch.Tensor:
    if isinstance(space, gym.spaces.Dict):
        parts = [_flatten(obs[key], sub, batch_dims) for key, sub in space.spaces.items()]
        return torch.cat(parts, dim=-1)
    if isinstance(space, gym.spaces.Tuple):
        return torch.cat([_flatten(obs[i], sub, batch_dims) for i, sub in enumerate(space.spaces)], dim=-1)
    x = obs if isinstance(obs, torch.Tensor) else torch.as_tensor(np.asarray(obs))
    if isinstance(space, gym.spaces.Discrete):
        return torch.nn.functional.one_hot(x.long().reshape(x.shape[:batch_dims]), int(space.n)).float()
    if isinstance(space, gym.spaces.MultiDiscrete):
        x = x.long().reshape(x.shape[:batch_dims] + (-1,))
        hots = [torch.nn.functional.one_hot(x[..., i], int(n)) for i, n in enumerate(space.nvec.reshape(-1))]
        return torch.cat(hots, dim=-1).float()
    return x.float().reshape(x.shape[:batch_dims] + (-1,))


def restore_raw_obs(flat: Any, space: gym.Space) -> Any:
    """Inverse of :func:`preprocess_obs` on numpy batches ``[B, size]``: one-hots back to
    integers, Dict/Tuple re-nested. ``Box`` observations are returned unchanged."""
    if not is_flattened(space):
        return np.asarray(flat)
    flat = np.asarray(flat, dtype=np.float32)
    out, offset = _restore(flat, space, 0)
    if offset != flat.shape[-1]:
        raise ValueError(f"flat observation has {flat.shape[-1]} features, {space!r} needs {offset}")
    return out


def _restore(flat: np.ndarray, space: gym.Space, offset: int) -> Any:
    if isinstance(space, gym.spaces.Dict):
        out = {}
        for key, sub in space.spaces.items():
            out[key], offset = _restore(flat, sub, offset)
        return out, offset
    if isinstance(space, gym.spaces.Tuple):
        parts = []
        for sub in space.spaces:
            part, offset = _restore(flat, sub, offset)
            parts.append(part)
        return tuple(parts), offset
    size = legacy_obs_size(space)
    chunk = flat[..., offset : offset + size]
    if isinstance(space, gym.spaces.Discrete):
        return np.argmax(chunk, axis=-1).astype(space.dtype), offset + size
    if isinstance(space, gym.spaces.MultiDiscrete):
        bounds = np.cumsum([0] + [int(n) for n in space.nvec.reshape(-1)])
        idx = [np.argmax(chunk[..., a:b], axis=-1) for a, b in zip(bounds[:-1], bounds[1:])]
        return np.stack(idx, axis=-1).astype(space.dtype), offset + size
    return chunk.reshape(chunk.shape[:-1] + space.shape).astype(space.dtype), offset + size
