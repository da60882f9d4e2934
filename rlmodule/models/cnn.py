"""The legacy ``VisionNetwork`` conv stack as an encoder config, and its default filters.

Every conv layer but the last pads like TensorFlow's ``"same"``, computed exactly as
legacy ``ray.rllib.models.torch.misc.same_padding`` (asymmetric: the extra row/column
goes to the bottom/right); the last layer pads nothing (``"valid"``). Both backends
apply the same explicit padding, so they agree with each other and with legacy torch
(Keras' own ``padding="same"`` equals it except where a stride exceeds its kernel:
there legacy's padding is negative and crops, while TF pads 0). Conv kernels are
Glorot/Xavier-uniform and biases zero, as legacy ``SlimConv2d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

from rlmodule.models.activations import canonical_activation
from rlmodule.models.base import ModelConfig
from rlmodule.models.mlp import positive_int, positive_ints

Pair = Tuple[int, int]
IntOrPair = Union[int, Sequence[int]]


def get_filter_config(shape: Sequence[int]) -> List[list]:
    """A default ``conv_filters`` list for an image shape (legacy
    ``ray.rllib.models.utils.get_filter_config``, same results and error text)."""
    # 96x96x3 (e.g. CarRacing-v0).
    filters_96x96 = [
        [16, [8, 8], 4],
        [32, [4, 4], 2],
        [256, [11, 11], 2],
    ]
    # Atari.
    filters_84x84 = [
        [16, [8, 8], 4],
        [32, [4, 4], 2],
        [256, [11, 11], 1],
    ]
    # Dreamer-style (XS-sized model) Atari or DM Control Suite.
    filters_64x64 = [
        [16, [4, 4], 2],
        [32, [4, 4], 2],
        [64, [4, 4], 2],
        [128, [4, 4], 2],
    ]
    # Small (1/2) Atari.
    filters_42x42 = [
        [16, [4, 4], 2],
        [32, [4, 4], 2],
        [256, [11, 11], 1],
    ]
    # Test image (10x10).
    filters_10x10 = [
        [16, [5, 5], 2],
        [32, [5, 5], 2],
    ]

    shape = list(shape)
    if len(shape) in [2, 3] and (shape[:2] == [96, 96] or shape[1:] == [96, 96]):
        return filters_96x96
    elif len(shape) in [2, 3] and (shape[:2] == [84, 84] or shape[1:] == [84, 84]):
        return filters_84x84
    elif len(shape) in [2, 3] and (shape[:2] == [64, 64] or shape[1:] == [64, 64]):
        return filters_64x64
    elif len(shape) in [2, 3] and (shape[:2] == [42, 42] or shape[1:] == [42, 42]):
        return filters_42x42
    elif len(shape) in [2, 3] and (shape[:2] == [10, 10] or shape[1:] == [10, 10]):
        return filters_10x10
    else:
        if list(shape) == [210, 160, 3]:
            atari_help = (
                "This is the default atari obs shape. You may want to look at one of "
                "RLlib's Atari examples for an example of how to wrap an Atari env. "
            )
        else:
            atari_help = ""
        raise ValueError(
            "No default CNN configuration for obs shape {}. ".format(shape)
            + atari_help
            + "You can specify `conv_filters` manually through your "
            "AlgorithmConfig's model_config. "
            "Default configurations are only available for inputs of the following "
            "shapes: [42, 42, K], [84, 84, K], [64, 64, K], [10, 10, K]. You may "
            "want to use a custom RLModule or a ConnectorV2 for that."
        )


Padding = Tuple[int, int, int, int]


def same_padding(in_size: Pair, kernel: Pair, stride: Pair) -> Tuple[Padding, Pair]:
    """``((left, right, top, bottom), (out_h, out_w))`` as legacy torch ``same_padding``:
    ``out = ceil(in / stride)``; a negative padding (stride > kernel) crops."""
    pads, out = [], []
    for size, k, s in zip(in_size, kernel, stride):
        n_out = -(-size // s)
        total = (n_out - 1) * s + k - size
        pads.append((total // 2, total - total // 2))
        out.append(n_out)
    (top, bottom), (left, right) = pads
    return (left, right, top, bottom), (out[0], out[1])


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer: ``[in_size, in_channels]`` -> ``[out_size, out_channels]``
    (sizes are ``(H, W)``). ``padding`` is ``(left, right, top, bottom)`` as
    ``torch.nn.ZeroPad2d`` takes it, applied before the unpadded conv."""

    in_channels: int
    out_channels: int
    kernel: Pair
    stride: Pair
    padding: Padding
    in_size: Pair
    out_size: Pair


