"""``.gitignore`` matching equals git's: the files ``walk`` keeps are those ``git ls-files
--others --exclude-standard`` lists, for generated patterns and paths; with some files
tracked (``git add -f``), those ``git ls-files --cached --others --exclude-standard`` lists."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from codemods.files import walk
from codemods.gitignore import wildmatch

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

PATHS = [
    "a.py", "b.py", "ab.py", "1.py", "é.py", "[x].py", "#c.py", "!d.py", "e.py ", "e.py", "f\\g.py", "x.txt",
    "]x.py", "-.py", "src/a.py", "src/b.py", "src/sub/a.py", "src/sub/b.py", "doc/gen/x.py", "doc/gen/deep/y.py",
    "a/b/c/d.py", "a/c/e.py", "a/x/y/c/f.py", "sub/x.py", "foob/bar/z.py", "foo/bar/z.py", "Z.py",
    ".deprecated_scripts/a.py", "src/.old/sub/b.py",
]
PATTERNS = [
    "*.py", "/a.py", "a.py", "src/", "src", "/src/", "src/*.py", "src/**", "**/sub", "**/sub/*.py", "a/**/c",
    "a/**/c/", "**/*.py", "*", "[!a]*.py", "[^a]*.py", "[[:alpha:]]*.py", "[[:digit:]]*", "[[:bogus:]]*.py",
    "[z-a]*.py", "[a-c].py", "[abc", "\\[x\\].py", "[[]x].py", "\\#c.py", "#c.py", "\\!d.py", "e.py\\ ",
    "e.py   ", "e.py\t", "?.py", "??.py", "é.py", "*.p[y]", "src/sub/", "sub/", "/src/sub/b.py", "src/*/b.py",
    "*/b.py", "a/b/**", "**", "a**b", "foo**/bar", "f*/bar/", "*[]", "[]", "[!]", "[a-]*", "[-a].py",
    "[\\]]x.py", "f\\\\g.py", "a.py\\", "doc/gen", "doc/**/*.py", "doc/**/", "[]x].py", "[[:upper:]].py",
    "[[:lower:]x", "[[:punct:]]*", "[[:alpha:]-z]*.py", "[a-[:digit:]]*", "*.[pP][yY]", "a/*", "/*/", "***/x.py",
    "src/**/", "**/b/**", "\\*.py", "[[:space:]]*", "d\\oc/",
]
NEGATIONS = ["!a.py", "!src/", "!src/a.py", "!/src", "!*.py", "!sub/", "!doc/gen/x.py", "!e.py", "!\\!d.py"]


def _cases():
    rng = random.Random(15)
    cases = [[p] for p in PATTERNS]
    for _ in range(60):
        chosen = rng.sample(PATTERNS, 2) + rng.sample(NEGATIONS, 1) + rng.sample(PATTERNS + NEGATIONS, 1)
        rng.shuffle(chosen)
        cases.append(chosen)
    return cases


def _git(root: Path, *args: str, stdin: bytes = b"") -> bytes:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(root.parent), "XDG_CONFIG_HOME": str(root.parent),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_LITERAL_PATHSPECS": "1"}
    return subprocess.run(["git", *args], cwd=root, check=True, env=env, input=stdin, capture_output=True).stdout


def _names(out: bytes) -> set:
    return {os.fsdecode(name) for name in out.split(b"\0") if name}


def _git_untracked(root: Path) -> set:
    _git(root, "init", "-q")
    return _names(_git(root, "ls-files", "-z", "--others", "--exclude-standard"))


def _make_cases(root: Path) -> None:
    for number, patterns in enumerate(_cases()):
        case = root / f"case{number}"
        for rel in PATHS:
            (case / rel).parent.mkdir(parents=True, exist_ok=True)
            (case / rel).write_text("x = 1\n")
        (case / ".gitignore").write_bytes("\n".join(patterns).encode() + b"\n")
    (root / "case0" / "src" / ".gitignore").write_bytes(b"!*.py\nsub/a.py\n")  # a nested file overrides
    (root / "case1" / "src" / ".gitignore").write_bytes(b"\xef\xbb\xbfb.py\r\n")  # BOM and CRLF


def test_walk_keeps_exactly_the_files_git_does_not_ignore(tmp_path):
    root = tmp_path / "repo"
    _make_cases(root)
    ours = set(walk(root))
    git = _git_untracked(root)
    assert sorted(ours - git) == [] and sorted(git - ours) == []


def test_walk_also_keeps_exactly_the_tracked_files_that_gitignore_ignores(tmp_path):
    root = tmp_path / "repo"
    _make_cases(root)
    _git(root, "init", "-q")
    every = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    tracked = random.Random(16).sample(every, len(every) // 4)
    _git(root, "add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul", stdin="\0".join(tracked).encode())
    ours = set(walk(root))
    git = _names(_git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"))
    assert sorted(ours - git) == [] and sorted(git - ours) == []
    tracked_ignored = _names(_git(root, "ls-files", "-z", "--cached", "--ignored", "--exclude-standard"))
    assert len(tracked_ignored) > 200 and tracked_ignored <= ours


@pytest.mark.parametrize(
    "pattern,text,expected",
    [
        ("[!a]*.py", "b.py", True), ("[!a]*.py", "a.py", False), ("[[:alpha:]]*.py", "1.py", False),
        ("[[:alpha:]]*.py", "x.py", True), ("[z-a]*", "m", False), ("[abc", "a", False), ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True), ("a/*/b", "a/x/y/b", False), ("[[:bogus:]]", "b", False),
    ],
)
def test_wildmatch_reads_patterns_like_git(pattern, text, expected):
    assert wildmatch(pattern.encode(), text.encode()) is expected
