"""How rlmodule is layered: no import cycles, frameworks only in their backend folders,
``import rlmodule`` framework-free, and both backends defining what rlmodule.backend lists.

The import graph is read from the source (ast), not from a running interpreter: every
``import rlmodule...`` / ``from rlmodule... import`` in a module, at module level or
inside a function or class, is an edge - an import deferred into a function still
runs, and hiding a cycle there only moves the failure to the first call. Two kinds of
import are left out, with their reason:

- imports under ``if TYPE_CHECKING:``, which never run;
- an import of a package that contains the importing module (``rlmodule``,
  ``rlmodule.env_runners`` from ``rlmodule.env_runners.env_runner_group``): Python
  imports a package before any module inside it, so such an import loads nothing, and
  the only cycles it closes are the package's ``__init__`` re-exporting its own
  modules. For the same reason a module's parent packages are not edges of their own.

Backends are reached through :func:`rlmodule.backend.backend`, which imports
``rlmodule.torch.backend`` / ``rlmodule.tf.backend`` by name: code that asks a backend
depends on the backend's *interface* (the names listed in ``rlmodule/backend.py``), not
on a module, and the backends sit above everything they use.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rlmodule"
FRAMEWORK_FOLDERS = {"torch": PACKAGE / "torch", "tf": PACKAGE / "tf"}
#: Top-level modules that are (or import) a framework: only the backend folders import them.
FRAMEWORK_IMPORTS = {"torch": "torch", "tensorflow": "tf", "keras": "tf", "h5py": "tf", "safetensors.torch": "torch"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: Dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.AST]:
    """Every Import / ImportFrom node, at any depth, outside ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterator[ast.AST]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    yield from _imports(node)


def _imported_names(module: str, path: Path) -> Iterator[Tuple[str, int]]:
    """``(dotted name, line)`` of everything ``module`` imports (absolute names)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
        for alias in node.names:
            yield f"{base}.{alias.name}", node.lineno  # a submodule, if it is one
            yield base, node.lineno


def import_graph() -> Dict[str, Dict[str, int]]:
    """``{module: {rlmodule module it imports: line}}``."""
    graph: Dict[str, Dict[str, int]] = {}
    for module, path in MODULES.items():
        edges: Dict[str, int] = {}
        for name, line in _imported_names(module, path):
            target = name if name in MODULES else None
            if target is None or target == module or module.startswith(target + "."):
                continue
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def _cycles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_module_and_function_level_imports():
    graph = import_graph()
    assert "rlmodule.checkpoint" in graph["rlmodule.rl_module"]  # module level: `from rlmodule import checkpoint`
    assert "rlmodule.learners" in graph["rlmodule.algorithms.ppo.ppo"]  # inside PPO.make_learner
    assert "rlmodule.torch.ppo_rl_module" in graph["rlmodule.torch.backend"]  # inside rl_module_class
    assert "rlmodule" not in graph["rlmodule.marl_module"]  # a package holding the module: no edge


def test_rlmodule_has_no_import_cycles():
    graph = import_graph()
    cycles = _cycles(graph)
    described = [
        "\n".join(
            f"  {v}:{graph[v][w]} imports {w}" for v in component for w in sorted(graph[v]) if w in component
        )
        for component in cycles
    ]
    assert not cycles, "import cycles in rlmodule:\n" + "\n\n".join(described)


def test_only_the_backend_folders_import_a_framework():
    """The convention in rlmodule/__init__.py: code that imports torch is in
    rlmodule/torch/, code that imports TensorFlow in rlmodule/tf/."""
    offenders = []
    for module, path in MODULES.items():
        for name, line in _imported_names(module, path):
            for framework, folder in FRAMEWORK_IMPORTS.items():
                if name == framework or name.startswith(framework + "."):
                    if FRAMEWORK_FOLDERS[folder] not in path.parents:
                        offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not offenders, "\n".join(sorted(set(offenders)))


def test_no_framework_prefixed_files_outside_the_backend_folders():
    prefixed = [
        str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
        if re.match(r"(torch|tf)_", p.name) and not any(folder in p.parents for folder in FRAMEWORK_FOLDERS.values())
    ]
    assert not prefixed, prefixed


_NO_FRAMEWORK = """
import sys
import rlmodule
{more}
loaded = sorted(m for m in ("torch", "tensorflow", "keras", "jax") if m in sys.modules)
print(",".join(loaded))
"""


@pytest.mark.parametrize(
    "more",
    [
        "",
        "import rlmodule.algorithms.ppo, rlmodule.algorithms.appo, rlmodule.algorithms.impala, rlmodule.algorithms.bc",
        "import rlmodule.learners, rlmodule.models, rlmodule.catalog, rlmodule.checkpoint, rlmodule.testing, "
        "rlmodule.distribution, rlmodule.backend, rlmodule.tree, rlmodule.marl_module, rlmodule.envs",
    ],
    ids=["rlmodule", "algorithms", "core"],
)
def test_importing_rlmodule_loads_no_framework(more):
    done = subprocess.run(
        [sys.executable, "-c", _NO_FRAMEWORK.format(more=more)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"loaded {done.stdout.strip()}"


def _listed_backend_names() -> List[str]:
    """The names rlmodule/backend.py's docstring lists: the ``name`` entries before
    each bullet's description."""
    import rlmodule.backend

    bullets = re.split(r"\n- ", rlmodule.backend.__doc__.split("\n\n")[2])
    names = []
    for bullet in bullets:
        head = bullet.lstrip("- ").split("``: ", 1)[0]
        names += re.findall(r"``(\w+)", head)
    return names


def test_the_backend_docstring_lists_names():
    names = _listed_backend_names()
    assert {"NAME", "to_tensor", "to_numpy", "DISTRIBUTIONS", "build_model", "LearnerBackend", "weight_leaves"} <= set(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("framework", ["torch", "tf2"])
def test_each_backend_defines_every_listed_name(framework):
    from rlmodule.backend import backend

    module = backend(framework)
    missing = [name for name in _listed_backend_names() if not hasattr(module, name)]
    assert not missing, f"{module.__name__} lacks {missing}"
    assert module.NAME == framework
