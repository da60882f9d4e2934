"""``rlmigrate migrate``: modes, exit codes, reports, file discovery, never corrupting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rlmigrate.cli import main
from codemods.files import SKIPPED_DIRS, decode_source, python_files, scan, walk

LEGACY = b"from ray.rllib.models.torch.misc import SlimFC\n\nlayer = SlimFC(2, 2)\n"
MIGRATED = b"from compat.legacy_torch_models import SlimFC\n\nlayer = SlimFC(2, 2)\n"
PLAIN = b"import os\n\nprint(os.sep)\n"
UNMAPPED = b"from ray.rllib.evaluation.postprocessing import compute_advantages\n\ncompute_advantages(None)\n"


@pytest.fixture()
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "model.py").write_bytes(LEGACY)
    (root / "pkg" / "plain.py").write_bytes(PLAIN)
    (root / "pkg" / "todo.py").write_bytes(UNMAPPED)
    (root / "README.md").write_bytes(b"# readme\r\n")
    (root / "data.bin").write_bytes(bytes(range(256)))
    return root


def run(*args):
    return main(["migrate", *map(str, args)])


def test_default_prints_a_diff_and_writes_nothing(repo, capsys):
    assert run(repo) == 0
    out = capsys.readouterr()
    assert "-from ray.rllib.models.torch.misc import SlimFC" in out.out
    assert "+from compat.legacy_torch_models import SlimFC" in out.out
    assert (repo / "pkg" / "model.py").read_bytes() == LEGACY
    assert "3 files: 2 changed, 1 unchanged, 0 errors, 1 TODOs" in out.err


def test_write_rewrites_in_place_and_a_second_run_changes_nothing(repo, capsys):
    assert run(repo, "--write") == 0
    assert (repo / "pkg" / "model.py").read_bytes() == MIGRATED
    assert (repo / "pkg" / "plain.py").read_bytes() == PLAIN
    assert b"# TODO(rlmigrate): `compute_advantages`" in (repo / "pkg" / "todo.py").read_bytes()
    capsys.readouterr()
    assert run(repo, "--check") == 0
    assert "0 changed" in capsys.readouterr().err


def test_check_exits_1_when_something_would_change_and_touches_nothing(repo, capsys):
    assert run(repo, "--check") == 1
    err = capsys.readouterr().err
    assert f"would change: {repo / 'pkg' / 'model.py'}" in err
    assert (repo / "pkg" / "model.py").read_bytes() == LEGACY


def test_out_dir_mirrors_every_file_and_migrates_the_python_ones(repo, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(repo, "--out-dir", out) == 0
    assert (out / "pkg" / "model.py").read_bytes() == MIGRATED
    assert (out / "pkg" / "plain.py").read_bytes() == PLAIN
    assert (out / "README.md").read_bytes() == b"# readme\r\n"
    assert (out / "data.bin").read_bytes() == bytes(range(256))
    assert (repo / "pkg" / "model.py").read_bytes() == LEGACY
    assert capsys.readouterr().out == ""  # no diff unless --diff


def test_out_dir_inside_the_tree_is_not_migrated_twice(repo, capsys):
    out = repo / "migrated"
    assert run(repo, "--out-dir", out) == 0
    assert run(repo, "--out-dir", out) == 0
    assert not (out / "migrated").exists()
    assert (out / "pkg" / "model.py").read_bytes() == MIGRATED


def test_reports_in_json_and_markdown(repo, tmp_path, capsys):
    assert run(repo, "--check", "--report", tmp_path / "r.json") == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["changed"] == 2 and report["summary"]["rules"]["imports"] == 2
    todo_file = next(f for f in report["files"] if f["path"].endswith("todo.py"))
    assert todo_file["todos"][0]["line"] == 1
    assert todo_file["todos"][0]["anchor"] == "imports-without-an-equivalent"
    assert run(repo, "--report", tmp_path / "r.md") == 0
    text = (tmp_path / "r.md").read_text()
    assert "| `imports` | 2 |" in text and "MIGRATION.md#imports-without-an-equivalent" in text


def test_select_skip_and_list_rules(repo, capsys):
    assert run("--list-rules") == 0
    assert "imports" in capsys.readouterr().out
    assert run(repo, "--check", "--skip", "imports") == 0
    assert run(repo, "--check", "--select", "imports") == 1
    assert run(repo, "--select", "no_such_rule") == 2
    assert "unknown rule(s) no_such_rule" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,message",
    [
        ((), "give at least one PATH"),
        (("missing_dir",), "no such file or directory: missing_dir"),
        (("{repo}", "--report", "r.txt"), "must end in .json or .md"),
        (("{repo}", "-j", "0"), "-j/--jobs must be >= 1"),
    ],
)
def test_usage_errors_exit_2(repo, capsys, args, message):
    assert run(*[a.format(repo=repo) for a in args]) == 2
    assert message in capsys.readouterr().err


def test_write_and_check_are_exclusive(repo):
    with pytest.raises(SystemExit) as exc:
        run(repo, "--write", "--check")
    assert exc.value.code == 2


def test_bad_files_are_listed_left_untouched_and_do_not_stop_the_run(repo, capsys):
    (repo / "pkg" / "broken.py").write_bytes(b"from ray.rllib.models import ModelCatalog\ndef f(:\n")
    (repo / "pkg" / "latin.py").write_bytes(b"# \xe9\nfrom ray.rllib.models import ModelCatalog\n")
    assert run(repo, "--write") == 1
    err = capsys.readouterr().err
    assert "broken.py: cannot parse" in err and "latin.py: cannot decode" in err
    assert (repo / "pkg" / "broken.py").read_bytes().endswith(b"def f(:\n")
    assert (repo / "pkg" / "model.py").read_bytes() == MIGRATED


def test_parallel_workers_give_the_same_result(repo, tmp_path, capsys):
    for i in range(12):
        (repo / "pkg" / f"copy_{i}.py").write_bytes(LEGACY)
    assert run(repo, "--out-dir", tmp_path / "one") == 0
    assert run(repo, "--out-dir", tmp_path / "two", "-j", "2") == 0
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert one == two and one[Path("pkg/copy_3.py")] == MIGRATED


def test_walk_respects_gitignore_and_skips_venvs_build_and_tool_dirs(tmp_path):
    root = tmp_path / "r"
    for rel in ["a.py", "gen/x.py", "keep/gen.py", "build/b.py", ".hidden/h.py", "env/c.py", "sub/d.log", "sub/keep.log",
                "sub/e.py", ".tox/t.py", ".mypy_cache/m.py", ".venv/v.py", ".ipynb_checkpoints/a-checkpoint.py"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x = 1\n")
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / ".gitignore").write_text("# generated\n/gen/\n*.log\n!keep.log\n")
    (root / "sub" / ".gitignore").write_text("e.py\n")
    assert python_files(root) == [".hidden/h.py", "a.py", "keep/gen.py"]
    assert sorted(walk(root)) == [".gitignore", ".hidden/h.py", "a.py", "keep/gen.py", "sub/.gitignore", "sub/keep.log"]
    everything = sorted(walk(root, everything=True))
    assert "build/b.py" in everything and ".tox/t.py" in everything and "env/c.py" not in everything


def test_hidden_user_directories_are_walked_and_tool_directories_are_not(tmp_path):
    root = tmp_path / "r"
    user = [".deprecated_scripts/a.py", ".deprecated_scripts/deep/.old/b.py", ".github/scripts/c.py",
            "pkg/.experimental/d.py"]
    for rel in user + [f"{name}/x.py" for name in SKIPPED_DIRS] + [".myenv/x.py", "pkg/.git/x.py"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(LEGACY)
    (root / ".myenv" / "pyvenv.cfg").write_text("home = /usr\n")  # a venv under any name
    assert python_files(root) == sorted(user)
    assert {".cache", ".git", ".idea", ".ipynb_checkpoints", ".mypy_cache", ".tox", ".venv", ".vscode"} <= SKIPPED_DIRS
    assert run(root, "--write", "--no-progress") == 0
    assert all((root / rel).read_bytes() == MIGRATED for rel in user)
    assert (root / ".tox" / "x.py").read_bytes() == LEGACY


GIT_ENV = {"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_LITERAL_PATHSPECS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _git(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, check=True, env=GIT_ENV, capture_output=True).stdout


def _git_walk(root: Path) -> set:
    """What git lists as tracked or untracked-and-not-ignored: what the walk must keep."""
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return {os.fsdecode(name) for name in out.split(b"\0") if name}


TRACKED_IGNORED = ["issues/iss81/model.py", "gen/deep/tracked.py", "x.gen.py", ".hidden/logs/tracked.py"]
UNTRACKED_IGNORED = ["issues/iss81/scratch.py", "gen/untracked.py", "gen/deep/untracked.py", "y.gen.py",
                     "other/ignored.py", ".hidden/logs/untracked.py"]


@pytest.fixture()
def ignored_repo(tmp_path):
    """A git repository whose ``.gitignore`` ignores files some of which are tracked (``git add -f``)."""
    root = tmp_path / "ignored"
    for rel in TRACKED_IGNORED + UNTRACKED_IGNORED + ["pkg/model.py", ".hidden/h.py"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(LEGACY)
    (root / ".gitignore").write_text("issues/iss81/*\ngen/\n*.gen.py\n/other/\n")
    (root / ".hidden" / ".gitignore").write_text("logs\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "add", "-f", *TRACKED_IGNORED)
    return root


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_tracked_files_are_walked_even_where_gitignore_ignores_them(ignored_repo):
    walked = set(walk(ignored_repo))
    assert walked == _git_walk(ignored_repo)
    assert set(TRACKED_IGNORED) <= walked and not set(UNTRACKED_IGNORED) & walked
    _git(ignored_repo, "commit", "-qm", "init")  # the index after a commit (with a tree cache) reads the same
    assert set(walk(ignored_repo)) == walked
    # a walk from inside the repository, and through a nested repository of its own
    assert python_files(ignored_repo / ".hidden") == ["h.py", "logs/tracked.py"]  # its own .gitignore ignores logs
    nested = ignored_repo / "pkg" / "vendored"
    (nested / "gen").mkdir(parents=True)
    (nested / "gen" / "tracked.py").write_bytes(LEGACY)
    (nested / "gen" / "untracked.py").write_bytes(LEGACY)
    _git(nested, "init", "-q")
    _git(nested, "add", "-f", "gen/tracked.py")
    assert "pkg/vendored/gen/tracked.py" in python_files(ignored_repo)
    assert "pkg/vendored/gen/untracked.py" not in python_files(ignored_repo)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_without_a_readable_index_ignored_files_stay_skipped(ignored_repo, tmp_path, capsys):
    plain = tmp_path / "plain"
    shutil.copytree(ignored_repo, plain, ignore=shutil.ignore_patterns(".git"))
    assert not set(TRACKED_IGNORED) & set(walk(plain))  # no .git: .gitignore alone decides, as before
    (ignored_repo / ".git" / "index").write_bytes(b"DIRC\0\0\0\x09\0\0\0\0")  # a version this reader does not know
    tree = scan(ignored_repo)
    assert not set(TRACKED_IGNORED) & set(tree.files) and "pkg/model.py" in tree.files
    assert len(tree.notes) == 1 and "cannot read the git index" in tree.notes[0]
    assert run(ignored_repo, "--check", "--no-progress") == 1
    assert f"note: cannot read the git index of {ignored_repo} (not a git index" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_migrating_tracked_ignored_files_runs_no_git_command(ignored_repo, tmp_path, monkeypatch, capsys):
    marker = tmp_path / "marker"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    with open(ignored_repo / ".git" / "config", "a") as config:
        config.write(f"[core]\n\tfsmonitor = {script}\n\thooksPath = {tmp_path}\n")
    for hook in ("post-index-change", "fsmonitor-watchman", "reference-transaction"):
        shutil.copy(script, tmp_path / hook)

    def refuse(*args, **kwargs):
        raise AssertionError(f"a command ran: {args}")

    with monkeypatch.context() as patched:
        for name in ("Popen", "run", "call", "check_call", "check_output"):
            patched.setattr(subprocess, name, refuse)
        for name in ("system", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp", "execvpe"):
            patched.setattr(os, name, refuse)
        files = python_files(ignored_repo)
    assert set(TRACKED_IGNORED) <= set(files)
    assert run(ignored_repo, "--write", "--no-progress") == 0
    assert not marker.exists()
    for rel in TRACKED_IGNORED + ["pkg/model.py", ".hidden/h.py"]:
        assert (ignored_repo / rel).read_bytes() == MIGRATED, rel
    for rel in UNTRACKED_IGNORED:
        assert (ignored_repo / rel).read_bytes() == LEGACY, rel


def test_warns_before_write_when_a_file_to_rewrite_has_uncommitted_changes(repo, capsys):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True, env=env)
    (repo / "pkg" / "plain.py").write_bytes(PLAIN + b"# edited, but not rewritten\n")
    assert run(repo, "--write") == 0
    assert "has uncommitted changes" not in capsys.readouterr().err
    (repo / "pkg" / "model.py").write_bytes(LEGACY + b"# edited\n")
    assert run(repo, "--write") == 0
    assert f"{repo / 'pkg' / 'model.py'} has uncommitted changes" in capsys.readouterr().err


def test_decoding_keeps_bom_cookie_and_line_endings():
    data = b"\xef\xbb\xbfx = 1\r\n"
    source = decode_source(data)
    assert source.bom and source.text == "x = 1\r\n" and source.encode(source.text) == data
    latin = b"# -*- coding: latin-1 -*-\n# \xe9\n"
    source = decode_source(latin)
    assert source.encoding == "iso-8859-1" and source.encode(source.text) == latin


def test_write_is_atomic_when_the_write_fails(repo, monkeypatch, capsys):
    import codemods.files as files

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError):
        files.write_atomic(repo / "pkg" / "model.py", MIGRATED)
    assert (repo / "pkg" / "model.py").read_bytes() == LEGACY
    assert sorted(p.name for p in (repo / "pkg").iterdir()) == ["model.py", "plain.py", "todo.py"]


def test_report_repeats_to_write_both_formats_in_one_run(repo, tmp_path, capsys):
    assert run(repo, "--check", "--report", tmp_path / "r.json", "--report", tmp_path / "r.md") == 1
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["changed"] == 2
    assert "| `imports` | 2 |" in (tmp_path / "r.md").read_text()
    assert run(repo, "--report", tmp_path / "ok.md", "--report", tmp_path / "r.txt") == 2
    assert not (tmp_path / "ok.md").exists()  # a bad name is refused before anything runs


RLLIB_CONFIG = (
    b"from ray.rllib.algorithms.ppo import PPOConfig\n\n"
    b"config = PPOConfig().rollouts(num_rollout_workers=2).training(num_sgd_iter=3)\n"
)


def test_target_rllib_writes_rllib_260_configs_and_the_default_target_is_ours(tmp_path, capsys):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "train.py").write_bytes(RLLIB_CONFIG)
    assert run("--target", "rllib", "--out-dir", str(tmp_path / "rllib"), str(tree)) == 0
    assert (tmp_path / "rllib" / "train.py").read_bytes() == (
        b"from ray.rllib.algorithms.ppo import PPOConfig\n\n"
        b"config = PPOConfig().env_runners(num_env_runners=2).training(num_epochs=3)\n"
    )
    assert run("--out-dir", str(tmp_path / "ours"), str(tree)) == 0
    assert b"from rlmodule.algorithms.ppo import PPOConfig" in (tmp_path / "ours" / "train.py").read_bytes()


def test_target_rllib_runs_in_worker_processes_too(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    for index in range(3):
        (tree / f"train{index}.py").write_bytes(RLLIB_CONFIG)
    assert run("--target", "rllib", "-j", "2", "--check", str(tree)) == 1
    assert run("--target", "rllib", "-j", "2", "--write", str(tree)) == 0
    assert all(b".env_runners(num_env_runners=2)" in p.read_bytes() for p in tree.glob("*.py"))


def test_an_unknown_target_is_a_usage_error(repo, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run("--target", "tf", str(repo))
    assert exit_info.value.code == 2 and "--target" in capsys.readouterr().err
