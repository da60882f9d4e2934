"""Saving a checkpoint directory without ever deleting what a save did not write.

A save writes everything into a staging sibling ``.<name>.rlm-staging-<pid>-<token>``,
then swaps it in with two renames: the previous checkpoint (if any) goes to
``.<name>.rlm-backup-<pid>-<token>``, the staging directory to ``<name>``, and the
backup is removed. A process killed between the two renames leaves no ``<name>`` but a
complete backup: loading ``<name>`` puts that backup back by itself
(:func:`recover_if_missing`), and so does the next save, which also removes the staging
and backup siblings that killed saves of the same target left (only those whose
process is gone: a concurrent live save keeps its own).

A save refuses a target that exists and is not an empty directory or a checkpoint of
the same kind holding only the files such a save writes (``algo.save(".")`` in a
project directory raises instead of replacing the project).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, FrozenSet, List, Optional, Tuple, Union

PathLike = Union[str, os.PathLike]
#: How long a load waits for a live save that is between its two renames.
LIVE_SAVE_WAIT_S = 10.0


@dataclass(frozen=True)
class Layout:
    """A kind of checkpoint directory.

    Attributes:
        kind: its name in errors (``"an RLModule checkpoint"``).
        marker: the file that only this kind has at its top level.
        entries: every top-level name a save of this kind writes.
    """

    kind: str
    marker: str
    entries: FrozenSet[str]


def save_dir(target: PathLike, write: Callable[[Path], None], layout: Layout) -> str:
    """Call ``write(staging_dir)`` and swap the result in at ``target``; returns
    ``target`` as an absolute str. A failed write leaves ``target`` as it was."""
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target, layout)
    _check_replaceable(target, layout)
    staging = _sibling(target, "staging")
    staging.mkdir()
    try:
        write(staging)
        backup = _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return str(target)


def _swap_in(staging: Path, target: Path) -> Optional[Path]:
    """Rename ``target`` (if any) to a backup and ``staging`` to ``target``; returns
    the backup, or puts it back if the second rename fails."""
    if not os.path.lexists(target):
        os.replace(staging, target)
        return None
    backup = _sibling(target, "backup")
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(backup, target)
        raise
    return backup


def _sibling(target: Path, role: str) -> Path:
    return target.with_name(f".{target.name}.rlm-{role}-{os.getpid()}-{secrets.token_hex(4)}")


def _siblings(target: Path) -> List[Tuple[Path, str, int]]:
    """``(path, role, pid)`` of the staging and backup siblings of ``target``."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.rlm-(staging|backup)-(\d+)-[0-9a-f]+")
    found = []
    for entry in target.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            found.append((entry, match.group(1), int(match.group(2))))
    return found


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_backups(target: Path, layout: Layout) -> List[Path]:
    """Complete backups of ``target`` left by killed saves, newest first."""
    backups = [
        path for path, role, pid in _siblings(target)
        if role == "backup" and not _alive(pid) and (path / layout.marker).is_file()
    ]
    return sorted(backups, key=lambda p: p.stat().st_mtime, reverse=True)


def _clean_stale(target: Path, layout: Layout) -> None:
    """Put back a killed save's backup if ``target`` is missing, then remove the
    siblings of killed saves (never those of a live process)."""
    recover_if_missing(target, layout, wait_s=0.0)
    for path, _, pid in _siblings(target):
        if not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def recover_if_missing(target: PathLike, layout: Layout, wait_s: float = LIVE_SAVE_WAIT_S) -> None:
    """If ``target`` is missing because a save was killed between its two renames,
    rename that save's backup back to ``target``. If a live save is between its
    renames, wait up to ``wait_s`` seconds for it to finish."""
    target = Path(os.path.abspath(target))
    if os.path.lexists(target) or not target.parent.is_dir():
        return
    deadline = time.monotonic() + wait_s
    while True:
        backups = _dead_backups(target, layout)
        if backups:
            os.replace(backups[0], target)
            return
        live = [p for p, role, pid in _siblings(target) if role == "backup" and _alive(pid)]
        if not live or os.path.lexists(target) or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def _check_replaceable(target: Path, layout: Layout) -> None:
    """Raise FileExistsError unless ``target`` is absent, an empty directory, or a
    checkpoint of ``layout``'s kind holding only what such a save writes."""
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir():
        raise FileExistsError(
            f"{target}: exists and is not a directory ({'a symlink' if target.is_symlink() else 'a file'}); "
            f"saving would replace it; choose a new or empty directory for {layout.kind}"
        )
    names = sorted(p.name for p in target.iterdir())
    if not names:
        return
    if layout.marker not in names:
        shown = names[:8] + (["..."] if len(names) > 8 else [])
        raise FileExistsError(
            f"{target}: exists and is not {layout.kind} (no {layout.marker}; it holds {shown}); saving "
            "would delete it; choose a new or empty directory"
        )
    extra = sorted(set(names) - layout.entries)
    if extra:
        raise FileExistsError(
            f"{target}: is {layout.kind} but also holds {extra}, which a save did not write; saving "
            "would delete them; move them out or choose another directory"
        )
