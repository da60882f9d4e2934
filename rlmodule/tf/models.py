"""TensorFlow/Keras 3 implementations of the feed-forward model configs
(``keras.layers.Layer`` subclasses), mirroring :mod:`rlmodule.torch.models`.

Every layer here creates its weights when constructed (no first call needed), under
its own name scope (weight paths like ``tf_mlp_encoder/tf_mlp/dense/kernel``). The
attributes match the torch classes' names: ``net`` (list of ``Dense``, activation
inside each), ``mlp``, ``log_std``, ``convs`` (list of ``Conv2D``), ``cnn``,
``components``; sub-layers are tracked in that construction order, so ``layer.weights``
lists them in the order :func:`rlmodule.models.weight_transfer.copy_torch_to_tf` pairs.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from rlmodule.models.activations import canonical_activation
from rlmodule.models.base import ENCODER_OUT
from rlmodule.models.cnn import CNNEncoderConfig
from rlmodule.models.complex_input import ComplexInputEncoderConfig, InputComponent, value_at
from rlmodule.models.mlp import FreeLogStdMLPHeadConfig, MLPEncoderConfig, MLPHeadConfig


def activation(name: Optional[str]) -> Any:
    """The Keras activation function of a legacy activation name (see
    :mod:`rlmodule.models.activations`), as ``Dense(activation=...)`` takes it;
    ``keras.activations.linear`` for ``"linear"`` / None."""
    return getattr(keras.activations, canonical_activation(name))


class NormcInitializer(keras.initializers.Initializer):
    """Draw N(0, 1), then scale each output unit's incoming weights (a column of the
    ``[in, out]`` kernel) to L2 norm ``std`` (legacy ``normc_initializer``)."""

    def __init__(self, std: float = 1.0) -> None:
        self.std = std

    def __call__(self, shape: Tuple[int, ...], dtype: Any = None) -> Any:
        x = keras.random.normal(shape, dtype=dtype)
        norms = keras.ops.sqrt(keras.ops.sum(keras.ops.square(x), axis=0, keepdims=True))
        return x * (self.std / norms)

    def get_config(self) -> Dict[str, float]:
        return {"std": self.std}


def _dense(in_dim: int, out_dim: int, activation_name: Optional[str], std: float) -> keras.layers.Dense:
    layer = keras.layers.Dense(
        out_dim,
        activation=activation(activation_name),
        kernel_initializer=NormcInitializer(std),
        bias_initializer="zeros",
    )
    layer.build((None, in_dim))
    return layer


class TfMLP(keras.layers.Layer):
    """``[..., input_dim]`` -> ``[..., D]``, as :class:`~rlmodule.torch.models.TorchMLP`."""

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
        net = []
        with keras.name_scope(self.name):
            for size in hidden_dims:
                net.append(_dense(input_dim, size, hidden_activation, 1.0))
                input_dim = size
            if output_dim:
                net.append(_dense(input_dim, output_dim, output_activation, output_init_std))
        self.net = net
        self.built = True

    @classmethod
    def from_head_config(cls, config: MLPHeadConfig, output_dim: Optional[int] = None) -> "TfMLP":
        """The MLP of ``config`` (``output_dim`` overrides ``config.output_layer_dim``)."""
        return cls(*config.mlp_args(output_dim))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TfMLPEncoder(keras.layers.Layer):
    """``{"obs": [..., D_in]}`` -> ``{"encoder_out": [..., D_out]}`` (obs cast to float32)."""

    def __init__(self, config: MLPEncoderConfig) -> None:
        super().__init__()
        with keras.name_scope(self.name):
            self.mlp = TfMLP(
                config.input_dims[0], config.hidden_layer_dims, config.hidden_layer_activation
            )
        self.built = True

    def call(self, batch: Mapping[str, Any]) -> Dict[str, tf.Tensor]:
        return {ENCODER_OUT: self.mlp(tf.cast(batch["obs"], tf.float32))}


class TfFreeLogStdMLPHead(keras.layers.Layer):
    """``[..., D_in]`` -> ``[..., 2D]``: the MLP's ``D`` means, then the free ``log_std``."""

    def __init__(self, config: FreeLogStdMLPHeadConfig) -> None:
        super().__init__()
        half = config.output_layer_dim // 2
        with keras.name_scope(self.name):
            self.mlp = TfMLP.from_head_config(config, output_dim=half)
        self.log_std = self.add_weight(shape=(half,), initializer="zeros", name="log_std")
        self.built = True

    def call(self, x: tf.Tensor) -> tf.Tensor:
        means = self.mlp(x)
        return tf.concat([means, tf.broadcast_to(self.log_std, tf.shape(means))], axis=-1)


