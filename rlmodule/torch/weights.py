"""torch weights: the safetensors file of a module checkpoint (written, checked against
the module before anything is allocated, loaded), and the walk
:func:`rlmodule.models.weight_transfer.copy_torch_to_tf` pairs with a Keras model's."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Set, Tuple

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from rlmodule.checkpoint import (
    MAX_HEADER_BYTES,
    CheckpointError,
    check_finite,
    dtype_errors,
    module_dirs,
    read_metadata,
    shape_errors,
    weights_file,
)
from rlmodule.models.weight_transfer import Leaf
from rlmodule.rl_module import MultiAgentRLModule

NAME = "torch"

_SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


# --- checkpoints ------------------------------------------------------------------------------
def write_weights(module: Any, file: Path) -> Dict[str, Any]:
    """``module.state_dict()`` as safetensors; tied tensors are stored once. Returns
    ``{"tensors": {name: {"shape", "dtype"}}, "aliases": {name: stored name}}``."""
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


def safetensors_header(file: Path) -> Dict[str, Tuple[tuple, str]]:
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


def _expected(module: Any) -> Dict[str, Tuple[tuple, str]]:
    return {
        name: (tuple(t.shape), _SAFETENSORS_DTYPES.get(str(t.dtype).replace("torch.", ""), str(t.dtype)))
        for name, t in module.state_dict().items()
    }


def check_file(module: Any, file: Path, metadata: Mapping[str, Any]) -> None:
    """Names, shapes and dtypes of ``module`` (real or on the meta device) against the
    header of its weights file."""
    found = safetensors_header(file)
    for alias, canonical in (metadata.get("aliases") or {}).items():
        if canonical not in found:
            raise CheckpointError(f"{file}: alias {alias!r} points to missing tensor {canonical!r}")
        found[alias] = found[canonical]
    expected = _expected(module)
    shape_errors({k: v[0] for k, v in expected.items()}, {k: v[0] for k, v in found.items()}, file)
    dtype_errors({k: v[1] for k, v in expected.items()}, {k: v[1] for k, v in found.items()}, file)


def check_before_building(spec: Any, directory: Path, metadata: Mapping[str, Any]) -> None:
    """Build ``spec`` on the meta device (no memory) and compare it with the weights
    files; a module whose ``setup()`` cannot run there is checked after building."""
    try:
        with torch.device("meta"):
            skeleton = spec.build()
    except Exception:  # noqa: BLE001 - setup() needs real tensors; checked after building
        return
    _check_skeleton(skeleton, directory, metadata)


def _check_skeleton(skeleton: Any, directory: Path, metadata: Mapping[str, Any]) -> None:
    if isinstance(skeleton, MultiAgentRLModule):
        for module_id, sub_dir in module_dirs(directory, metadata):
            if module_id in skeleton:
                _check_skeleton(skeleton[module_id], sub_dir, read_metadata(sub_dir))
    elif skeleton.framework == NAME:  # a TF module built beside it allocated for real
        check_file(skeleton, weights_file(directory, NAME), metadata)


def load_weights(module: Any, file: Path, metadata: Mapping[str, Any], allow_non_finite: bool) -> None:
    """Check the file's header against ``module``, read it, refuse non-finite values
    (unless ``allow_non_finite``) and load it with ``strict=True``."""
    check_file(module, file, metadata)
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({e})") from None
    floats = ((name, t.float().numpy()) for name, t in tensors.items() if t.is_floating_point())
    check_finite(floats, file, allow_non_finite)
    for alias, canonical in (metadata.get("aliases") or {}).items():
        tensors[alias] = tensors[canonical]
    with torch.no_grad():
        module.load_state_dict(tensors, strict=True)


def build_weights(module: Any, observation_space: Any = None) -> None:
    """Nothing to do: a torch module has its weights from construction."""


# --- weight transfer ----------------------------------------------------------------------
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _gru_gates(w: np.ndarray) -> np.ndarray:
    """torch's (r, z, n) blocks along axis 0 as Keras' (z, r, h)."""
    r, z, n = np.split(w, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def _recurrent_leaves(name: str, rnn: nn.RNNBase) -> Iterator[Leaf]:
    if rnn.bidirectional or getattr(rnn, "proj_size", 0):
        raise ValueError(
            f"copy_torch_to_tf: torch {name} ({rnn!r}) is bidirectional or projected; only "
            "unidirectional LSTM/GRU layers without proj_size have a Keras counterpart"
        )
    gru = isinstance(rnn, nn.GRU)
    for layer in range(rnn.num_layers):
        w_ih, w_hh = (_np(getattr(rnn, f"weight_{k}_l{layer}")) for k in ("ih", "hh"))
        tensors = [_gru_gates(w_ih).T, _gru_gates(w_hh).T] if gru else [w_ih.T, w_hh.T]
        if rnn.bias:
            b_ih, b_hh = (_np(getattr(rnn, f"bias_{k}_l{layer}")) for k in ("ih", "hh"))
            tensors.append(np.stack([_gru_gates(b_ih), _gru_gates(b_hh)]) if gru else b_ih + b_hh)
        label = f"{name} (layer {layer} of {rnn!r})" if rnn.num_layers > 1 else f"{name} ({rnn!r})"
        yield Leaf(label, "gru" if gru else "lstm", tensors)


def _leaves(module: nn.Module, name: str, seen: Set[int]) -> Iterator[Leaf]:
    if id(module) in seen:
        return
    seen.add(id(module))
    label = name or "<root>"
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        weight = _np(module.weight)
        kind = "dense" if isinstance(module, nn.Linear) else "conv2d"
        tensors = [weight.T if kind == "dense" else weight.transpose(2, 3, 1, 0)]
        if module.bias is not None:
            tensors.append(_np(module.bias))
        yield Leaf(f"{label} ({module!r})", kind, tensors)
    elif isinstance(module, (nn.LSTM, nn.GRU)):
        yield from _recurrent_leaves(label, module)
    else:
        own = [_np(p) for p in module.parameters(recurse=False)]
        if own:
            yield Leaf(f"{label} ({type(module).__name__}'s own parameters)", "free", own)
        for child_name, child in module.named_children():
            yield from _leaves(child, f"{name}.{child_name}" if name else child_name, seen)


def weight_leaves(module: nn.Module) -> List[Leaf]:
    """The module's weights as weight-transfer leaves, depth first in registration order
    (``module.modules()`` order), as numpy arrays in Keras layout."""
    return list(_leaves(module, "", set()))
