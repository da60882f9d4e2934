"""NestedDict: a dict of dicts addressed by tuple paths, as RLlib's ``NestedDict``.

``nd["obs", "global"]`` is ``nd["obs"]["global"]``; iteration yields leaf paths
(tuples of str). Construction copies the top level only; nested plain dicts are
converted on first access, so wrapping a batch costs a dict copy, not a deep walk.
Nested mappings are copied (one level) before they are handed out or written to, so
writes through a NestedDict never mutate the caller's dicts (copy-on-write).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, MutableMapping, Tuple, Union

NestedKey = Union[str, Tuple[str, ...]]


def _as_path(key: NestedKey) -> Tuple[str, ...]:
    if isinstance(key, tuple):
        if not key:
            raise KeyError("an empty key path () addresses no entry")
        return key
    return (key,)


class NestedDict(MutableMapping):
    """A mapping whose values may be nested mappings, indexed by str or tuple path.

    Leaves are any non-Mapping values (tensors, arrays, numbers, distributions).
    """

    __slots__ = ("_data", "_owned")

    def __init__(self, x: Union[Mapping, "NestedDict", None] = None, **kwargs: Any):
        # Keys whose nested NestedDict this instance created (and may write to); any
        # other nested mapping belongs to the caller and is copied on first access.
        self._owned: set = set()
        if isinstance(x, NestedDict):
            self._data = dict(x._data)
        elif x is None:
            self._data = {}
        elif isinstance(x, Mapping):
            data = {}
            for key, value in x.items():
                if isinstance(key, tuple):
                    self._data = data
                    self[key] = value
                else:
                    data[key] = value
                    self._owned.discard(key)
            self._data = data
        else:
            self._data = {}
            for key, value in x:
                self[key] = value
        for key, value in kwargs.items():
            self._data[key] = value
            self._owned.discard(key)

    # --- access -----------------------------------------------------------------
    def _child(self, key: str) -> Any:
        value = self._data[key]
        if isinstance(value, Mapping) and key not in self._owned:
            value = NestedDict(value)
            self._data[key] = value
            self._owned.add(key)
        return value

    def __getitem__(self, key: NestedKey) -> Any:
        if not isinstance(key, tuple):
            return self._child(key)
        node: Any = self
        for depth, part in enumerate(_as_path(key)):
            if not isinstance(node, NestedDict):
                raise KeyError(key[: depth + 1])
            try:
                node = node._child(part)
            except KeyError:
                raise KeyError(key[: depth + 1]) from None
        return node

    def __setitem__(self, key: NestedKey, value: Any) -> None:
        path = _as_path(key)
        node = self
        for part in path[:-1]:
            if part not in node._data:
                child = NestedDict()
                node._data[part] = child
                node._owned.add(part)
            elif isinstance(node._data[part], Mapping):
                child = node._child(part)
            else:
                raise KeyError(
                    f"cannot set {key!r}: {part!r} holds a leaf of type "
                    f"{type(node._data[part]).__name__}, not a dict"
                )
            node = child
        node._data[path[-1]] = value
        node._owned.discard(path[-1])  # a mapping set here is the caller's

    def __delitem__(self, key: NestedKey) -> None:
        path = _as_path(key)
        try:
            parent = self[path[:-1]] if len(path) > 1 else self
        except KeyError:
            raise KeyError(key) from None
        if not isinstance(parent, NestedDict) or path[-1] not in parent._data:
            raise KeyError(key)
        del parent._data[path[-1]]
        parent._owned.discard(path[-1])

    def __contains__(self, key: object) -> bool:
        if isinstance(key, tuple):
            try:
                self[key]
            except KeyError:
                return False
            return True
        return key in self._data

    def get(self, key: NestedKey, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    # --- iteration: leaf paths ------------------------------------------------------
    def __iter__(self) -> Iterator[Tuple[str, ...]]:
        for key in self._data:
            child = self._child(key)
            if isinstance(child, NestedDict) and child._data:
                for sub in child:
                    yield (key,) + sub
            else:
                yield (key,)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def shallow_keys(self):
        """The top-level keys (str), like ``dict.keys()``."""
        return self._data.keys()

    def asdict(self) -> dict:
        """A plain (deep) ``dict`` copy of the structure; leaves are not copied."""
        return {
            k: (NestedDict(v).asdict() if isinstance(v, Mapping) else v)
            for k, v in self._data.items()
        }

    def copy(self) -> "NestedDict":
        return NestedDict(self.asdict())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NestedDict):
            return self.asdict() == other.asdict()
        if isinstance(other, Mapping):
            return self.asdict() == NestedDict(other).asdict()
        return NotImplemented

    def __repr__(self) -> str:
        return f"NestedDict({self.asdict()!r})"
