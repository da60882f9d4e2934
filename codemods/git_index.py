"""Which files differ from what git has (unstaged edits, untracked files), read from
``.git/index`` directly: running ``git`` in a tree we did not write would run whatever
its ``.git/config`` names (``core.fsmonitor``, filter drivers, ...).

Compared as raw bytes (also with CRLF read as LF): a file whose clean filter or
``autocrlf`` changes more than that reads as changed, which only adds a warning.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from codemods.files import read_regular

INDEX_LIMIT = 512 * 1024 * 1024
_SHA256 = re.compile(rb"^\s*objectformat\s*=\s*sha256\s*$", re.IGNORECASE | re.MULTILINE)


class UnreadableIndex(ValueError):
    """An index this reader does not handle (split index, unknown version, truncated)."""


def find_repository(path: Path) -> Optional[Tuple[Path, Path]]:
    """``(worktree root, git directory)`` of the repository holding ``path``, if any."""
    for directory in [path, *path.parents]:
        dot = directory / ".git"
        if dot.is_dir():
            return directory, dot
        if dot.is_file():  # a linked worktree or a submodule: "gitdir: <path>"
            text = read_regular(dot, 4096).decode("utf-8", "replace").strip()
            if not text.startswith("gitdir:"):
                return None
            return directory, directory / text[len("gitdir:"):].strip()
    return None


def _hash_name(git_dir: Path) -> str:
    """``sha256`` if the repository's config says ``objectformat = sha256``, else ``sha1``."""
    configs = [git_dir / "config"]
    try:
        common = read_regular(git_dir / "commondir", 4096).decode("utf-8", "replace").strip()
        configs.append(git_dir / common / "config")
    except OSError:
        pass
    for config in configs:
        try:
            if _SHA256.search(read_regular(config, 1024 * 1024)):
                return "sha256"
        except OSError:
            continue
    return "sha1"


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    byte = data[pos]
    value = byte & 127
    while byte & 128:
        pos += 1
        byte = data[pos]
        value = ((value + 1) << 7) | (byte & 127)
    return value, pos + 1


def read_index(git_dir: Path) -> Dict[bytes, Optional[bytes]]:
    """Path (bytes, ``/``-separated) -> object id of its stage-0 entry (``None`` while
    the path is in conflict). Raises ``UnreadableIndex`` or ``OSError``."""
    data = read_regular(git_dir / "index", INDEX_LIMIT)
    hash_len = 32 if _hash_name(git_dir) == "sha256" else 20
    try:
        signature, version, count = struct.unpack(">4sLL", data[:12])
        if signature != b"DIRC" or version not in (2, 3, 4):
            raise UnreadableIndex(f"not a git index of version 2-4 ({signature!r}, {version})")
        entries, pos = _entries(data, version, count, hash_len)
    except (struct.error, IndexError) as exc:
        raise UnreadableIndex(f"truncated index ({exc})") from None
    if b"link" in _extensions(data, pos, hash_len):
        raise UnreadableIndex("a split index (core.splitIndex)")
    return entries


def _entries(data: bytes, version: int, count: int, hash_len: int) -> Tuple[Dict[bytes, Optional[bytes]], int]:
    entries: Dict[bytes, Optional[bytes]] = {}
    pos, previous = 12, b""
    for _ in range(count):
        start = pos
        object_id = data[pos + 40:pos + 40 + hash_len]
        (flags,) = struct.unpack(">H", data[pos + 40 + hash_len:pos + 42 + hash_len])
        pos += 42 + hash_len + (2 if version >= 3 and flags & 0x4000 else 0)
        if version == 4:
            strip, pos = _varint(data, pos)
            end = data.index(b"\0", pos)
            name = previous[:len(previous) - strip] + data[pos:end]
            pos = end + 1
        else:
            end = data.index(b"\0", pos)
            name = data[pos:end]
            pos = start + ((end - start) // 8 + 1) * 8
        previous = name
        entries[name] = object_id if (flags >> 12) & 3 == 0 and entries.get(name, b"") is not None else None
    return entries, pos


def _extensions(data: bytes, pos: int, hash_len: int) -> List[bytes]:
    names = []
    while pos + 8 <= len(data) - hash_len:
        signature, size = struct.unpack(">4sL", data[pos:pos + 8])
        names.append(signature)
        pos += 8 + size
    return names


def blob_id(data: bytes, hash_name: str = "sha1") -> bytes:
    """The git object id of a blob with these bytes."""
    return hashlib.new(hash_name, b"blob %d\0" % len(data) + data).digest()


def _differs(path: Path, entry: Optional[bytes], hash_name: str) -> bool:
    if entry is None:
        return True
    data = read_regular(path)
    return entry not in (blob_id(data, hash_name), blob_id(data.replace(b"\r\n", b"\n"), hash_name))


def unstaged(paths: Sequence[Path]) -> Tuple[List[str], List[str]]:
    """``(paths git has not got as they are now, notes)``: a path counts when it is
    untracked or its bytes differ from its index entry; paths outside any repository
    never count. ``notes`` say which repositories could not be checked, and why."""
    changed: List[str] = []
    notes: List[str] = []
    indexes: Dict[Path, Optional[Tuple[Path, Dict[bytes, Optional[bytes]], str]]] = {}
    for path in paths:
        real = Path(os.path.realpath(path))
        try:
            found = find_repository(real.parent)
        except OSError as exc:
            notes.append(f"cannot read {exc.filename}: {exc.strerror}; not checking {path} for uncommitted changes")
            continue
        if found is None:
            continue
        root, git_dir = found
        if git_dir not in indexes:
            indexes[git_dir] = _load(root, git_dir, notes)
        loaded = indexes[git_dir]
        if loaded is None:
            continue
        root, entries, hash_name = loaded
        rel = os.fsencode(real.relative_to(root).as_posix())
        try:
            if _differs(real, entries.get(rel), hash_name):
                changed.append(str(path))
        except OSError:
            changed.append(str(path))
    return changed, notes


def _load(root: Path, git_dir: Path, notes: List[str]):
    try:
        return Path(os.path.realpath(root)), read_index(git_dir), _hash_name(git_dir)
    except FileNotFoundError:
        return Path(os.path.realpath(root)), {}, _hash_name(git_dir)  # no index yet: nothing tracked
    except (OSError, UnreadableIndex) as exc:
        notes.append(f"cannot read the git index of {root} ({exc}); not checking it for uncommitted changes")
        return None
