"""Every name the golden migrated fixtures import from our packages exists: a text-only
golden comparison would not notice an import the codemod writes that cannot run."""

import ast
import importlib
from pathlib import Path
from typing import List, Tuple

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OURS = ("rlmodule", "compat")


def _our_imports() -> List[Tuple[str, str, str]]:
    """``(fixture, module, name)`` for each ``from <ours> import name`` in a migrated fixture."""
    found = set()
    for folder in ("migrated", "migrated_rllib"):
        for path in sorted((FIXTURES / folder).rglob("*.py")):
            try:
                tree = ast.parse(path.read_bytes())
            except SyntaxError:  # the fixtures of files the codemod must leave alone
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OURS:
                    for alias in node.names:
                        found.add((str(path.relative_to(FIXTURES)), node.module, alias.name))
    return sorted(found)


IMPORTS = _our_imports()


def test_the_fixtures_import_from_our_packages():
    assert len({module for _, module, _ in IMPORTS}) > 10


@pytest.mark.parametrize("fixture,module,name", IMPORTS, ids=[f"{f}:{m}.{n}" for f, m, n in IMPORTS])
def test_migrated_fixture_import_resolves(fixture, module, name):
    mod = importlib.import_module(module)
    assert name == "*" or hasattr(mod, name), f"{fixture}: from {module} import {name}: no such name"


@pytest.mark.legacy
@pytest.mark.parametrize("algo", ["ppo", "impala", "appo", "bc"])
def test_our_algorithm_packages_have_rllibs_algorithm_and_config_names(algo):
    """The import map sends ``ray.rllib.algorithms.<algo>`` to ours: every algorithm and
    config name RLlib 2.60 exports there exists in ours (its policies are the policies
    rule's)."""
    rllib = importlib.import_module(f"ray.rllib.algorithms.{algo}")
    ours = importlib.import_module(f"rlmodule.algorithms.{algo}")
    names = [n for n in rllib.__all__ if "Policy" not in n]
    assert names
    assert [n for n in names if not hasattr(ours, n)] == []
