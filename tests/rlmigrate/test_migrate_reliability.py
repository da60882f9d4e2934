"""``rlmigrate migrate`` under hostile conditions (issue 15): edits during a run, untrusted
git config, files that crash or hang the parser, unreadable and read-only paths,
file metadata, symlinks, leftovers of killed runs.

Tests run as root (here and in CI): "unreadable" and "read-only" are simulated by
making the OS calls fail with the ``PermissionError`` the kernel would raise; the
worker processes are forked, so they inherit the patches.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

import codemods.migrate as migrate_module
import rlmigrate.migrate as migrate_command
from rlmigrate.cli import main

LEGACY = b"from ray.rllib.models.torch.misc import SlimFC\n\nlayer = SlimFC(2, 2)\n"
MIGRATED = b"from compat.legacy_torch_models import SlimFC\n\nlayer = SlimFC(2, 2)\n"
HEADER = "from ray.rllib.models.torch.misc import SlimFC\n"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "legacy"


def run(*args):
    return main(["migrate", "--no-progress", *map(str, args)])


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "model.py").write_bytes(LEGACY)
    (root / "pkg" / "other.py").write_bytes(LEGACY)
    return root


def _deny(monkeypatch, name, inside: Path, when=lambda *args: True):
    """Make ``os.<name>`` fail with EACCES for paths under ``inside`` (as for a non-root user)."""
    real = getattr(os, name)

    def denied(path, *args, **kwargs):
        if str(os.fspath(path)).startswith(str(inside)) and when(*args):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, denied)


def _creating(flags, *rest):
    return bool(flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR))


# ---------------------------------------------------------------------------- item 3
def test_write_skips_a_file_edited_while_the_run_migrated_it(tree, monkeypatch, capsys):
    migrate_files = migrate_command.migrate_files

    def edited_meanwhile(*args, **kwargs):
        results = migrate_files(*args, **kwargs)
        (tree / "pkg" / "model.py").write_bytes(LEGACY + b"# the user's edit\n")
        return results

    monkeypatch.setattr(migrate_command, "migrate_files", edited_meanwhile)
    assert run(tree, "--write") == 1
    assert (tree / "pkg" / "model.py").read_bytes() == LEGACY + b"# the user's edit\n"
    assert (tree / "pkg" / "other.py").read_bytes() == MIGRATED
    assert f"error: {tree / 'pkg' / 'model.py'}: not written: changed since it was read" in capsys.readouterr().err


# ---------------------------------------------------------------------------- item 4
def test_write_never_runs_commands_named_by_the_target_repository(tree, tmp_path, capsys):
    marker = tmp_path / "marker"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "post-checkout", "post-index-change", "fsmonitor-watchman", "reference-transaction"):
        shutil.copy(script, hooks / hook)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):
        subprocess.run(command, cwd=tree, check=True, env=env)
    with open(tree / ".git" / "config", "a") as config:
        config.write(
            f"[core]\n\tfsmonitor = {script}\n\thooksPath = {hooks}\n\tpager = {script}\n\teditor = {script}\n"
            f"[filter \"evil\"]\n\tclean = {script}\n\tsmudge = {script}\n\tprocess = {script}\n"
            f"[diff]\n\texternal = {script}\n"
        )
    (tree / ".gitattributes").write_text("*.py filter=evil diff=evil\n")
    (tree / "pkg" / "model.py").write_bytes(LEGACY + b"# not committed\n")
    assert run(tree, "--write") == 0
    assert not marker.exists()
    err = capsys.readouterr().err
    assert f"{tree / 'pkg' / 'model.py'} has uncommitted changes" in err and "other.py" not in err.split("warning")[1]
    assert (tree / "pkg" / "other.py").read_bytes() == MIGRATED


# ---------------------------------------------------------------------------- item 6
def test_deep_but_valid_files_migrate_and_never_stop_the_run(tree, capsys):
    (tree / "sum.py").write_text(HEADER + "x = " + " + ".join(["1"] * 500) + "\n")
    (tree / "chain.py").write_text(HEADER + "x = a" + ".b" * 500 + "\n")
    assert run(tree, "--write") == 0
    assert (tree / "sum.py").read_text() == "x = " + " + ".join(["1"] * 500) + "\n"  # the unused import went
    assert (tree / "chain.py").read_text() == "x = a" + ".b" * 500 + "\n"
    assert (tree / "pkg" / "model.py").read_bytes() == MIGRATED


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_worker_that_crashes_is_replaced_and_its_file_reported(tree, monkeypatch, capsys, jobs):
    migrate_source = migrate_module.migrate_source

    def segfault_on_crash_py(data, path, *args):
        if path.endswith("crash.py"):
            ctypes.string_at(0)  # a real segfault, in the thread that migrates
        return migrate_source(data, path, *args)

    monkeypatch.setattr(migrate_module, "migrate_source", segfault_on_crash_py)
    (tree / "pkg" / "crash.py").write_bytes(LEGACY)
    for i in range(6):
        (tree / "pkg" / f"copy_{i}.py").write_bytes(LEGACY)
    assert run(tree, "--write", "-j", jobs) == 1
    assert f"error: {tree / 'pkg' / 'crash.py'}: not migrated: the worker process crashed (SIGSEGV)" in capsys.readouterr().err
    assert (tree / "pkg" / "crash.py").read_bytes() == LEGACY
    assert all((tree / "pkg" / f"copy_{i}.py").read_bytes() == MIGRATED for i in range(6))


def test_a_file_past_the_timeout_or_the_size_limit_is_reported_alone(tree, monkeypatch, capsys):
    migrate_source = migrate_module.migrate_source

    def hang_on_slow_py(data, path, *args):
        if path.endswith("slow.py"):
            time.sleep(60)
        return migrate_source(data, path, *args)

    monkeypatch.setattr(migrate_module, "migrate_source", hang_on_slow_py)
    (tree / "slow.py").write_bytes(LEGACY)
    (tree / "big.py").write_bytes(LEGACY + b"#" * 2000 + b"\n")
    start = time.monotonic()
    assert run(tree, "--write", "--timeout", "1", "--max-file-size", "1000") == 1
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err
    assert f"error: {tree / 'slow.py'}: not migrated: timed out after 1 s (--timeout)" in err
    assert f"error: {tree / 'big.py'}: not migrated: {len(LEGACY) + 2001} bytes, over the limit of 1000 bytes (--max-file-size)" in err
    assert (tree / "pkg" / "model.py").read_bytes() == MIGRATED and (tree / "slow.py").read_bytes() == LEGACY


# ---------------------------------------------------------------------------- item 7
def test_a_read_only_directory_is_an_error_per_file_and_the_rest_is_written(tree, tmp_path, monkeypatch, capsys):
    (tree / "ro").mkdir()
    (tree / "ro" / "locked.py").write_bytes(LEGACY)
    _deny(monkeypatch, "open", tree / "ro", when=_creating)
    assert run(tree, "--write", "--report", tmp_path / "r.json") == 1
    assert (tree / "ro" / "locked.py").read_bytes() == LEGACY
    assert (tree / "pkg" / "model.py").read_bytes() == MIGRATED
    assert sorted(p.name for p in (tree / "ro").iterdir()) == ["locked.py"]  # no temporary file left
    errors = {f["path"]: f["error"] for f in json.loads((tmp_path / "r.json").read_text())["files"] if f["error"]}
    assert errors == {str(tree / "ro" / "locked.py"): "not written: Permission denied"}


def test_an_unreadable_directory_and_a_bad_gitignore_line_are_reported_not_raised(tree, tmp_path, monkeypatch, capsys):
    (tree / "secret").mkdir()
    (tree / "secret" / "hidden.py").write_bytes(LEGACY)
    (tree / ".gitignore").write_text("[z-a]*.py\n[!ao]*.py\n")
    _deny(monkeypatch, "scandir", tree / "secret")
    assert run(tree, "--write", "--report", tmp_path / "r.json") == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(f["path"], f["error"]) for f in report["files"] if f["error"]] == [
        (str(tree / "secret"), "cannot read directory: Permission denied")
    ]
    assert (tree / "pkg" / "model.py").read_bytes() == LEGACY  # git ignores it: [!ao] is "neither a nor o"
    assert (tree / "pkg" / "other.py").read_bytes() == MIGRATED


def test_a_directory_whose_gitignore_cannot_be_read_is_skipped_and_reported(tree, capsys, monkeypatch):
    (tree / "sub").mkdir()
    (tree / "sub" / "model.py").write_bytes(LEGACY)
    (tree / "sub" / ".gitignore").write_text("model.py\n")
    _deny(monkeypatch, "open", tree / "sub" / ".gitignore")
    assert run(tree, "--write") == 1
    assert f"error: {tree / 'sub'}: not migrated: cannot read its .gitignore: Permission denied" in capsys.readouterr().err
    assert (tree / "sub" / "model.py").read_bytes() == LEGACY and (tree / "pkg" / "model.py").read_bytes() == MIGRATED


# ---------------------------------------------------------------------------- item 10
@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_write_keeps_owner_group_and_mode(tree):
    path = tree / "pkg" / "model.py"
    os.chown(path, 1234, 5678)
    path.chmod(0o640)
    assert run(tree, "--write") == 0
    info = path.stat()
    assert path.read_bytes() == MIGRATED
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 5678, 0o640)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_file_whose_owner_cannot_be_kept_is_not_written(tree, monkeypatch, capsys):
    def refuse(*args):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    os.chown(tree / "pkg" / "model.py", 1234, 5678)
    monkeypatch.setattr(os, "chown", refuse)  # what a non-root user gets
    assert run(tree, "--write") == 1
    assert (tree / "pkg" / "model.py").read_bytes() == LEGACY
    assert (tree / "pkg" / "other.py").read_bytes() == MIGRATED
    assert "model.py: not written: cannot keep its owner and group 1234:5678" in capsys.readouterr().err


def test_a_symlink_given_as_the_path_is_written_through(tree):
    link = tree / "link.py"
    link.symlink_to("pkg/model.py")
    assert run(link, "--write") == 0
    assert link.is_symlink() and os.readlink(link) == "pkg/model.py"
    assert (tree / "pkg" / "model.py").read_bytes() == MIGRATED


def test_out_dir_keeps_modes_and_recreates_symlinks(tree, tmp_path):
    (tree / "pkg" / "model.py").chmod(0o755)
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o750)
    (tree / "alias.py").symlink_to("pkg/model.py")
    (tree / "outside").symlink_to("/etc/hostname")
    (tree / "pkgs").symlink_to("pkg", target_is_directory=True)
    out = tmp_path / "out"
    assert run(tree, "--out-dir", out) == 0
    assert stat.S_IMODE((out / "pkg" / "model.py").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "run.sh").stat().st_mode) == 0o750
    assert (out / "pkg" / "model.py").read_bytes() == MIGRATED
    for name, target in [("alias.py", "pkg/model.py"), ("outside", "/etc/hostname"), ("pkgs", "pkg")]:
        assert (out / name).is_symlink() and os.readlink(out / name) == target


def test_leftover_temporary_files_of_killed_runs_are_removed(tree, tmp_path):
    leftover = tree / "pkg" / ".model.py.k3x_9abc.rlmigrate"
    leftover.write_bytes(b"half")
    lookalike = tree / "pkg" / ".notes.rlmigrate"
    lookalike.write_bytes(b"mine")
    out = tmp_path / "out"
    assert run(tree, "--out-dir", out) == 0
    assert not (out / "pkg" / leftover.name).exists() and (out / "pkg" / lookalike.name).exists()
    assert leftover.exists()  # --out-dir never changes the source tree
    assert run(tree, "--write") == 0
    assert not leftover.exists() and lookalike.read_bytes() == b"mine"


# ---------------------------------------------------------------------------- all at once
def _ordinary_files(root: Path) -> dict:
    files = {}
    for folder in ("models", "patterns", "configs"):
        for source in sorted((FIXTURES / folder).glob("*.py")):
            files[f"legacy/{folder}/{source.name}"] = source.read_bytes()
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


@pytest.mark.slow
def test_a_tree_of_hostile_files_is_reported_file_by_file_and_the_rest_migrated(tmp_path, monkeypatch, capsys):
    expected = tmp_path / "expected"
    ordinary = _ordinary_files(tmp_path / "alone")
    assert run(tmp_path / "alone", "--out-dir", expected) in (0, 1)
    root = tmp_path / "tree"
    _ordinary_files(root)
    hostile = {
        "deep/sum500.py": HEADER + "x = " + " + ".join(["1"] * 500) + "\n",
        "deep/chain500.py": HEADER + "x = a" + ".b" * 500 + "\n",
        "deep/nested3000.py": HEADER + "x = " + "f(" * 3000 + ")" * 3000 + "\n",
        "deep/sum20000.py": HEADER + "x = " + " + ".join(["1"] * 20000) + "\n",
        "huge.py": HEADER + "x = 1\n" * 200_000,
        "secret/hidden.py": LEGACY.decode(),
        "ro/locked.py": LEGACY.decode(),
    }
    for rel, text in hostile.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".gitignore").write_text("[z-a]\n*.log\n")
    _deny(monkeypatch, "scandir", root / "secret")
    _deny(monkeypatch, "open", root / "ro", when=_creating)

    report = tmp_path / "out.json"
    assert run(root, "--write", "-j", "2", "--timeout", "5", "--report", report) == 1

    errors = {f["path"]: f["error"] for f in json.loads(report.read_text())["files"] if f["error"]}
    assert errors == {
        str(root / "deep/nested3000.py"): "not migrated: timed out after 5 s (--timeout)",
        str(root / "deep/sum20000.py"): "not migrated: timed out after 5 s (--timeout)",
        str(root / "huge.py"): f"not migrated: {len(hostile['huge.py'])} bytes, over the limit of 1000000 bytes "
        "(--max-file-size)",
        str(root / "secret"): "cannot read directory: Permission denied",
        str(root / "ro/locked.py"): "not written: Permission denied",
    }
    for rel, text in hostile.items():
        if str(root / rel) in errors or rel.startswith("secret/"):
            assert (root / rel).read_text() == text
        else:
            assert "ray.rllib" not in (root / rel).read_text()
    for rel in ordinary:
        assert (root / rel).read_bytes() == (expected / rel).read_bytes(), rel
