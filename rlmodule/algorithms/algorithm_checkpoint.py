"""Algorithm checkpoints without pickle: JSON for structure and scalars, safetensors
for arrays, the module in its own checkpoint format.

Layout of a checkpoint directory::

    algorithm_state.json      class, config, counters, learner/runner/RNG scalars
    algorithm_state.safetensors   every array of that state (optimizer moments, RNG
                                  keys, env runner observations, ...)
    module/                   ``RLModule.save_to_checkpoint`` of the trained module

A state tree is nested dicts/lists of JSON scalars and numpy arrays; ``split_arrays``
replaces each array by ``{"__array__": key}`` and collects it, ``join_arrays`` undoes it.
The whole directory is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Tuple, Union

import numpy as np
from safetensors.numpy import load_file, save_file

from rlmodule.class_path import class_from_path, class_to_path, object_from_path

STATE_FILE = "algorithm_state.json"
ARRAYS_FILE = "algorithm_state.safetensors"
MODULE_DIR = "module"
FORMAT_VERSION = 1

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


def config_from_json(data: Mapping[str, Any], where: str) -> Dict[str, Any]:
    """The settings dict back from :func:`config_to_json`; raises naming an unsaved one."""

    def decode(value: Any, key: str) -> Any:
        if isinstance(value, dict):
            if "__object__" in value:
                try:
                    return object_from_path(value["__object__"], f"{where}: config[{key!r}]")
                except ValueError as exc:
                    raise AlgorithmCheckpointError(str(exc)) from None
            if "__spec__" in value:
                return class_from_path(value["__spec__"], f"{where}: config[{key!r}]").from_dict(value["value"])
            if "__unsaved__" in value:
                raise AlgorithmCheckpointError(
                    f"{where}: config[{key!r}] was {value['__unsaved__']}, which cannot be re-imported "
                    "(a lambda or a local function/class); pass the config yourself: "
                    "Algorithm.from_checkpoint(path, config=...)"
                )
            return {k: decode(v, key) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v, key) for v in value]
        return value

    return {key: decode(value, key) for key, value in data.items()}


# --- whole checkpoints ------------------------------------------------------------------------
def write_checkpoint(
    directory: PathLike, state: Mapping[str, Any], save_module: Callable[[str], Any]
) -> str:
    """Write ``state`` (a state tree) and the module (``save_module(module_dir)``) into
    ``directory`` atomically: a failure leaves any previous checkpoint there intact."""
    target = Path(directory).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tree, arrays = split_arrays(dict(state, format_version=FORMAT_VERSION))
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / STATE_FILE).write_text(json.dumps(tree, indent=1, allow_nan=True))
        save_file(arrays, str(staging / ARRAYS_FILE))
        save_module(str(staging / MODULE_DIR))
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(target)


def read_checkpoint(directory: PathLike) -> Dict[str, Any]:
    """The state tree of a checkpoint written by :func:`write_checkpoint`."""
    path = Path(directory)
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise AlgorithmCheckpointError(f"{path}: not an algorithm checkpoint (no {STATE_FILE})")
    try:
        tree = json.loads(state_file.read_text())
    except json.JSONDecodeError as exc:
        raise AlgorithmCheckpointError(f"{state_file}: invalid JSON: {exc}") from None
    version = tree.get("format_version")
    if version != FORMAT_VERSION:
        raise AlgorithmCheckpointError(f"{state_file}: format_version {version!r}, expected {FORMAT_VERSION}")
    arrays = load_file(str(path / ARRAYS_FILE)) if (path / ARRAYS_FILE).is_file() else {}
    return join_arrays(tree, arrays)


def algorithm_class_path(algorithm: Any) -> str:
    return class_to_path(type(algorithm))


def algorithm_class(path: str, where: str) -> type:
    return class_from_path(path, f"{where}: algorithm class")
