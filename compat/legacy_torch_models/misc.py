"""Legacy ``ray.rllib.models.torch.misc``: the layers and initializers the built-in
models are made of (and that custom models nest), plus ``get_activation_fn`` of
``ray.rllib.models.utils``."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

IntOrPair = Union[int, Sequence[int]]


def get_activation_fn(
    name: Optional[Union[Callable, str]] = None, framework: str = "torch"
) -> Optional[Callable]:
    """Legacy ``ray.rllib.models.utils.get_activation_fn`` (torch only): an ``nn``
    activation class, the callable itself, or None for ``"linear"``/None."""
    if framework != "torch":
        raise NotImplementedError(f"Only framework='torch' is supported, got {framework!r}")
    if callable(name):
        return name
    name_lower = name.lower() if isinstance(name, str) else name
    if name_lower in ["linear", None]:
        return None
    fn = getattr(nn, name, None)
    if fn is not None:
        return fn
    if name_lower in ["swish", "silu"]:
        return nn.SiLU
    elif name_lower == "relu":
        return nn.ReLU
    elif name_lower == "tanh":
        return nn.Tanh
    elif name_lower == "elu":
        return nn.ELU
    elif name_lower == "softmax":
        return nn.Softmax
    raise ValueError("Unknown activation ({}) for framework={}!".format(name, framework))


def normc_initializer(std: float = 1.0) -> Callable[[torch.Tensor], None]:
    """In-place init: standard normal, then each row ([out, in] weight) scaled to norm ``std``."""

    def initializer(tensor: torch.Tensor) -> None:
        tensor.data.normal_(0, 1)
        tensor.data *= std / torch.sqrt(tensor.data.pow(2).sum(1, keepdim=True))

    return initializer


def same_padding(
    in_size: Sequence[int], filter_size: IntOrPair, stride_size: IntOrPair
) -> Tuple[Tuple[int, int, int, int], Tuple[int, int]]:
    """TF-``"same"`` padding for ``in_size`` = (height, width): returns
    ``((left, right, top, bottom), (out_height, out_width))`` with ``out = ceil(in / stride)``."""
    in_height, in_width = in_size
    if isinstance(filter_size, int):
        filter_height, filter_width = filter_size, filter_size
    else:
        filter_height, filter_width = filter_size
    if isinstance(stride_size, (int, float)):
        stride_height, stride_width = int(stride_size), int(stride_size)
    else:
        stride_height, stride_width = int(stride_size[0]), int(stride_size[1])

    out_height = int(np.ceil(float(in_height) / float(stride_height)))
    out_width = int(np.ceil(float(in_width) / float(stride_width)))

    pad_along_height = int((out_height - 1) * stride_height + filter_height - in_height)
    pad_along_width = int((out_width - 1) * stride_width + filter_width - in_width)
    pad_top = pad_along_height // 2
    pad_bottom = pad_along_height - pad_top
    pad_left = pad_along_width // 2
    pad_right = pad_along_width - pad_left
    return (pad_left, pad_right, pad_top, pad_bottom), (out_height, out_width)


class SlimConv2d(nn.Module):
    """``[B, C_in, H, W] -> [B, C_out, H', W']``: optional ``ZeroPad2d``, ``Conv2d``
    (Xavier-uniform kernel by default, constant bias) and activation (ReLU by default),
    as ``self._model`` (an ``nn.Sequential``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: IntOrPair,
        stride: IntOrPair,
        padding: Optional[Union[int, Sequence[int]]],
        initializer: Any = "default",
        activation_fn: Any = "default",
        bias_init: float = 0,
    ):
        super().__init__()
        layers = []
        if padding:
            layers.append(nn.ZeroPad2d(padding))
        conv = nn.Conv2d(in_channels, out_channels, kernel, stride)
        if initializer:
            if initializer == "default":
                initializer = nn.init.xavier_uniform_
            initializer(conv.weight)
        nn.init.constant_(conv.bias, bias_init)
        layers.append(conv)
        if isinstance(activation_fn, str):
            if activation_fn == "default":
                activation_fn = nn.ReLU
            else:
                activation_fn = get_activation_fn(activation_fn, "torch")
        if activation_fn is not None:
            layers.append(activation_fn())
        self._model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._model(x)


class SlimFC(nn.Module):
    """``[..., in_size] -> [..., out_size]``: ``Linear`` (Xavier-uniform weight unless
    ``initializer``, constant bias) plus optional activation, as ``self._model``."""

    def __init__(
        self,
        in_size: int,
        out_size: int,
        initializer: Any = None,
        activation_fn: Any = None,
        use_bias: bool = True,
        bias_init: float = 0.0,
    ):
        super().__init__()
        layers = []
        linear = nn.Linear(in_size, out_size, bias=use_bias)
        if initializer is None:
            initializer = nn.init.xavier_uniform_
        initializer(linear.weight)
        if use_bias is True:
            nn.init.constant_(linear.bias, bias_init)
        layers.append(linear)
        if isinstance(activation_fn, str):
            activation_fn = get_activation_fn(activation_fn, "torch")
        if activation_fn is not None:
            layers.append(activation_fn())
        self._model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._model(x)


class AppendBiasLayer(nn.Module):
    """``[B, n] -> [B, n + num_bias_vars]``: appends the free ``log_std`` parameter."""

    def __init__(self, num_bias_vars: int):
        super().__init__()
        self.log_std = nn.Parameter(torch.as_tensor([0.0] * num_bias_vars))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.log_std.unsqueeze(0).repeat([len(x), 1])], axis=1)
