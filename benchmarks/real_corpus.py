"""How ``rlmigrate migrate`` does on real repositories with legacy RLlib model code.

Usage::

    python benchmarks/real_corpus.py DIR [--json OUT] [--jobs N] [--timeout S] [--keep KEEP]

DIR holds one folder per repository (plain checked-out trees; the list we use is
``benchmarks/real_corpus_repos.txt``). Without DIR the script reads ``BENCH_REAL_CORPUS``;
with neither, or with DIR absent or empty, it prints ``{"skipped": reason}`` and exits 0
(so ``run_all.py`` reports it as skipped).

For every repository it copies the tree to a temporary directory (nothing is ever
written into DIR) and gives the copy a git index that tracks every file of it
(``git init -q`` and ``git add -f -A`` in the copy, run by this script with hooks and
fsmonitor off and no system or global git config; rlmigrate itself runs no git command):
a corpus tree is a snapshot of a commit (``git archive``), so every file in it is tracked
at that commit, and the codemod then walks what it walks in a user's clone, where
``.gitignore`` never applies to tracked files. Without git installed this step is skipped
(with a note on stderr and ``git_index`` in the JSON) and ignored files count as not
walked; a copy that already has a ``.git`` (a clone, not a snapshot) keeps its own index.
It then runs ``rlmigrate migrate COPY --out-dir OUT --report report.json -j N``
in a subprocess with a time limit, and, independently of the codemod, finds the legacy
model classes of the ORIGINAL sources with ``ast``: a class whose base is (by name,
dotted, aliased by an import of that file, or through another class of the same
repository, across files) one of ``LEGACY_NAMES`` imported from ``ray.rllib``, or any
``...Model`` / ``...Network`` / ``...Net`` class of a ``ray.rllib`` model module (which
covers the ModelV1 ``ray.rllib.models.Model``; action distributions are not models). Classes in any scope count (inside
functions, ``if`` blocks, other classes). Each class is then looked up in the output and
put in one category (``CATEGORIES``):

- ``converted, no TODO``: no legacy base left, no ``TODO(rlmigrate)`` marker in the class
  (decorators to last line) or in the comment block directly above it;
- ``converted with TODOs``: no legacy base left, markers there;
- ``not converted, TODO on class``: still a legacy base, with a marker there;
- ``not converted, no TODO``: still a legacy base and no marker: the silent failures;
- ``file errored``: the report lists the file as an error, or the output does not parse;
- ``not walked``: the file is one the codemod's file walk skips on purpose (inside a
  virtualenv or a tool directory such as ``.tox``; ignored by ``.gitignore`` only where
  the copy could not be given a git index), so it was copied, not migrated;
- ``class not found in output``: the output file is missing, or parses but has no class
  of that name.

Originals that ``ast`` cannot parse (Python 2, syntax errors, null bytes) are counted as
``files_unparsable``, not as codemod errors; the legacy classes in them are estimated
with a regular expression (``legacy_classes_in_unparsable_files``).

It also counts, in the original and the output, calls of the legacy policy and
registration API (``LEGACY_CALLS``), and how many are still there without a marker on or
directly above their statement (calls in files that errored or were not walked are
counted apart).

Prints one JSON document on stdout (per repository, totals, and a ``comparisons`` table
of the silent failures for ``run_all.py``) and a human table on stderr. ``--json OUT``
also writes the document, with every class and call, to OUT. ``--keep KEEP`` keeps each
repository's migrated tree and report under KEEP/<repo>/.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tokenize
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "BENCH_REAL_CORPUS"
DEFAULT_TIMEOUT_S = 1800
PYTHON_SUFFIXES = (".py", ".pyi")
NUL = b"\0"
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__"}
MAX_DEPTH = 60  # import hops followed when resolving a base (re-export cycles end here)

# The legacy model bases, by their RLlib class name.
LEGACY_NAMES = frozenset({
    "ModelV2", "TorchModelV2", "TFModelV2", "RecurrentNetwork", "RecurrentTFModelV2",
    "FullyConnectedNetwork", "VisionNetwork", "ComplexInputNetwork", "AttentionNetwork",
    "GTrXLNet", "AttentionWrapper", "LSTMWrapper", "KerasModel", "Model",
    "DQNTorchModel", "DistributionalQTFModel", "DistributionalQModel", "SimpleQModel",
    "SimpleQTorchModel", "SACTorchModel", "SACTFModel", "SACModel", "RNNSACTorchModel",
    "DDPGTorchModel", "DDPGTFModel", "DDPGModel", "MAMLTorchModel", "ESModel",
    "TorchCentralizedCriticModel", "CentralizedCriticModel", "NoopModel", "TorchNoopModel",
})
# Names distinctive enough to count even when the import cannot be resolved (star
# imports, names re-exported by an installed package).
DISTINCTIVE = frozenset(n for n in LEGACY_NAMES if "ModelV2" in n or n.endswith(("TorchModel", "TFModel")))
DISTINCTIVE |= {"DistributionalQTFModel", "RecurrentTFModelV2", "GTrXLNet", "ComplexInputNetwork"}
RLLIB_MODEL_CLASS = re.compile(r"(Model|ModelV2|Network|Net)$")

LEGACY_CALLS = ("build_torch_policy", "build_tf_policy", "build_policy_class", "with_updates",
                "register_custom_model", "build_trainer")
METHOD_CALLS = ("register_custom_model", "with_updates")

CATEGORIES = (
    "converted, no TODO",
    "converted with TODOs",
    "not converted, TODO on class",
    "not converted, no TODO",
    "file errored",
    "not walked",
    "class not found in output",
)
SHORT = {
    "converted, no TODO": "ok",
    "converted with TODOs": "ok+todo",
    "not converted, TODO on class": "flagged",
    "not converted, no TODO": "SILENT",
    "file errored": "errored",
    "not walked": "unwalked",
    "class not found in output": "missing",
}
TODO_MARK = "TODO(rlmigrate)"
TODO_ANCHOR = re.compile(r"MIGRATION\.md#(\S+)")
CLASS_LINE = re.compile(r"^[ \t]*class[ \t]+\w+[ \t]*\(([^)]*)\)", re.M)


# --------------------------------------------------------------------------- sources


def python_files(root: Path) -> List[str]:
    """Every Python file under ``root`` (relative POSIX paths, sorted), symlinks not
    followed, VCS folders skipped."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not os.path.islink(os.path.join(directory, d)))
        for name in files:
            path = os.path.join(directory, name)
            if name.endswith(PYTHON_SUFFIXES) and not os.path.islink(path) and os.path.isfile(path):
                found.append(Path(os.path.relpath(path, root)).as_posix())
    return sorted(found)


