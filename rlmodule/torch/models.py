"""torch networks of the feed-forward model configs (``nn.Module`` subclasses), and the
activations they use.

Parameter names (``state_dict`` keys), by class:

* :class:`TorchMLP`: ``net.{2*i}.weight`` / ``.bias`` for its i-th Linear (``net`` is an
  ``nn.Sequential`` alternating Linear and activation; ``nn.Identity`` for ``"linear"``).
* :class:`TorchMLPEncoder`: ``mlp.`` + TorchMLP's; :class:`TorchFreeLogStdMLPHead`:
  ``log_std`` and ``mlp.`` + TorchMLP's.
* :class:`TorchCNN`: ``convs.{i}.weight`` / ``.bias``; :class:`TorchCNNEncoder`: ``cnn.`` +
  TorchCNN's.
* :class:`TorchComplexInputEncoder`: ``components.{k}.`` + TorchCNN's for image components,
  ``components.{k}.mlp.`` + TorchMLP's for the others.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from rlmodule.models.activations import canonical_activation
from rlmodule.models.base import ENCODER_OUT
from rlmodule.models.cnn import CNNEncoderConfig
from rlmodule.models.complex_input import ComplexInputEncoderConfig, InputComponent, value_at
from rlmodule.models.mlp import FreeLogStdMLPHeadConfig, MLPEncoderConfig, MLPHeadConfig


_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU}


def activation(name: Optional[str]) -> type:
    """The ``nn.Module`` class of a legacy activation name (see
    :mod:`rlmodule.models.activations`), instantiated without arguments; ``nn.Identity``
    for ``"linear"`` / None."""
    return _ACTIVATIONS.get(canonical_activation(name), nn.Identity)


def normc_(weight: torch.Tensor, std: float) -> torch.Tensor:
    """In place: draw N(0, 1), then scale each output unit's incoming weights (a row of
    ``[out, in]``) to L2 norm ``std`` (legacy ``normc_initializer``)."""
    with torch.no_grad():
        weight.normal_(0.0, 1.0)
        weight.mul_(std / weight.pow(2).sum(dim=1, keepdim=True).sqrt())
    return weight


def _linear(in_dim: int, out_dim: int, std: float) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    normc_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


class TorchMLP(nn.Module):
    """``[..., input_dim]`` -> ``[..., D]``: hidden Linear layers (``normc(1.0)``) with
    ``hidden_activation``, then, if ``output_dim``, an output Linear
    (``normc(output_init_std)``) with ``output_activation``. No layers: the identity."""

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int],
        hidden_activation: Optional[str],
        output_dim: Optional[int] = None,
        output_activation: Optional[str] = "linear",
        output_init_std: float = 0.01,
    ) -> None:
        super().__init__()
        layers = []
        for size in hidden_dims:
            layers += [_linear(input_dim, size, 1.0), activation(hidden_activation)()]
            input_dim = size
        if output_dim:
            layers += [
                _linear(input_dim, output_dim, output_init_std),
                activation(output_activation)(),
            ]
        self.net = nn.Sequential(*layers)

    @classmethod
    def from_head_config(
        cls, config: MLPHeadConfig, output_dim: Optional[int] = None
    ) -> "TorchMLP":
        """The MLP of ``config`` (``output_dim`` overrides ``config.output_layer_dim``)."""
        return cls(*config.mlp_args(output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Layers' forward() directly: skips nn.Module call dispatch per layer (hooks
        # registered on the inner layers do not fire; register them on this module).
        # A plain nn.Linear's forward is inlined. Sub-modules and parameters are read
        # from ``_modules`` / ``_parameters``: ``self.net`` would go through
        # nn.Module.__getattr__, which CPython 3.11 reaches only after building an
        # AttributeError (about 1 us per look-up, more than a small layer's tanh).
        for layer in self._modules["net"]:
            if type(layer) is nn.Linear:
                params = layer._parameters
                x = F.linear(x, params["weight"], params["bias"])
            else:
                x = layer.forward(x)
        return x


class TorchMLPEncoder(nn.Module):
    """``{"obs": [..., D_in]}`` -> ``{"encoder_out": [..., D_out]}`` (obs cast to float32)."""

    def __init__(self, config: MLPEncoderConfig) -> None:
        super().__init__()
        self.mlp = TorchMLP(
            config.input_dims[0], config.hidden_layer_dims, config.hidden_layer_activation
        )

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
        return {ENCODER_OUT: self._modules["mlp"].forward(batch["obs"].float())}  # see TorchMLP.forward


class TorchFreeLogStdMLPHead(nn.Module):
    """``[..., D_in]`` -> ``[..., 2D]``: the MLP's ``D`` means, then the free ``log_std``."""

    def __init__(self, config: FreeLogStdMLPHeadConfig) -> None:
        super().__init__()
        half = config.output_layer_dim // 2
        self.mlp = TorchMLP.from_head_config(config, output_dim=half)
        self.log_std = nn.Parameter(torch.zeros(half))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        means = self.mlp(x)
        return torch.cat([means, self.log_std.expand_as(means)], dim=-1)


