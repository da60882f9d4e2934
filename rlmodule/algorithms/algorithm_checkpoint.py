"""Algorithm checkpoints without pickle: JSON for structure and scalars, safetensors
for arrays, the module in its own checkpoint format.

Layout of a checkpoint directory::

    algorithm_state.json      class, config, counters, learner/runner/RNG scalars
    algorithm_state.safetensors   every array of that state (optimizer moments, RNG
                                  keys, env runner observations, ...)
    module/                   ``RLModule.save_to_checkpoint`` of the trained module

A state tree is nested dicts/lists of JSON scalars and numpy arrays; ``split_arrays``
replaces each array by ``{"__array__": key}`` and collects it, ``join_arrays`` undoes it.
The whole directory is written to a staging sibling and swapped into place
(:mod:`rlmodule.checkpoint_dir`: never over a directory that is not an algorithm
checkpoint; a save killed between its renames is recovered by the next load or save).
Loading resolves every class or function the config names with
:func:`rlmodule.class_path.resolve_trusted` before anything calls it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Sequence, Tuple, Union

import gymnasium as gym
import numpy as np
from safetensors.numpy import load_file, save_file

from rlmodule.checkpoint_dir import Layout, recover_if_missing, save_dir
from rlmodule.class_path import TRUSTED_PACKAGES, Expect, UntrustedPathError, class_to_path, in_packages, resolve_trusted
from rlmodule.rl_module import MultiAgentRLModuleSpec, RLModule, SingleAgentRLModuleSpec

STATE_FILE = "algorithm_state.json"
ARRAYS_FILE = "algorithm_state.safetensors"
MODULE_DIR = "module"
FORMAT_VERSION = 1
ALGORITHM_LAYOUT = Layout("an algorithm checkpoint", STATE_FILE, frozenset({STATE_FILE, ARRAYS_FILE, MODULE_DIR}))

PathLike = Union[str, os.PathLike]


class AlgorithmCheckpointError(ValueError):
    """A checkpoint that cannot be written or read; the message names file and field."""


def split_arrays(tree: Any, prefix: str = "") -> Tuple[Any, Dict[str, np.ndarray]]:
    """``(json_tree, {key: array})``: every numpy array (and numpy scalar) of ``tree``
    moved out under its path; raises naming the path of anything not JSON-able."""
    arrays: Dict[str, np.ndarray] = {}

    def visit(node: Any, path: str) -> Any:
        if isinstance(node, np.ndarray) or isinstance(node, np.generic):
            array = np.ascontiguousarray(node)
            if array.dtype == object:
                raise AlgorithmCheckpointError(f"state {path!r}: object arrays cannot be saved without pickle")
            arrays[path] = array
            return {"__array__": path}
        if isinstance(node, Mapping):
            for key in node:
                if not isinstance(key, str):
                    raise AlgorithmCheckpointError(f"state {path!r}: key {key!r} is not a string")
            return {key: visit(value, f"{path}/{key}") for key, value in node.items()}
        if isinstance(node, (list, tuple)):
            return [visit(value, f"{path}/{i}") for i, value in enumerate(node)]
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise AlgorithmCheckpointError(
            f"state {path!r}: a {type(node).__name__} cannot be saved without pickle"
        )

    return visit(tree, prefix), arrays


def join_arrays(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The inverse of :func:`split_arrays`."""
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            key = tree["__array__"]
            if key not in arrays:
                raise AlgorithmCheckpointError(f"{ARRAYS_FILE}: array {key!r} is missing")
            return arrays[key]
        return {key: join_arrays(value, arrays) for key, value in tree.items()}
    if isinstance(tree, list):
        return [join_arrays(value, arrays) for value in tree]
    return tree


