"""``rlmigrate migrate PATH...``: arguments, modes, output and exit codes.

Exit codes: 0 success (with ``--check``: nothing would change); 1 ``--check`` found
files that would change, or some file or directory could not be read, migrated or
written (each listed with its reason and left untouched; the others are done);
2 usage error (missing path, unknown rule, conflicting options).

Each file is migrated in a worker process: one that crashes the parser, runs past
``--timeout`` or is over ``--max-file-size`` is that file's error. ``--write`` replaces
a file only if its bytes are still those that were read, keeps its mode, owner and
group, and writes through a symlink; nothing from the target tree is ever run.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, TextIO, Tuple

from codemods.files import PYTHON_SUFFIXES, copy_atomic, copy_link, digest, is_python, read_regular, replace_file, scan, write_atomic
from codemods.git_index import unstaged
from codemods.migrate import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, FileResult, iter_bytes, migrate_files
from codemods.repo_index import build_repo_index
from codemods.rule import DEFAULT_TARGET, TARGETS
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
    parser.add_argument(
        "--target", choices=TARGETS, default=DEFAULT_TARGET,
        help="what configs and training scripts are written for: rlmodule (this project's algorithms, the default) "
        "or rllib (RLlib 2.60's new API stack, the models through compat.rllib's adapter)",
    )
    parser.add_argument("--select", metavar="RULES", action="append", help="run only these rules (comma-separated)")
    parser.add_argument("--skip", metavar="RULES", action="append", help="do not run these rules (comma-separated)")
    parser.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"give up on a file after this long (default {DEFAULT_TIMEOUT:g}); it is reported, the run goes on",
    )
    parser.add_argument(
        "--max-file-size", type=int, default=DEFAULT_MAX_BYTES, metavar="BYTES",
        help=f"do not migrate larger files (default {DEFAULT_MAX_BYTES}); they are reported",
    )
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


@dataclass
class _Plan:
    """What a run covers: ``items`` ``(display, filename)`` to migrate; ``trees``
    ``(root, destination)`` (the destination only with ``--out-dir``); ``errors`` for
    directories that could not be read; ``leftovers``: our temporary files from killed runs."""

    items: List[Tuple[str, str]] = field(default_factory=list)
    trees: List[Tuple[Path, Path]] = field(default_factory=list)
    errors: List[FileResult] = field(default_factory=list)
    leftovers: List[Path] = field(default_factory=list)


def _plan(paths: Sequence[Path], out_dir: Optional[Path]) -> _Plan:
    plan = _Plan()
    for path in paths:
        if path.is_dir():
            tree = scan(path)
            rels = [r for r in tree.files if r.endswith(PYTHON_SUFFIXES)]
            if out_dir is not None:
                rels = [r for r in rels if not _inside(path / r, out_dir)]
            plan.items += [(str(path / rel), str(path / rel)) for rel in sorted(rels)]
            plan.errors += [FileResult(str(path / rel), "error", error=reason) for rel, reason in tree.errors]
            plan.leftovers += [path / rel for rel in tree.leftovers]
            for note in tree.notes:
                print(f"rlmigrate migrate: note: {note}", file=sys.stderr)
            plan.trees.append((path, out_dir if out_dir is not None else path))
        elif is_python(path):
            plan.items.append((str(path), str(path)))
            plan.trees.append((path, out_dir / path.name if out_dir is not None else path))
    return plan


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def _remove_leftovers(paths: Sequence[Path]) -> None:
    """Delete our temporary files left by killed runs (names matched exactly)."""
    for path in paths:
        try:
            path.unlink()
        except OSError as exc:
            print(f"rlmigrate migrate: warning: cannot remove leftover {path}: {exc.strerror}", file=sys.stderr)


def _warn_unstaged(filenames: Sequence[str]) -> None:
    """Warn about files to be rewritten that git does not have as they are (read from
    .git/index: no git command runs in the target tree)."""
    changed, notes = unstaged([Path(f) for f in filenames])
    for note in notes:
        print(f"rlmigrate migrate: note: {note}", file=sys.stderr)
    if changed:
        listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        print(
            f"rlmigrate migrate: warning: {listed} has uncommitted changes; --write rewrites files in place, "
            "commit or stash first to review the migration as one diff",
            file=sys.stderr,
        )


def _fail(result: FileResult, message: str) -> None:
    """Turn a changed file into an error: nothing of it is written."""
    result.status, result.error, result.new_bytes = "error", message, None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


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


def _current(filename: str, result: FileResult) -> Optional[bytes]:
    """The file's bytes if they are still those that were migrated (else ``result`` fails)."""
    try:
        data = read_regular(Path(filename))
    except OSError as exc:
        _fail(result, f"cannot read again: {_reason(exc)}")
        return None
    if digest(data) != result.digest:
        _fail(result, "changed while it was being migrated; not written")
        return None
    return data


