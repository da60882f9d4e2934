"""Finding the files to migrate, decoding them exactly, and writing them atomically.

Walks skip hidden directories, ``build``, ``__pycache__``, virtual environments (any
directory holding ``pyvenv.cfg``) and whatever the tree's ``.gitignore`` files ignore.
Source text keeps its encoding (PEP 263 cookie or UTF-8), byte-order mark and line
endings, so an unchanged file re-encodes to the same bytes.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

SKIPPED_DIRS = frozenset({"build", "__pycache__", "node_modules"})
PYTHON_SUFFIXES = (".py", ".pyi")


@dataclass(frozen=True)
class SourceText:
    """A decoded file: ``text`` without BOM, its ``encoding`` and whether it had a BOM."""

    text: str
    encoding: str
    bom: bool

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return (b"\xef\xbb\xbf" + data) if self.bom else data


def decode_source(data: bytes) -> SourceText:
    """Decode like Python does (BOM, coding cookie, else UTF-8), keeping line endings.

    Raises ``UnicodeDecodeError`` or ``SyntaxError`` (unknown encoding) on bad input.
    """
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    bom = encoding == "utf-8-sig"
    body = data[3:] if bom else data
    return SourceText(body.decode("utf-8" if bom else encoding), "utf-8" if bom else encoding, bom)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace`` (keeps mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".rlmigrate", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------
# .gitignore
# --------------------------------------------------------------------------------------
class _IgnoreRule:
    def __init__(self, base: str, pattern: str) -> None:
        self.negate = pattern.startswith("!")
        pattern = pattern[1:] if self.negate else pattern
        self.dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        anchored = "/" in pattern
        pattern = pattern.lstrip("/")
        regex = _glob_to_regex(pattern)
        prefix = re.escape(base + "/") if base else ""
        self.regex = re.compile(prefix + ("" if anchored else "(?:.*/)?") + regex + "$")

    def matches(self, rel: str, is_dir: bool) -> bool:
        return (is_dir or not self.dir_only) and self.regex.match(rel) is not None


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            out.append(pattern[i : end + 1] if end > 0 else re.escape("["))
            i = end + 1 if end > 0 else i + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _read_gitignore(directory: Path, base: str) -> List[_IgnoreRule]:
    path = directory / ".gitignore"
    if not path.is_file():
        return []
    rules = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.rstrip()
        if line and not line.startswith("#"):
            rules.append(_IgnoreRule(base, line))
    return rules


def _ignored(rules: Sequence[_IgnoreRule], rel: str, is_dir: bool) -> bool:
    ignored = False
    for rule in rules:
        if rule.matches(rel, is_dir):
            ignored = not rule.negate
    return ignored


# --------------------------------------------------------------------------------------
# Walking
# --------------------------------------------------------------------------------------
def _is_skipped_dir(path: Path) -> bool:
    return path.name.startswith(".") or path.name in SKIPPED_DIRS or (path / "pyvenv.cfg").exists()


def walk(root: Path, *, everything: bool = False) -> Iterator[str]:
    """Paths (relative to ``root``, ``/``-separated) of the files under ``root``.

    By default: files that are neither ignored by ``.gitignore`` nor inside a skipped
    directory. ``everything=True``: every file except those under ``.git`` and virtual
    environments (what ``--out-dir`` mirrors).
    """
    stack: List[Tuple[Path, str, List[_IgnoreRule]]] = [(root, "", _read_gitignore(root, ""))]
    while stack:
        directory, rel_dir, rules = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if entry.name == ".git" or (path / "pyvenv.cfg").exists():
                    continue
                if not everything and (_is_skipped_dir(path) or _ignored(rules, rel, True)):
                    continue
                stack.append((path, rel, rules + _read_gitignore(path, rel)))
            elif entry.is_file(follow_symlinks=False):
                if everything or not _ignored(rules, rel, False):
                    yield rel


def python_files(root: Path) -> List[str]:
    """Sorted relative paths of the Python files under ``root`` that a run migrates."""
    return sorted(rel for rel in walk(root) if rel.endswith(PYTHON_SUFFIXES))


def is_python(path: Path) -> bool:
    return path.suffix in PYTHON_SUFFIXES