def _pair(value: IntOrPair, where: str) -> Pair:
    if isinstance(value, int):
        return positive_int(value, where), value
    pair = positive_ints(value, where)
    if len(pair) != 2:
        raise ValueError(f"{where} must be an int or [height, width], got {value!r}")
    return pair[0], pair[1]


@dataclass
class CNNEncoderConfig(ModelConfig):
    """``obs [..., H, W, C]`` (NHWC, any dtype; ints are cast to float, not rescaled) ->
    ``encoder_out [..., D]``: conv layers ``[out_channels, kernel, stride]`` each followed
    by ``cnn_activation``, then the final ``h x w x c`` map flattened in HWC order.

    ``D = c`` when the final map is 1x1. Any other final map raises ValueError here
    unless ``flatten_non_1x1`` (legacy flattens it when ``post_fcnet_hiddens`` is set);
    then ``D = h * w * c``. Kernels and strides are ints or ``[height, width]``.
    """

    input_dims: Sequence[int]
    cnn_filter_specifiers: Sequence[Sequence[Any]]
    cnn_activation: Optional[str] = "relu"
    flatten_non_1x1: bool = False

    def __post_init__(self) -> None:
        self.input_dims = positive_ints(self.input_dims, "CNNEncoderConfig.input_dims")
        if len(self.input_dims) != 3:
            raise ValueError(
                f"CNNEncoderConfig.input_dims must be (H, W, C), got {self.input_dims}"
            )
        given = self.cnn_filter_specifiers
        if not isinstance(given, (list, tuple)) or not given:
            raise ValueError(f"`conv_filters` must be a non-empty list, got {given!r}")
        self.cnn_filter_specifiers = tuple(self._filter(f) for f in given)
        canonical_activation(self.cnn_activation)
        self._check_final_map(given)

    @staticmethod
    def _filter(spec: Any) -> Tuple[int, Pair, Pair]:
        where = f"`conv_filters` entry {spec!r}"
        if not isinstance(spec, (list, tuple)) or len(spec) != 3:
            raise ValueError(f"{where} must be [out_channels, kernel, stride]")
        return positive_int(spec[0], where), _pair(spec[1], where), _pair(spec[2], where)

    @property
    def conv_layers(self) -> List[ConvLayer]:
        """The layers, first to last, with their padding and sizes."""
        size, channels = (self.input_dims[0], self.input_dims[1]), self.input_dims[2]
        layers = []
        for i, (out_channels, kernel, stride) in enumerate(self.cnn_filter_specifiers):
            if i < len(self.cnn_filter_specifiers) - 1:
                padding, out_size = same_padding(size, kernel, stride)
            else:
                padding = (0, 0, 0, 0)
                out_size = tuple((n - k) // s + 1 for n, k, s in zip(size, kernel, stride))
            layers.append(
                ConvLayer(channels, out_channels, kernel, stride, padding, size, out_size)
            )
            size, channels = out_size, out_channels
        return layers

    def _check_final_map(self, filters: Any) -> None:
        last = self.conv_layers[-1]
        image = "x".join(map(str, self.input_dims))
        (h_in, w_in), (h, w) = last.in_size, last.out_size
        if h < 1 or w < 1:
            raise ValueError(
                f"`conv_filters` {filters!r}: the last layer's kernel {list(last.kernel)} is "
                f"larger than the {h_in}x{w_in} map it receives from the {image} image"
            )
        if (h, w) != (1, 1) and not self.flatten_non_1x1:
            raise ValueError(
                f"`conv_filters` {filters!r} reduce the {image} image to {h}x{w}x"
                f"{last.out_channels}, not 1x1x{last.out_channels}. Use filters that reduce "
                f"it to 1x1, e.g. make the last one [{last.out_channels}, [{h_in}, {w_in}], 1] "
                f"(the map it receives is {h_in}x{w_in}), or set `post_fcnet_hiddens` so the "
                "map is flattened (flatten_non_1x1=True)."
            )

    @property
    def output_dims(self) -> Tuple[int]:
        last = self.conv_layers[-1]
        return (last.out_size[0] * last.out_size[1] * last.out_channels,)
