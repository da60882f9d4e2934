"""The legacy observation preprocessor, ray-free: the one implementation in this project.

Legacy RLlib (``ray.rllib.models.preprocessors.get_preprocessor``) turned a raw
observation into what the policy fed its model:

* ``Discrete`` / ``MultiDiscrete`` -> a float32 one-hot (``start`` subtracted, as
  ``gymnasium.spaces.utils.flatten``); ``MultiDiscrete`` components in row-major order;
* ``Dict`` / ``Tuple`` -> one float32 vector of the preprocessed children in the space's
  order. A ``Dict`` observation that is not an ``OrderedDict`` has its values taken in
  sorted key order (legacy sorted a plain dict's items, then zipped them with the
  space's children: the same thing unless the space's keys are unsorted);
* a ``(128,)`` ``Box`` (Atari RAM, also inside Dict/Tuple) -> ``(obs - 128) / 128``
  float32;
* any other ``Box`` (and ``MultiBinary``) -> unchanged at the top level, raveled and
  cast to float32 inside a Dict/Tuple.

``(210, 160, 3)`` Atari frames (legacy resized them with OpenCV) are not supported.
:func:`preprocess_obs` works on batches of torch tensors or numpy arrays;
:func:`flatten_space_obs` is its one-observation numpy form. The way back:
:func:`restore_original_dimensions` (the flat vector -> the space's structure, leaves
still preprocessed) and :func:`restore_raw_obs` (-> raw observations).

The space rules need no framework; torch is imported by the functions that make torch
tensors, when they run (a migrated TF model reads the rules without loading torch).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Tuple

import gymnasium as gym
import numpy as np

if TYPE_CHECKING:
    import torch

ATARI_OBS_SHAPE = (210, 160, 3)
ATARI_RAM_OBS_SHAPE = (128,)
_ONE_HOT = (gym.spaces.Discrete, gym.spaces.MultiDiscrete)
_STRUCTURED = (gym.spaces.Dict, gym.spaces.Tuple)


def _check_supported(space: gym.Space) -> None:
    if space.shape == ATARI_OBS_SHAPE and not isinstance(space, _ONE_HOT):
        raise NotImplementedError(
            "Legacy RLlib's GenericPixelPreprocessor (an OpenCV resize of (210, 160, 3) "
            "Atari frames) is not reproduced; resize in an env wrapper instead."
        )


def is_atari_ram(space: gym.Space) -> bool:
    """Whether legacy RLlib applied its Atari-RAM rule (any ``(128,)`` non-discrete space)."""
    return space.shape == ATARI_RAM_OBS_SHAPE and not isinstance(space, _ONE_HOT)


def is_flattened(space: gym.Space) -> bool:
    """Whether legacy preprocessing changes the observation's structure."""
    return isinstance(space, _ONE_HOT + _STRUCTURED)


def is_preprocessed(space: gym.Space) -> bool:
    """Whether legacy preprocessing changes the observation at all (its structure or,
    for Atari RAM, its values): exactly when the legacy model's ``obs_space`` carries
    ``original_space``."""
    return is_flattened(space) or is_atari_ram(space)


def legacy_obs_shape(space: gym.Space) -> Tuple[int, ...]:
    """Shape of one preprocessed observation (legacy ``get_preprocessor(space)(space).shape``)."""
    _check_supported(space)
    if isinstance(space, gym.spaces.Discrete):
        return (int(space.n),)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (int(np.sum(space.nvec)),)
    if isinstance(space, gym.spaces.Tuple):
        return (sum(legacy_obs_size(s) for s in space.spaces),)
    if isinstance(space, gym.spaces.Dict):
        return (sum(legacy_obs_size(s) for s in space.spaces.values()),)
    return tuple(space.shape)


def legacy_obs_size(space: gym.Space) -> int:
    """Number of features of one preprocessed observation."""
    return math.prod(legacy_obs_shape(space))


def preprocessed_obs_space(space: gym.Space) -> gym.Space:
    """Legacy ``get_preprocessor(space)(space).observation_space``: a float32
    ``Box(-1, 1, legacy_obs_shape(space))`` carrying ``original_space`` when
    :func:`is_preprocessed`; ``space`` itself otherwise."""
    shape = legacy_obs_shape(space)
    if not is_preprocessed(space):
        return space
    obs_space = gym.spaces.Box(-1.0, 1.0, shape, dtype=np.float32)
    obs_space.original_space = space
    return obs_space


def preprocess_obs(obs: Any, space: gym.Space, batch_dims: int = 1) -> torch.Tensor:
    """Raw observations (tensors/arrays, nested for Dict/Tuple) with ``batch_dims``
    leading dims -> legacy model input: ``[*batch, size]`` float32 when
    :func:`is_preprocessed`, else the observation itself as a tensor ``[*batch, *shape]``."""
    if not is_preprocessed(space):
        _check_supported(space)
        return _as_tensor(obs)
    return _flatten(obs, space, batch_dims)


