"""I/O specs of RLModule forwards and the checker that enforces them.

A ``SpecType`` is one of:

- ``None`` or ``[]``: nothing is checked;
- a list of keys, each a str or a tuple path: ``["obs", ("obs", "global")]``;
- a mapping ``{key: spec}`` where ``spec`` is ``None`` (presence only), a
  :class:`TensorSpec`, a type (an ``isinstance`` check), or a nested mapping;
- a :class:`OneOf` of keys: at least one must be present.

Specs are canonicalised once into a :class:`SpecChecker` (a flat list of
``(path, validator)`` pairs), so a check costs a few dict lookups per call.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

from rlmodule.backend import FRAMEWORKS, backend

Path = Tuple[str, ...]

_FRAMEWORKS = (None, *FRAMEWORKS, "np", "numpy")
_DIM_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$|^[0-9]+$|^\.\.\.$")


class SpecCheckError(ValueError):
    """Raised when a batch or a forward output does not match its spec."""


SpecCheckingError = SpecCheckError  # RLlib's spelling


def _framework_tensor_types(framework: Optional[str]) -> Tuple[type, ...]:
    """The tensor types a framework accepts (its backend's ``TENSOR_TYPES``, numpy's
    ``ndarray``); loads the backend on first use."""
    if framework is None:
        return ()
    if framework in ("np", "numpy"):
        import numpy as np

        return (np.ndarray,)
    return backend(framework).TENSOR_TYPES


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(dtype, type):  # a numpy scalar type such as np.float32 (or float, int)
        import numpy as np

        try:
            return np.dtype(dtype).name
        except TypeError:
            pass
    return str(dtype).rsplit(".", 1)[-1]  # torch.float32 -> float32


class TensorSpec:
    """A tensor of a given rank, named dimensions, optional dtype and framework.

    ``TensorSpec("b, h", h=10, framework="torch")`` accepts torch tensors of shape
    ``[B, 10]`` for any ``B``. Dimensions are comma-separated names or integers;
    ``...`` (once) stands for any number of dimensions. A name given a value in
    ``shape_vals`` is fixed; a repeated free name must have one size throughout.
    """

    def __init__(
        self,
        shape: str,
        *,
        dtype: Any = None,
        framework: Optional[str] = None,
        **shape_vals: int,
    ) -> None:
        if not isinstance(shape, str):
            raise TypeError(f"TensorSpec: shape must be a str like 'b, h', got {shape!r}")
        dims = [d.strip() for d in shape.split(",")] if shape.strip() else []
        for d in dims:
            if not _DIM_RE.match(d):
                raise ValueError(
                    f"TensorSpec({shape!r}): bad dimension {d!r}; each dimension must be "
                    "a name (letters, digits, _), a non-negative integer, or '...'"
                )
        if dims.count("...") > 1:
            raise ValueError(f"TensorSpec({shape!r}): '...' may appear once only")
        unknown = set(shape_vals) - set(dims)
        if unknown:
            raise ValueError(
                f"TensorSpec({shape!r}): {sorted(unknown)} given a value but not in the shape"
            )
        for name, value in shape_vals.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"TensorSpec({shape!r}): dimension {name!r} must be a non-negative int, "
                    f"got {value!r}"
                )
        if framework not in _FRAMEWORKS:
            raise ValueError(
                f"TensorSpec({shape!r}): unknown framework {framework!r}; "
                "use 'torch', 'tf', 'np' or None"
            )
        self.shape_str = shape
        self.dims: List[str] = dims
        self.shape_vals: Dict[str, int] = dict(shape_vals)
        self.framework = framework
        self.dtype = dtype
        self._dtype_name = None if dtype is None else _dtype_name(dtype)
        self._types: Optional[Tuple[type, ...]] = None
        # Fixed size per position (None = free) for the fast path without '...'.
        self._fixed = [
            int(d) if d.isdigit() else self.shape_vals.get(d) for d in dims
        ]
        self._has_ellipsis = "..." in dims
        free = [d for d in dims if d not in self.shape_vals and not d.isdigit() and d != "..."]
        self._free_repeats = len(set(free)) != len(free)
        # (rank, ((index, size), ...)) when fixed sizes are all there is to check.
        self._fast = (
            None
            if self._has_ellipsis or self._free_repeats
            else (len(dims), tuple((i, n) for i, n in enumerate(self._fixed) if n is not None))
        )

    def expected(self) -> str:
        parts = [f"{d}={self.shape_vals[d]}" if d in self.shape_vals else d for d in self.dims]
        text = f"({', '.join(parts)})"
        if self.framework:
            text += f" as {self.framework} tensor"
        if self.dtype is not None:
            text += f" of dtype {self._dtype_name}"
        return text

    def validate(self, value: Any) -> Optional[str]:
        """Return ``None`` if ``value`` matches, else a sentence saying what differs."""
        types = self._types
        if types is None:
            types = self._types = _framework_tensor_types(self.framework)
        if types and not isinstance(value, types):
            return f"expected a {self.framework} tensor {self.expected()}, got {type(value).__name__}"
        shape = getattr(value, "shape", None)
        if shape is None:
            return f"expected a tensor {self.expected()}, got {type(value).__name__} without a shape"
        fast = self._fast
        if fast is not None and len(shape) == fast[0]:  # the common case, without building strings
            for i, want in fast[1]:
                if shape[i] != want:
                    break
            else:
                if self._dtype_name is None or _dtype_name(value.dtype) == self._dtype_name:
                    return None
        return self._explain(value, tuple(shape))

    def _explain(self, value: Any, shape: tuple) -> Optional[str]:
        """The full check, with the message (also accepts unknown sizes, ``None``)."""
        if self._has_ellipsis:
            error = self._validate_ellipsis(shape)
        else:
            error = self._validate_dims(shape, self.dims, self._fixed)
        if error:
            return f"{error}; expected shape {self.expected()}, got {shape}"
        if self._dtype_name is not None and _dtype_name(value.dtype) != self._dtype_name:
            return f"expected dtype {self._dtype_name}, got {_dtype_name(value.dtype)}"
        return None

    def _validate_dims(self, shape: tuple, dims: Sequence[str], fixed: Sequence) -> Optional[str]:
        if len(shape) != len(dims):
            return f"rank is {len(shape)}, expected {len(dims)}"
        for size, want, name in zip(shape, fixed, dims):
            if want is not None and size is not None and size != want:
                return f"dimension {name!r} is {size}, expected {want}"
        if self._free_repeats:
            seen: Dict[str, int] = {}
            for size, name in zip(shape, dims):
                if name in seen and seen[name] != size:
                    return f"dimension {name!r} is {seen[name]} and {size}, expected equal sizes"
                seen[name] = size
        return None

    def _validate_ellipsis(self, shape: tuple) -> Optional[str]:
        i = self.dims.index("...")
        head, tail = self.dims[:i], self.dims[i + 1 :]
        if len(shape) < len(head) + len(tail):
            return f"rank is {len(shape)}, expected at least {len(head) + len(tail)}"
        # Check head and tail together, so a free name repeated on both sides of
        # '...' ("b, ..., b") must have one size.
        outer = shape[: len(head)] + shape[len(shape) - len(tail) :]
        return self._validate_dims(outer, head + tail, self._fixed[:i] + self._fixed[i + 1 :])

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.shape_vals.items())
        fw = f", framework={self.framework!r}" if self.framework else ""
        dt = f", dtype={self._dtype_name!r}" if self.dtype is not None else ""
        return f"TensorSpec({self.shape_str!r}{dt}{fw}{extra})"


class TypeSpec:
    """Accepts instances of ``cls`` (``{"action_dist": Distribution}`` in a SpecType)."""

    def __init__(self, cls: Union[Type, Tuple[Type, ...]]) -> None:
        self.cls = cls

    def validate(self, value: Any) -> Optional[str]:
        if isinstance(value, self.cls):
            return None
        names = (
            " or ".join(c.__name__ for c in self.cls) if isinstance(self.cls, tuple) else self.cls.__name__
        )
        return f"expected an instance of {names}, got {type(value).__module__}.{type(value).__name__}"

    def __repr__(self) -> str:
        return f"TypeSpec({self.cls!r})"


class OneOf:
    """At least one of ``keys`` must be present (used for the default output spec)."""

    def __init__(self, *keys: Union[str, Path]) -> None:
        self.keys = tuple(_as_path(k, "OneOf") for k in keys)

    def __repr__(self) -> str:
        return f"OneOf({', '.join(map(_fmt_path, self.keys))})"


SpecType = Union[None, Sequence[Union[str, Path]], Mapping[Union[str, Path], Any], OneOf]


def _as_path(key: Any, where: str) -> Path:
    if isinstance(key, str):
        return (key,)
    if isinstance(key, tuple) and key and all(isinstance(k, str) for k in key):
        return key
    raise TypeError(f"{where}: a spec key must be a str or a tuple of str, got {key!r}")


def _fmt_path(path: Path) -> str:
    return "".join(f"[{p!r}]" for p in path)


def _leaf_validator(spec: Any, path: Path) -> Optional[Callable[[Any], Optional[str]]]:
    if spec is None:
        return None
    if isinstance(spec, (TensorSpec, TypeSpec)):
        return spec.validate
    if isinstance(spec, type) or (isinstance(spec, tuple) and all(isinstance(s, type) for s in spec)):
        return TypeSpec(spec).validate
    raise TypeError(
        f"spec for {_fmt_path(path)} must be None, a TensorSpec, a type or a dict, got {spec!r}"
    )


def canonicalize(spec: SpecType) -> Tuple[List[Tuple[Path, Optional[Callable]]], Optional[OneOf]]:
    """Flatten ``spec`` into ``(path, validator)`` pairs and an optional OneOf."""
    entries: List[Tuple[Path, Optional[Callable]]] = []
    if spec is None:
        return entries, None
    if isinstance(spec, OneOf):
        return entries, spec
    if isinstance(spec, (TensorSpec, TypeSpec)) or isinstance(spec, str):
        raise TypeError(
            f"a SpecType must be a list of keys or a dict of key -> spec, got {spec!r}; "
            f"write {{'obs': {spec!r}}} or ['obs']"
        )
    if isinstance(spec, Mapping):

        def walk(mapping: Mapping, prefix: Path) -> None:
            for key, sub in mapping.items():
                path = prefix + _as_path(key, "SpecType")
                if isinstance(sub, Mapping):
                    walk(sub, path)
                else:
                    entries.append((path, _leaf_validator(sub, path)))

        walk(spec, ())
        return entries, None
    if isinstance(spec, (list, tuple)):
        for key in spec:
            entries.append((_as_path(key, "SpecType"), None))
        return entries, None
    raise TypeError(f"unsupported SpecType {type(spec).__name__}: {spec!r}")


def _keys_of(data: Any) -> str:
    keys = data.shallow_keys() if hasattr(data, "shallow_keys") else getattr(data, "keys", lambda: [])()
    return ", ".join(repr(k) for k in keys) or "none"


class SpecChecker:
    """A canonicalised spec bound to where it applies.

    ``SpecChecker(spec, "MyModule.forward_train() input").check(batch)`` raises a
    :class:`SpecCheckError` whose message starts with that location.
    """

    __slots__ = ("spec", "where", "_entries", "_one_of", "_one_of_keys")

    def __init__(self, spec: SpecType, where: str) -> None:
        self.spec = spec
        self.where = where
        entries, self._one_of = canonicalize(spec)
        # (top-level key for one-part paths else None, path, validator)
        self._entries = [(path[0] if len(path) == 1 else None, path, v) for path, v in entries]
        keys = self._one_of.keys if self._one_of is not None else ()
        self._one_of_keys = tuple(p[0] for p in keys) if all(len(p) == 1 for p in keys) else None

    def check(self, data: Any) -> None:
        """Raise :class:`SpecCheckError` unless ``data`` (a mapping) matches the spec."""
        if type(data) is not dict and not isinstance(data, Mapping):
            raise SpecCheckError(f"{self.where} must be a dict, got {type(data).__name__}")
        for key, path, validate in self._entries:
            if key is not None:
                try:
                    value = data[key]
                except KeyError:
                    raise self._missing(data, path) from None
            else:
                value = self._walk(data, path)
            if validate is not None:
                error = validate(value)
                if error is not None:
                    raise SpecCheckError(f"{self.where}{_fmt_path(path)}: {error}")
        if self._one_of is not None:
            if self._one_of_keys is not None:
                for key in self._one_of_keys:
                    if key in data:
                        return
            elif any(_has_path(data, path) for path in self._one_of.keys):
                return
            raise SpecCheckError(
                f"{self.where} has none of the keys "
                f"{', '.join(map(_fmt_path, self._one_of.keys))} (found keys: {_keys_of(data)})"
            )

    def _walk(self, data: Any, path: Path) -> Any:
        value = data
        try:
            for part in path:
                if not isinstance(value, Mapping):  # a leaf (tensor) has no keys
                    raise KeyError(part)
                value = value[part]
        except (KeyError, TypeError, IndexError):
            raise self._missing(data, path) from None
        return value

    def _missing(self, data: Any, path: Path) -> SpecCheckError:
        return SpecCheckError(
            f"{self.where} is missing key {_fmt_path(path)} "
            f"(found keys: {_found_keys(data, path)}; spec: {self.spec!r})"
        )


def _has_path(data: Any, path: Path) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _found_keys(data: Any, path: Path) -> str:
    """The keys next to where ``path`` broke off, for the error message."""
    node = data
    for part in path[:-1]:
        if not isinstance(node, Mapping) or part not in node:
            break
        node = node[part]
    return _keys_of(node) if isinstance(node, Mapping) else type(node).__name__