def decode(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return data.decode("latin-1")


def parse(data: bytes) -> Optional[ast.Module]:
    """The module's AST, or None where ``ast`` cannot parse it (Python 2, syntax errors,
    null bytes, nesting too deep)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeDecodeError):
        return None


def module_names(rel: str) -> List[str]:
    """The dotted names ``rel`` can be imported as: every suffix of its path
    (``src/pkg/mod.py`` -> ``pkg.mod``, ``mod``, ``src.pkg.mod``)."""
    parts = rel[: -len(Path(rel).suffix)].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return [".".join(parts[i:]) for i in range(len(parts)) if parts[i:]]


# --------------------------------------------------------------------------- analysis


@dataclass
class ClassInfo:
    path: str
    qualname: str
    line: int
    start: int  # first decorator line
    end: int
    bases: List[Tuple[str, Optional[str], str]]  # (kind, module, name) per base
    legacy: bool = False
    via: Optional[str] = None  # the RLlib class reached


@dataclass
class CallInfo:
    path: str
    name: str
    line: int  # the statement's first line
    end: int


@dataclass
class FileInfo:
    path: str
    parsed: bool
    lines: List[str] = field(default_factory=list)
    classes: List[ClassInfo] = field(default_factory=list)
    calls: List[CallInfo] = field(default_factory=list)
    imports: Dict[str, Tuple[str, Optional[str], int]] = field(default_factory=dict)  # alias -> (module, name|None, level)
    star_modules: List[str] = field(default_factory=list)
    unparsable_legacy_estimate: int = 0


def _dotted(node: ast.AST) -> Optional[List[str]]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


def _base_ref(node: ast.AST, info: FileInfo) -> Optional[Tuple[str, Optional[str], str]]:
    """A base expression as ``(kind, module, name)``: ``import`` (``module`` absolute or
    relative with leading dots), ``local`` (a name not imported here) or None (a call,
    a subscript's origin is used)."""
    if isinstance(node, ast.Subscript):
        node = node.value
    parts = _dotted(node)
    if not parts:
        return None
    head, rest = parts[0], parts[1:]
    if head in info.imports:
        module, name, level = info.imports[head]
        prefix = "." * level
        if name is None:  # `import a.b as m` then m.X / m.sub.X
            if not rest:
                return None
            return ("import", prefix + ".".join([module] + rest[:-1]), rest[-1])
        if not rest:
            return ("import", prefix + module, name)
        # `from pkg import mod` then mod.X
        return ("import", prefix + ".".join(filter(None, [module, name] + rest[:-1])), rest[-1])
    if rest:
        return ("attribute", ".".join(parts[:-1]), parts[-1])
    return ("local", None, head)


class _Collector(ast.NodeVisitor):
    def __init__(self, info: FileInfo) -> None:
        self.info = info
        self.scope: List[str] = []
        self.statement: Optional[ast.stmt] = None

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            outer, self.statement = self.statement, node
            super().generic_visit(node)
            self.statement = outer
        else:
            super().generic_visit(node)

    def _scoped(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        outer, self.statement = self.statement, node  # type: ignore[assignment]
        super().generic_visit(node)
        self.statement = outer
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, node.name + ".<locals>")

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        bases = [ref for ref in (_base_ref(b, self.info) for b in node.bases) if ref]
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = getattr(node, "end_lineno", None) or node.lineno
        qualname = ".".join(self.scope + [node.name])
        self.info.classes.append(ClassInfo(self.info.path, qualname, node.lineno, start, end, bases))
        self._scoped(node, node.name)

    def visit_Call(self, node: ast.Call) -> None:
        parts = _dotted(node.func)
        # register_custom_model and with_updates are methods: a bare call is some other function.
        if parts and parts[-1] in LEGACY_CALLS and (len(parts) > 1 or parts[-1] not in METHOD_CALLS):
            statement = self.statement or node
            start = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
            line_end = getattr(node, "end_lineno", None) or node.lineno
            self.info.calls.append(CallInfo(self.info.path, parts[-1], start, line_end))
        self.generic_visit(node)


def _collect_imports(tree: ast.Module, info: FileInfo) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    info.imports[alias.asname] = (alias.name, None, 0)
                else:
                    head = alias.name.split(".")[0]
                    info.imports.setdefault(head, (head, None, 0))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    info.star_modules.append("." * node.level + module)
                else:
                    info.imports[alias.asname or alias.name] = (module, alias.name, node.level)


def analyze_file(root: Path, rel: str) -> FileInfo:
    try:
        data = (root / rel).read_bytes()
    except OSError:
        return FileInfo(rel, parsed=False)
    text = decode(data)
    tree = parse(data)
    info = FileInfo(rel, parsed=tree is not None, lines=text.splitlines())
    if tree is None:
        names = "|".join(sorted(LEGACY_NAMES, key=len, reverse=True))
        info.unparsable_legacy_estimate = sum(
            1 for bases in CLASS_LINE.findall(text) if re.search(rf"\b({names})\b", bases)
        )
        return info
    try:
        _collect_imports(tree, info)
        _Collector(info).visit(tree)
    except RecursionError:  # nested too deeply for the visitor: classes without their scopes
        info.classes, info.calls = [], []
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ref for ref in (_base_ref(b, info) for b in node.bases) if ref]
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                info.classes.append(ClassInfo(rel, node.name, node.lineno, start, node.end_lineno or node.lineno, bases))
    return info


class Repo:
    """The parsed Python files of one tree, with legacy status resolved for every class."""

    def __init__(self, root: Path, files: Optional[Sequence[str]] = None) -> None:
        self.root = root
        self.files: Dict[str, FileInfo] = {rel: analyze_file(root, rel) for rel in (files or python_files(root))}
        self.modules: Dict[str, List[str]] = {}
        for rel in self.files:
            for name in module_names(rel):
                self.modules.setdefault(name, []).append(rel)
        self.by_name: Dict[str, List[ClassInfo]] = {}
        for info in self.files.values():
            for cls in info.classes:
                self.by_name.setdefault(cls.qualname.split(".")[-1], []).append(cls)
        self._state: Dict[int, Optional[str]] = {}
        for info in self.files.values():
            for cls in info.classes:
                via = self._legacy_via(cls, 0)
                cls.legacy, cls.via = via is not None, via

    # -- resolution

    def _resolve_module(self, module: str, importer: str) -> List[str]:
        """Files of this tree that ``module`` (maybe relative) names, from ``importer``."""
        level = len(module) - len(module.lstrip("."))
        module = module.lstrip(".")
        if level:
            base = Path(importer).parent
            for _ in range(level - 1):
                base = base.parent
            target = (base / module.replace(".", "/")) if module else base
            candidates = [target.as_posix() + ".py", (target / "__init__.py").as_posix(), target.as_posix() + ".pyi"]
            return [c for c in candidates if c in self.files]
        found = self.modules.get(module, [])
        if len(found) > 1:  # prefer the one nearest to the importer
            def shared(rel: str) -> int:
                a, b = Path(rel).parts, Path(importer).parts
                n = 0
                while n < min(len(a), len(b)) and a[n] == b[n]:
                    n += 1
                return n
            found = sorted(found, key=shared, reverse=True)
        return found

    def _symbol_via(self, rel: str, name: str, depth: int) -> Tuple[bool, Optional[str]]:
        """Whether ``name`` is known in file ``rel`` and, if it is a legacy class, the
        RLlib class it reaches: ``(known, via)``."""
        info = self.files.get(rel)
        if info is None or not info.parsed or depth > MAX_DEPTH:
            return False, None
        here = [c for c in info.classes if c.qualname == name]
        if here:
            return True, self._legacy_via(here[-1], depth + 1)
        if name in info.imports:
            module, orig, level = info.imports[name]
            if orig is not None:
                return True, self._ref_via(("import", "." * level + module, orig), rel, depth + 1)
        return False, None

    def _ref_via(self, ref: Tuple[str, Optional[str], str], rel: str, depth: int) -> Optional[str]:
        kind, module, name = ref
        if depth > MAX_DEPTH:
            return None
        if kind == "local":
            known, via = self._symbol_via(rel, name, depth)
            if known:
                return via
            info = self.files[rel]
            if name in LEGACY_NAMES and any("rllib" in m for m in info.star_modules):
                return name
            return self._by_name_via(name, depth) if name not in DISTINCTIVE else name
        assert module is not None
        bare = module.lstrip(".")
        if not module.startswith(".") and (bare == "ray.rllib" or bare.startswith(("ray.rllib.", "rllib."))):
            if name in LEGACY_NAMES or ("model" in bare and "action_dist" not in bare and RLLIB_MODEL_CLASS.search(name)):
                return name
            return None
        targets = self._resolve_module(module, rel)
        for target in targets:
            known, via = self._symbol_via(target, name, depth)
            if known:
                return via
        if kind == "attribute" or not targets:
            if name in DISTINCTIVE:
                return name
            return self._by_name_via(name, depth)
        return None

    def _by_name_via(self, name: str, depth: int) -> Optional[str]:
        """A class of this tree with that name (any file) that is legacy, if any."""
        for cls in self.by_name.get(name, []):
            via = self._legacy_via(cls, depth + 1)
            if via:
                return via
        return None

    def _legacy_via(self, cls: ClassInfo, depth: int) -> Optional[str]:
        key = id(cls)
        if key in self._state:
            return self._state[key]
        self._state[key] = None  # cycle guard: a class in a cycle is not legacy through it
        via = None
        for ref in cls.bases:
            via = self._ref_via(ref, cls.path, depth)
            if via:
                break
        self._state[key] = via
        return via


# --------------------------------------------------------------------------- markers


def todo_lines(lines: Sequence[str]) -> Dict[int, Optional[str]]:
    """1-based line -> anchor (None without one) of every ``TODO(rlmigrate)`` marker."""
    found = {}
    for number, line in enumerate(lines, start=1):
        if TODO_MARK in line:
            match = TODO_ANCHOR.search(line)
            found[number] = match.group(1) if match else None
    return found


def marker_window(lines: Sequence[str], start: int, end: int) -> Tuple[int, int]:
    """The lines a marker of the block ``start..end`` may sit on: the block itself and
    the run of comment lines directly above it."""
    first = start
    while first > 1 and lines[first - 2].lstrip().startswith("#"):
        first -= 1
    return first, end


def markers_in(todos: Dict[int, Optional[str]], window: Tuple[int, int]) -> List[Optional[str]]:
    return [anchor for line, anchor in todos.items() if window[0] <= line <= window[1]]


# --------------------------------------------------------------------------- one repository


def make_writable(root: Path) -> None:
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                try:
                    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR | stat.S_IRUSR | (stat.S_IXUSR if name in dirs else 0))
                except OSError:
                    pass


