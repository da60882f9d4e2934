"""Gymnasium spaces to and from JSON-safe dicts (used by specs and checkpoints), and
observation batches sampled from a space (nested structures: :mod:`rlmodule.tree`).

Box bounds keep their exact values; non-finite bounds are written as the strings
``"inf"``, ``"-inf"`` and ``"nan"`` so the result is strict JSON.
"""

from __future__ import annotations

import math
from typing import Any, Dict

import gymnasium as gym
import numpy as np


def _encode_number(x: float) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _encode_bound(a: np.ndarray) -> Any:
    """A scalar if every entry is equal (the common case), else a nested list."""
    flat = a.reshape(-1)
    if flat.size and (np.all(flat == flat[0]) or np.all(np.isnan(flat))):
        return _encode_number(flat[0].item())
    return [_encode_number(v) for v in flat.tolist()]


def _decode_bound(value: Any, shape: tuple, dtype: np.dtype) -> np.ndarray:
    def dec(v: Any) -> float:
        return float(v) if isinstance(v, str) else v

    if isinstance(value, list):
        return np.array([dec(v) for v in value], dtype=dtype).reshape(shape)
    return np.full(shape, dec(value), dtype=dtype)


def space_to_dict(space: gym.Space) -> Dict[str, Any]:
    """A JSON-safe description of ``space``; raises TypeError for unsupported spaces."""
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": space.dtype.name,
            "low": _encode_bound(space.low),
            "high": _encode_bound(space.high),
        }
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": space.dtype.name,
        }
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": list(np.atleast_1d(space.n).tolist())}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_dict(s) for s in space.spaces]}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_dict(s) for k, s in space.spaces.items()}}
    raise TypeError(
        f"cannot serialize space {space!r}: supported are Box, Discrete, MultiDiscrete, "
        "MultiBinary, Tuple and Dict"
    )


def space_from_dict(d: Dict[str, Any]) -> gym.Space:
    """Inverse of :func:`space_to_dict`; raises ValueError naming a malformed entry."""
    try:
        kind = d["type"]
        if kind == "Box":
            shape = tuple(d["shape"])
            dtype = np.dtype(d["dtype"])
            return gym.spaces.Box(
                low=_decode_bound(d["low"], shape, dtype),
                high=_decode_bound(d["high"], shape, dtype),
                shape=shape,
                dtype=dtype,
            )
        if kind == "Discrete":
            return gym.spaces.Discrete(d["n"], start=d.get("start", 0))
        if kind == "MultiDiscrete":
            return gym.spaces.MultiDiscrete(
                d["nvec"], dtype=np.dtype(d.get("dtype", "int64")), start=d.get("start")
            )
        if kind == "MultiBinary":
            n = d["n"]
            return gym.spaces.MultiBinary(n[0] if len(n) == 1 else n)
        if kind == "Tuple":
            return gym.spaces.Tuple([space_from_dict(s) for s in d["spaces"]])
        if kind == "Dict":
            return gym.spaces.Dict({k: space_from_dict(s) for k, s in d["spaces"].items()})
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed space description {d!r}: {type(e).__name__} {e}") from None
    raise ValueError(f"malformed space description {d!r}: unknown space type {kind!r}")


def sample_obs_batch(space: gym.Space, batch_size: int = 1) -> Any:
    """``batch_size`` observations sampled from ``space``, stacked along a new first
    axis (numpy; nested dicts/tuples for Dict/Tuple spaces)."""
    if isinstance(space, gym.spaces.Dict):
        return {k: sample_obs_batch(s, batch_size) for k, s in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(sample_obs_batch(s, batch_size) for s in space.spaces)
    return np.stack([np.asarray(space.sample()) for _ in range(batch_size)])

