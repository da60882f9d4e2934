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
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from rlmodule.class_path import class_from_path, class_to_path
from rlmodule.marl_module import MultiAgentRLModule, MultiAgentRLModuleSpec
from rlmodule.rl_module import RLModule, SingleAgentRLModuleSpec
from rlmodule.spaces import space_to_dict
from rlmodule.specs import SpecCheckError

FORMAT_VERSION = 1
METADATA_FILE = "rl_module_metadata.json"
WEIGHTS_FILES = {"torch": "module_state.safetensors", "tf2": "module_state.weights.h5"}
MODULES_DIR = "modules"

PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match the module."""


# --- saving -----------------------------------------------------------------------------
def save_module(module: RLModule, checkpoint_dir: PathLike) -> str:
    """Write ``module`` to ``checkpoint_dir`` atomically (a failed save leaves any
    previous checkpoint there untouched). Returns the directory as str."""
    target = Path(checkpoint_dir).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    backup = None
    try:
        _write(module, staging)
        if target.exists():
            backup = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, backup)
        try:
            os.replace(staging, target)
        except BaseException:
            if backup is not None:  # put the previous checkpoint back
                os.replace(backup, target)
                backup = None
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if backup is not None:  # the new checkpoint is in place; drop the old one
        shutil.rmtree(backup, ignore_errors=True)
    return str(target)


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


def _dir_name(module_id: str) -> str:
    if not isinstance(module_id, str) or not module_id or "/" in module_id or module_id in (".", ".."):
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
    return MultiAgentRLModuleSpec(type(module), dict(specs)).to_dict()


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
    """The checkpoint's metadata; raises CheckpointError if absent, corrupt or too new."""
    file = Path(checkpoint_dir) / METADATA_FILE
    if not Path(checkpoint_dir).is_dir():
        raise CheckpointError(f"{checkpoint_dir}: no such checkpoint directory")
    if not file.is_file():
        raise CheckpointError(f"{file}: missing; {checkpoint_dir} is not an RLModule checkpoint")
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


def _recorded_class(metadata: Mapping[str, Any], file: Path) -> type:
    try:
        cls = class_from_path(metadata["module_class"], "module_class")
    except ValueError as e:
        raise CheckpointError(f"{file}: {e}") from None
    if not issubclass(cls, RLModule):
        raise CheckpointError(f"{file}: module_class {metadata['module_class']!r} is not an RLModule")
    return cls


def load_module(checkpoint_dir: PathLike) -> RLModule:
    """Rebuild the module saved in ``checkpoint_dir`` and load its weights."""
    directory = Path(checkpoint_dir)
    metadata = read_metadata(directory)
    file = directory / METADATA_FILE
    cls = _recorded_class(metadata, file)
    if metadata["kind"] == "multi_agent":
        if metadata["spec"] is None:
            module = cls()
            for module_id in metadata["module_ids"]:
                module.add_module(module_id, load_module(directory / MODULES_DIR / module_id))
            return module
        module = MultiAgentRLModuleSpec.from_dict(metadata["spec"]).build()
        build_weights(module)
        _load_weights(module, directory, metadata)
        return module
    if metadata["spec"] is None:
        raise CheckpointError(
            f"{file}: {cls.__name__} was built without a config (by a multi-agent module's "
            "setup()); load the parent multi-agent checkpoint instead"
        )
    try:
        spec = SingleAgentRLModuleSpec.from_dict(metadata["spec"])
    except ValueError as e:
        raise CheckpointError(f"{file}: spec: {e}") from None
    module = spec.build()
    build_weights(module)
    _load_weights(module, directory, metadata)
    return module


def load_weights_into(module: RLModule, checkpoint_dir: PathLike) -> None:
    """Load a checkpoint's weights into an existing module, after checking that the
    checkpoint holds the same class with the same spaces."""
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
    _load_weights(module, directory, metadata)


def _load_weights(module: RLModule, directory: Path, metadata: Mapping[str, Any]) -> None:
    if metadata["kind"] == "multi_agent":
        if not isinstance(module, MultiAgentRLModule):
            raise CheckpointError(f"{directory}: a multi-agent checkpoint, but the module is single-agent")
        for module_id in metadata["module_ids"]:
            if module_id not in module:
                raise CheckpointError(
                    f"{directory}: checkpoint has module {module_id!r}, the module has {sorted(module.keys())}"
                )
            load_weights_into(module[module_id], directory / MODULES_DIR / module_id)
        return
    weights = directory / WEIGHTS_FILES.get(module.framework, "")
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file missing")
    if module.framework == "torch":
        _load_torch(module, weights, metadata)
    else:
        _load_tf(module, weights, metadata)


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


def _load_torch(module: RLModule, file: Path, metadata: Mapping[str, Any]) -> None:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({e})") from None
    for alias, canonical in (metadata.get("aliases") or {}).items():
        if canonical not in tensors:
            raise CheckpointError(f"{file}: alias {alias!r} points to missing tensor {canonical!r}")
        tensors[alias] = tensors[canonical]
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    _shape_errors(expected, {k: tuple(v.shape) for k, v in tensors.items()}, file)
    with torch.no_grad():
        module.load_state_dict(tensors, strict=True)


def _load_tf(module: RLModule, file: Path, metadata: Mapping[str, Any]) -> None:
    from rlmodule.tf.tf_rl_module import stable_weight_names

    manifest = metadata.get("tensors") or {}
    weights = module.weights
    expected = {name: tuple(v.shape) for name, v in zip(stable_weight_names(weights), weights)}
    _shape_errors(expected, {k: tuple(v["shape"]) for k, v in manifest.items()}, file)
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