def rlmigrate_command() -> List[str]:
    script = Path(sys.executable).parent / "rlmigrate"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from codemods.cli import main; sys.exit(main(sys.argv[1:]))"]


def track_every_file(copy: Path) -> str:
    """Give the copy a git index tracking all its files, as the commit it is a snapshot
    of does. Returns what happened, for the JSON (``tracked N files``, ``kept ...``,
    ``skipped: ...`` or ``failed: ...``). Hooks and fsmonitor are off, and no system or
    global git config is read."""
    if (copy / ".git").exists():
        return "kept the index of the .git it has"
    git = shutil.which("git")
    if git is None:
        return "skipped: git is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"})
    safe = [git, "-c", "core.hooksPath=" + os.devnull, "-c", "core.fsmonitor=false", "-c", "core.autocrlf=false"]
    try:
        for args in (["init", "-q"], ["add", "-f", "-A"]):
            subprocess.run(safe + args, cwd=copy, env=env, check=True, capture_output=True, timeout=600)
        listed = subprocess.run(safe + ["ls-files", "-z"], cwd=copy, env=env, check=True, capture_output=True,
                                timeout=600).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        stderr = (getattr(exc, "stderr", None) or b"").decode(errors="replace").strip()
        return f"failed: {exc}" + (f" ({stderr.splitlines()[-1]})" if stderr else "")
    return f"tracked {len(listed.split(NUL)) - 1} files"


