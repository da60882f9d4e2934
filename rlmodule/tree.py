"""Nested structures - observations of Dict/Tuple spaces, recurrent state, forward
outputs, batches: the one helper every part of the package uses.

The rules, the same in every function:

- **Containers** are Mappings and tuples; everything else is a leaf (an array, a tensor,
  a number, and a list: a list of numbers is one observation). ``lists=True`` makes
  lists containers too, as in dm_tree (legacy RLlib state is a list of arrays). A
  :class:`~rlmodule.nested_dict.NestedDict` counts as the nested dict it holds.
- **Order**: a Mapping's entries in insertion order; ``sort_keys=True`` (:func:`flatten`)
  visits them by sorted key, OrderedDicts included - dm_tree's order, which legacy RLlib
  preprocessing follows.
- **Containers out**: a dict for a Mapping, except that an OrderedDict stays one (legacy
  preprocessing reads a plain dict in sorted key order and an OrderedDict in its own),
  a tuple for any tuple, a list for a list.

Importing this module imports no framework.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, List, Mapping, Sequence

import numpy as np

from rlmodule.nested_dict import NestedDict


def _mapping(struct: Mapping) -> Mapping:
    return struct.asdict() if isinstance(struct, NestedDict) else struct


def _like(struct: Mapping, out: dict) -> Mapping:
    """``out`` as the container ``struct`` comes back as: an OrderedDict for an OrderedDict."""
    return OrderedDict(out) if isinstance(struct, OrderedDict) else out


def map_structure(fn: Callable[[Any], Any], struct: Any, *, lists: bool = False) -> Any:
    """``fn`` applied to every leaf; the same containers out (see the module rules)."""
    if isinstance(struct, Mapping):
        struct = _mapping(struct)
        return _like(struct, {k: map_structure(fn, v, lists=lists) for k, v in struct.items()})
    if isinstance(struct, tuple):
        return tuple(map_structure(fn, v, lists=lists) for v in struct)
    if lists and isinstance(struct, list):
        return [map_structure(fn, v, lists=True) for v in struct]
    return fn(struct)


def flatten(struct: Any, *, sort_keys: bool = False, lists: bool = False) -> List[Any]:
    """The leaves, depth first (``[struct]`` for a leaf)."""
    if isinstance(struct, Mapping):
        struct = _mapping(struct)
        keys = sorted(struct) if sort_keys else struct
        return [leaf for k in keys for leaf in flatten(struct[k], sort_keys=sort_keys, lists=lists)]
    if isinstance(struct, tuple) or (lists and isinstance(struct, list)):
        return [leaf for v in struct for leaf in flatten(v, sort_keys=sort_keys, lists=lists)]
    return [struct]


def unflatten(template: Any, leaves: Sequence[Any], *, lists: bool = False) -> Any:
    """Inverse of :func:`flatten` (insertion order): ``leaves`` arranged like ``template``."""
    it = iter(leaves)

    def build(t: Any) -> Any:
        if isinstance(t, Mapping):
            t = _mapping(t)
            return _like(t, {k: build(v) for k, v in t.items()})
        if isinstance(t, list) and lists:
            return [build(v) for v in t]
        if isinstance(t, tuple):
            return tuple(build(v) for v in t)
        return next(it)

    return build(template)


def combine(fn: Callable[[List[Any]], Any], structs: Sequence[Any]) -> Any:
    """Structures of the same shape -> one whose leaves are ``fn([that leaf of each])``."""
    first = structs[0]
    if isinstance(first, Mapping):
        structs = [_mapping(s) for s in structs]
        first = structs[0]
        return _like(first, {k: combine(fn, [s[k] for s in structs]) for k in first})
    if isinstance(first, tuple):
        return tuple(combine(fn, [s[i] for s in structs]) for i in range(len(first)))
    return fn(structs)


def stack(structs: Sequence[Any]) -> Any:
    """Structures of arrays (or scalars) -> one structure of ``[len(structs), ...]`` arrays."""
    return combine(lambda leaves: np.stack([np.asarray(x) for x in leaves]), structs)


def concatenate(structs: Sequence[Any]) -> Any:
    """Structures of ``[L_i, ...]`` arrays -> one structure of ``[sum(L_i), ...]`` arrays."""
    return combine(lambda leaves: np.concatenate([np.asarray(x) for x in leaves], axis=0), structs)


def index(struct: Any, idx: Any) -> Any:
    """``leaf[idx]`` for every leaf."""
    if type(struct) is np.ndarray:
        return struct[idx]
    if isinstance(struct, Mapping):
        struct = _mapping(struct)
        return _like(struct, {k: index(v, idx) for k, v in struct.items()})
    if isinstance(struct, tuple):
        return tuple(index(v, idx) for v in struct)
    return struct[idx]
