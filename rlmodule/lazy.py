"""Module-level lazy attributes (PEP 562): names whose framework loads on first use."""

import importlib
from typing import Callable, Dict


def lazy_getattr(package: str, names: Dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` importing ``names[name]`` (a module path) on first access."""

    def __getattr__(name: str) -> object:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
