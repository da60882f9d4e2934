"""Finding the files to migrate, decoding them exactly, and writing them atomically.

Walks skip the directories of ``SKIPPED_DIRS`` (version control, tool caches, editor
settings, ``build``, ``__pycache__``: never user code to migrate), virtual environments
(any directory holding ``pyvenv.cfg``) and whatever the tree's ``.gitignore`` files ignore
(matched as git matches them, see ``codemods.gitignore``); other hidden directories
(``.deprecated_scripts/``) are walked like any other. As in git, ``.gitignore`` never
applies to a tracked file: a file in its repository's index (read from ``.git/index`` by
``codemods.git_index``, no git command runs) is walked even where a pattern ignores it or
its directory. Walks never follow symlinks.
Reads refuse what is not a regular file; writes are atomic, keep mode and owner and
re-check the content hash just before replacing.
Source text keeps its encoding (PEP 263 cookie or UTF-8), byte-order mark and line
endings, so an unchanged file re-encodes to the same bytes.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from codemods import gitignore

# Directories no walk enters (``--out-dir`` still mirrors them): they hold version
# control data, tools' caches and environments, downloaded packages or editor settings,
# never user code worth migrating. Every other directory, hidden or not, is walked (user
# code lives in ``.deprecated_scripts/`` too). Virtual environments are also recognised by
# their ``pyvenv.cfg``, whatever their name.
SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr",  # version control
    ".tox", ".nox", ".venv", ".conda", ".pixi", ".direnv", ".eggs",  # environments and downloaded packages
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".pytype", ".hypothesis", ".cache",  # caches
    ".ipynb_checkpoints",  # Jupyter's autosaved copies
    ".idea", ".vscode",  # editor settings
    "build", "__pycache__", "node_modules",
})
PYTHON_SUFFIXES = (".py", ".pyi")
TEMP_SUFFIX = ".rlmigrate"
_TEMP_NAME = re.compile(r"\..+\.(?:[a-z0-9_]{8}|\d+link)\.rlmigrate\Z", re.DOTALL)
GITIGNORE_LIMIT = 100 * 1024 * 1024  # git ignores larger .gitignore files too


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


class NotRegular(OSError):
    """A path that is not a regular file (a FIFO, a device, a directory)."""


class TooLarge(OSError):
    """A file over the size limit."""


class ChangedSinceRead(OSError):
    """A file whose bytes changed after they were read."""


def digest(data: bytes) -> str:
    """The content hash that ``write_atomic(expect=...)`` compares."""
    return hashlib.sha256(data).hexdigest()


def read_regular(path: Path, limit: Optional[int] = None, *, follow: bool = True) -> bytes:
    """The bytes of a regular file, refusing FIFOs and devices (never blocks) and files
    over ``limit`` bytes (checked before reading). ``follow=False``: a symlink is refused."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file", str(path))
        if limit is not None and info.st_size > limit:
            raise TooLarge(errno.EFBIG, f"{info.st_size} bytes, over the limit of {limit} bytes", str(path))
        return handle.read()


