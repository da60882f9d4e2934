"""What every codemod rule is: a libcst transformer with a name, a byte pre-filter and
a way to leave ``# TODO(rlmigrate): ...`` markers on the statement it is visiting.

A rule module under ``codemods/rules/`` defines one :class:`Rule` subclass; the registry
(``codemods.rules``) finds it. Rules never import torch, tensorflow or ray.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import libcst as cst

TODO_PREFIX = "# TODO(rlmigrate): "
#: What migrated configs and training scripts are written for (``rlmigrate migrate --target``):
#: ``"rlmodule"`` this project's algorithms, ``"rllib"`` RLlib 2.60's new API stack (the
#: model classes become this project's RLModules either way, RLlib runs them through
#: ``compat.rllib``'s adapter).
TARGETS = ("rlmodule", "rllib")
DEFAULT_TARGET = "rlmodule"
#: Legacy model kinds (``RepoIndex.legacy_models``) the ``models`` rule turns into RLModules.
CONVERTED_KINDS = frozenset({"torch", "recurrent", "tf", "tf_recurrent", "torch_builtin", "tf_builtin", "migrated"})

# Statements that carry ``leading_lines`` (where a TODO marker goes).
_STATEMENTS = (
    cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef, cst.If, cst.For, cst.While,
    cst.With, cst.Try, cst.TryStar, cst.Match,
)
_STATEMENT_TYPES = frozenset(_STATEMENTS)


def concrete_subclasses(base: type) -> FrozenSet[type]:
    """Every subclass of ``base``, at any depth."""
    found, stack = set(), [base]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.add(sub)
            stack.append(sub)
    return frozenset(found)


# Fields that only hold layout (whitespace, parentheses, commas): ``walk`` skips them.
_LAYOUT = frozenset({
    "whitespace", "whitespace_before", "whitespace_after", "leading_lines", "lines_after_decorators", "header",
    "footer", "semicolon", "comma", "lpar", "rpar",
})
_NO_SKIP: Mapping[type, FrozenSet[str]] = {}
_FIELDS: Dict[int, Dict[type, Tuple[str, ...]]] = {}  # id(skip) -> node type -> fields to enter


def walk(node: cst.CSTNode, skip: Mapping[type, FrozenSet[str]] = _NO_SKIP) -> Iterator[cst.CSTNode]:
    """Every node under ``node`` (itself first), in source order, without descending
    into layout fields nor into the fields ``skip[type(node)]`` names (``skip``: a
    module-level constant; its fields are cached by identity).

    For read-only surveys: a plain walk over the node fields, several times faster
    than a ``CSTVisitor`` (which rebuilds every node it visits).
    """
    cache = _FIELDS.setdefault(id(skip), {})
    stack: List[Any] = [node]
    while stack:
        item = stack.pop()
        yield item
        kind = type(item)
        names = cache.get(kind)
        if names is None:
            skipped = _LAYOUT | skip.get(kind, frozenset())
            names = cache[kind] = tuple(f.name for f in reversed(dataclasses.fields(kind)) if f.name not in skipped)
        for name in names:
            value = getattr(item, name)
            if type(value) in NODE_TYPES:
                stack.append(value)
            elif type(value) is tuple or type(value) is list:
                stack.extend(reversed(value))


#: Expressions, and lines of simple statements (what a statement-level pass skips).
EXPRESSIONS = concrete_subclasses(cst.BaseExpression)
#: Every node class (a set lookup: ``isinstance`` on libcst's abstract bases is slow).
NODE_TYPES = concrete_subclasses(cst.CSTNode)
SIMPLE_LINES = frozenset({cst.SimpleStatementLine})
#: For ``descend_only``: the statement skeleton (blocks and compound statements).
SKELETON = frozenset({
    cst.Module, cst.IndentedBlock, cst.SimpleStatementSuite, cst.FunctionDef, cst.ClassDef, cst.If, cst.Else,
    cst.For, cst.While, cst.With, cst.Try, cst.TryStar, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally,
    cst.Match, cst.MatchCase,
})

Statement = Union[
    cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef, cst.If, cst.For, cst.While,
    cst.With, cst.Try, cst.TryStar, cst.Match,
]


def todo_comment(message: str, anchor: str) -> str:
    """The marker text: ``# TODO(rlmigrate): <message> - see MIGRATION.md#<anchor>``, on
    one line (code quoted in ``message`` has its line breaks and indentation collapsed)."""
    return f"{TODO_PREFIX}{' '.join(message.split())} - see MIGRATION.md#{anchor}"


@dataclass(frozen=True)
class RepoIndex:
    """What the pre-pass learned about the whole repository.

    ``legacy_models``: class name -> legacy base kind for every class that derives,
    directly or through other classes of the repository, from a legacy ModelV2 class.
    The kinds the ``models`` rule converts (``CONVERTED_KINDS``): ``"torch"``,
    ``"recurrent"`` (torch ``RecurrentNetwork``), ``"tf"``, ``"tf_recurrent"`` (TF
    ``RecurrentNetwork`` / ``RecurrentTFModelV2``), ``"torch_builtin"`` / ``"tf_builtin"``
    (a subclass of a built-in model ``compat.migrated_builtins`` has a base for); the kind it
    flags and leaves as it is: ``"unsupported"`` (models of algorithms this project does
    not have, built-in TF models, attention nets and wrappers). ``"migrated"``: an RLModule
    already (an earlier run's output, or one written by hand); the ``models`` rule leaves
    it, the ``configs`` rule counts it as converted (a second run changes nothing).
    """

    legacy_models: Dict[str, str] = field(default_factory=dict)
    #: Classes deriving (directly, or through other classes of the repository) from a
    #: legacy RLlib policy class (``Policy``, ``TorchPolicyV2``, ``PPOTorchPolicy``, ...).
    legacy_policies: FrozenSet[str] = frozenset()

    def converts(self, name: str) -> bool:
        """Whether class ``name`` (a bare or dotted name; its last part is looked up)
        becomes an RLModule under the ``models`` rule."""
        return self.legacy_models.get(name.split(".")[-1]) in CONVERTED_KINDS

    @property
    def trigger_names(self) -> FrozenSet[bytes]:
        return frozenset(name.encode() for name in self.legacy_models)


@dataclass
class FileContext:
    """Per-file state shared by the rules run on one file; ``target``: one of ``TARGETS``."""

    path: str
    repo: RepoIndex = field(default_factory=RepoIndex)
    source: bytes = b""
    target: str = DEFAULT_TARGET
    changed_by: List[str] = field(default_factory=list)


class TodoTransformer(cst.CSTTransformer):
    """A transformer that records which rule changed the file and can leave TODOs.

    ``flag(message, anchor)`` puts ``# TODO(rlmigrate): message - see
    MIGRATION.md#anchor`` above the statement being visited (never twice).
    Subclasses overriding ``on_visit`` / ``on_leave`` must call ``super()``.

    ``descend_only``: if set, the only node types whose children are visited (the
    ``visit_`` / ``leave_`` hooks of the others still run); a transformer that only looks
    at statements uses ``SKELETON`` and skips most of the tree (libcst visits are slow).
    """

    descend_only: FrozenSet[type] = frozenset()

    def __init__(self, context: FileContext, rule_name: str) -> None:
        super().__init__()
        self.context = context
        self.rule_name = rule_name
        self._statements: List[cst.CSTNode] = []
        self._pending: Dict[int, List[str]] = {}
        # id -> placeholder: the dict keeps each placeholder alive, so its id cannot be
        # reused by a later node (which would then be deleted as if it were removed).
        self._removed: Dict[int, cst.CSTNode] = {}

    def changed(self) -> None:
        if self.rule_name not in self.context.changed_by:
            self.context.changed_by.append(self.rule_name)

    def flag(self, message: str, anchor: str, statement: Optional[cst.CSTNode] = None) -> None:
        """Leave a TODO above ``statement`` (default: the innermost one being visited)."""
        target = statement if statement is not None else self._statements[-1]
        comments = self._pending.setdefault(id(target), [])
        text = todo_comment(message, anchor)
        if text not in comments:
            comments.append(text)

    def remove(self, statement: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        """Return this from ``leave_SimpleStatementLine`` to delete the line; comment
        lines above it move to the next statement (a block never becomes empty)."""
        placeholder = statement.with_changes(body=[cst.Pass()])
        self._removed[id(placeholder)] = placeholder
        self.changed()
        return placeholder

    def _sweep(self, body: Sequence[cst.CSTNode], footer: Sequence[cst.EmptyLine]):
        """``body`` without removed lines (their leading lines carried forward), and footer."""
        kept: List[cst.CSTNode] = []
        carried: List[cst.EmptyLine] = []
        for statement in body:
            if id(statement) in self._removed:
                carried += statement.leading_lines
                continue
            if carried:
                statement = statement.with_changes(leading_lines=_joined(carried, statement.leading_lines))
                carried = []
            kept.append(statement)
        return kept, [*carried, *footer]

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        if kind in _STATEMENT_TYPES:
            self._statements.append(node)
        return super().on_visit(node) and (not self.descend_only or kind in self.descend_only)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):
        result = super().on_leave(original_node, updated_node)
        if type(original_node) in _STATEMENT_TYPES:
            self._statements.pop()
            comments = self._pending.pop(id(original_node), None)
            if comments:
                result = self._with_todos(result, comments)
        if self._removed and type(result) in (cst.Module, cst.IndentedBlock):
            result = self._swept(result)
        if type(result) is cst.Module:
            result = _without_header_duplicates(result)
        return result

    def _with_todos(self, result, comments: List[str]):
        nodes = list(result.nodes) if isinstance(result, cst.FlattenSentinel) else [result]
        if not nodes or not isinstance(nodes[0], _STATEMENTS):
            return result
        flagged = with_todos(nodes[0], comments)
        if flagged is nodes[0]:
            return result
        self.changed()
        return cst.FlattenSentinel([flagged, *nodes[1:]]) if isinstance(result, cst.FlattenSentinel) else flagged

    def _swept(self, block: Union[cst.Module, cst.IndentedBlock]):
        if not any(id(s) in self._removed for s in block.body):
            return block
        body, footer = self._sweep(block.body, block.footer)
        if not body and isinstance(block, cst.IndentedBlock):
            body = [cst.SimpleStatementLine([cst.Pass()])]
        if body and id(block.body[0]) in self._removed:
            # The block's first statement went: do not start the file or block with blank lines.
            first = body[0]
            lines = list(first.leading_lines)
            while lines and lines[0].comment is None:
                lines.pop(0)
            body = [first.with_changes(leading_lines=lines), *body[1:]]
        return block.with_changes(body=body, footer=footer)


class Rule(TodoTransformer):
    """One migration rule (one module under ``codemods/rules/``).

    Subclasses set ``name`` (for ``--select`` / ``--skip``), ``summary`` (one line for
    ``--list-rules``), ``order`` (rules run in ascending order) and ``triggers`` (byte
    strings; the rule runs on a file only if one occurs in it: the cheap pre-filter;
    ``target_triggers`` adds some for a ``--target``). A rule reads the run's target
    from ``self.context.target``.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    order: ClassVar[int] = 100
    triggers: ClassVar[Tuple[bytes, ...]] = (b"rllib",)
    #: More triggers for a target other than the default (``--target`` name -> byte strings).
    target_triggers: ClassVar[Mapping[str, Tuple[bytes, ...]]] = {}

    def __init__(self, context: FileContext) -> None:
        super().__init__(context, self.name)

    @classmethod
    def applies_to(cls, source: bytes, repo: RepoIndex) -> bool:
        """Whether the file's bytes can concern this rule (no parsing)."""
        return any(t in source for t in cls.triggers)

    @classmethod
    def applies_to_target(cls, source: bytes, repo: RepoIndex, target: str) -> bool:
        """``applies_to``, or one of the triggers of ``target`` occurs in the file."""
        return cls.applies_to(source, repo) or any(t in source for t in cls.target_triggers.get(target, ()))


def _without_header_duplicates(module: cst.Module) -> cst.Module:
    """libcst keeps the comments above a file's first statement in ``module.header``:
    a TODO already there must not be added again to that statement."""
    if not module.body or not module.header:
        return module
    header = {line.comment.value for line in module.header if line.comment is not None}
    first = module.body[0]
    lines = [
        line for line in first.leading_lines
        if line.comment is None or not line.comment.value.startswith(TODO_PREFIX) or line.comment.value not in header
    ]
    if len(lines) == len(first.leading_lines):
        return module
    return module.with_changes(body=[first.with_changes(leading_lines=lines), *module.body[1:]])


def _blank_run(lines: Sequence[cst.EmptyLine]) -> int:
    """The longest run of blank lines (no comment) in ``lines``."""
    longest = run = 0
    for line in lines:
        run = run + 1 if line.comment is None else 0
        longest = max(longest, run)
    return longest


def _joined(carried: Sequence[cst.EmptyLine], own: Sequence[cst.EmptyLine]) -> List[cst.EmptyLine]:
    """A removed statement's leading lines joined onto the next statement's, with no
    run of blank lines longer than either had (two removed lines between blank-line
    separated code leave the usual separation, not the sum of both)."""
    limit = max(_blank_run(carried), _blank_run(own))
    lines: List[cst.EmptyLine] = []
    run = 0
    for line in [*carried, *own]:
        run = run + 1 if line.comment is None else 0
        if run <= limit:
            lines.append(line)
    return lines


def with_todos(statement: Statement, comments: List[str]) -> Statement:
    """``statement`` with each comment as a line above it, unless already there."""
    present = {line.comment.value for line in statement.leading_lines if line.comment is not None}
    new = [cst.EmptyLine(indent=True, comment=cst.Comment(c)) for c in comments if c not in present]
    if not new:
        return statement
    return statement.with_changes(leading_lines=[*statement.leading_lines, *new])
