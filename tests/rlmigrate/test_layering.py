"""The command line is the layer above the libraries (design.md, "Layering").

``codemods`` (text -> text) imports only the standard library and libcst; the module of
``rlmigrate migrate`` runs on ``codemods`` alone; the modules of ``rlmigrate parity`` and
``rlmigrate demo`` load ``compat``, torch and ray when they run, not when imported (so
``rlmigrate --help`` and ``rlmigrate migrate`` stay light). Each module is imported in a
fresh interpreter and the top-level packages it added to ``sys.modules`` are read back;
``codemods`` is also read statically, imports inside functions included.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import FrozenSet, Set

import pytest

import codemods

ROOT = Path(__file__).resolve().parents[2]
SUB_COMMANDS = {"migrate": "rlmigrate.migrate", "parity": "rlmigrate.parity", "demo": "rlmigrate.demo"}
FRAMEWORKS_AND_LIBRARIES = ("torch", "tensorflow", "ray", "compat", "rlmodule")
# What libcst itself loads from outside the standard library (none with libcst 1.x here);
# multiprocessing aliases the main module as __mp_main__.
LIBCST_DEPENDENCIES: FrozenSet[str] = frozenset()
STDLIB = frozenset(sys.stdlib_module_names) | {"__mp_main__"}
CODEMODS_MAY_LOAD = STDLIB | {"codemods", "libcst"} | LIBCST_DEPENDENCIES
CODEMODS_MODULES = sorted(m.name for m in pkgutil.walk_packages(codemods.__path__, "codemods."))


def loaded_by(module: str) -> Set[str]:
    """Top-level names of the modules ``import module`` adds to a fresh interpreter."""
    code = (
        "import importlib, json, sys; before = set(sys.modules); importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {name.split(".")[0] for name in json.loads(done.stdout)}


def test_the_walk_finds_the_rules_and_the_command_line_is_not_in_codemods():
    assert "codemods.rules.models" in CODEMODS_MODULES and "codemods.migrate" in CODEMODS_MODULES
    assert not [m for m in CODEMODS_MODULES if m.endswith(("cli", "_cli"))]


@pytest.mark.parametrize("module", ["codemods", *CODEMODS_MODULES])
def test_codemods_loads_only_the_standard_library_and_libcst(module):
    assert sorted(loaded_by(module) - CODEMODS_MAY_LOAD) == []


@pytest.mark.parametrize("module", [SUB_COMMANDS["migrate"], "rlmigrate.cli"])
def test_rlmigrate_migrate_and_the_parser_run_on_codemods_alone(module):
    loaded = loaded_by(module)
    assert not [name for name in FRAMEWORKS_AND_LIBRARIES if name in loaded]
    assert sorted(loaded - CODEMODS_MAY_LOAD - {"rlmigrate"}) == []


@pytest.mark.parametrize("command", ["parity", "demo"])
def test_parity_and_demo_load_compat_torch_and_ray_only_when_they_run(command):
    assert sorted(loaded_by(SUB_COMMANDS[command]) - STDLIB) == ["rlmigrate"]


def _imported_names(path: Path) -> Set[str]:
    """Top-level names of every absolute import in the file, inside functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "codemods").rglob("*.py")) + ["rlmigrate/migrate.py"]
)
def test_no_import_in_codemods_or_rlmigrate_migrate_names_anything_else_even_when_it_runs(path):
    assert sorted(_imported_names(ROOT / path) - STDLIB - {"codemods", "libcst"}) == []
