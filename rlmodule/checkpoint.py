"""Module checkpoints: a directory with JSON metadata and weights, never a pickle.

Layout of a single-agent checkpoint::

    <dir>/rl_module_metadata.json   format version, class path, spec, framework,
                                    package version, UTC time, tensor manifest
    <dir>/module_state.safetensors  (torch)  or  module_state.weights.h5 (tf, Keras 3)

A multi-agent checkpoint has the metadata file (with the multi-agent spec) and one
single-agent checkpoint directory per module id under ``<dir>/modules/``.
Loading imports the recorded class and nothing else; every mismatch (class, space,
tensor name or shape) raises :class:`CheckpointError` naming the file and the entry.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import struct
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from rlmodule.checkpoint_dir import Layout, recover_if_missing, save_dir
from rlmodule.class_path import UntrustedPathError, class_to_path, resolve_trusted
from rlmodule.marl_module import MultiAgentRLModule, MultiAgentRLModuleSpec
from rlmodule.rl_module import MODULE_CLASS, RLModule, SingleAgentRLModuleSpec
from rlmodule.spaces import space_to_dict
from rlmodule.specs import SpecCheckError

FORMAT_VERSION = 1
METADATA_FILE = "rl_module_metadata.json"
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
def save_module(module: RLModule, checkpoint_dir: PathLike) -> str:
    """Write ``module`` to ``checkpoint_dir`` (see :mod:`rlmodule.checkpoint_dir`: a
    failed save leaves any previous checkpoint there untouched, and a directory that
    is not an RLModule checkpoint is refused). Returns the directory as str."""
    return save_dir(checkpoint_dir, lambda staging: _write(module, staging), MODULE_LAYOUT)


def _write(module: RLModule, directory: Path) -> None:
    metadata: Dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "module_class": class_to_path(type(module)),
        "framework": module.framework,
        "package_version": _package_version(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    if isinstance(module, MultiAgentRLModule):
        metadata["kind"] = "multi_agent"
        metadata["module_ids"] = list(module.keys())
        metadata["spec"] = _marl_spec_dict(module)
        for module_id, sub in module.items():
            sub_dir = directory / MODULES_DIR / _dir_name(module_id)
            sub_dir.mkdir(parents=True)
            _write(sub, sub_dir)
    else:
        metadata["kind"] = "single_agent"
        metadata["spec"] = _single_spec_dict(module)
        metadata["weights_file"] = WEIGHTS_FILES.get(module.framework)
        metadata.update(_write_weights(module, directory))
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2))


def _dir_name(module_id: Any) -> str:
    if (
        not isinstance(module_id, str) or not module_id or module_id in (".", "..")
        or any(c in module_id for c in "/\\\0")
    ):
        raise CheckpointError(f"module id {module_id!r} cannot be used as a directory name")
    return module_id


def _single_spec_dict(module: RLModule) -> Optional[Dict[str, Any]]:
    """The spec that rebuilds ``module``, or None if it was built without a config."""
    config = module.config
    if config is None or config.observation_space is None or config.action_space is None:
        return None
    return SingleAgentRLModuleSpec(
        module_class=type(module),
        observation_space=config.observation_space,
        action_space=config.action_space,
        model_config_dict=config.model_config_dict,
        catalog_class=config.catalog_class,
    ).to_dict()


def _marl_spec_dict(module: MultiAgentRLModule) -> Optional[Dict[str, Any]]:
    """The multi-agent spec for a custom MultiAgentRLModule class (whose setup()
    builds the sub-modules); None for the plain container, whose sub-modules are
    each rebuilt from their own metadata."""
    if type(module) is MultiAgentRLModule:
        return None
    specs = module.config.modules
    missing = [mid for mid in module.keys() if mid not in specs]
    if missing:
        raise CheckpointError(
            f"cannot checkpoint {type(module).__name__}: modules {missing} were added "
            "after construction and have no spec in config.modules, so setup() cannot rebuild them"
        )
    spec = MultiAgentRLModuleSpec(type(module), dict(specs)).to_dict()
    for sub in spec["module_specs"].values():
        sub["load_state_path"] = None  # the checkpoint holds the weights themselves
    return spec


def _write_weights(module: RLModule, directory: Path) -> Dict[str, Any]:
    if module.framework == "torch":
        return _write_torch(module, directory / WEIGHTS_FILES["torch"])
    if module.framework == "tf2":
        return _write_tf(module, directory / WEIGHTS_FILES["tf2"])
    raise CheckpointError(f"{type(module).__name__}: no checkpoint format for framework {module.framework!r}")


def _write_torch(module: RLModule, file: Path) -> Dict[str, Any]:
    from safetensors.torch import save_file

    tensors, aliases, manifest = {}, {}, {}
    seen: Dict[tuple, str] = {}
    for name, tensor in module.state_dict().items():
        manifest[name] = {"shape": list(tensor.shape), "dtype": str(tensor.dtype).replace("torch.", "")}
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride())
        if tensor.numel() and key in seen:  # tied weights: stored once
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = tensor.detach().cpu().contiguous()
    save_file(tensors, str(file))
    return {"tensors": manifest, "aliases": aliases}


def _write_tf(module: RLModule, file: Path) -> Dict[str, Any]:
    if not module.weights:
        raise CheckpointError(
            f"{type(module).__name__} has no weights yet (Keras creates them on the first "
            "call); run a forward before saving"
        )
    from rlmodule.tf.tf_rl_module import stable_weight_names

    module.save_weights(str(file))
    weights = module.weights
    return {
        "tensors": {
            name: {"shape": list(v.shape), "dtype": v.dtype if isinstance(v.dtype, str) else v.dtype.name}
            for name, v in zip(stable_weight_names(weights), weights)
        },
        "aliases": {},
    }


def _package_version() -> str:
    import rlmodule

    return rlmodule.__version__


# --- loading ------------------------------------------------------------------------------
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
    _inside(Path(checkpoint_dir), METADATA_FILE, METADATA_FILE)
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


def _inside(directory: Path, relative: str, field: str) -> Path:
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


def _module_dirs(directory: Path, metadata: Mapping[str, Any]) -> Iterator[Tuple[str, Path]]:
    """``(module_id, sub-checkpoint directory)`` for a multi-agent checkpoint."""
    module_ids = metadata.get("module_ids")
    if not isinstance(module_ids, list):
        raise CheckpointError(f"{directory / METADATA_FILE}: module_ids is {module_ids!r}, not a list")
    for module_id in module_ids:
        try:
            name = _dir_name(module_id)
        except CheckpointError as e:
            raise CheckpointError(f"{directory / METADATA_FILE}: module_ids: {e}") from None
        yield module_id, _inside(directory, f"{MODULES_DIR}/{name}", f"module_ids[{module_id!r}]")


def _trusted(path: Any, expect: Any, where: str, trusted_modules: Sequence[str]) -> Any:
    try:
        return resolve_trusted(path, expect, where, trusted_modules)
    except UntrustedPathError as e:
        raise CheckpointError(str(e)) from None


def _recorded_spec(
    metadata: Mapping[str, Any], file: Path, trusted_modules: Sequence[str]
) -> Union[SingleAgentRLModuleSpec, MultiAgentRLModuleSpec]:
    """The recorded spec, classes resolved by trust; ``load_state_path`` entries are
    dropped: the checkpoint's own weights replace what they would load, and following
    them would read outside the checkpoint directory."""
    spec_cls = MultiAgentRLModuleSpec if metadata["kind"] == "multi_agent" else SingleAgentRLModuleSpec
    try:
        spec = spec_cls.from_dict(metadata["spec"], trusted_modules=trusted_modules, where=f"{file}: spec")
    except UntrustedPathError as e:
        raise CheckpointError(str(e)) from None
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{file}: spec: {e}") from None
    spec.load_state_path = None
    if isinstance(spec, MultiAgentRLModuleSpec):
        for sub in spec.module_specs.values():
            sub.load_state_path = None
    return spec


def load_module(
    checkpoint_dir: PathLike, *, trusted_modules: Sequence[str] = (), allow_non_finite: bool = False
) -> RLModule:
    """Rebuild the module saved in ``checkpoint_dir`` and load its weights.

    Loading reads data: classes named in the metadata are imported only from this
    package, ``trusted_modules`` (dotted prefixes) or modules already imported, and
    must be RLModule / Catalog subclasses; files are read only inside the directory;
    tensor shapes and dtypes are compared with the weights file's header before the
    module is built for real (torch: on the meta device); weights holding NaN or
    infinity are refused unless ``allow_non_finite``.
    """
    directory = Path(checkpoint_dir)
    metadata = read_metadata(directory)
    file = directory / METADATA_FILE
    cls = _trusted(metadata["module_class"], MODULE_CLASS, f"{file}: module_class", trusted_modules)
    options = {"trusted_modules": trusted_modules, "allow_non_finite": allow_non_finite}
    if metadata["kind"] == "multi_agent" and metadata["spec"] is None:
        module = cls()
        for module_id, sub_dir in _module_dirs(directory, metadata):
            module.add_module(module_id, load_module(sub_dir, **options))
        return module
    if metadata["spec"] is None:
        raise CheckpointError(
            f"{file}: {cls.__name__} was built without a config (by a multi-agent module's "
            "setup()); load the parent multi-agent checkpoint instead"
        )
    spec = _recorded_spec(metadata, file, trusted_modules)
    _check_sizes_before_building(spec, directory, metadata)
    module = spec.build()
    build_weights(module)
    _load_weights(module, directory, metadata, allow_non_finite)
    return module


def load_weights_into(module: RLModule, checkpoint_dir: PathLike, *, allow_non_finite: bool = False) -> None:
    """Load a checkpoint's weights into an existing module, after checking that the
    checkpoint holds the same class with the same spaces (and, as :func:`load_module`,
    the tensors' names, shapes, dtypes and values)."""
    directory = Path(checkpoint_dir)
    metadata = read_metadata(directory)
    file = directory / METADATA_FILE
    want = class_to_path(type(module))
    if metadata["module_class"] != want:
        raise CheckpointError(
            f"{file}: holds a {metadata['module_class']}, but the module is a {want}"
        )
    if metadata["kind"] == "single_agent" and metadata["spec"] and module.config is not None:
        for name in ("observation_space", "action_space"):
            mine = getattr(module.config, name)
            theirs = metadata["spec"].get(name)
            if mine is not None and theirs is not None and space_to_dict(mine) != theirs:
                raise CheckpointError(
                    f"{file}: {name} mismatch: checkpoint has {theirs}, module has {space_to_dict(mine)}"
                )
    build_weights(module)
    _load_weights(module, directory, metadata, allow_non_finite)


def _load_weights(module: RLModule, directory: Path, metadata: Mapping[str, Any], allow_non_finite: bool) -> None:
    if metadata["kind"] == "multi_agent":
        if not isinstance(module, MultiAgentRLModule):
            raise CheckpointError(f"{directory}: a multi-agent checkpoint, but the module is single-agent")
        for module_id, sub_dir in _module_dirs(directory, metadata):
            if module_id not in module:
                raise CheckpointError(
                    f"{directory}: checkpoint has module {module_id!r}, the module has {sorted(module.keys())}"
                )
            load_weights_into(module[module_id], sub_dir, allow_non_finite=allow_non_finite)
        return
    weights = _weights_file(directory, module.framework)
    if module.framework == "torch":
        _load_torch(module, weights, metadata, allow_non_finite)
    else:
        _load_tf(module, weights, metadata, allow_non_finite)


def _weights_file(directory: Path, framework: Optional[str]) -> Path:
    weights = _inside(directory, WEIGHTS_FILES.get(framework, "weights"), "weights file")
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file missing")
    return weights


def _shape_errors(expected: Mapping[str, tuple], found: Mapping[str, tuple], file: Path) -> None:
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


def _dtype_errors(expected: Mapping[str, str], found: Mapping[str, str], file: Path) -> None:
    wrong = [f"{name}: checkpoint {found[name]}, module {dtype}" for name, dtype in expected.items() if found[name] != dtype]
    if wrong:
        raise CheckpointError(f"{file}: tensor dtypes do not match the module: {'; '.join(wrong)}")


# --- torch: the safetensors header is checked before anything is allocated -----------------
_SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


def _safetensors_header(file: Path) -> Dict[str, Tuple[tuple, str]]:
    """``{name: (shape, dtype code)}`` from the file's JSON header (no tensor is read)."""
    size = file.stat().st_size
    with open(file, "rb") as f:
        prefix = f.read(8)
        length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else -1
        if not 0 < length <= min(size - 8, MAX_HEADER_BYTES):
            raise CheckpointError(f"{file}: corrupt or truncated safetensors file (header length {length})")
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{file}: corrupt safetensors header ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{file}: corrupt safetensors header (not a JSON object)")
    try:
        return {
            name: (tuple(int(n) for n in entry["shape"]), str(entry["dtype"]))
            for name, entry in header.items() if name != "__metadata__"
        }
    except (TypeError, KeyError, ValueError) as e:
        raise CheckpointError(f"{file}: corrupt safetensors header entry ({e})") from None


def _torch_expected(module: RLModule) -> Dict[str, Tuple[tuple, str]]:
    return {
        name: (tuple(t.shape), _SAFETENSORS_DTYPES.get(str(t.dtype).replace("torch.", ""), str(t.dtype)))
        for name, t in module.state_dict().items()
    }


def _check_torch_file(module: RLModule, file: Path, metadata: Mapping[str, Any]) -> None:
    """Names, shapes and dtypes of ``module`` (real or on the meta device) against the
    header of its weights file."""
    found = _safetensors_header(file)
    for alias, canonical in (metadata.get("aliases") or {}).items():
        if canonical not in found:
            raise CheckpointError(f"{file}: alias {alias!r} points to missing tensor {canonical!r}")
        found[alias] = found[canonical]
    expected = _torch_expected(module)
    _shape_errors({k: v[0] for k, v in expected.items()}, {k: v[0] for k, v in found.items()}, file)
    _dtype_errors({k: v[1] for k, v in expected.items()}, {k: v[1] for k, v in found.items()}, file)


def _check_finite(arrays: Mapping[str, Any], file: Path, allow_non_finite: bool) -> None:
    """Refuse NaN / infinity in floating tensors (numpy arrays or torch tensors)."""
    if allow_non_finite:
        return
    import numpy as np

    bad = sorted(name for name, a in arrays.items() if _is_float(a) and not bool(np.isfinite(_as_numpy(a)).all()))
    if bad:
        raise CheckpointError(
            f"{file}: tensors {bad} hold NaN or infinity; load with allow_non_finite=True if that is intended"
        )


def _is_float(a: Any) -> bool:
    return getattr(a, "is_floating_point", lambda: False)() or getattr(getattr(a, "dtype", None), "kind", "") == "f"


def _as_numpy(a: Any) -> Any:
    return a.float().numpy() if hasattr(a, "is_floating_point") else a


def _check_sizes_before_building(
    spec: Union[SingleAgentRLModuleSpec, MultiAgentRLModuleSpec], directory: Path, metadata: Mapping[str, Any]
) -> None:
    """Build ``spec`` on torch's meta device (no memory) and compare it with the
    weights files, so that a spec declaring huge layers fails before allocating. TF
    modules create weights on their first call: their layer sizes are bounded by the
    weights file (:func:`_check_tf_sizes`). A module whose ``setup()`` cannot run on
    the meta device is checked after building instead."""
    if metadata.get("framework") == "tf2":
        _check_tf_sizes(spec, _weights_file(directory, "tf2"))
        return
    import torch

    try:
        with torch.device("meta"):
            skeleton = spec.build()
    except Exception:  # noqa: BLE001 - setup() needs real tensors; checked after building
        return
    _check_skeleton(skeleton, directory, metadata)


def _check_skeleton(skeleton: RLModule, directory: Path, metadata: Mapping[str, Any]) -> None:
    if isinstance(skeleton, MultiAgentRLModule):
        for module_id, sub_dir in _module_dirs(directory, metadata):
            if module_id in skeleton:
                _check_skeleton(skeleton[module_id], sub_dir, read_metadata(sub_dir))
    elif skeleton.framework == "torch":
        _check_torch_file(skeleton, _weights_file(directory, "torch"), metadata)


def _load_torch(module: RLModule, file: Path, metadata: Mapping[str, Any], allow_non_finite: bool) -> None:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _check_torch_file(module, file, metadata)
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({e})") from None
    _check_finite(tensors, file, allow_non_finite)
    for alias, canonical in (metadata.get("aliases") or {}).items():
        tensors[alias] = tensors[canonical]
    with torch.no_grad():
        module.load_state_dict(tensors, strict=True)


# --- tf: Keras weights files (HDF5) -----------------------------------------------------------
_LAYER_SIZE_KEYS = ("fcnet_hiddens", "post_fcnet_hiddens", "head_fcnet_hiddens", "lstm_cell_size")


def _h5_arrays(file: Path) -> Dict[str, Any]:
    """``{dataset path: h5py dataset}`` of a Keras weights file (lazy: nothing read)."""
    import h5py

    datasets: Dict[str, Any] = {}
    try:
        handle = h5py.File(str(file), "r")
    except OSError as e:
        raise CheckpointError(f"{file}: corrupt or not a Keras weights file ({e})") from None
    handle.visititems(lambda name, obj: datasets.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return datasets


def _check_tf_sizes(spec: Union[SingleAgentRLModuleSpec, MultiAgentRLModuleSpec], file: Path) -> None:
    """Refuse a spec whose model config (``fcnet_hiddens``, ``lstm_cell_size``, ...)
    declares layers needing far more numbers than the weights file stores (exact
    shapes are compared after building)."""
    specs: List[Any] = list(spec.module_specs.values()) if isinstance(spec, MultiAgentRLModuleSpec) else [spec]
    stored = sum(math.prod(d.shape) for d in _h5_arrays(file).values())
    for sub in specs:
        config = sub.model_config_dict or {}
        for key in _LAYER_SIZE_KEYS:
            needed = _numbers_needed(config.get(key), key)
            if needed > max(8 * stored, MIN_SIZE_SLACK):
                raise CheckpointError(
                    f"{file}: model_config_dict[{key!r}] = {config.get(key)!r} needs at least {needed} numbers, "
                    f"the weights file stores {stored}; refused before building"
                )


def _numbers_needed(sizes: Any, key: str) -> int:
    """A lower bound on the weights layers of ``sizes`` need (biases, and weights
    between consecutive layers; an LSTM cell has 4 gates)."""
    if key == "lstm_cell_size":
        return 4 * sizes * sizes if isinstance(sizes, int) else 0
    sizes = [n for n in sizes if isinstance(n, int)] if isinstance(sizes, list) else []
    return sum(sizes) + sum(a * b for a, b in zip(sizes, sizes[1:]))


def _load_tf(module: RLModule, file: Path, metadata: Mapping[str, Any], allow_non_finite: bool) -> None:
    from rlmodule.tf.tf_rl_module import stable_weight_names

    manifest = metadata.get("tensors") or {}
    weights = module.weights
    expected = {name: tuple(v.shape) for name, v in zip(stable_weight_names(weights), weights)}
    _shape_errors(expected, {k: tuple(v["shape"]) for k, v in manifest.items()}, file)
    arrays = _h5_arrays(file)
    wrong = sorted(name for name, d in arrays.items() if d.dtype.kind != "f")
    if wrong:
        raise CheckpointError(f"{file}: tensors {wrong} are not floating point; Keras weights must be")
    _check_finite({name: d[()] for name, d in arrays.items()}, file, allow_non_finite)
    try:
        module.load_weights(str(file))
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{file}: corrupt or does not fit the module ({e})") from None


# --- building Keras weights ---------------------------------------------------------------
def build_weights(module: RLModule) -> None:
    """Create every Keras weight of not-yet-built TF modules by running one forward on
    sampled observations (torch modules have their weights from construction):
    ``forward_train``, which also runs the layers acting does not use (value heads),
    or ``forward_inference`` when the train forward needs inputs beyond observations."""
    if isinstance(module, MultiAgentRLModule):
        for mid, sub in module.items():
            if sub.framework == "tf2" and not sub.built:
                space = (module.config.modules.get(mid) or sub.config).observation_space
                _run_sample_forward(sub, sub.sample_batch(observation_space=space))
    elif module.framework == "tf2" and not module.built:
        _run_sample_forward(module, module.sample_batch())


def _run_sample_forward(module: RLModule, batch: Mapping[str, Any]) -> None:
    try:
        module.forward_train(batch)
    except (KeyError, SpecCheckError):
        module.forward_inference(batch)
