"""Module checkpoints, the format: a directory with JSON metadata and weights, never a pickle.

Layout of a single-agent checkpoint::

    <dir>/rl_module_metadata.json   format version, class path, spec, framework,
                                    package version, UTC time, tensor manifest
    <dir>/module_state.safetensors  (torch)  or  module_state.weights.h5 (tf, Keras 3)

A multi-agent checkpoint has the metadata file (with the multi-agent spec) and one
single-agent checkpoint directory per module id under ``<dir>/modules/``.

This module holds what does not depend on the module classes: the metadata, the paths
inside a checkpoint, what loading trusts, and the checks of weights files against a
module (the files themselves are written, checked and read by the module's backend,
``write_weights`` / ``check_before_building`` / ``load_weights``). Saving and loading
whole modules is ``RLModule.save_to_checkpoint`` / ``from_checkpoint`` and
:func:`rlmodule.rl_module.load_module`. Every mismatch (class, space, tensor name or
shape) raises :class:`CheckpointError` naming the file and the entry.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from rlmodule.backend import backend, framework_name
from rlmodule.checkpoint_dir import Layout, recover_if_missing, save_dir
from rlmodule.class_path import UntrustedPathError, class_to_path, resolve_trusted

FORMAT_VERSION = 1
METADATA_FILE = "rl_module_metadata.json"
#: The weights file of each framework's modules (a checkpoint's format, so fixed here).
WEIGHTS_FILES = {"torch": "module_state.safetensors", "tf2": "module_state.weights.h5"}
MODULES_DIR = "modules"
MODULE_LAYOUT = Layout(
    "an RLModule checkpoint", METADATA_FILE, frozenset({METADATA_FILE, MODULES_DIR, *WEIGHTS_FILES.values()})
)
#: Largest safetensors JSON header read (a real one is a few KB per hundred tensors).
MAX_HEADER_BYTES = 64 * 1024 * 1024
#: TF specs may declare layers needing up to this many numbers more than stored.
MIN_SIZE_SLACK = 1 << 20

PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match the module."""


# --- saving -----------------------------------------------------------------------------
def save(checkpoint_dir: PathLike, write: Callable[[Path], None]) -> str:
    """Run ``write(staging directory)`` and swap the result into ``checkpoint_dir`` (see
    :mod:`rlmodule.checkpoint_dir`: a failed save leaves any previous checkpoint there
    untouched, and a directory that is not an RLModule checkpoint is refused). Returns
    the directory as str."""
    return save_dir(checkpoint_dir, write, MODULE_LAYOUT)


def write_metadata(directory: Path, module: Any, kind: str, spec: Optional[Dict[str, Any]], **fields: Any) -> None:
    """``<directory>/rl_module_metadata.json``: the format version, the module's class
    path and framework, this package's version, the time, ``kind`` (``"single_agent"``
    or ``"multi_agent"``), ``spec`` and ``fields``."""
    metadata: Dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "module_class": class_to_path(type(module)),
        "framework": module.framework,
        "package_version": _package_version(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "kind": kind,
        "spec": spec,
        **fields,
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2))


def dir_name(module_id: Any) -> str:
    """``module_id`` as the name of its directory under ``modules/``; CheckpointError if
    it cannot be one."""
    if (
        not isinstance(module_id, str) or not module_id or module_id in (".", "..")
        or any(c in module_id for c in "/\\\0")
    ):
        raise CheckpointError(f"module id {module_id!r} cannot be used as a directory name")
    return module_id


def write_weights(module: Any, directory: Path) -> Dict[str, Any]:
    """Write a single-agent module's weights file into ``directory`` (its backend's
    ``write_weights``); returns the metadata entries ``weights_file``, ``tensors`` (name
    -> shape, dtype) and ``aliases`` (tied weights stored once)."""
    framework = _framework(module)
    file = WEIGHTS_FILES[framework]
    return {"weights_file": file, **backend(framework).write_weights(module, directory / file)}


def _framework(module: Any) -> str:
    try:
        return framework_name(module)
    except ValueError:
        raise CheckpointError(
            f"{type(module).__name__}: no checkpoint format for framework {module.framework!r}"
        ) from None


def _package_version() -> str:
    import rlmodule

    return rlmodule.__version__


# --- reading ------------------------------------------------------------------------------
def read_metadata(checkpoint_dir: PathLike) -> Dict[str, Any]:
    """The checkpoint's metadata; raises CheckpointError if absent, corrupt or too new.
    A checkpoint whose save was killed between its two renames is put back first
    (:func:`rlmodule.checkpoint_dir.recover_if_missing`)."""
    recover_if_missing(checkpoint_dir, MODULE_LAYOUT)
    if not Path(checkpoint_dir).is_dir():
        raise CheckpointError(f"{checkpoint_dir}: no such checkpoint directory")
    file = Path(checkpoint_dir) / METADATA_FILE
    if not file.is_file():
        raise CheckpointError(f"{file}: missing; {checkpoint_dir} is not an RLModule checkpoint")
    inside(Path(checkpoint_dir), METADATA_FILE, METADATA_FILE)
    try:
        metadata = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file}: corrupt metadata ({e})") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{file}: corrupt metadata (not a JSON object)")
    for key in ("format_version", "kind", "module_class", "spec"):
        if key not in metadata:
            raise CheckpointError(f"{file}: corrupt metadata, key {key!r} is missing")
    if metadata["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: format version {metadata['format_version']!r}, this package reads {FORMAT_VERSION}"
        )
    return metadata