# --- config <-> JSON ------------------------------------------------------------------------
def config_to_json(settings: Mapping[str, Any]) -> Dict[str, Any]:
    """``AlgorithmConfig.to_dict()`` as JSON: classes and module-level functions as
    ``{"__object__": "pkg.mod:Name"}``, module specs as their ``to_dict()``; a value
    that cannot be re-imported (a lambda, a local class) becomes ``{"__unsaved__": repr}``
    so that loading the checkpoint can name it."""

    def encode(value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, Mapping):
            return {str(k): encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if hasattr(value, "to_dict") and type(value).__name__.endswith("RLModuleSpec"):
            return {"__spec__": class_to_path(type(value)), "value": value.to_dict()}
        if isinstance(value, type) or callable(value):
            qualname = getattr(value, "__qualname__", "")
            module = getattr(value, "__module__", None)
            if module and qualname and "<" not in qualname:
                return {"__object__": f"{module}:{qualname}"}
        return {"__unsaved__": repr(value)}

    return {key: encode(value) for key, value in settings.items()}


def _env_expect() -> Expect:
    """An env: a gymnasium.Env (or PettingZoo ParallelEnv, if loaded) subclass, or a
    class or env-creator function defined in a trusted module."""
    bases: Tuple[type, ...] = (gym.Env,)
    pettingzoo = sys.modules.get("pettingzoo.utils.env")
    if pettingzoo is not None:
        bases += (pettingzoo.ParallelEnv,)
    return Expect(
        "a gymnasium.Env subclass, or an env class or env-creator function defined in a trusted module",
        bases, functions=True, trusted_classes=True, packages=("gymnasium",),
    )


def _expect_for(key: str) -> Expect:
    if key == "env":
        return _env_expect()
    if key == "policy_mapping_fn":
        return Expect("a function defined in a trusted module", functions=True)
    if key == "learner_class":
        from rlmodule.learners.learner import Learner

        return Expect("a Learner subclass", (Learner,))
    if key == "callbacks":
        from rlmodule.callbacks import RLlibCallback

        return Expect("an rlmodule.callbacks.RLlibCallback subclass", (RLlibCallback,))
    from rlmodule.catalog import Catalog

    return Expect("an RLModule or Catalog subclass", (RLModule, Catalog))


_SPEC_CLASS = Expect("an RLModule spec class", (SingleAgentRLModuleSpec, MultiAgentRLModuleSpec))


def _check_env_id(env_id: str, where: str, trusted_modules: Sequence[str]) -> None:
    """``gym.make("pkg.mod:Env-v0")`` imports ``pkg.mod``: allowed only if trusted or
    already imported."""
    module_name = env_id.split(":")[0] if ":" in env_id else ""
    importable = TRUSTED_PACKAGES + ("gymnasium",) + tuple(trusted_modules)
    if module_name and not in_packages(module_name, importable) and module_name not in sys.modules:
        raise AlgorithmCheckpointError(
            f"{where}: config['env'] = {env_id!r} would import module {module_name!r}, which is neither "
            f"trusted nor imported; if you trust this checkpoint, pass trusted_modules=[{module_name.split('.')[0]!r}]"
        )


def _spec_from_json(value: Mapping[str, Any], where: str, trusted_modules: Sequence[str]) -> Any:
    """A module spec of the config; ``load_state_path`` entries are dropped (the
    checkpoint's weights replace what they would load, and they point outside it)."""
    spec = resolve_trusted(value["__spec__"], _SPEC_CLASS, where, trusted_modules).from_dict(
        value["value"], trusted_modules=trusted_modules, where=where
    )
    spec.load_state_path = None
    if isinstance(spec, MultiAgentRLModuleSpec) and isinstance(spec.module_specs, dict):
        for sub in spec.module_specs.values():
            sub.load_state_path = None
    elif isinstance(spec, MultiAgentRLModuleSpec):
        spec.module_specs.load_state_path = None
    return spec


def config_from_json(data: Mapping[str, Any], where: str, trusted_modules: Sequence[str] = ()) -> Dict[str, Any]:
    """The settings dict back from :func:`config_to_json`; raises naming an unsaved or
    untrusted one. Classes and functions are checked by
    :func:`rlmodule.class_path.resolve_trusted` (``env``: an env class or creator;
    ``policy_mapping_fn``: a function from a trusted module; ``learner_class``: a
    Learner subclass; ``callbacks``: RLlibCallback subclasses; others: RLModule or
    Catalog subclasses)."""

    def decode(value: Any, key: str) -> Any:
        field = f"{where}: config[{key!r}]"
        if isinstance(value, dict):
            try:
                if "__object__" in value:
                    return resolve_trusted(value["__object__"], _expect_for(key), field, trusted_modules)
                if "__spec__" in value:
                    return _spec_from_json(value, field, trusted_modules)
            except UntrustedPathError as exc:
                raise AlgorithmCheckpointError(str(exc)) from None
            if "__unsaved__" in value:
                raise AlgorithmCheckpointError(
                    f"{field} was {value['__unsaved__']}, which cannot be re-imported "
                    "(a lambda or a local function/class); pass the config yourself: "
                    "Algorithm.from_checkpoint(path, config=...)"
                )
            return {k: decode(v, key) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v, key) for v in value]
        if key == "env" and isinstance(value, str):
            _check_env_id(value, where, trusted_modules)
        return value

    return {key: decode(value, key) for key, value in data.items()}