def _pad(x: tf.Tensor, padding: Tuple[int, int, int, int]) -> tf.Tensor:
    """Zero-pad an NHWC map by ``(left, right, top, bottom)`` as ``torch.nn.ZeroPad2d``
    does: a negative amount crops."""
    left, right, top, bottom = padding
    height, width = x.shape[1], x.shape[2]
    x = x[:, max(-top, 0) : height - max(-bottom, 0), max(-left, 0) : width - max(-right, 0), :]
    return tf.pad(x, [[0, 0], [max(top, 0), max(bottom, 0)], [max(left, 0), max(right, 0)], [0, 0]])


class TfCNN(keras.layers.Layer):
    """``[..., H, W, C]`` (any dtype, cast to float32) -> ``[..., D]``, as
    :class:`~rlmodule.torch.models.TorchCNN` (explicit padding, then ``"valid"``
    convs, channels-last; final map flattened in HWC order)."""

    def __init__(self, config: CNNEncoderConfig) -> None:
        super().__init__()
        layers = config.conv_layers
        conv_activation = activation(config.cnn_activation)
        convs = []
        with keras.name_scope(self.name):
            for layer in layers:
                conv = keras.layers.Conv2D(
                    layer.out_channels,
                    layer.kernel,
                    strides=layer.stride,
                    padding="valid",
                    data_format="channels_last",
                    activation=conv_activation,
                    kernel_initializer="glorot_uniform",
                    bias_initializer="zeros",
                )
                conv.build((None, None, None, layer.in_channels))
                convs.append(conv)
        self.convs = convs
        self.paddings = tuple(layer.padding for layer in layers)
        self.input_dims = tuple(config.input_dims)
        self.output_dim = config.output_dims[0]
        self.built = True

    def call(self, obs: tf.Tensor) -> tf.Tensor:
        if not obs.shape[-3:].is_compatible_with(self.input_dims):
            raise ValueError(
                f"TfCNN expects NHWC images [..., {', '.join(map(str, self.input_dims))}], "
                f"got shape {obs.shape.as_list()}"
            )
        lead = tf.shape(obs)[:-3]
        x = tf.reshape(tf.cast(obs, tf.float32), (-1,) + self.input_dims)
        for conv, padding in zip(self.convs, self.paddings):
            if any(padding):
                x = _pad(x, padding)
            x = conv(x)
        return tf.reshape(x, tf.concat([lead, [self.output_dim]], axis=0))


class TfCNNEncoder(keras.layers.Layer):
    """``{"obs": [..., H, W, C]}`` -> ``{"encoder_out": [..., D]}``."""

    def __init__(self, config: CNNEncoderConfig) -> None:
        super().__init__()
        with keras.name_scope(self.name):
            self.cnn = TfCNN(config)
        self.built = True

    def call(self, batch: Mapping[str, Any]) -> Dict[str, tf.Tensor]:
        return {ENCODER_OUT: self.cnn(batch["obs"])}


def to_vector(x: Any, component: InputComponent) -> tf.Tensor:
    """A non-image component's values ``[..., *shape]`` as float ``[..., size]``."""
    x = tf.convert_to_tensor(x)
    lead = tf.shape(x)[: x.shape.rank - len(component.shape)]
    if not component.one_hot_sizes:
        flat = tf.reshape(x, tf.concat([lead, [math.prod(component.shape)]], axis=0))
        return tf.cast(flat, tf.float32)
    width = len(component.one_hot_sizes)
    codes = tf.reshape(tf.cast(x, tf.int64), tf.concat([lead, [width]], axis=0))
    return tf.concat(
        [
            tf.one_hot(codes[..., i] - start, n, dtype=tf.float32)
            for i, (n, start) in enumerate(zip(component.one_hot_sizes, component.one_hot_starts))
        ],
        axis=-1,
    )


class TfVectorComponent(keras.layers.Layer):
    """A non-image component: :func:`to_vector`, then its ``mlp``."""

    def __init__(self, component: InputComponent) -> None:
        super().__init__()
        net = component.net
        self.component = component
        with keras.name_scope(self.name):
            self.mlp = TfMLP(net.input_dims[0], net.hidden_layer_dims, net.hidden_layer_activation)
        self.built = True

    def call(self, x: Any) -> tf.Tensor:
        return self.mlp(to_vector(x, self.component))


class TfComplexInputEncoder(keras.layers.Layer):
    """``{"obs": dict/tuple of tensors [B, ...]}`` -> ``{"encoder_out": [B, D]}``: each
    component's network (``components``, in the config's order), outputs concatenated."""

    def __init__(self, config: ComplexInputEncoderConfig) -> None:
        super().__init__()
        self.paths = tuple(c.path for c in config.components)
        with keras.name_scope(self.name):
            self.components = [
                TfCNN(c.net) if c.is_image else TfVectorComponent(c) for c in config.components
            ]
        self.built = True

    def call(self, batch: Mapping[str, Any]) -> Dict[str, tf.Tensor]:
        obs = batch["obs"]
        outs = [net(value_at(obs, path)) for net, path in zip(self.components, self.paths)]
        return {ENCODER_OUT: tf.concat(outs, axis=-1)}
