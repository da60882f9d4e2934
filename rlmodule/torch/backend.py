"""The torch backend (the names :mod:`rlmodule.backend` lists)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch

from rlmodule import distribution
from rlmodule.models.actor_critic import ActorCriticEncoderConfig
from rlmodule.models.cnn import CNNEncoderConfig
from rlmodule.models.complex_input import ComplexInputEncoderConfig
from rlmodule.models.mlp import FreeLogStdMLPHeadConfig, MLPEncoderConfig, MLPHeadConfig
from rlmodule.models.recurrent import RecurrentEncoderConfig
from rlmodule.torch import distributions, models
from rlmodule.torch.actor_critic import TorchActorCriticEncoder
from rlmodule.torch.learner import TorchLearnerBackend as LearnerBackend
from rlmodule.torch.learner import TorchOps as Ops
from rlmodule.torch.models import activation  # noqa: F401  (a backend name)
from rlmodule.torch.recurrent import TorchRecurrentEncoder
from rlmodule.torch.weights import (  # noqa: F401  (backend names)
    build_weights,
    check_before_building,
    load_weights,
    weight_leaves,
    write_weights,
)
from rlmodule.tree import map_structure

NAME = "torch"
TENSOR_TYPES = (torch.Tensor,)

DISTRIBUTIONS = {
    distribution.Categorical: distributions.TorchCategorical,
    distribution.Deterministic: distributions.TorchDeterministic,
    distribution.DiagGaussian: distributions.TorchDiagGaussian,
    distribution.MultiCategorical: distributions.TorchMultiCategorical,
    distribution.MultiDistribution: distributions.TorchMultiDistribution,
    distribution.SquashedGaussian: distributions.TorchSquashedGaussian,
}

_NETWORKS = {
    MLPEncoderConfig: models.TorchMLPEncoder,
    MLPHeadConfig: models.TorchMLP.from_head_config,
    FreeLogStdMLPHeadConfig: models.TorchFreeLogStdMLPHead,
    CNNEncoderConfig: models.TorchCNNEncoder,
    ComplexInputEncoderConfig: models.TorchComplexInputEncoder,
    RecurrentEncoderConfig: TorchRecurrentEncoder,
    ActorCriticEncoderConfig: TorchActorCriticEncoder.from_config,
}


def build_model(config: Any) -> torch.nn.Module:
    """The ``nn.Module`` of a model config (the nearest config class in its MRO)."""
    for cls in type(config).__mro__:
        if cls in _NETWORKS:
            return _NETWORKS[cls](config)
    raise TypeError(f"{type(config).__name__}: no torch network for this config; implement its build()")


def rl_module_class(base: type) -> type:
    """The torch RLModule of a framework-free built-in one: ``PPORLModule`` ->
    ``PPOTorchRLModule``, ``APPORLModule`` -> ``APPOTorchRLModule``,
    ``DiscreteBCModuleBase`` -> ``DiscreteBCTorchModule`` (imported on first use: they load
    the algorithm packages)."""
    from rlmodule.torch.appo_rl_module import APPOTorchRLModule
    from rlmodule.torch.bc_module import DiscreteBCTorchModule
    from rlmodule.torch.ppo_rl_module import PPOTorchRLModule

    for cls in (PPOTorchRLModule, APPOTorchRLModule, DiscreteBCTorchModule):
        if base in cls.__bases__:
            return cls
    raise TypeError(f"{base.__name__}: no torch RLModule for this class")


def set_num_threads(n: int) -> None:
    """torch's intra-op threads (``torch.set_num_threads``)."""
    torch.set_num_threads(n)


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
    return map_structure(lambda leaf: _tensor(leaf, device), x, lists=True)


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
    return map_structure(_numpy, x, lists=True)


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
