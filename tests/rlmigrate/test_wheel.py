"""``rlmigrate`` installed from a wheel, away from the source tree: the demo's project and
weights are package data, so ``rlmigrate demo`` runs from the installed package.

Offline: the wheel is built from a copy of this tree with this environment's setuptools
(``--no-build-isolation``) and installed into a fresh virtual environment with
``--no-deps --no-index``. The dependencies (torch, libcst, ray, ...) come from the
site-packages directories of this interpreter, named by ``.pth`` lines in the fresh
environment: a directory added by a ``.pth`` line does not have its own ``.pth`` files
read, so this environment's editable install of the source tree stays out (checked below).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Sequence, Tuple

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rlmodule", "compat", "codemods", "rlmigrate")
GOLDEN = ROOT / "fixtures" / "migrated" / "demo_project"  # the codemod's expected output for the demo project


def run(command: Sequence[object], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command`` in ``cwd`` with no PYTHONPATH; fails the test on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Tuple[Path, Path]:
    """``(bin directory of the fresh environment, a working directory outside the repository)``."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist", source], tmp)
    (wheel,) = (tmp / "dist").glob("*.whl")

    env = tmp / "venv"
    venv.create(env, with_pip=False, symlinks=True)
    python = env / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--no-warn-script-location", wheel], tmp)
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).stdout.strip()
    dependencies = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]  # not the source tree
    (Path(purelib) / "dependencies.pth").write_text("".join(f"{p}\n" for p in dependencies))
    work = tmp / "work"
    work.mkdir()
    return env / "bin", work


def test_every_package_is_the_installed_one_and_the_source_tree_is_not_reachable(installed):
    bin_dir, work = installed
    code = (
        "import json, sys, rlmigrate, codemods, compat, rlmodule;"
        "print(json.dumps({'files': [m.__file__ for m in (rlmigrate, codemods, compat, rlmodule)], "
        "'path': sys.path, 'editable': [m for m in sys.modules if 'editable' in m]}))"
    )
    seen = json.loads(run([bin_dir / "python", "-c", code], work).stdout)
    environment = bin_dir.parent.resolve()
    for file in seen["files"]:
        assert Path(file).resolve().is_relative_to(environment), file
    assert seen["editable"] == []
    assert not [p for p in seen["path"] if p and Path(p).resolve() == ROOT]


def test_demo_help_from_the_wheel(installed):
    bin_dir, work = installed
    printed = run([bin_dir / "rlmigrate", "demo", "--help"], work).stdout
    for text in ("1. migrate", "2. port", "3. parity", "4. train", "--until", "--out"):
        assert text in printed
    assert "migrate" in run([bin_dir / "python", "-m", "rlmigrate", "--help"], work).stdout


def test_the_demo_migrate_step_from_the_wheel_reads_the_installed_project(installed):
    bin_dir, work = installed
    done = run([bin_dir / "rlmigrate", "demo", "--until", "migrate", "--out", "demo_out"], work)
    assert "+class PoleModel(TorchRLModule):" in done.stdout
    assert "Steps up to migrate (1 of 4) passed" in done.stdout
    out = work / "demo_out"
    report = json.loads((out / "demo_report.json").read_text())
    migration = report["steps"]["migrate"]
    assert migration["migration"]["changed"] == 3 and migration["migration"]["errors"] == 0
    assert len(migration["todos"]) == 6 and migration["todos_left"] == 0
    expected = sorted(GOLDEN.rglob("*.py"))
    assert expected
    for path in expected:
        assert (out / "migrated_project" / path.relative_to(GOLDEN)).read_bytes() == path.read_bytes()
    assert "+class BoltzmannPoleModel(PoleModel):" in (out / "todo_completion.diff").read_text()
    # pip byte-compiled the installed project; the demo copies its sources only
    assert not list(out.rglob("__pycache__"))
