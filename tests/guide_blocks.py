"""Runs the code blocks of MIGRATION.md (see ``tests/test_migration_guide.py``).

Every fenced block of the guide must be classified by an HTML comment on the line
just before its opening fence (invisible on GitHub)::

    <!-- guide: KIND key=value ... -->

Kinds (a block without one, or with an unknown kind or key, is an error):

``before id=ID [uses=REF,...]``
    Legacy code, as users wrote it (``python``). Executed with ray 2.60 (legacy).
``after id=ID [uses=REF,...] [target=rllib]``
    Exactly what ``codemods.migrate.migrate_source`` (all rules) emits for the
    ``before`` block of the same ``id`` (compared character for character; ``target=``:
    the ``--target`` it is migrated for, default ``rlmodule``), and executed too.
``completed id=ID [uses=REF,...]``
    The ``after`` block of ``id`` finished by hand: executed; it must differ from the
    codemod output and carry no ``TODO(rlmigrate)`` marker any more.
``run [setup=NAME,...] [uses=REF,...] [ns=NAME]``
    Ordinary Python, executed. ``setup=`` names prelude functions the test module
    provides (they return the names the block reads, e.g. ``legacy_policy``);
    ``uses=`` seeds the namespace with a copy of another block's namespace
    (``before:ID``, ``after:ID``, ``completed:ID`` or ``ns:NAME``); ``ns=NAME`` runs
    in the shared namespace ``NAME`` (every block with the same ``ns`` sees the names
    the earlier ones defined, and the same working directory).
``output [of=previous] [match=contains|equal]``
    A ``text`` block: the captured stdout (and, for shell blocks, stderr) of the block
    just before it contains it (default) or equals it, after stripping trailing
    whitespace from every line.
``shell [setup=NAME] [exits=N,N,...]``
    A ``bash`` / ``console`` block: each command (``\\`` continuations joined, comment
    lines skipped) is run in a fresh temporary directory that setup ``NAME`` filled;
    ``rlmigrate ...`` commands run through the console script's entry point
    (``rlmigrate.cli:main``) in this process, anything else through ``bash -c``.
    ``exits=`` lists the expected exit status of each command (default: all 0).
``not-run reason="..."``
    Never executed; the reason is mandatory and Python blocks may not use it.

Python blocks run with a temporary working directory (nothing is written into the
repository) and their stdout captured; an exception fails the block's test.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

KINDS: Dict[str, Tuple[str, ...]] = {
    "before": ("id", "uses"),
    "after": ("id", "uses", "target"),
    "completed": ("id", "uses"),
    "run": ("setup", "uses", "ns"),
    "output": ("of", "match"),
    "shell": ("setup", "exits"),
    "not-run": ("reason",),
}
PYTHON_KINDS = ("before", "after", "completed", "run")
SHELL_LANGS = ("bash", "console", "sh", "shell")

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^<!--\s*guide:\s*(?P<body>.*?)\s*-->\s*$")
_HEADING = re.compile(r"^(#{1,6}) +(.+?)\s*#*\s*$")
_RAY_IMPORT = re.compile(r"^\s*(from|import)\s+ray(\.|\s|$)", re.M)


class GuideError(Exception):
    """The guide is malformed (an unclassified block, a bad directive, ...)."""


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (as tests/test_codemod_fixtures.py computes it)."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


@dataclass
class Block:
    index: int
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    kind: str
    options: Dict[str, str]
    heading: str  # the nearest heading above, as its anchor

    @property
    def name(self) -> str:
        ident = self.options.get("id") or self.options.get("ns") or ""
        return f"L{self.line}-{self.kind}" + (f"-{ident}" if ident else "")

    def values(self, key: str) -> List[str]:
        raw = self.options.get(key, "")
        return [v.strip() for v in raw.split(",") if v.strip()]


def parse(text: str) -> Tuple[List[Block], List[str], List[str]]:
    """``(blocks, headings as anchors, errors)``; every problem is listed in ``errors``."""
    lines = text.split("\n")
    blocks: List[Block] = []
    headings: List[str] = []
    errors: List[str] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if not fence:
            h = _HEADING.match(line)
            if h:
                heading = slug(h.group(2))
                headings.append(heading)
            i += 1
            continue
        marker, info = fence.group("fence"), fence.group("info").strip()
        start = i
        i += 1
        body: List[str] = []
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            errors.append(f"line {start + 1}: unclosed code fence")
            break
        i += 1  # the closing fence
        where = f"line {start + 1}"
        if fence.group("indent"):
            errors.append(f"{where}: indented code fence (keep fences at column 0)")
        lang = info.split()[0] if info else ""
        code = "\n".join(body) + "\n"
        previous = lines[start - 1] if start > 0 else ""
        directive = _DIRECTIVE.match(previous.strip())
        if not directive:
            errors.append(f"{where}: ```{lang} block without a `<!-- guide: ... -->` classification on the line above")
            continue
        try:
            tokens = shlex.split(directive.group("body"))
        except ValueError as exc:
            errors.append(f"{where}: unreadable guide directive: {exc}")
            continue
        if not tokens or "=" in tokens[0]:
            errors.append(f"{where}: guide directive must start with a kind ({', '.join(KINDS)})")
            continue
        kind, options = tokens[0], {}
        if kind not in KINDS:
            errors.append(f"{where}: unknown guide kind {kind!r} (known: {', '.join(KINDS)})")
            continue
        bad = False
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if not sep or key not in KINDS[kind]:
                errors.append(f"{where}: {kind}: unknown option {token!r} (allowed: {', '.join(KINDS[kind]) or 'none'})")
                bad = True
            options[key] = value
        if bad:
            continue
        problem = _check_block(kind, lang, options, blocks)
        if problem:
            errors.append(f"{where}: {problem}")
            continue
        blocks.append(Block(len(blocks), start + 1, lang, code, kind, options, heading))
    return blocks, headings, errors


def _check_block(kind: str, lang: str, options: Mapping[str, str], blocks: Sequence[Block]) -> Optional[str]:
    if kind in PYTHON_KINDS and lang != "python":
        return f"a {kind} block must be ```python, not ```{lang}"
    if kind in ("before", "after", "completed") and not options.get("id"):
        return f"a {kind} block needs id=..."
    if kind == "before" and any(b.kind == "before" and b.options["id"] == options["id"] for b in blocks):
        return f"duplicate before id={options['id']}"
    if kind in ("after", "completed"):
        ident = options["id"]
        if not any(b.kind == "before" and b.options["id"] == ident for b in blocks):
            return f"{kind} id={ident} has no earlier before block"
        if any(b.kind == kind and b.options["id"] == ident for b in blocks):
            return f"duplicate {kind} id={ident}"
        if kind == "completed" and not any(b.kind == "after" and b.options["id"] == ident for b in blocks):
            return f"completed id={ident} has no earlier after block"
    if kind == "output":
        if lang != "text":
            return "an output block must be ```text"
        if options.get("of", "previous") != "previous":
            return "output: only of=previous is supported"
        if options.get("match", "contains") not in ("contains", "equal"):
            return "output: match= must be contains or equal"
        if not blocks or blocks[-1].kind not in ("before", "after", "completed", "run", "shell"):
            return "an output block must follow an executed block"
    if kind == "shell" and lang not in SHELL_LANGS:
        return f"a shell block must be ```bash or ```console, not ```{lang}"
    if kind == "not-run":
        if not options.get("reason"):
            return 'not-run needs reason="..."'
        if lang == "python":
            return "Python blocks are always executed; not-run is for blocks that cannot run"
    return None


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------
@dataclass
class Setup:
    """A prelude for ``run`` blocks (``fn(ctx) -> names``) or shell blocks
    (``fn(ctx, directory)`` fills the working directory)."""

    fn: Callable[..., Any]
    legacy: bool = False  # needs ray 2.60
    needs: Tuple[str, ...] = ()  # block namespaces it reads (``before:ID``, ...)


@dataclass
class Outcome:
    namespace: Dict[str, Any] = field(default_factory=dict)
    output: str = ""
    directory: str = ""


def shell_commands(code: str) -> List[str]:
    """The commands of a shell block: continuations joined; blank and comment lines
    skipped; a ``$ `` prompt stripped."""
    commands: List[str] = []
    pending = ""
    for raw in code.split("\n"):
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending and line.startswith("$ "):
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append((pending + line).strip())
        pending = ""
    if pending:
        commands.append(pending.strip())
    return commands


def normalized(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


class Runner:
    """Executes blocks on demand (each at most once), following ``uses`` and setups."""

    def __init__(
        self, blocks: Sequence[Block], setups: Mapping[str, Setup], dir_setups: Mapping[str, Setup],
        filename: str = "<guide>",
    ) -> None:
        self.blocks = list(blocks)
        self.filename = filename  # tracebacks point at the guide's own lines
        self.setups = setups
        self.dir_setups = dir_setups
        self.outcomes: Dict[int, Outcome] = {}
        self.failed: Dict[int, BaseException] = {}
        self.shared: Dict[str, Outcome] = {}
        self.setup_cache: Dict[str, Dict[str, Any]] = {}
        self.by_ref: Dict[str, Block] = {}
        for block in self.blocks:
            if block.kind in ("before", "after", "completed"):
                self.by_ref[f"{block.kind}:{block.options['id']}"] = block

    # -- dependencies ------------------------------------------------------------------
    def dependencies(self, block: Block) -> List[Block]:
        """Blocks that must run first: ``uses=`` references, setups' needs, the earlier
        blocks of the same ``ns``."""
        refs = list(block.values("uses"))
        for name in block.values("setup"):
            setup = self.setups.get(name) or self.dir_setups.get(name)
            if setup is not None:
                refs += list(setup.needs)
        deps: List[Block] = []
        for ref in refs:
            if ref.startswith("ns:"):
                deps += [b for b in self.blocks if b.options.get("ns") == ref[3:] and b.index < block.index]
            elif ref in self.by_ref:
                deps.append(self.by_ref[ref])
            else:
                raise GuideError(f"{block.name}: unknown reference {ref!r}")
        if block.options.get("ns"):
            deps += [b for b in self.blocks if b.options.get("ns") == block.options["ns"] and b.index < block.index]
        return deps

    def needs_legacy(self, block: Block, seen: Optional[set] = None) -> bool:
        """Whether running ``block`` (with its dependencies) needs ray 2.60."""
        seen = seen if seen is not None else set()
        if block.index in seen:
            return False
        seen.add(block.index)
        if block.kind == "before" or _RAY_IMPORT.search(block.code) or "ray.rllib" in block.code:
            return True
        for name in block.values("setup"):
            setup = self.setups.get(name) or self.dir_setups.get(name)
            if setup is not None and setup.legacy:
                return True
        if block.kind == "output" and block.index > 0:
            return self.needs_legacy(self.blocks[block.index - 1], seen)
        return any(self.needs_legacy(dep, seen) for dep in self.dependencies(block))

    def namespace_of(self, ref: str) -> Dict[str, Any]:
        """A reference's namespace (running its block first)."""
        if ref.startswith("ns:"):
            last = [b for b in self.blocks if b.options.get("ns") == ref[3:]]
            if not last:
                raise GuideError(f"no block has ns={ref[3:]}")
            self.run(last[-1])
            return self.shared[ref[3:]].namespace
        if ref not in self.by_ref:
            raise GuideError(f"unknown reference {ref!r}")
        return self.run(self.by_ref[ref]).namespace

    # -- running -----------------------------------------------------------------------
    def run(self, block: Block) -> Outcome:
        if block.index in self.failed:
            raise GuideError(f"{block.name} failed earlier: {self.failed[block.index]!r}")
        if block.index in self.outcomes:
            return self.outcomes[block.index]
        for dep in self.dependencies(block):
            try:
                self.run(dep)
            except Exception as exc:
                raise GuideError(f"{block.name} depends on {dep.name}, which failed: {exc!r}") from exc
        try:
            if block.kind in PYTHON_KINDS:
                outcome = self._run_python(block)
            elif block.kind == "shell":
                outcome = self._run_shell(block)
            else:
                outcome = Outcome()
        except BaseException as exc:
            self.failed[block.index] = exc
            raise
        self.outcomes[block.index] = outcome
        return outcome

    def _setup_names(self, name: str) -> Dict[str, Any]:
        if name not in self.setups:
            raise GuideError(f"unknown setup {name!r} (known: {', '.join(sorted(self.setups))})")
        if name not in self.setup_cache:
            self.setup_cache[name] = dict(self.setups[name].fn(self))
        return self.setup_cache[name]

    def _run_python(self, block: Block) -> Outcome:
        ns_name = block.options.get("ns")
        if ns_name and ns_name in self.shared:
            outcome = self.shared[ns_name]
            namespace = outcome.namespace
        else:
            namespace = {"__name__": f"migration_guide_block_{block.index}"}
            outcome = Outcome(namespace, "", tempfile.mkdtemp(prefix="guide-"))
            if ns_name:
                self.shared[ns_name] = outcome
        for ref in block.values("uses"):
            for key, value in self.namespace_of(ref).items():
                if key not in ("__name__", "__builtins__"):
                    namespace[key] = value
        for name in block.values("setup"):
            namespace.update(self._setup_names(name))
        stdout = io.StringIO()
        # Blank lines in front: line numbers in tracebacks are the guide's.
        code = compile("\n" * block.line + block.code, self.filename, "exec")
        with _cwd(outcome.directory), contextlib.redirect_stdout(stdout):
            try:
                exec(code, namespace)
            finally:
                output = stdout.getvalue()
        result = Outcome(namespace, output, outcome.directory)
        return result

    def _run_shell(self, block: Block) -> Outcome:
        directory = tempfile.mkdtemp(prefix="guide-shell-")
        for name in block.values("setup"):
            if name not in self.dir_setups:
                raise GuideError(f"unknown directory setup {name!r} (known: {', '.join(sorted(self.dir_setups))})")
            self.dir_setups[name].fn(self, Path(directory))
        commands = shell_commands(block.code)
        exits = [int(x) for x in block.values("exits")] or [0] * len(commands)
        if len(exits) != len(commands):
            raise GuideError(f"{block.name}: exits= lists {len(exits)} statuses for {len(commands)} commands")
        output = []
        for command, expected in zip(commands, exits):
            status, text = run_command(command, directory)
            output.append(text)
            if status != expected:
                raise AssertionError(
                    f"`{command}` exited with {status}, expected {expected}; its output:\n{text}"
                )
        return Outcome({}, "".join(output), directory)