def _as_tensor(x: Any) -> torch.Tensor:
    import torch

    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _flatten(obs: Any, space: gym.Space, batch_dims: int) -> torch.Tensor:
    """``[*batch, legacy_obs_size(space)]`` float32."""
    import torch

    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces) if isinstance(obs, OrderedDict) else sorted(space.spaces)
        parts = [_flatten(obs[key], sub, batch_dims) for key, sub in zip(keys, space.spaces.values())]
        return torch.cat(parts, dim=-1)
    if isinstance(space, gym.spaces.Tuple):
        return torch.cat([_flatten(obs[i], sub, batch_dims) for i, sub in enumerate(space.spaces)], dim=-1)
    x = _as_tensor(obs)
    batch = tuple(x.shape[:batch_dims])
    if isinstance(space, gym.spaces.Discrete):
        x = x.long().reshape(batch)
        return torch.nn.functional.one_hot(x - int(space.start) if space.start else x, int(space.n)).float()
    if isinstance(space, gym.spaces.MultiDiscrete):
        x = x.long().reshape(batch + (-1,))
        if space.start.any():
            x = x - torch.as_tensor(space.start.reshape(-1), dtype=torch.long)
        hots = [torch.nn.functional.one_hot(x[..., i], int(n)) for i, n in enumerate(space.nvec.reshape(-1))]
        return torch.cat(hots, dim=-1).float()
    _check_supported(space)
    if math.prod(x.shape[batch_dims:]) != math.prod(space.shape):
        raise ValueError(f"observation of shape {list(x.shape[batch_dims:])} does not fit {space}")
    x = x.float().reshape(batch + (-1,))
    return (x - 128) / 128 if is_atari_ram(space) else x


def flatten_space_obs(space: gym.Space, obs: Any) -> Any:
    """Legacy ``get_preprocessor(space)(space).transform(obs)`` for one (unbatched) obs:
    a float32 numpy ``[size]`` when :func:`is_preprocessed` (one-hot, Dict/Tuple
    flattening, Atari RAM), else ``obs`` unchanged."""
    if not is_preprocessed(space):
        legacy_obs_shape(space)  # raises for the unsupported Atari frames
        return obs
    return preprocess_obs(obs, space, batch_dims=0).numpy()


def restore_original_dimensions(
    obs: Any, obs_space: gym.Space, tensorlib: Any = "torch"
) -> Any:
    """Unflattens ``obs`` ([..., flat_size]) into the Dict (an ``OrderedDict``) / Tuple (a
    list) structure of ``obs_space.original_space`` (or ``obs_space``), each leaf reshaped
    to [..., *its preprocessed shape]; other spaces return ``obs`` unchanged.
    ``tensorlib``: ``"torch"``, ``"numpy"``, ``torch`` or ``np``."""
    lib_name = tensorlib if isinstance(tensorlib, str) else getattr(tensorlib, "__name__", None)
    if lib_name == "torch":
        import torch

        lib = torch
    elif lib_name == "numpy":
        lib = np
    else:
        raise ValueError(f"tensorlib must be 'torch' or 'numpy', got {tensorlib!r}")
    original_space = getattr(obs_space, "original_space", obs_space)
    return _unpack_obs(obs, original_space, lib)


def _unpack_obs(obs: Any, space: gym.Space, lib: Any) -> Any:
    if not isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        return obs
    # Already unpacked?
    if (isinstance(space, gym.spaces.Tuple) and isinstance(obs, (list, tuple))) or (
        isinstance(space, gym.spaces.Dict) and isinstance(obs, dict)
    ):
        return obs
    size = legacy_obs_shape(space)[0]
    if len(obs.shape) < 2 or obs.shape[-1] != size:
        raise ValueError(
            "Expected flattened obs shape of [..., {}], got {}".format(size, obs.shape)
        )
    batch_dims = list(obs.shape[:-1])
    children = (
        list(enumerate(space.spaces))
        if isinstance(space, gym.spaces.Tuple)
        else list(space.spaces.items())
    )
    unpacked = OrderedDict()
    offset = 0
    for key, child in children:
        shape = legacy_obs_shape(child)
        child_size = int(np.prod(shape))
        obs_slice = obs[..., offset : offset + child_size]
        offset += child_size
        unpacked[key] = _unpack_obs(lib.reshape(obs_slice, batch_dims + list(shape)), child, lib)
    return list(unpacked.values()) if isinstance(space, gym.spaces.Tuple) else unpacked


def restore_raw_obs(flat: Any, space: gym.Space) -> Any:
    """Inverse of :func:`preprocess_obs` on numpy batches ``[B, size]`` of a flattened
    space: one-hots back to integers, Dict/Tuple re-nested, Atari RAM back to bytes.
    Observations of other spaces are returned unchanged (as numpy)."""
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
        return (np.argmax(chunk, axis=-1) + space.start).astype(space.dtype), offset + size
    if isinstance(space, gym.spaces.MultiDiscrete):
        bounds = np.cumsum([0] + [int(n) for n in space.nvec.reshape(-1)])
        idx = np.stack([np.argmax(chunk[..., a:b], axis=-1) for a, b in zip(bounds[:-1], bounds[1:])], axis=-1)
        return (idx + space.start.reshape(-1)).reshape(idx.shape[:-1] + space.shape).astype(space.dtype), offset + size
    if is_atari_ram(space):
        chunk = chunk * 128 + 128
    return chunk.reshape(chunk.shape[:-1] + space.shape).astype(space.dtype), offset + size
