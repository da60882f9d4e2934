"""Migrating one file's bytes, and a whole run over many files (with workers).

``migrate_source`` never raises for bad input: undecodable or unparsable files, and
rules that would produce invalid code, come back as a ``FileResult`` with ``error`` set
and no new bytes. Every output is re-parsed by libcst and by ``ast`` before it counts.
"""

from __future__ import annotations

import ast
import re
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type

import libcst as cst

from codemods.files import decode_source
from codemods.rule import FileContext, RepoIndex, Rule

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
    data: bytes, path: str, rules: Sequence[Type[Rule]], repo: Optional[RepoIndex] = None
) -> FileResult:
    """Run ``rules`` over one file's bytes. ``new_bytes`` is set only when they changed."""
    repo = repo or RepoIndex()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    active = [rule for rule in rules if rule.applies_to(data, repo)]
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
    context = FileContext(path=path, repo=repo, source=data)
    try:
        for rule in active:
            module = module.visit(rule(context))
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
_WORKER: Dict[str, Any] = {}


def _init_worker(rule_names: List[str], repo: RepoIndex) -> None:
    from codemods.rules import select_rules

    _WORKER["rules"] = select_rules(rule_names)
    _WORKER["repo"] = repo


def _migrate_path(item: Tuple[str, str]) -> FileResult:
    display, filename = item
    try:
        data = Path(filename).read_bytes()
    except OSError as exc:
        return FileResult(display, "error", error=f"cannot read: {exc}")
    return migrate_source(data, display, _WORKER["rules"], _WORKER["repo"])


def migrate_files(
    items: Sequence[Tuple[str, str]],
    rules: Sequence[Type[Rule]],
    repo: RepoIndex,
    jobs: int = 1,
    on_result: Optional[Callable[[FileResult], None]] = None,
) -> List[FileResult]:
    """Migrate ``items`` (``(display path, filesystem path)``) with ``jobs`` workers;
    results in input order; ``on_result`` is called as each finishes (progress)."""
    names = [rule.name for rule in rules]
    results: List[FileResult] = []
    if jobs <= 1 or len(items) < 2:
        _init_worker(names, repo)
        for item in items:
            results.append(_migrate_path(item))
            if on_result:
                on_result(results[-1])
        return results
    chunk = max(1, min(64, len(items) // (jobs * 8)))
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(names, repo)) as pool:
        for result in pool.map(_migrate_path, items, chunksize=chunk):
            results.append(result)
            if on_result:
                on_result(result)
    return results


def iter_bytes(filenames: Iterable[str]) -> Iterable[bytes]:
    """File contents for the repository pre-pass (unreadable files yield nothing)."""
    for filename in filenames:
        try:
            yield Path(filename).read_bytes()
        except OSError:
            continue
