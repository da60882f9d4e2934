"""The torch backend (the names :mod:`rlmodule.backend` lists)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch

from rlmodule.tree import map_structure

NAME = "torch"
TENSOR_TYPES = (torch.Tensor,)

_from_numpy = torch.from_numpy
_Tensor = torch.Tensor


def device_of(module: Any) -> Optional[torch.device]:
    """The device of the module's first parameter; ``None`` for CPU or no parameters."""
    try:
        device = next(iter(module.parameters())).device
    except (StopIteration, AttributeError, TypeError):
        return None
    return None if device.type == "cpu" else device


def to_tensor(x: Any, device: Optional[torch.device] = None) -> Any:
    """numpy structure -> tensors; on CPU a writeable array shares its memory."""
    if type(x) is np.ndarray:
        return _tensor(x, device)
    return map_structure(lambda leaf: _tensor(leaf, device), x)


def _tensor(x: Any, device: Optional[torch.device]) -> torch.Tensor:
    if isinstance(x, _Tensor):
        t = x
    else:
        if type(x) is not np.ndarray or not x.flags.writeable:
            x = np.array(x)
        try:
            t = _from_numpy(x)
        except TypeError:  # a dtype torch cannot share (e.g. uint16 on old torch)
            t = torch.as_tensor(x.astype(np.int64) if x.dtype.kind in "ui" else x)
    return t if device is None else t.to(device)


def to_numpy(x: Any) -> Any:
    """Tensor structure -> numpy (detached, on CPU); non-tensors through ``np.asarray``."""
    if type(x) is _Tensor and not x.requires_grad and x.device.type == "cpu":
        return x.numpy()
    return map_structure(_numpy, x)


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, _Tensor):
        if x.requires_grad or x.device.type != "cpu":
            x = x.detach().cpu()
        return x.numpy()
    return np.asarray(x)


def seed(value: int) -> None:
    torch.manual_seed(value)


def rng_state() -> Dict[str, Any]:
    return {"torch": torch.get_rng_state().numpy()}


def set_rng_state(state: Mapping[str, Any]) -> None:
    if "torch" in state:
        torch.set_rng_state(torch.from_numpy(np.asarray(state["torch"], dtype=np.uint8).copy()))