def walked_files(root: Path) -> Optional[Set[str]]:
    """The Python files the codemod's own walk visits, or None where it cannot be asked."""
    try:
        sys.path.insert(0, str(ROOT))
        from codemods.files import python_files as codemod_python_files  # noqa: WPS433
        walked = {Path(rel).as_posix() for rel in codemod_python_files(root)}
        return walked or None
    except Exception:  # noqa: BLE001 - optional refinement only
        return None
    finally:
        if sys.path and sys.path[0] == str(ROOT):
            sys.path.pop(0)


def run_codemod(copy: Path, out: Path, report: Path, jobs: int, timeout: float) -> Dict[str, Any]:
    command = rlmigrate_command() + ["migrate", copy.name, "--out-dir", str(out), "--report", str(report),
                                     "-j", str(jobs), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=copy.parent, env=env, capture_output=True, text=True, timeout=timeout)
        returncode, stderr, timed_out = done.returncode, done.stderr, False
    except subprocess.TimeoutExpired as exc:
        returncode, timed_out = None, True
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    return {"returncode": returncode, "timed_out": timed_out, "seconds": round(time.perf_counter() - start, 2),
            "stderr_tail": stderr.strip().splitlines()[-5:]}


def read_report(path: Path, prefix: str) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
    """The report's summary and its file entries by path relative to the tree."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, {}
    entries = {}
    for entry in report.get("files", []):
        rel = Path(entry.get("path", "")).as_posix()
        if rel.startswith(prefix + "/"):
            rel = rel[len(prefix) + 1:]
        entries[rel] = entry
    return report.get("summary", {}), entries


def classify(cls: ClassInfo, out_repo: Optional[Repo], entries: Dict[str, Dict[str, Any]],
             walked: Optional[Set[str]], occurrence: int) -> Tuple[str, List[Optional[str]], Optional[str]]:
    """The class's category, the anchors of the markers on it, and the legacy base it
    still has in the output (None if none)."""
    entry = entries.get(cls.path)
    if entry and entry.get("status") == "error":
        return "file errored", [], None
    if walked is not None and cls.path not in walked:
        return "not walked", [], None
    info = out_repo.files.get(cls.path) if out_repo else None
    if info is None:
        return "class not found in output", [], None
    if not info.parsed:
        return "file errored", [], None
    same = [c for c in info.classes if c.qualname == cls.qualname]
    if not same:
        same = [c for c in info.classes if c.qualname.split(".")[-1] == cls.qualname.split(".")[-1]]
    if not same:
        return "class not found in output", [], None
    new = same[min(occurrence, len(same) - 1)]
    anchors = markers_in(todo_lines(info.lines), marker_window(info.lines, new.start, new.end))
    if new.legacy:
        return ("not converted, TODO on class" if anchors else "not converted, no TODO"), anchors, new.via
    return ("converted with TODOs" if anchors else "converted, no TODO"), anchors, None


def measure_repo(source: Path, jobs: int, timeout: float, keep: Optional[Path]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Figures for one repository, and the per-class / per-call details."""
    name = source.name
    wall = time.perf_counter()
    original = Repo(source)
    with tempfile.TemporaryDirectory(prefix="rlmigrate-real-") as tmp:
        tmp_path = Path(tmp)
        copy = tmp_path / "src" / name
        shutil.copytree(source, copy, symlinks=True, copy_function=shutil.copyfile)
        make_writable(copy)
        git_index = track_every_file(copy)
        walked = walked_files(copy)
        out, report_path = tmp_path / "out", tmp_path / "report.json"
        run = run_codemod(copy, out, report_path, jobs, timeout)
        summary, entries = read_report(report_path, name)
        out_files = [rel for rel in original.files if (out / rel).is_file()]
        out_repo = Repo(out, out_files) if out.is_dir() else None
        if keep is not None:
            target = keep / name
            if target.exists():
                make_writable(target)
                shutil.rmtree(target)
            target.mkdir(parents=True)
            if out.is_dir():
                shutil.copytree(out, target / "out", symlinks=True)
            if report_path.exists():
                shutil.copyfile(report_path, target / "report.json")
        make_writable(tmp_path)

    classes, categories, silent_by_base, todo_on_classes = [], Counter(), Counter(), Counter()
    seen: Counter = Counter()
    for info in original.files.values():
        for cls in info.classes:
            if not cls.legacy:
                continue
            key = (cls.path, cls.qualname)
            category, anchors, still = classify(cls, out_repo, entries, walked, seen[key])
            seen[key] += 1
            categories[category] += 1
            todo_on_classes.update(a or "?" for a in anchors)
            if category == "not converted, no TODO":
                silent_by_base[cls.via or "?"] += 1
            classes.append({"path": cls.path, "class": cls.qualname, "line": cls.line, "base": cls.via,
                            "nested": "." in cls.qualname, "category": category, "todos": anchors,
                            "still_legacy_base": still})

    calls: List[Dict[str, Any]] = []
    call_counts = {key: Counter() for key in ("original", "remaining", "remaining_without_todo", "in_errored_or_unwalked_files")}
    for info in original.files.values():
        call_counts["original"].update(c.name for c in info.calls)
    if out_repo:
        for info in out_repo.files.values():
            todos = todo_lines(info.lines)
            skipped = entries.get(info.path, {}).get("status") == "error" or (walked is not None and info.path not in walked)
            for call in info.calls:
                marked = bool(markers_in(todos, marker_window(info.lines, call.line, call.end)))
                if skipped:
                    call_counts["in_errored_or_unwalked_files"][call.name] += 1
                else:
                    call_counts["remaining"][call.name] += 1
                    if not marked:
                        call_counts["remaining_without_todo"][call.name] += 1
                calls.append({"path": call.path, "call": call.name, "line": call.line, "todo": marked,
                              "file_errored_or_unwalked": skipped})

    todo_kinds = Counter(t.get("anchor") or "?" for e in entries.values() for t in e.get("todos", []))
    parsed = sum(1 for f in original.files.values() if f.parsed)
    errored = sum(1 for e in entries.values() if e.get("status") == "error")
    unparsable = [f for f in original.files.values() if not f.parsed]
    figures = {
        "repo": name,
        "files": len(original.files),
        "files_parse": parsed,
        "files_unparsable": len(unparsable),
        "files_codemod_errors": errored,
        "files_codemod_errors_of_parsable": sum(
            1 for rel, e in entries.items() if e.get("status") == "error" and rel in original.files and original.files[rel].parsed
        ),
        "files_changed": summary.get("changed"),
        "legacy_classes": sum(categories.values()),
        "legacy_classes_nested": sum(1 for c in classes if c["nested"]),
        "legacy_classes_in_unparsable_files": sum(f.unparsable_legacy_estimate for f in unparsable),
        "categories": {c: categories.get(c, 0) for c in CATEGORIES},
        "silent_by_base": dict(silent_by_base.most_common()),
        "todos": sum(todo_kinds.values()),
        "todo_kinds": dict(todo_kinds.most_common()),
        "todo_kinds_on_classes": dict(todo_on_classes.most_common()),
        "legacy_calls": {k: dict(v.most_common()) for k, v in call_counts.items()},
        "git_index": git_index,
        "codemod": run,
        "codemod_seconds": run["seconds"],
        "wall_seconds": round(time.perf_counter() - wall, 2),
    }
    return figures, {"classes": classes, "calls": calls,
                     "unparsable_files": sorted(f.path for f in unparsable),
                     "error_files": {rel: e.get("error") for rel, e in entries.items() if e.get("status") == "error"}}


