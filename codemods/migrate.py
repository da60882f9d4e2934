"""Migrating one file's bytes, and a whole run over many files (with workers).

``migrate_source`` never raises for bad input: undecodable or unparsable files, and
rules that would produce invalid code, come back as a ``FileResult`` with ``error`` set
and no new bytes. Every output is re-parsed by libcst and by ``ast`` before it counts.
"""

from __future__ import annotations

import ast
import re
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type

import libcst as cst

from codemods.files import TooLarge, decode_source, digest, read_regular
from codemods.rule import DEFAULT_TARGET, TARGETS, FileContext, RepoIndex, Rule
from codemods.workers import IsolatedPool

_TODO = re.compile(r"# TODO\(rlmigrate\): (.*) - see MIGRATION\.md#(\S+)\s*$")


@dataclass
class Todo:
    """A TODO marker in the migrated file: 1-based ``line``, ``message``, ``anchor``."""

    line: int
    message: str
    anchor: str


@dataclass
class FileResult:
    """What happened to one file. ``status``: ``unchanged`` | ``changed`` | ``error``."""

    path: str
    status: str
    lines: int = 0
    rules: List[str] = field(default_factory=list)
    todos: List[Todo] = field(default_factory=list)
    error: Optional[str] = None
    new_bytes: Optional[bytes] = None
    parsed: bool = False
    digest: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "rules": list(self.rules),
            "todos": [vars(t) for t in self.todos],
            "error": self.error,
        }


def find_todos(text: str) -> List[Todo]:
    """Every ``# TODO(rlmigrate): ...`` marker of ``text`` with its line number."""
    todos = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "TODO(rlmigrate)" in line:
            match = _TODO.search(line)
            if match:
                todos.append(Todo(number, match.group(1), match.group(2)))
    return todos


def migrate_source(
    data: bytes, path: str, rules: Sequence[Type[Rule]], repo: Optional[RepoIndex] = None,
    target: str = DEFAULT_TARGET,
) -> FileResult:
    """Run ``rules`` over one file's bytes, writing configs for ``target`` (one of
    ``TARGETS``). ``new_bytes`` is set only when they changed."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    try:
        return _migrate_source(data, path, rules, repo or RepoIndex(), target)
    except RecursionError:
        return FileResult(path, "error", error="not migrated: nested too deeply for libcst (RecursionError)")
    except MemoryError:
        return FileResult(path, "error", error="not migrated: out of memory (MemoryError)")


def _migrate_source(data: bytes, path: str, rules: Sequence[Type[Rule]], repo: RepoIndex, target: str) -> FileResult:
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    active = [rule for rule in rules if rule.applies_to_target(data, repo, target)]
    if not active:
        return FileResult(path, "unchanged", lines)
    try:
        source = decode_source(data)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        return FileResult(path, "error", lines, error=f"cannot decode: {exc}")
    try:
        module = cst.parse_module(source.text)
    except cst.ParserSyntaxError as exc:
        return FileResult(path, "error", lines, error=f"cannot parse: {_one_line(exc)}")
    context = FileContext(path=path, repo=repo, source=data, target=target)
    try:
        for rule in active:
            module = module.visit(rule(context))
    except RecursionError:
        raise
    except Exception as exc:  # a rule bug must not abort the run nor touch the file
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return FileResult(
            path, "error", lines, error=f"internal error in rule(s) {', '.join(r.name for r in active)}: "
            f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})", parsed=True,
        )
    text = module.code
    todos = find_todos(text)
    if text == source.text:
        return FileResult(path, "unchanged", lines, todos=todos, parsed=True)
    problem = _invalid(text)
    if problem:
        return FileResult(
            path, "error", lines, rules=context.changed_by, parsed=True,
            error=f"rules {', '.join(context.changed_by)} produced code that does not parse ({problem}); file left unchanged",
        )
    return FileResult(path, "changed", lines, context.changed_by, todos, new_bytes=source.encode(text), parsed=True)


def _invalid(text: str) -> Optional[str]:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        return _one_line(exc)
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# --------------------------------------------------------------------------------------
# Many files
# --------------------------------------------------------------------------------------
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_BYTES = 1_000_000


def _worker_task(
    rule_names: List[str], repo: RepoIndex, max_bytes: int, target: str
) -> Callable[[Tuple[str, str]], FileResult]:
    """Runs once in each worker: the rules, then the function that migrates one path."""
    from codemods.rules import select_rules

    return partial(migrate_path, rules=select_rules(rule_names), repo=repo, max_bytes=max_bytes, target=target)


def migrate_path(
    item: Tuple[str, str], rules: Sequence[Type[Rule]], repo: RepoIndex, max_bytes: Optional[int] = None,
    target: str = DEFAULT_TARGET,
) -> FileResult:
    """Read and migrate ``item`` (``(display path, filesystem path)``); the result's
    ``digest`` is that of the bytes read."""
    display, filename = item
    try:
        data = read_regular(Path(filename), max_bytes)
    except TooLarge as exc:
        return FileResult(display, "error", error=f"not migrated: {exc.strerror} (--max-file-size)")
    except OSError as exc:
        return FileResult(display, "error", error=f"cannot read: {exc.strerror or exc}")
    result = migrate_source(data, display, rules, repo, target)
    result.digest = digest(data) if result.status == "changed" else None
    return result


def _failed(item: Tuple[str, str], reason: str) -> FileResult:
    return FileResult(item[0], "error", error=f"not migrated: {reason}")


def migrate_files(
    items: Sequence[Tuple[str, str]],
    rules: Sequence[Type[Rule]],
    repo: RepoIndex,
    jobs: int = 1,
    on_result: Optional[Callable[[FileResult], None]] = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    target: str = DEFAULT_TARGET,
) -> List[FileResult]:
    """Migrate ``items`` (``(display path, filesystem path)``) in ``jobs`` worker
    processes (always at least one: a file that crashes the parser, runs past
    ``timeout`` seconds or is over ``max_bytes`` is an error of its own, never the
    run's); results in input order; ``on_result`` is called as each finishes (progress);
    ``target``: what configs are written for (``codemods.rule.TARGETS``)."""
    setup = partial(_worker_task, [rule.name for rule in rules], repo, max_bytes, target)
    return IsolatedPool(setup, _failed, jobs, timeout).run(items, on_result)


def iter_bytes(filenames: Iterable[str], max_bytes: Optional[int] = None) -> Iterable[bytes]:
    """File contents for the repository pre-pass (unreadable or too large files yield nothing)."""
    for filename in filenames:
        try:
            yield read_regular(Path(filename), max_bytes)
        except OSError:
            continue
