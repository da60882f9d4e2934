"""Small edits on a module's imports that several rules need.

``add_imports`` inserts ``from x import y`` / ``import x`` lines after the module's
leading imports unless an equivalent one is already there; ``used_names`` lists the
names a module reads outside import statements.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import libcst as cst

from codemods.rule import walk

# (module, name or None for ``import module``, asname or None)
ImportSpec = Tuple[str, Optional[str], Optional[str]]


def dotted(node: cst.BaseExpression) -> str:
    """``a.b.c`` for a Name/Attribute chain, ``""`` otherwise."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head else ""
    return ""


def dotted_expr(path: str) -> cst.BaseExpression:
    """The expression node for ``a.b.c``."""
    parts = path.split(".")
    node: cst.BaseExpression = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(node, cst.Name(part))
    return node


def bound_imports(statement: cst.CSTNode) -> List[ImportSpec]:
    """What an import statement binds, as ``(module, name, asname)`` specs."""
    specs: List[ImportSpec] = []
    if isinstance(statement, cst.ImportFrom) and statement.module is not None and not statement.relative:
        if isinstance(statement.names, cst.ImportStar):
            return specs
        module = dotted(statement.module)
        for alias in statement.names:
            asname = alias.asname.name.value if alias.asname else None
            specs.append((module, dotted(alias.name), asname))
    elif isinstance(statement, cst.Import):
        for alias in statement.names:
            asname = alias.asname.name.value if alias.asname else None
            specs.append((dotted(alias.name), None, asname))
    return specs


def _existing(module: cst.Module) -> Set[ImportSpec]:
    found: Set[ImportSpec] = set()
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                found.update(bound_imports(small))
    return found


def import_statement(spec: ImportSpec) -> cst.SimpleStatementLine:
    module, name, asname = spec
    alias_name = cst.AsName(cst.Name(asname)) if asname else None
    if name is None:
        node: cst.BaseSmallStatement = cst.Import([cst.ImportAlias(dotted_expr(module), alias_name)])
    else:
        node = cst.ImportFrom(dotted_expr(module), [cst.ImportAlias(cst.Name(name), alias_name)])
    return cst.SimpleStatementLine([node])


def _is_import_line(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body
    )


def is_docstring(statement: cst.CSTNode) -> bool:
    """Whether a statement is a lone string expression (a docstring)."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    small = statement.body[0]
    return isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString))


def add_imports(module: cst.Module, specs: Sequence[ImportSpec]) -> cst.Module:
    """``module`` with each spec imported once, after its top-of-file imports."""
    existing = _existing(module)
    new = [import_statement(spec) for spec in dict.fromkeys(specs) if spec not in existing]
    if not new:
        return module
    body = list(module.body)
    index = 0
    while index < len(body) and (is_docstring(body[index]) or _is_import_line(body[index])):
        index += 1
    return module.with_changes(body=[*body[:index], *new, *body[index:]])


# Identifiers that ``ast`` does not list as names (attribute, keyword, definition and
# parameter names, ``global`` names, ``except ... as x``, match-pattern captures), and
# what ``used_names`` must not enter (imports; the parts of a concatenated string).
_NOT_READ: Dict[type, FrozenSet[str]] = {
    cst.Attribute: frozenset({"attr"}), cst.Arg: frozenset({"keyword"}), cst.FunctionDef: frozenset({"name"}),
    cst.ClassDef: frozenset({"name"}), cst.Param: frozenset({"name"}), cst.Global: frozenset({"names"}),
    cst.Nonlocal: frozenset({"names"}), cst.ExceptHandler: frozenset({"name"}),
    cst.ExceptStarHandler: frozenset({"name"}), cst.MatchAs: frozenset({"name"}), cst.MatchStar: frozenset({"name"}),
    cst.MatchMapping: frozenset({"rest"}), cst.MatchKeywordElement: frozenset({"key"}),
    cst.Import: frozenset({"names"}), cst.ImportFrom: frozenset({"module", "names", "relative"}),
    cst.ConcatenatedString: frozenset({"left", "right"}),
}
_CONSTANTS = frozenset({"None", "True", "False"})  # libcst Names, ``ast`` Constants


def used_names(node: cst.CSTNode) -> Set[str]:
    """Every identifier read or stored in ``node`` outside import statements, as
    ``ast.Name`` would list them, plus string constants that are identifiers (string
    annotations, ``__all__`` entries). A :func:`walk`, no codegen."""
    names: Set[str] = set()
    for item in walk(node, _NOT_READ):
        kind = type(item)
        if kind is cst.Name:
            if item.value not in _CONSTANTS:
                names.add(item.value)
        elif kind is cst.SimpleString or kind is cst.ConcatenatedString:
            value = item.evaluated_value
            if isinstance(value, str) and value.isidentifier():
                names.add(value)
    return names


def try_import_tf_targets(small: cst.CSTNode) -> Optional[List[Optional[str]]]:
    """The names ``... = try_import_tf()`` binds, ``None`` for another statement:
    ``[tf1, tf, tfv]`` for the tuple form (``None`` where a slot is not a plain name),
    ``[tf]`` for ray 0.8's one-name form (the module itself)."""
    if not (isinstance(small, cst.Assign) and isinstance(small.value, cst.Call) and len(small.targets) == 1):
        return None
    if dotted(small.value.func).split(".")[-1] != "try_import_tf":
        return None
    target = small.targets[0].target
    if isinstance(target, (cst.Tuple, cst.List)):
        return [e.value.value if isinstance(e.value, cst.Name) else None for e in target.elements]
    return [target.value] if isinstance(target, cst.Name) else None


def bound_name(spec: ImportSpec) -> str:
    """The name an import binds: ``asname``, else ``name``, else the first dotted part."""
    module, name, asname = spec
    return asname or name or module.split(".")[0]