# --------------------------------------------------------------------------- totals and output


def add_up(per_repo: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    total: Dict[str, Any] = {"repos": len(per_repo)}
    for key in ("files", "files_parse", "files_unparsable", "files_codemod_errors", "files_codemod_errors_of_parsable",
                "legacy_classes", "legacy_classes_nested", "legacy_classes_in_unparsable_files", "todos"):
        total[key] = sum(r.get(key) or 0 for r in per_repo)
    total["files_changed"] = sum(r.get("files_changed") or 0 for r in per_repo)
    for key in ("categories", "silent_by_base", "todo_kinds", "todo_kinds_on_classes"):
        counter: Counter = Counter()
        for r in per_repo:
            counter.update(r[key])
        total[key] = dict(counter.most_common()) if key != "categories" else {c: counter.get(c, 0) for c in CATEGORIES}
    calls: Dict[str, Counter] = {}
    for r in per_repo:
        for kind, counts in r["legacy_calls"].items():
            calls.setdefault(kind, Counter()).update(counts)
    total["legacy_calls"] = {k: dict(v.most_common()) for k, v in calls.items()}
    total["codemod_timeouts"] = sum(1 for r in per_repo if r["codemod"]["timed_out"])
    # 0: fine, 1: some file not migrated (listed in the report); anything else: the run failed.
    total["codemod_failures"] = sum(1 for r in per_repo if r["codemod"]["returncode"] not in (0, 1))
    total["codemod_seconds"] = round(sum(r["codemod_seconds"] for r in per_repo), 2)
    total["wall_seconds"] = round(sum(r["wall_seconds"] for r in per_repo), 2)
    return total


def comparisons(per_repo: Sequence[Dict[str, Any]], total: Dict[str, Any]) -> List[Dict[str, Any]]:
    def row(case: str, figures: Dict[str, Any]) -> Dict[str, Any]:
        silent, found = figures["categories"]["not converted, no TODO"], figures["legacy_classes"]
        return {"case": case, "ours": silent, "baseline": found,
                "ratio": round(silent / found, 4) if found else None, "target": None}

    return [{
        "title": "Legacy model classes left unconverted without a TODO (silent failures)",
        "ours": "silent failures", "baseline": "legacy classes found", "unit": "classes",
        "ratio": "silent / found",
        "rows": [row(r["repo"], r) for r in per_repo] + [row("all repositories", total)],
        "note": "Counted by ast in the original and migrated trees; see the categories per repository in the JSON.",
    }]


def human_table(per_repo: Sequence[Dict[str, Any]], total: Dict[str, Any]) -> str:
    columns = ["files", "parse", "c.err", "classes"] + [SHORT[c] for c in CATEGORIES] + ["todos", "secs"]
    width = max([len("repository"), len("TOTAL")] + [len(r["repo"]) for r in per_repo])

    def cells(name: str, f: Dict[str, Any], seconds: float) -> str:
        values = [f["files"], f["files_parse"], f["files_codemod_errors"], f["legacy_classes"]]
        values += [f["categories"][c] for c in CATEGORIES] + [f["todos"], f"{seconds:.0f}"]
        return name.ljust(width) + "".join(str(v).rjust(max(len(c), 5) + 1) for c, v in zip(columns, values))

    lines = ["repository".ljust(width) + "".join(c.rjust(max(len(c), 5) + 1) for c in columns)]
    lines += [cells(r["repo"], r, r["wall_seconds"]) for r in per_repo]
    lines.append(cells("TOTAL", total, total["wall_seconds"]))
    lines.append("columns: " + ", ".join(f"{SHORT[c]} = {c}" for c in CATEGORIES) + "; c.err = files the codemod reported as errors")
    return "\n".join(lines)


def repositories(directory: Path) -> List[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def codemod_revision() -> Optional[str]:
    """This checkout's commit (``+dirty`` with uncommitted changes), or None without git."""
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=None,
                        help=f"one folder per repository (default: ${ENV_VAR})")
    parser.add_argument("--json", type=Path, help="also write the full result, every class included, here")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="rlmigrate worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds the codemod may take per repository (default %(default)s)")
    parser.add_argument("--keep", type=Path, help="keep each repository's migrated tree and report under KEEP/<repo>/")
    args = parser.parse_args(argv)

    directory = args.dir or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    reason = None
    if directory is None:
        reason = f"no corpus directory given (pass DIR or set {ENV_VAR})"
    elif not directory.is_dir():
        reason = f"corpus directory {directory} does not exist"
    elif not repositories(directory):
        reason = f"corpus directory {directory} holds no repositories"
    if reason:
        print(json.dumps({"skipped": reason}))
        return 0
    assert directory is not None
    directory = directory.resolve()
    if args.keep is not None:
        args.keep = args.keep.resolve()
        if args.keep == directory or directory in args.keep.parents:
            parser.error("--keep must be outside DIR")  # never write into the corpus

    start = time.perf_counter()
    per_repo, details = [], {}
    repos = repositories(directory)
    for index, source in enumerate(repos, 1):
        print(f"[{index}/{len(repos)}] {source.name} ...", file=sys.stderr, flush=True)
        figures, detail = measure_repo(source, args.jobs, args.timeout, args.keep)
        per_repo.append(figures)
        details[source.name] = detail
        c = figures["categories"]
        if figures["git_index"].startswith(("skipped", "failed")):
            print(f"[{index}/{len(repos)}] note: no git index made for the copy ({figures['git_index']}); files "
                  "that .gitignore ignores count as not walked", file=sys.stderr, flush=True)
        print(f"[{index}/{len(repos)}] {source.name}: {figures['legacy_classes']} legacy classes, "
              f"{c['not converted, no TODO']} silent, {figures['files_codemod_errors']} file errors, "
              f"{figures['codemod_seconds']:.0f} s", file=sys.stderr, flush=True)
    total = add_up(per_repo)
    total["elapsed_seconds"] = round(time.perf_counter() - start, 2)
    result = {
        "corpus": str(directory),
        "codemod_revision": codemod_revision(),
        "command": " ".join(rlmigrate_command()[-1:] + ["migrate", "<copy>", "--out-dir", "<out>", "--report",
                                                         "<report.json>", "-j", str(args.jobs), "--no-progress"]),
        "categories": list(CATEGORIES),
        "total": total,
        "repos": per_repo,
        "comparisons": comparisons(per_repo, total),
    }
    print(human_table(per_repo, total), file=sys.stderr)
    print(json.dumps(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "details": details}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