# --- whole checkpoints ------------------------------------------------------------------------
def write_checkpoint(
    directory: PathLike, state: Mapping[str, Any], save_module: Callable[[str], Any]
) -> str:
    """Write ``state`` (a state tree) and the module (``save_module(module_dir)``) into
    ``directory``: a failure leaves any previous checkpoint there intact, and a
    directory that is not an algorithm checkpoint is refused."""
    tree, arrays = split_arrays(dict(state, format_version=FORMAT_VERSION))

    def write(staging: Path) -> None:
        (staging / STATE_FILE).write_text(json.dumps(tree, indent=1, allow_nan=True))
        save_file(arrays, str(staging / ARRAYS_FILE))
        save_module(str(staging / MODULE_DIR))

    return save_dir(directory, write, ALGORITHM_LAYOUT)


def _file_inside(directory: Path, name: str) -> Path:
    """``directory / name``, refused if a symlink leads it outside ``directory``."""
    path = directory / name
    root = directory.resolve()
    if path.exists() and root not in path.resolve().parents:
        raise AlgorithmCheckpointError(
            f"{path}: leads outside the checkpoint directory {root} (to {path.resolve()}); refused"
        )
    return path


def read_checkpoint(directory: PathLike) -> Dict[str, Any]:
    """The state tree of a checkpoint written by :func:`write_checkpoint` (put back
    first if a save was killed between its renames)."""
    recover_if_missing(directory, ALGORITHM_LAYOUT)
    path = Path(directory)
    state_file = _file_inside(path, STATE_FILE)
    if not state_file.is_file():
        raise AlgorithmCheckpointError(f"{path}: not an algorithm checkpoint (no {STATE_FILE})")
    try:
        tree = json.loads(state_file.read_text())
    except json.JSONDecodeError as exc:
        raise AlgorithmCheckpointError(f"{state_file}: invalid JSON: {exc}") from None
    version = tree.get("format_version")
    if version != FORMAT_VERSION:
        raise AlgorithmCheckpointError(f"{state_file}: format_version {version!r}, expected {FORMAT_VERSION}")
    arrays_file = _file_inside(path, ARRAYS_FILE)
    arrays = load_file(str(arrays_file)) if arrays_file.is_file() else {}
    return join_arrays(tree, arrays)


def module_dir(directory: PathLike) -> str:
    """The checkpoint's module directory, refused if a symlink leads it outside."""
    return str(_file_inside(Path(directory), MODULE_DIR))


def algorithm_class_path(algorithm: Any) -> str:
    return class_to_path(type(algorithm))


def algorithm_class(path: str, where: str, base: type, trusted_modules: Sequence[str] = ()) -> type:
    """The recorded algorithm class, which must subclass ``base``."""
    try:
        return resolve_trusted(path, Expect(f"a {base.__name__} subclass", (base,)), f"{where}: algorithm_class", trusted_modules)
    except UntrustedPathError as exc:
        raise AlgorithmCheckpointError(str(exc)) from None