def run_command(command: str, directory: str) -> Tuple[int, str]:
    """Run one shell command in ``directory``: ``(exit status, stdout + stderr)``."""
    argv = shlex.split(command, comments=True)
    if argv and argv[0] == "rlmigrate":
        return _run_rlmigrate(argv[1:], directory)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", command], cwd=directory, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def _run_rlmigrate(args: List[str], directory: str) -> Tuple[int, str]:
    """``rlmigrate ARGS`` as the console script runs it (``rlmigrate.cli:main``), in this
    process (torch and ray are loaded already), leaving sys.path and sys.modules clean."""
    from rlmigrate.cli import main

    path, modules = list(sys.path), set(sys.modules)
    out = io.StringIO()
    try:
        with _cwd(directory), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                status = main(args)
            except SystemExit as exc:  # argparse usage errors
                status = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.path[:] = path
        roots = (directory, os.path.realpath(directory))
        for name in set(sys.modules) - modules:  # the project's own modules (namespace packages too)
            module = sys.modules[name]
            places = [getattr(module, "__file__", None) or "", *list(getattr(module, "__path__", None) or [])]
            if any(str(place).startswith(roots) for place in places):
                del sys.modules[name]
    return int(status or 0), out.getvalue()


@contextlib.contextmanager
def _cwd(directory: str):
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