class TorchCNN(nn.Module):
    """``[..., H, W, C]`` (any dtype, cast to float32) -> ``[..., D]``: the conv stack of
    ``config`` (on NCHW internally), its final map flattened in HWC order."""

    def __init__(self, config: CNNEncoderConfig) -> None:
        super().__init__()
        layers = config.conv_layers
        self.convs = nn.ModuleList()
        for layer in layers:
            conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel, layer.stride)
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)
            self.convs.append(conv)
        self.paddings = [layer.padding for layer in layers]
        self.activation = activation(config.cnn_activation)()
        self.input_dims = tuple(config.input_dims)
        self.output_dim = config.output_dims[0]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if tuple(obs.shape[-3:]) != self.input_dims:
            raise ValueError(
                f"TorchCNN expects NHWC images [..., {', '.join(map(str, self.input_dims))}], "
                f"got shape {list(obs.shape)}"
            )
        lead = obs.shape[:-3]
        x = obs.reshape(-1, *self.input_dims).float().permute(0, 3, 1, 2)
        for conv, padding in zip(self.convs, self.paddings):
            if any(padding):
                x = F.pad(x, padding)  # (left, right, top, bottom); negative crops
            x = self.activation(conv(x))
        return x.permute(0, 2, 3, 1).reshape(*lead, self.output_dim)


class TorchCNNEncoder(nn.Module):
    """``{"obs": [..., H, W, C]}`` -> ``{"encoder_out": [..., D]}``."""

    def __init__(self, config: CNNEncoderConfig) -> None:
        super().__init__()
        self.cnn = TorchCNN(config)

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
        return {ENCODER_OUT: self.cnn(batch["obs"])}


def to_vector(x: torch.Tensor, component: InputComponent) -> torch.Tensor:
    """A non-image component's values ``[..., *shape]`` as float ``[..., size]``."""
    lead = x.shape[: x.dim() - len(component.shape)]
    if not component.one_hot_sizes:
        return x.reshape(*lead, math.prod(component.shape)).float()
    codes = x.reshape(*lead, len(component.one_hot_sizes)).long()
    return torch.cat(
        [
            F.one_hot(codes[..., i] - start, n)
            for i, (n, start) in enumerate(zip(component.one_hot_sizes, component.one_hot_starts))
        ],
        dim=-1,
    ).float()


class TorchVectorComponent(nn.Module):
    """A non-image component: :func:`to_vector`, then its ``mlp``."""

    def __init__(self, component: InputComponent) -> None:
        super().__init__()
        net = component.net
        self.component = component
        self.mlp = TorchMLP(net.input_dims[0], net.hidden_layer_dims, net.hidden_layer_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(to_vector(x, self.component))


class TorchComplexInputEncoder(nn.Module):
    """``{"obs": dict/tuple of tensors [B, ...]}`` -> ``{"encoder_out": [B, D]}``: each
    component's network (``components``, in the config's order), outputs concatenated."""

    def __init__(self, config: ComplexInputEncoderConfig) -> None:
        super().__init__()
        self.paths = [c.path for c in config.components]
        self.components = nn.ModuleList(
            TorchCNN(c.net) if c.is_image else TorchVectorComponent(c) for c in config.components
        )

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
        obs = batch["obs"]
        outs = [net(value_at(obs, path)) for net, path in zip(self.components, self.paths)]
        return {ENCODER_OUT: torch.cat(outs, dim=-1)}