def _default_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(
    path: Path, data: bytes, *, mode: Optional[int] = None, owner: Optional[Tuple[int, int]] = None,
    expect: Optional[str] = None,
) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``.

    ``mode``: the new file's permission bits (default: the old file's, else the umask's);
    ``owner``: ``(uid, gid)`` to keep (``OSError`` if that is not allowed); ``expect``:
    the ``digest`` ``path`` must still have just before it is replaced
    (``ChangedSinceRead`` otherwise). ``path`` itself is replaced: pass a symlink's target.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else _default_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if owner is not None and owner != _owner(os.stat(tmp)):
            _chown(tmp, owner)
        os.chmod(tmp, mode)
        if expect is not None and digest(read_regular(path)) != expect:
            raise ChangedSinceRead(errno.EAGAIN, "changed since it was read", str(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _chown(path: str, owner: Tuple[int, int]) -> None:
    try:
        os.chown(path, *owner)
    except PermissionError:
        raise PermissionError(errno.EPERM, f"cannot keep its owner and group {owner[0]}:{owner[1]}", path) from None


def _owner(info: os.stat_result) -> Tuple[int, int]:
    return info.st_uid, info.st_gid


def replace_file(path: Path, data: bytes, expected: str) -> None:
    """Rewrite ``path`` in place (through a symlink to its target) keeping its mode,
    owner and group, only if its content still has the digest ``expected``."""
    target = Path(os.path.realpath(path))
    info = target.stat()
    write_atomic(target, data, mode=info.st_mode & 0o7777, owner=_owner(info), expect=expected)


def copy_atomic(source: Path, dest: Path) -> None:
    """Copy the regular file ``source`` (bytes, mode, times) to ``dest`` via a temporary
    file: a symlink already at ``dest`` is replaced, never written through."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=TEMP_SUFFIX, dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp, follow_symlinks=False)
        shutil.copystat(source, tmp, follow_symlinks=False)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def copy_link(source: Path, dest: Path) -> None:
    """Recreate the symlink ``source`` at ``dest`` with the same link text (never followed)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}link{TEMP_SUFFIX}"
    os.symlink(os.readlink(source), tmp)
    try:
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise


def is_leftover(name: str) -> bool:
    """Whether ``name`` is one of our temporary files (left by a killed run)."""
    return _TEMP_NAME.match(name) is not None


# --------------------------------------------------------------------------------------
# Walking
# --------------------------------------------------------------------------------------
@dataclass
class Tree:
    """What a walk found, as ``/``-separated paths relative to its root: ``files``,
    ``links`` (symlinks, never followed), ``leftovers`` (our temporary files from killed
    runs), ``errors`` (``(path, reason)`` for what could not be read) and ``notes``
    (repositories whose git index could not be read: their ignored files stay skipped)."""

    files: List[str] = field(default_factory=list)
    links: List[str] = field(default_factory=list)
    leftovers: List[str] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _is_skipped_dir(name: str, path: str) -> bool:
    return name in SKIPPED_DIRS or os.path.exists(os.path.join(path, "pyvenv.cfg"))


class _Index:
    """The paths a repository's index tracks (``/``-separated, from its work tree), read
    when first asked: most walks never ask, only an ignored path is looked up."""

    def __init__(self, worktree: str, git_dir: str, notes: List[str]) -> None:
        self.worktree, self.git_dir, self._notes = worktree, git_dir, notes
        self._paths: Optional[Tuple[frozenset, frozenset]] = None

    def _load(self) -> Tuple[frozenset, frozenset]:
        if self._paths is None:
            from codemods import git_index  # git_index imports this module

            try:
                names = git_index.read_index(Path(self.git_dir))
            except FileNotFoundError:
                names = {}  # no index yet: nothing tracked
            except (OSError, git_index.UnreadableIndex) as exc:
                self._notes.append(
                    f"cannot read the git index of {self.worktree} ({exc}); files that its .gitignore "
                    "files ignore are skipped, tracked or not"
                )
                names = {}
            files = frozenset(os.fsdecode(name) for name in names)
            dirs = set()
            for path in files:
                slash = path.find("/")
                while slash != -1:
                    dirs.add(path[:slash])
                    slash = path.find("/", slash + 1)
            self._paths = files, frozenset(dirs)
        return self._paths

    def tracks_file(self, path: str) -> bool:
        return path in self._load()[0]

    def tracks_in(self, path: str) -> bool:
        """Whether the directory ``path`` holds a tracked path or is one (a submodule)."""
        files, dirs = self._load()
        return path in dirs or path in files


def _repository_of(directory: str, notes: List[str]) -> Tuple[Optional[_Index], str]:
    """The index of the repository holding ``directory`` (its own or a parent's) and the
    path of ``directory`` in that repository (``""`` at its root, else ending in ``/``)."""
    from codemods import git_index  # git_index imports this module

    real = os.path.realpath(directory)
    try:
        found = git_index.find_repository(Path(real))
    except OSError as exc:
        notes.append(f"cannot read {exc.filename}: {exc.strerror}; files that .gitignore files ignore are "
                     "skipped, tracked or not")
        return None, ""
    if found is None:
        return None, ""
    worktree, git_dir = found
    rel = os.path.relpath(real, os.path.realpath(worktree))
    return _Index(str(worktree), str(git_dir), notes), ("" if rel == "." else Path(rel).as_posix() + "/")


def _read_gitignore(directory: str, base: str) -> List[gitignore.Pattern]:
    """The patterns of ``directory/.gitignore`` (none if absent or a symlink, as git)."""
    try:
        data = read_regular(Path(directory) / ".gitignore", GITIGNORE_LIMIT, follow=False)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return []
        raise
    return gitignore.parse(data, base)


def _entries(directory: str) -> List[os.DirEntry]:
    with os.scandir(directory) as entries:
        return sorted(entries, key=lambda e: e.name, reverse=True)


def scan(root: Path, *, everything: bool = False) -> Tree:
    """Walk ``root`` without following symlinks.

    By default: entries that are not inside a skipped directory and either not ignored
    by ``.gitignore`` or tracked in their repository's git index (``.git/index`` of the
    repository holding ``root``, or of one nested in it: read, never run). A directory
    that is ignored is entered only for the tracked paths it holds. ``everything=True``:
    every entry except those under ``.git`` and virtual environments (what
    ``--out-dir`` mirrors). A directory that cannot be listed, or whose ``.gitignore``
    cannot be read, is skipped and listed in ``errors``.
    """
    tree = Tree()
    index, prefix = (None, "") if everything else _repository_of(str(root), tree.notes)
    # (directory, its path from root, patterns in force, whether an ignored directory
    # holds it, the index of its repository, its path in that repository)
    stack: List[Tuple[str, str, List[gitignore.Pattern], bool, Optional[_Index], str]] = [
        (str(root), "", [], False, index, prefix)
    ]
    while stack:
        directory, rel_dir, patterns, in_ignored, index, in_repo = stack.pop()
        try:
            patterns = patterns if everything or in_ignored else patterns + _read_gitignore(directory, rel_dir)
        except OSError as exc:
            tree.errors.append((rel_dir or ".", f"not migrated: cannot read its .gitignore: {exc.strerror or exc}"))
            continue
        try:
            entries = _entries(directory)
        except OSError as exc:
            tree.errors.append((rel_dir or ".", f"cannot read directory: {exc.strerror or exc}"))
            continue
        if rel_dir and not everything and any(e.name == ".git" for e in entries):
            index, in_repo = _repository_of(directory, tree.notes)  # a nested repository or submodule
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name == ".git" or os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                    continue
                if everything:
                    stack.append((entry.path, rel, patterns, False, None, ""))
                elif not _is_skipped_dir(entry.name, entry.path):
                    ignored = in_ignored or gitignore.ignored(patterns, rel, True)
                    if not ignored or (index is not None and index.tracks_in(in_repo + entry.name)):
                        stack.append((entry.path, rel, patterns, ignored, index, f"{in_repo}{entry.name}/"))
            elif is_leftover(entry.name) and entry.is_file(follow_symlinks=False):
                tree.leftovers.append(rel)
            elif (
                everything
                or not (in_ignored or gitignore.ignored(patterns, rel, False))
                or (index is not None and index.tracks_file(in_repo + entry.name))
            ):
                if entry.is_symlink():
                    tree.links.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    tree.files.append(rel)
    return tree


def walk(root: Path, *, everything: bool = False) -> Iterator[str]:
    """The regular files of ``scan(root, everything=everything)``."""
    return iter(scan(root, everything=everything).files)


def python_files(root: Path) -> List[str]:
    """Sorted relative paths of the Python files under ``root`` that a run migrates."""
    return sorted(rel for rel in walk(root) if rel.endswith(PYTHON_SUFFIXES))


def is_python(path: Path) -> bool:
    return path.suffix in PYTHON_SUFFIXES