# --------------------------------------------------------------------------------------
# Checks per kind
# --------------------------------------------------------------------------------------
def codemod_output(before: Block, context: Sequence[Block] = (), target: str = "rlmodule") -> str:
    """What ``rlmigrate migrate [--target TARGET]`` (every rule) makes of the ``before``
    block's text, as one file of a repository holding it and the ``context`` blocks."""
    from codemods.migrate import migrate_source
    from codemods.repo_index import build_repo_index
    from codemods.rules import all_rules

    data = before.code.encode()
    repo = build_repo_index([data, *(b.code.encode() for b in context)])
    result = migrate_source(data, f"{before.options['id']}.py", all_rules(), repo, target)
    if result.status == "error":
        raise AssertionError(f"the codemod failed on before id={before.options['id']}: {result.error}")
    return result.new_bytes.decode() if result.new_bytes is not None else before.code


def check_block(runner: Runner, block: Block) -> None:
    """Run ``block`` and make every check its kind promises (raises on a failure)."""
    if block.kind == "not-run":
        return
    if block.kind == "output":
        previous = runner.blocks[block.index - 1]
        got = normalized(runner.run(previous).output)
        want = normalized(block.code)
        if block.options.get("match", "contains") == "equal":
            assert got == want, f"output of {previous.name} differs:\n--- guide\n{want}\n--- real\n{got}"
        else:
            assert want in got, f"output of {previous.name} does not contain the guide's text:\n--- guide\n{want}\n--- real\n{got}"
        return
    if block.kind in ("after", "completed"):
        before = runner.by_ref[f"before:{block.options['id']}"]
        context = [runner.by_ref[r] for r in before.values("uses") if r.startswith("before:")]
        emitted = codemod_output(before, context, block.options.get("target", "rlmodule"))
        if block.kind == "after":
            assert block.code == emitted, (
                f"{block.name} is not what rlmigrate emits for its before block:\n" + _diff(block.code, emitted)
            )
        else:
            assert block.code != emitted, f"{block.name} is identical to the codemod output: mark it after"
            assert "TODO(rlmigrate)" not in block.code, f"{block.name} still carries TODO(rlmigrate) markers"
    runner.run(block)


def _diff(want: str, got: str) -> str:
    import difflib

    return "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "guide", "rlmigrate"))
