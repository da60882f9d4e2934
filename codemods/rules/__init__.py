"""The rule registry: every module in this package that defines a :class:`Rule`
subclass contributes it. Adding a rule means adding one module (and its tests)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Iterable, List, Optional, Type

from codemods.rule import Rule


def all_rules() -> List[Type[Rule]]:
    """Every registered rule, in the order they run (``Rule.order``, then name)."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and "name" in vars(value):
                found[value.name] = value
    return sorted(found.values(), key=lambda rule: (rule.order, rule.name))


def select_rules(select: Optional[Iterable[str]] = None, skip: Optional[Iterable[str]] = None) -> List[Type[Rule]]:
    """The rules named by ``select`` (``None``: all) minus ``skip``, in running order.

    Raises ``ValueError`` naming every unknown rule and listing the known ones.
    """
    rules = all_rules()
    known = [rule.name for rule in rules]
    asked = list(select or []) + list(skip or [])
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known rules: {', '.join(known)}")
    chosen = set(known) if select is None else set(select)
    chosen -= set(skip or [])
    return [rule for rule in rules if rule.name in chosen]
