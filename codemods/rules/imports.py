"""Rule ``imports``: RLlib import paths -> ours, through the import map.

Runs after the other rules, so it sees what they left: a legacy import whose names
are no longer used is deleted; a used one is rewritten through
``codemods.import_map`` (keeping the name it binds, ``from new import X as Old`` where
the name changed); a used one without an equivalent gets a TODO.
``torch, nn = try_import_torch()`` and ``tf1, tf, tfv = try_import_tf()`` become plain
imports, and so does ray 0.8's one-name ``tf = try_import_tf()`` (``import tensorflow
as tf``; the ``models`` rule flags the TF1-only names a class uses through it); a name
the file never uses goes (no ``import tensorflow`` in a torch-only file); the same with
``error=True`` / ``error=False`` (a plain import raises where ``error=True`` did).
``gym`` imports become ``gymnasium`` ones in every file that imports gym, one that names
no RLlib too (an env module: RLlib 2.x and this project run gymnasium envs); an import
a rewrite makes twice in one block (``import gym`` and ``import gym.spaces``) is kept once;
a class deriving from what they import that still follows gym's ``reset`` / ``step`` API
gets a TODO.
A legacy import sharing its line with other statements (``import os; import gym``) is
rewritten in place.
``SampleBatch`` (``import_map.COLUMN_CONSTANT_MAP``) is rewritten only in a file that
reads nothing but ``SampleBatch.<COLUMN>`` constants from it; one that builds, calls,
subclasses or ``isinstance``-checks it keeps the legacy import with the TODO.

Before::

    from ray.rllib.models.torch.misc import SlimFC, normc_initializer
    from ray.rllib.utils.framework import try_import_torch
    torch, nn = try_import_torch()

After::

    from compat.legacy_torch_models import SlimFC, normc_initializer
    import torch
    from torch import nn
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Set, Union

import libcst as cst

from codemods.import_edits import ImportSpec, bound_imports, bound_name, dotted, dotted_expr, import_statement, used_names
from codemods.import_map import COLUMN_CONSTANT_MAP, SPECIFIC_TODOS, map_import
from codemods.rllib_target import keeps_import
from codemods.rule import SKELETON, FileContext, RepoIndex, Rule, TodoTransformer, walk

ANCHOR = "imports-without-an-equivalent"
ANCHOR_GYM = "imports"
OWN_PACKAGES = ("rlmodule", "compat")

# try_import_*() result slot -> the import that binds it (``None``: an assignment).
_TRY_IMPORTS: Dict[str, Sequence[Optional[ImportSpec]]] = {
    "try_import_torch": (("torch", None, None), ("torch", "nn", None)),
    "try_import_tf": (("tensorflow.compat.v1", None, None), ("tensorflow", None, None), None),
}


#: An import of ``gym`` (not ``gymnasium``, not ``gym_minigrid``) at a line or after ``;``,
#: also among other modules (``import os, gym``): the pre-filter for files naming no RLlib.
_GYM_IMPORT = re.compile(rb"(?:^|;)[ \t]*(?:from[ \t]+gym\b|import[ \t]+(?:[\w.]+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*gym\b)", re.M)


def is_legacy(module: str) -> bool:
    """RLlib, or OpenAI ``gym`` (legacy RLlib code imports it; RLlib 2.x uses gymnasium)."""
    return module in ("ray.rllib", "gym") or module.startswith(("ray.rllib.", "gym."))


def _gymnasium(spec: ImportSpec) -> ImportSpec:
    """``gym`` imports -> the same from ``gymnasium``, binding the same name."""
    module, name, asname = spec
    new_module = "gymnasium" + module[len("gym"):]
    if name is None:  # ``import gym`` / ``import gym.spaces`` bind ``gym``
        return ("gymnasium", None, "gym") if asname is None else (new_module, None, asname)
    return (new_module, name, asname)


class Imports(Rule):
    name = "imports"
    summary = "rewrite RLlib imports through the import map; drop unused legacy imports; try_import_*() -> imports"
    order = 90
    triggers = (b"rllib", b"try_import_")
    descend_only = SKELETON  # imports and try_import_* lines are statements

    @classmethod
    def applies_to(cls, source: bytes, repo: RepoIndex) -> bool:
        return super().applies_to(source, repo) or (b"gym" in source and _GYM_IMPORT.search(source) is not None)

    def visit_Module(self, node: cst.Module) -> None:
        self.generated: Dict[int, cst.SimpleStatementLine] = {}  # lines made from try_import_*() (kept alive)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Union[cst.SimpleStatementLine, cst.FlattenSentinel]:
        if len(updated_node.body) != 1:
            return updated_node
        lines = _try_import_lines(updated_node.body[0])
        if lines is None:
            return updated_node
        self.changed()
        lines[0] = lines[0].with_changes(leading_lines=updated_node.leading_lines)
        self.generated.update((id(line), line) for line in lines)
        return cst.FlattenSentinel(lines)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        used = used_names(updated_node)
        if self.generated:
            # ``tfv = 2`` stores its own name: read the names used outside such lines.
            others = [s for s in updated_node.body if id(s) not in self.generated or not _is_assign(s)]
            reads = used_names(updated_node.with_changes(body=others))
            updated_node = updated_node.visit(_UnusedTryImports(self.context, self.name, self.generated, reads))
        rewriter = _ImportRewriter(self.context, self.name, used, updated_node)
        module = updated_node.visit(rewriter)
        merged = merge_own_imports(module)
        if merged is not module:
            self.changed()
        return merged


def _try_import_lines(small: cst.BaseSmallStatement) -> Optional[List[cst.SimpleStatementLine]]:
    """``a, b = try_import_torch()`` -> one line per bound name; ``None`` if not that."""
    if not (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.value, cst.Call)):
        return None
    slots = _TRY_IMPORTS.get(dotted(small.value.func).split(".")[-1])
    target = small.targets[0].target
    if slots is None or not _plain_call(small.value):
        return None
    names = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
    if len(names) == 1 and len(slots) == 3:  # ray 0.8: ``tf = try_import_tf()`` (the module itself)
        slots = (("tensorflow", None, None),)
    if len(names) != len(slots) or not all(isinstance(n, cst.Name) for n in names):
        return None
    lines: List[cst.SimpleStatementLine] = []
    for name, spec in zip(names, slots):
        if name.value == "_":
            continue
        if spec is None:  # tfv: the TensorFlow major version
            lines.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(name)], cst.Integer("2"))]))
            continue
        module, symbol, _ = spec
        natural = symbol or (module if "." not in module else None)  # what the import binds unaliased
        lines.append(import_statement((module, symbol, None if name.value == natural else name.value)))
    return lines or None


def _plain_call(call: cst.Call) -> bool:
    """``try_import_*()``, or with ``error=True`` / ``error=False`` (keyword or positional)."""
    if not call.args:
        return True
    arg = call.args[0]
    return (
        len(call.args) == 1 and arg.star == "" and (arg.keyword is None or arg.keyword.value == "error")
        and isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False")
    )


def _is_assign(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Assign)


class _UnusedTryImports(TodoTransformer):
    """Drops the lines made from ``try_import_*()`` whose name the file never uses."""

    descend_only = SKELETON

    def __init__(self, context: FileContext, rule_name: str, generated: Dict[int, cst.CSTNode], used: Set[str]) -> None:
        super().__init__(context, rule_name)
        self.generated, self.used = generated, used

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if id(original_node) not in self.generated:
            return updated_node
        small = updated_node.body[0]
        if isinstance(small, cst.Assign):
            bound = {dotted(t.target) for t in small.targets}
        else:
            bound = {bound_name(spec) for spec in bound_imports(small)}
        source = self.context.source
        quoted = any(f'"{n}.'.encode() in source or f"'{n}.".encode() in source for n in bound)  # "tf.Tensor" annotations
        return updated_node if bound & self.used or quoted else self.remove(updated_node)


class _ImportRewriter(TodoTransformer):
    """Rewrites, drops or flags each legacy import, knowing the names still in use."""

    descend_only = SKELETON

    def __init__(self, context: FileContext, rule_name: str, used: Set[str], module: cst.Module) -> None:
        super().__init__(context, rule_name)
        self.used = used
        self.module = module
        self.made: Dict[int, cst.SimpleStatementLine] = {}  # lines of rewritten imports (kept alive)
        self.gym_names: Set[str] = set()  # names rewritten gym imports bind (``gym``, ``Env``)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Union[cst.SimpleStatementLine, cst.FlattenSentinel]:
        body = updated_node.body
        if not any(isinstance(small, (cst.Import, cst.ImportFrom)) for small in body):
            return updated_node
        if len(body) > 1:
            return self._shared_line(updated_node)
        statements = self._rewritten(body[0])
        if statements is None:
            return updated_node
        if not statements:
            return self.remove(updated_node)
        lines = [updated_node.with_changes(body=[statements[0]])] + [cst.SimpleStatementLine([s]) for s in statements[1:]]
        self.made.update((id(line), line) for line in lines)
        return lines[0] if len(lines) == 1 else cst.FlattenSentinel(lines)

    def _shared_line(self, line: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        """A line of several statements (``import os; import gym``): each import is
        rewritten in place; the line goes if nothing is left of it."""
        body: List[cst.BaseSmallStatement] = []
        for small in line.body:
            statements = self._rewritten(small) if isinstance(small, (cst.Import, cst.ImportFrom)) else None
            if statements is None:
                body.append(small)
            elif statements:
                body += [*statements[:-1], statements[-1].with_changes(semicolon=small.semicolon)]
        if not body:
            return self.remove(line)
        if body == list(line.body):
            return line
        body[-1] = body[-1].with_changes(semicolon=line.body[-1].semicolon)  # no ``;`` left at the end
        return line.with_changes(body=body)

    def _rewritten(self, statement: Union[cst.Import, cst.ImportFrom]) -> Optional[List[cst.BaseSmallStatement]]:
        """What import ``statement`` becomes (flagging what has no equivalent): ``None``
        unchanged, ``[]`` gone, else the statements in its place, the kept legacy one first."""
        if isinstance(statement, cst.ImportFrom) and isinstance(statement.names, cst.ImportStar):
            return self._star(statement)
        specs = bound_imports(statement)
        if not specs or not any(self._legacy(spec[0], spec[1]) or self._unused_rllib(spec) for spec in specs):
            return None
        kept: List[ImportSpec] = []  # legacy imports still used, without an equivalent
        new: Dict[str, List[ImportSpec]] = {}
        for spec in specs:
            module, name, asname = spec
            bound = bound_name(spec)
            if self._unused_rllib(spec):
                continue  # an RLlib import the migrated code no longer needs (a trainer rewritten)
            if not self._legacy(module, name):
                new.setdefault(module, []).append(spec)
            elif bound not in self.used and module.startswith("ray."):
                continue  # an RLlib import the migrated code no longer needs
            elif (target := self._target(spec) or self._constants_target(spec)) is not None:
                new.setdefault(target[0], []).append(target)
                if not module.startswith("ray."):
                    self.gym_names.add(bound)
            else:
                kept.append(spec)
                what = f"`{name}` from `{module}`" if name else f"`import {module}`"
                self.flag(SPECIFIC_TODOS.get((module, name)) or f"{what} has no ray-free equivalent; replace its uses", ANCHOR)
        if kept == specs:
            return None
        self.changed()
        # The kept legacy import goes first, under its TODO.
        return ([_statement(kept)] if kept else []) + [_statement(group) for group in new.values()]

    def _unused_rllib(self, spec: ImportSpec) -> bool:
        """Under ``--target rllib``: an import RLlib's configs keep that nothing uses."""
        module, name, _ = spec
        return self.context.target == "rllib" and keeps_import(module, name) and bound_name(spec) not in self.used

    def _legacy(self, module: str, name: Optional[str]) -> bool:
        """A legacy import to map; under ``--target rllib`` RLlib's algorithms, configs and
        spec classes are not (the migrated configs are RLlib's)."""
        return is_legacy(module) and not (self.context.target == "rllib" and keeps_import(module, name))

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        """A TODO on a gym env or wrapper (a base from a rewritten gym import) still
        written for gym's API: ``reset`` without ``seed``, or ``step`` returning 4 values."""
        if self.gym_names and any(dotted(a.value).split(".")[0] in self.gym_names for a in original_node.bases):
            if _gym_api(original_node):
                self.flag(
                    f"{original_node.name.value} follows gym's API, which gymnasium changed: reset(self, *, seed=None, "
                    "options=None) returns (obs, info), and step returns (obs, reward, terminated, truncated, info)",
                    ANCHOR_GYM, original_node,
                )
        return updated_node

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        self._drop_repeats(updated_node.body)
        return updated_node

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        self._drop_repeats(updated_node.body)
        return updated_node

    def _drop_repeats(self, body: Sequence[cst.BaseStatement]) -> None:
        """Removes a line this rewriter made that only imports what an earlier import line
        of the same block imports already (``import gym`` and ``import gym.spaces`` both
        became ``import gymnasium as gym``)."""
        if not any(id(statement) in self.made for statement in body):
            return
        seen: Set[ImportSpec] = set()
        for statement in body:
            if not (isinstance(statement, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body
            )):
                continue
            specs = [spec for small in statement.body for spec in bound_imports(small)]
            if id(statement) in self.made and specs and set(specs) <= seen:
                self._removed[id(statement)] = statement  # swept once this block is left
            seen.update(specs)

    def _star(self, statement: cst.ImportFrom) -> Optional[List[cst.BaseSmallStatement]]:
        module = dotted(statement.module) if statement.module is not None and not statement.relative else ""
        if not self._legacy(module, None):
            return None
        mapped = map_import(module)
        if mapped is None:
            self.flag(f"`from {module} import *` has no ray-free equivalent; import the names you use", ANCHOR)
            return None
        self.changed()
        return [statement.with_changes(module=dotted_expr(mapped[0]))]

    def _constants_target(self, spec: ImportSpec) -> Optional[ImportSpec]:
        """The import of ``COLUMN_CONSTANT_MAP`` when every use of the bound name in the
        file reads one of its constants (``SampleBatch.OBS``), else ``None``."""
        module, name, asname = spec
        entry = COLUMN_CONSTANT_MAP.get((module, name)) if name is not None else None
        if entry is None:
            return None
        new_module, new_name, constants = entry
        bound = asname or name
        if not _only_constant_reads(self.module, bound, constants):
            return None
        return (new_module, new_name, None if bound == new_name else bound)

    @staticmethod
    def _target(spec: ImportSpec) -> Optional[ImportSpec]:
        module, name, asname = spec
        if module == "gym" or module.startswith("gym."):
            return _gymnasium(spec)
        mapped = map_import(module, name)
        if mapped is None:
            return None
        new_module, new_name = mapped
        if name is None:  # ``import a.b as c`` binds c; plain ``import a.b`` binds ``a``
            return (new_module, None, asname) if asname else None
        bound = asname or name
        return (new_module, new_name, None if bound == new_name else bound)