def _write_in_place(pairs: Sequence[Tuple[str, FileResult]]) -> None:
    """Rewrite each changed file (through symlinks), keeping mode and owner, only if
    its bytes are still those that were migrated; a failure is that file's error."""
    for filename, result in pairs:
        try:
            replace_file(Path(filename), result.new_bytes, result.digest)
        except OSError as exc:
            _fail(result, f"not written: {_reason(exc)}")


def _mirror(trees: Sequence[Tuple[Path, Path]], out_dir: Path, new: Dict[str, FileResult]) -> List[FileResult]:
    """Every file of each tree under ``out_dir``: migrated bytes or a byte copy (mode
    kept), symlinks recreated as symlinks. Returns the errors of files not copied."""
    errors: List[FileResult] = []
    for root, dest in trees:
        if not root.is_dir():
            errors += _mirror_file(root, dest, new.get(str(root)))
            continue
        tree = scan(root, everything=True)
        errors += [FileResult(str(root / rel), "error", error=reason) for rel, reason in tree.errors]
        for rel in tree.files + tree.links:
            if not _inside(root / rel, out_dir):
                errors += _mirror_file(root / rel, dest / rel, new.get(str(root / rel)))
    return errors


def _mirror_file(source: Path, dest: Path, result: Optional[FileResult]) -> List[FileResult]:
    try:
        if source.is_symlink() and result is None:
            copy_link(source, dest)
        elif result is not None:
            write_atomic(dest, result.new_bytes, mode=source.stat().st_mode & 0o7777)
        else:
            copy_atomic(source, dest)
    except OSError as exc:
        if result is not None:
            _fail(result, f"not written to {dest}: {_reason(exc)}")
            return []
        return [FileResult(str(source), "error", error=f"not copied to {dest}: {_reason(exc)}")]
    return []


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
    if args.timeout <= 0 or args.max_file_size <= 0:
        return _usage("--timeout and --max-file-size must be > 0")
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

    plan = _plan(paths, out_dir)
    if args.write:
        _remove_leftovers(plan.leftovers)
    if out_dir is not None and out_dir.is_dir():
        _remove_leftovers([out_dir / rel for rel in scan(out_dir, everything=True).leftovers])
    repo = build_repo_index(iter_bytes((filename for _, filename in plan.items), args.max_file_size))
    progress = _Progress(len(plan.items), enabled=not args.no_progress)
    results = migrate_files(
        plan.items, rules, repo, jobs=args.jobs, on_result=progress, timeout=args.timeout,
        max_bytes=args.max_file_size, target=args.target,
    )
    changed = [(filename, r) for (_, filename), r in zip(plan.items, results) if r.status == "changed"]
    show_diff = args.diff or not (args.write or out_dir is not None or args.check)
    for filename, result in changed:
        if show_diff:
            old = _current(filename, result)
            if old is not None:
                sys.stdout.write(_diff(result, old))
        if args.check:
            print(f"would change: {result.path}", file=sys.stderr)
    if args.write:
        _warn_unstaged([filename for filename, r in changed if r.status == "changed"])
        _write_in_place([(filename, r) for filename, r in changed if r.status == "changed"])
    results += plan.errors
    if out_dir is not None:
        new = {filename: r for filename, r in changed if r.status == "changed"}
        results += _mirror(plan.trees, out_dir, new)
    for result in results:
        if result.status == "error":
            print(f"error: {result.path}: {result.error}", file=sys.stderr)
    mode = "write" if args.write else "out-dir" if out_dir is not None else "check" if args.check else "diff"
    rule_names = [rule.name for rule in rules]
    for report in args.report or []:
        write_report(Path(report), results, rule_names, mode)
    summary = summarize(results, rule_names)
    print(summary_table(summary), file=sys.stderr)
    if summary["errors"] or (args.check and summary["changed"]):
        return EXIT_CHANGES_OR_ERRORS
    return EXIT_OK
