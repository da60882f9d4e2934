"""Nested structures: dicts (any Mapping), tuples and lists of leaves - observations of
Dict/Tuple spaces, recurrent state, forward outputs. Dict entries are visited in
insertion order unless a function says otherwise.

Importing this module imports no framework.
"""

from __future__ import annotations

from typing import Any, Callable, List, Mapping, Sequence

import numpy as np

from rlmodule.spaces import combine_structures


def map_structure(fn: Callable[[Any], Any], struct: Any) -> Any:
    """``fn`` applied to every leaf of nested dicts, tuples and lists (same containers out)."""
    if isinstance(struct, Mapping):
        return {k: map_structure(fn, v) for k, v in struct.items()}
    if isinstance(struct, (tuple, list)):
        return type(struct)(map_structure(fn, v) for v in struct)
    return fn(struct)


def flatten(struct: Any) -> List[Any]:
    """The leaves of nested dicts/tuples, in insertion order (``[x]`` for a leaf)."""
    if isinstance(struct, Mapping):
        return [leaf for v in struct.values() for leaf in flatten(v)]
    if isinstance(struct, tuple):
        return [leaf for v in struct for leaf in flatten(v)]
    return [struct]


def unflatten(template: Any, leaves: Sequence[Any]) -> Any:
    """Inverse of :func:`flatten`: ``leaves`` arranged like ``template``."""
    it = iter(leaves)

    def build(t: Any) -> Any:
        if isinstance(t, Mapping):
            return {k: build(v) for k, v in t.items()}
        if isinstance(t, tuple):
            return tuple(build(v) for v in t)
        return next(it)

    return build(template)


def stack(structs: Sequence[Any]) -> Any:
    """Nested structures of arrays (or scalars) -> one structure of ``[len, ...]`` arrays."""
    return combine_structures(lambda leaves: np.stack([np.asarray(x) for x in leaves]), structs)


def index(struct: Any, idx: Any) -> Any:
    """``leaf[idx]`` for every leaf."""
    if type(struct) is np.ndarray:
        return struct[idx]
    if isinstance(struct, Mapping):
        return {k: index(v, idx) for k, v in struct.items()}
    if isinstance(struct, tuple):
        return tuple(index(v, idx) for v in struct)
    return struct[idx]