def _gym_api(node: cst.ClassDef) -> bool:
    """Whether class ``node`` defines ``reset`` taking no ``seed`` (nor ``**kwargs``), or a
    ``step`` returning a tuple of 4 (gym's ``obs, reward, done, info``)."""
    for method in node.body.body if isinstance(node.body, cst.IndentedBlock) else ():
        if not isinstance(method, cst.FunctionDef):
            continue
        params = method.params
        if method.name.value == "reset" and not isinstance(params.star_kwarg, cst.Param) and "seed" not in {
            p.name.value for p in [*params.params, *params.kwonly_params]
        }:
            return True
        if method.name.value == "step" and any(
            type(n) is cst.Return and isinstance(n.value, cst.Tuple) and len(n.value.elements) == 4 for n in walk(method.body)
        ):
            return True
    return False


#: Methods and attributes only SampleBatch / MultiAgentBatch objects have: a file using
#: one handles batch objects, which have no equivalent here.
_BATCH_OBJECT_API = frozenset({
    "concat_samples", "split_by_episode", "timeslices", "right_zero_pad", "get_single_step_input_dict",
    "as_multi_agent", "decompress_if_needed", "policy_batches", "env_steps", "agent_steps",
    "set_get_interceptor", "is_terminated_or_truncated", "is_single_trajectory", "zero_padded",
})


