"""``rlmigrate migrate PATH...``: arguments, modes, output and exit codes.

Exit codes: 0 success (with ``--check``: nothing would change); 1 ``--check`` found
files that would change, or some file could not be migrated (listed, left untouched);
2 usage error (missing path, unknown rule, conflicting options).
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, TextIO, Tuple

from codemods.files import is_python, python_files, walk, write_atomic
from codemods.migrate import FileResult, iter_bytes, migrate_files
from codemods.repo_index import build_repo_index
from codemods.report import summarize, summary_table, write_report

EXIT_OK, EXIT_CHANGES_OR_ERRORS, EXIT_USAGE = 0, 1, 2


def add_migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to migrate")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite files in place (atomically)")
    mode.add_argument("--out-dir", metavar="DIR", help="write every file of each tree under DIR, migrated or copied")
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if any file would change")
    parser.add_argument("--diff", action="store_true", help="print the diff also with --write / --out-dir / --check")
    parser.add_argument(
        "--report", metavar="FILE", action="append",
        help="write a report: FILE.json or FILE.md (repeat the option for both)",
    )
    parser.add_argument("--select", metavar="RULES", action="append", help="run only these rules (comma-separated)")
    parser.add_argument("--skip", metavar="RULES", action="append", help="do not run these rules (comma-separated)")
    parser.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


def _names(values: Optional[List[str]]) -> List[str]:
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _usage(message: str) -> int:
    print(f"rlmigrate migrate: error: {message}", file=sys.stderr)
    return EXIT_USAGE


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.enabled = enabled and total > 0 and stream.isatty()

    def __call__(self, result: FileResult) -> None:
        self.done += 1
        if self.enabled and (self.done == self.total or self.done % 10 == 0):
            filled = int(30 * self.done / self.total)
            self.stream.write(f"\rmigrating [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()


def _collect(paths: Sequence[Path], out_dir: Optional[Path]) -> Tuple[List[Tuple[str, str]], List[Tuple[Path, Path]]]:
    """``(display, filename)`` of the Python files to migrate, and the trees ``(root,
    destination root)`` (destination only with ``--out-dir``)."""
    items: List[Tuple[str, str]] = []
    trees: List[Tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            rels = python_files(path)
            if out_dir is not None:
                rels = [r for r in rels if not _inside(path / r, out_dir)]
            items += [(str(path / rel), str(path / rel)) for rel in rels]
            trees.append((path, out_dir if out_dir is not None else path))
        elif is_python(path):
            items.append((str(path), str(path)))
            trees.append((path, out_dir / path.name if out_dir is not None else path))
    return items, trees


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def _dirty(paths: Sequence[Path]) -> List[str]:
    """Paths with uncommitted changes, per ``git status`` (empty if not a repository)."""
    dirty = []
    for path in paths:
        where = path if path.is_dir() else path.parent
        try:
            out = subprocess.run(
                ["git", "status", "--porcelain", "--", "."], cwd=where, capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            dirty.append(str(path))
    return dirty


def _diff(result: FileResult, old: bytes) -> str:
    new_text = result.new_bytes.decode("utf-8", "replace")
    old_text = old.decode("utf-8", "replace")
    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
            *_diff_names(result.path),
        )
    )


def _diff_names(path: str) -> Tuple[str, str]:
    """``a/p``, ``b/p`` for relative paths (``git apply``), the path twice if absolute."""
    return (path, path) if Path(path).is_absolute() else (f"a/{path}", f"b/{path}")


def _mirror(trees: Sequence[Tuple[Path, Path]], out_dir: Path, new: dict) -> None:
    """Every file of each tree under ``out_dir``: migrated bytes or a byte copy."""
    for root, dest in trees:
        if root.is_file():
            data = new.get(str(root))
            write_atomic(dest, data) if data is not None else _copy(root, dest)
            continue
        for rel in walk(root, everything=True):
            source = root / rel
            if _inside(source, out_dir):
                continue
            data = new.get(str(source))
            write_atomic(dest / rel, data) if data is not None else _copy(source, dest / rel)


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, dest)


def run_migrate(args: argparse.Namespace) -> int:
    from codemods.rules import all_rules, select_rules

    if args.list_rules:
        for rule in all_rules():
            print(f"{rule.name:16} {rule.summary}")
        return EXIT_OK
    if not args.paths:
        return _usage("give at least one PATH (file or directory)")
    try:
        rules = select_rules(_names(args.select) or None, _names(args.skip))
    except ValueError as exc:
        return _usage(str(exc))
    if args.jobs < 1:
        return _usage(f"-j/--jobs must be >= 1, got {args.jobs}")
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        return _usage(f"no such file or directory: {', '.join(missing)}")
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        return _usage(f"--out-dir {out_dir} exists and is not a directory")
    for report in args.report or []:
        if Path(report).suffix not in (".json", ".md"):
            return _usage(f"--report {report}: the file name must end in .json or .md")

    items, trees = _collect(paths, out_dir)
    if args.write:
        for path in _dirty(paths):
            print(
                f"rlmigrate migrate: warning: {path} has uncommitted changes; --write rewrites files in place, "
                "commit or stash first to review the migration as one diff",
                file=sys.stderr,
            )
    repo = build_repo_index(iter_bytes(filename for _, filename in items))
    progress = _Progress(len(items), enabled=not args.no_progress)
    results = migrate_files(items, rules, repo, jobs=args.jobs, on_result=progress)

    new = {filename: r.new_bytes for (_, filename), r in zip(items, results) if r.status == "changed"}
    show_diff = args.diff or not (args.write or out_dir is not None or args.check)
    for (_, filename), result in zip(items, results):
        if result.status == "changed" and show_diff:
            sys.stdout.write(_diff(result, Path(filename).read_bytes()))
        if result.status == "changed" and args.check:
            print(f"would change: {result.path}", file=sys.stderr)
        if result.status == "error":
            print(f"error: {result.path}: {result.error}", file=sys.stderr)
    if args.write:
        for filename, data in new.items():
            write_atomic(Path(filename), data)
    if out_dir is not None:
        _mirror(trees, out_dir, new)
    mode = "write" if args.write else "out-dir" if out_dir is not None else "check" if args.check else "diff"
    rule_names = [rule.name for rule in rules]
    for report in args.report or []:
        write_report(Path(report), results, rule_names, mode)
    summary = summarize(results, rule_names)
    print(summary_table(summary), file=sys.stderr)
    if summary["errors"] or (args.check and summary["changed"]):
        return EXIT_CHANGES_OR_ERRORS
    return EXIT_OK