def inside(directory: Path, relative: str, field: str) -> Path:
    """``directory / relative``, refused unless it stays inside ``directory`` (no
    absolute path, no ``..``, no symlink leading out)."""
    path = directory / relative
    root = directory.resolve()
    resolved = path.resolve()
    if Path(relative).is_absolute() or ".." in Path(relative).parts or (resolved != root and root not in resolved.parents):
        raise CheckpointError(
            f"{directory / METADATA_FILE}: {field} leads outside the checkpoint directory {root} "
            f"(to {resolved}); a checkpoint is read only inside its directory"
        )
    return path


def module_dirs(directory: Path, metadata: Mapping[str, Any]) -> Iterator[Tuple[str, Path]]:
    """``(module_id, sub-checkpoint directory)`` for a multi-agent checkpoint."""
    module_ids = metadata.get("module_ids")
    if not isinstance(module_ids, list):
        raise CheckpointError(f"{directory / METADATA_FILE}: module_ids is {module_ids!r}, not a list")
    for module_id in module_ids:
        try:
            name = dir_name(module_id)
        except CheckpointError as e:
            raise CheckpointError(f"{directory / METADATA_FILE}: module_ids: {e}") from None
        yield module_id, inside(directory, f"{MODULES_DIR}/{name}", f"module_ids[{module_id!r}]")


def trusted(path: Any, expect: Any, where: str, trusted_modules: Sequence[str]) -> Any:
    """:func:`rlmodule.class_path.resolve_trusted`, its refusal as a CheckpointError."""
    try:
        return resolve_trusted(path, expect, where, trusted_modules)
    except UntrustedPathError as e:
        raise CheckpointError(str(e)) from None


# --- weights files --------------------------------------------------------------------------
def weights_file(directory: Path, framework: Optional[str]) -> Path:
    """The weights file a ``framework`` module's checkpoint in ``directory`` holds;
    CheckpointError if it is missing or leads outside the directory."""
    weights = inside(directory, WEIGHTS_FILES.get(framework, "weights"), "weights file")
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file missing")
    return weights


def check_before_building(spec: Any, directory: Path, metadata: Mapping[str, Any]) -> None:
    """Compare a recorded spec with the weights files before the module is built for
    real, so that a spec declaring huge layers fails before allocating: the backend of
    the recorded framework checks (torch builds the spec on its meta device, which
    allocates nothing; TF bounds the layer sizes by its weights file). A multi-agent
    container records no framework: its modules are built together on torch's meta
    device, the one device that allocates nothing."""
    backend(metadata.get("framework") or "torch").check_before_building(spec, directory, metadata)


def load_weights(module: Any, directory: Path, metadata: Mapping[str, Any], allow_non_finite: bool) -> None:
    """Load a single-agent checkpoint's weights into ``module`` (its backend's
    ``load_weights``, which checks names, shapes, dtypes and finiteness first)."""
    weights = weights_file(directory, module.framework)
    backend(_framework(module)).load_weights(module, weights, metadata, allow_non_finite)


def shape_errors(expected: Mapping[str, tuple], found: Mapping[str, tuple], file: Path) -> None:
    """CheckpointError listing missing, unexpected and mis-shaped tensors, if any."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [
        f"{name}: checkpoint {list(found[name])}, module {list(expected[name])}"
        for name in expected
        if name in found and tuple(found[name]) != tuple(expected[name])
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if shapes:
        problems.append(f"shape mismatches: {'; '.join(shapes)}")
    if problems:
        raise CheckpointError(f"{file}: does not fit the module: {', '.join(problems)}")


def dtype_errors(expected: Mapping[str, str], found: Mapping[str, str], file: Path) -> None:
    """CheckpointError listing tensors whose dtype differs from the module's, if any."""
    wrong = [f"{name}: checkpoint {found[name]}, module {dtype}" for name, dtype in expected.items() if found[name] != dtype]
    if wrong:
        raise CheckpointError(f"{file}: tensor dtypes do not match the module: {'; '.join(wrong)}")


def check_finite(arrays: Iterable[Tuple[str, np.ndarray]], file: Path, allow_non_finite: bool) -> None:
    """Refuse NaN / infinity in the floating ``(name, numpy array)`` pairs (read one at a
    time) unless ``allow_non_finite``."""
    if allow_non_finite:
        return
    bad = sorted(name for name, a in arrays if a.dtype.kind == "f" and not bool(np.isfinite(a).all()))
    if bad:
        raise CheckpointError(
            f"{file}: tensors {bad} hold NaN or infinity; load with allow_non_finite=True if that is intended"
        )