#: What the constant-read survey does not enter: import statements.
_SKIP_IMPORTS = {cst.Import: frozenset({"names"}), cst.ImportFrom: frozenset({"module", "names", "relative"})}


def _only_constant_reads(module: cst.Module, name: str, constants: frozenset) -> bool:
    """Whether every use of ``name`` outside import lines is a read of
    ``name.<CONSTANT>`` with a constant of ``constants`` (not assigned, deleted or
    called; ``name`` never passed, called, subclassed, annotated or checked), and the
    file calls no method only batch objects have (``batch.split_by_episode()``).
    A :func:`walk`, no visitor."""

    def is_read(node: cst.CSTNode) -> bool:
        return (
            type(node) is cst.Attribute and type(node.value) is cst.Name
            and node.value.value == name and node.attr.value in constants
        )

    def targets(target: cst.BaseExpression) -> bool:
        if isinstance(target, (cst.Tuple, cst.List)):
            return any(targets(e.value) for e in target.elements)
        return is_read(target)

    names = reads = 0
    for node in walk(module, _SKIP_IMPORTS):
        kind = type(node)
        if kind is cst.Name:
            names += node.value == name
        elif kind is cst.Attribute:
            if is_read(node):
                reads += 1
            elif node.attr.value in _BATCH_OBJECT_API:
                return False
        elif kind is cst.Call:
            if is_read(node.func):  # SampleBatch.OBS(...) is not a constant read
                return False
        elif kind in (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.Del):
            if targets(node.target):
                return False
    return names == reads


