"""Classes to and from import paths (``"package.module:QualName"``) for JSON metadata."""

from __future__ import annotations

import importlib
from typing import Any, Optional


def class_to_path(cls: Optional[type]) -> Optional[str]:
    """``"pkg.mod:Outer.Inner"`` for ``cls``; raises ValueError if it cannot be re-imported."""
    if cls is None:
        return None
    if not isinstance(cls, type):
        raise TypeError(f"expected a class, got {cls!r}")
    qualname = cls.__qualname__
    if "<locals>" in qualname:
        raise ValueError(
            f"class {qualname} is defined inside a function and cannot be re-imported; "
            "move it to module level to save or serialize it"
        )
    return f"{cls.__module__}:{qualname}"


def class_from_path(path: Optional[str], what: str = "class") -> Optional[type]:
    """Import the class at ``path``; errors name the path and what was wrong."""
    if path is None:
        return None
    obj = object_from_path(path, what)
    if not isinstance(obj, type):
        raise ValueError(f"{what} {path!r} is a {type(obj).__name__}, not a class")
    return obj


def object_from_path(path: str, what: str = "object") -> Any:
    """Import the module-level class or function at ``path`` (``"pkg.mod:Name"``)."""
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(f"{what} path {path!r} is not of the form 'package.module:ClassName'")
    module_name, qualname = path.split(":", 1)
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"{what} {path!r}: cannot import module {module_name!r}: {e}") from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"{what} {path!r}: module {module_name!r} has no attribute {qualname!r}"
            ) from None
    return obj