def _name_order(name: str):
    """isort's default: CONSTANTS, then Classes, then functions, case-insensitively."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name.lower())


def merge_own_imports(module: cst.Module) -> cst.Module:
    """Top-level ``from rlmodule... / compat... import`` lines of one module become one
    line (at the first), names in isort order; other imports are left as they are.

    The comments of a merged-away line (above it, or after it) move above the line it
    is merged into, so the result is the same code however the file was commented."""
    first: Dict[str, int] = {}
    names: Dict[str, List[ImportSpec]] = {}
    carried: Dict[int, List[cst.EmptyLine]] = {}  # first line's index -> comments moved to it
    drop: Set[int] = set()
    for index, statement in enumerate(module.body):
        if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1):
            continue
        small = statement.body[0]
        if not isinstance(small, cst.ImportFrom) or isinstance(small.names, cst.ImportStar):
            continue
        specs = bound_imports(small)
        if not specs or specs[0][0].split(".")[0] not in OWN_PACKAGES:
            continue
        key = specs[0][0]
        if key in first:
            drop.add(index)
            carried.setdefault(first[key], []).extend(_comments_of(statement))
        else:
            first[key] = index
        names.setdefault(key, []).extend(spec for spec in specs if spec not in names.get(key, []))
    if not drop:
        return module
    body = []
    for index, statement in enumerate(module.body):
        if index in drop:
            continue
        key = next((k for k, i in first.items() if i == index), None)
        if key is not None and len(names[key]) > 1:
            ordered = sorted(names[key], key=lambda spec: _name_order(spec[1] or ""))
            statement = statement.with_changes(body=[_statement(ordered)])
        if carried.get(index):
            statement = statement.with_changes(leading_lines=[*statement.leading_lines, *carried[index]])
        body.append(statement)
    return module.with_changes(body=body)


def _comments_of(statement: cst.SimpleStatementLine) -> List[cst.EmptyLine]:
    """The comment lines above ``statement`` and its end-of-line comment, as lines."""
    lines = [line for line in statement.leading_lines if line.comment is not None]
    trailing = statement.trailing_whitespace.comment
    if trailing is not None:
        lines.append(cst.EmptyLine(indent=True, comment=trailing))
    return lines


def _statement(specs: Sequence[ImportSpec]) -> cst.BaseSmallStatement:
    module, name, _ = specs[0]
    if name is None:
        return cst.Import([cst.ImportAlias(dotted_expr(m), cst.AsName(cst.Name(a)) if a else None) for m, _, a in specs])
    return cst.ImportFrom(
        dotted_expr(module),
        [cst.ImportAlias(cst.Name(n), cst.AsName(cst.Name(a)) if a else None) for _, n, a in specs],
    )
