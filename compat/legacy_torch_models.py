"""Ray-free copies of RLlib 2.60's legacy (ModelV2) built-in torch models and layers.

Custom legacy models often nest ``FullyConnectedNetwork``, ``VisionNetwork``,
``ComplexInputNetwork``, ``SlimFC`` ... inside themselves. The classes here re-implement
``ray.rllib.models.torch.{misc,fcnet,visionnet,complex_input_net,recurrent_net}`` line by
line, so migrated code keeps the legacy parameter names and order (a legacy
``state_dict`` loads with ``strict=True``), the legacy numerics and, under the same
``torch.manual_seed``, even the legacy initial weights. Nothing here imports ``ray``.

Model surface (``TorchModelV2``): ``forward(input_dict, state, seq_lens) -> (out,
state)``, ``value_function()``, ``get_initial_state()``, ``__call__`` (restores Dict/Tuple
observations from the flat preprocessed ``obs``, adds ``obs_flat``, returns the input
state when ``forward`` returns none), ``num_outputs``, ``obs_space``, ``action_space``,
``model_config``, ``name``.

Differences from legacy, all deliberate:

* ``model_config`` is completed with ``rlmodule.model_config.MODEL_DEFAULTS`` (legacy
  read a missing key as ``None``; e.g. a dict without ``vf_share_layers`` gave a separate
  value branch there and a shared one here). Algorithms always passed complete dicts, and
  the partial dicts ``ComplexInputNetwork`` builds internally are reproduced exactly.
  The caller's dict is not mutated (legacy ``VisionNetwork`` wrote ``conv_filters`` in).
* No ``view_requirements``, ``AttentionWrapper``, ``Repeated`` spaces, custom-model
  registry, or Atari ``GenericPixelPreprocessor`` (a ``(210, 160, 3)`` Box; it resizes
  with OpenCV); the preprocessors' every-100th-call ``obs_space.contains`` check is
  skipped.
* ``LSTMWrapper`` sizes its LSTM with Python ints (legacy's numpy-int sum crashes
  torch>=2.13's ``nn.LSTM`` when ``lstm_use_prev_action`` is set); ``add_time_dimension``
  with ``framework="np", time_major=True`` swaps axes 0 and 1 (legacy's
  ``ndarray.transpose(0, 1)`` fails on 3D+ arrays).
* Legacy bugs that are kept: ``VisionNetwork.value_function`` raises ``IndexError`` with
  ``post_fcnet_hiddens`` and ``vf_share_layers=True``, and ``no_final_linear`` with
  ``post_fcnet_hiddens`` fails in ``forward`` (the FC layers see ``[B, C, 1, 1]``).

LSTM: legacy ``ModelCatalog`` built ``use_lstm`` models as a dynamic subclass
``<Model>_as_LSTMWrapper(LSTMWrapper, <Model>)``; ``lstm_wrapped(<Model>)`` builds the same
class (``get_model_v2`` does it for ``use_lstm=True``)::

    model = lstm_wrapped(FullyConnectedNetwork)(obs_space, action_space, num_outputs,
                                                {"use_lstm": True, ...}, "model")
    state = [s.expand(B, -1) for s in model.get_initial_state()]
    out, state = model({"obs": obs_flat}, state, seq_lens)  # obs_flat: [B * T, obs_dim]
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Box, Discrete, MultiDiscrete
from torch import nn

from compat.preprocessing import is_preprocessed, legacy_obs_shape, preprocess_obs, preprocessed_obs_space
from rlmodule.model_config import MODEL_DEFAULTS
from rlmodule.models.cnn import get_filter_config
from rlmodule.spaces import flatten_structure

__all__ = [
    "AppendBiasLayer",
    "ComplexInputNetwork",
    "FullyConnectedNetwork",
    "LSTMWrapper",
    "RecurrentNetwork",
    "SlimConv2d",
    "SlimFC",
    "TorchModelV2",
    "VisionNetwork",
    "add_time_dimension",
    "flatten_space_obs",
    "get_activation_fn",
    "get_filter_config",
    "get_model_v2",
    "lstm_wrapped",
    "normc_initializer",
    "preprocessed_obs_space",
    "restore_original_dimensions",
    "same_padding",
]

IntOrPair = Union[int, Sequence[int]]

# ----------------------------------------------------------------------------- layers


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


# ---------------------------------------------------------- legacy obs preprocessing


def flatten_space_obs(space: gym.Space, obs: Any) -> Any:
    """Legacy ``get_preprocessor(space)(space).transform(obs)`` for one (unbatched) obs:
    a float32 numpy ``[size]`` when ``compat.preprocessing.is_preprocessed(space)``
    (one-hot, Dict/Tuple flattening, Atari RAM; see that module), else ``obs`` unchanged."""
    if not is_preprocessed(space):
        legacy_obs_shape(space)  # raises for the unsupported Atari frames
        return obs
    return preprocess_obs(obs, space, batch_dims=0).numpy()


def restore_original_dimensions(
    obs: Any, obs_space: gym.Space, tensorlib: Any = "torch"
) -> Any:
    """Unflattens ``obs`` ([..., flat_size]) into the Dict (an ``OrderedDict``) / Tuple (a
    list) structure of ``obs_space.original_space`` (or ``obs_space``), each leaf reshaped
    to [..., *its preprocessed shape]; other spaces return ``obs`` unchanged.
    ``tensorlib``: ``"torch"``, ``"numpy"``, ``torch`` or ``np``."""
    if tensorlib in ("torch", torch):
        lib = torch
    elif tensorlib in ("numpy", np):
        lib = np
    else:
        raise ValueError(f"tensorlib must be 'torch' or 'numpy', got {tensorlib!r}")
    original_space = getattr(obs_space, "original_space", obs_space)
    return _unpack_obs(obs, original_space, lib)


def _unpack_obs(obs: Any, space: gym.Space, lib: Any) -> Any:
    if not isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        return obs
    # Already unpacked?
    if (isinstance(space, gym.spaces.Tuple) and isinstance(obs, (list, tuple))) or (
        isinstance(space, gym.spaces.Dict) and isinstance(obs, dict)
    ):
        return obs
    size = legacy_obs_shape(space)[0]
    if len(obs.shape) < 2 or obs.shape[-1] != size:
        raise ValueError(
            "Expected flattened obs shape of [..., {}], got {}".format(size, obs.shape)
        )
    batch_dims = list(obs.shape[:-1])
    children = (
        list(enumerate(space.spaces))
        if isinstance(space, gym.spaces.Tuple)
        else list(space.spaces.items())
    )
    unpacked = OrderedDict()
    offset = 0
    for key, child in children:
        shape = legacy_obs_shape(child)
        child_size = int(np.prod(shape))
        obs_slice = obs[..., offset : offset + child_size]
        offset += child_size
        unpacked[key] = _unpack_obs(lib.reshape(obs_slice, batch_dims + list(shape)), child, lib)
    return list(unpacked.values()) if isinstance(space, gym.spaces.Tuple) else unpacked


def _flatten_space(space: gym.Space) -> List[gym.Space]:
    """Primitive sub-spaces, Tuples in order and Dicts by sorted key (legacy ``flatten_space``)."""
    if isinstance(space, gym.spaces.Tuple):
        return [s for sub in space.spaces for s in _flatten_space(sub)]
    if isinstance(space, gym.spaces.Dict):
        return [s for k in sorted(space.spaces) for s in _flatten_space(space[k])]
    return [space]


def _one_hot(x: torch.Tensor, space: gym.Space) -> torch.Tensor:
    """Legacy ``torch_utils.one_hot``: int64 one-hot ``[B, n]`` (MultiDiscrete: concatenated)."""
    if isinstance(space, Discrete):
        return nn.functional.one_hot(x.long(), space.n)
    elif isinstance(space, MultiDiscrete):
        if isinstance(space.nvec[0], np.ndarray):
            nvec = np.ravel(space.nvec)
            x = x.reshape(x.shape[0], -1)
        else:
            nvec = space.nvec
        return torch.cat(
            [nn.functional.one_hot(x[:, i].long(), n) for i, n in enumerate(nvec)], dim=-1
        )
    raise ValueError("Unsupported space for `one_hot`: {}".format(space))


def add_time_dimension(
    padded_inputs: Any,
    seq_lens_or_max_seq_len: Any = None,
    framework: str = "torch",
    time_major: bool = False,
    *,
    seq_lens: Any = None,
    max_seq_len: Optional[int] = None,
) -> Any:
    """``[B * T, ...] -> [B, T, ...]`` (``[T, B, ...]`` if ``time_major``), for inputs
    padded to ``T`` steps per sequence: ``B = len(seq_lens)``, or ``T = max_seq_len``.

    Every RLlib signature of it: ``(x, *, seq_lens=..., framework=...)`` (ray >= 1.4),
    ``(x, max_seq_len, framework, time_major)`` (ray 1.0-1.3) and ``(x, seq_lens,
    framework)`` (ray 0.8): a second positional argument that is an int is
    ``max_seq_len``, anything else ``seq_lens``. ``framework``: ``"torch"``, ``"np"``, or
    ``"tf"`` / ``"tf2"`` (tf ops, as legacy's TF branch: a migrated ``TfRLModule`` calls it
    too)."""
    if seq_lens_or_max_seq_len is not None:
        if isinstance(seq_lens_or_max_seq_len, (int, np.integer)):
            max_seq_len = int(seq_lens_or_max_seq_len)
        else:
            seq_lens = seq_lens_or_max_seq_len
    if (seq_lens is None) == (max_seq_len is None):
        raise TypeError("add_time_dimension() takes seq_lens or max_seq_len (exactly one)")
    if framework in ("tf", "tf2"):
        import tensorflow as tf

        if time_major:  # as legacy: its TF branch asserts the same
            raise NotImplementedError("add_time_dimension: time_major=True is not supported for tf (nor was it in RLlib)")
        rows = tf.shape(padded_inputs)[0]
        batch = tf.shape(seq_lens)[0] if seq_lens is not None else rows // max_seq_len
        shape = tf.concat([[batch, rows // batch], tf.shape(padded_inputs)[1:]], axis=0)
        return tf.reshape(padded_inputs, shape)
    if framework == "torch":
        padded_inputs = torch.as_tensor(padded_inputs)
    elif framework == "np":
        padded_inputs = np.asarray(padded_inputs)
    else:
        raise ValueError(f"framework must be 'torch', 'np', 'tf' or 'tf2', got {framework!r}")
    new_batch_size = len(seq_lens) if seq_lens is not None else padded_inputs.shape[0] // max_seq_len
    time_size = padded_inputs.shape[0] // new_batch_size
    padded_outputs = padded_inputs.reshape(
        (new_batch_size, time_size) + tuple(padded_inputs.shape[1:])
    )
    if time_major:
        padded_outputs = padded_outputs.swapaxes(0, 1)
    return padded_outputs


# ----------------------------------------------------------------------------- models


class TorchModelV2(nn.Module):
    """Ray-free legacy ``TorchModelV2``: the ModelV2 surface on an ``nn.Module``.

    Subclasses implement ``forward`` (and ``value_function``); callers use ``__call__``.
    Like legacy, ``__call__`` bypasses ``nn.Module.__call__`` (no hooks).
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        if "_modules" not in self.__dict__:  # a migrated RLModule subclass is one already
            nn.Module.__init__(self)
        self.obs_space = obs_space
        self.action_space = action_space
        self.num_outputs = num_outputs
        self.model_config = {**copy.deepcopy(MODEL_DEFAULTS), **model_config}
        self.name = name or "default_model"
        self.framework = "torch"
        self._last_output = None
        self.time_major = self.model_config.get("_time_major")
        self.tower_stats = {}

    def get_initial_state(self) -> List[torch.Tensor]:
        """Initial RNN state tensors, each ``[size]`` (no batch dim); [] if not recurrent."""
        return []

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """``input_dict["obs"]`` (restored structure), ``["obs_flat"]`` ``[B, flat]``,
        ``state`` (each ``[B, size]``) -> ``([B, num_outputs], new state)``."""
        raise NotImplementedError

    def value_function(self) -> torch.Tensor:
        """``[B]`` values of the last ``forward``."""
        raise NotImplementedError

    def custom_loss(self, policy_loss: Any, loss_inputs: Dict[str, Any]) -> Any:
        return policy_loss

    def metrics(self) -> Dict[str, Any]:
        return {}

    def last_output(self) -> Any:
        return self._last_output

    def context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def is_time_major(self) -> bool:
        return self.time_major is True

    def variables(self, as_dict: bool = False) -> Union[List[torch.Tensor], Dict[str, Any]]:
        p = list(self.parameters())
        if as_dict:
            return {k: p[i] for i, k in enumerate(self.state_dict().keys())}
        return p

    def trainable_variables(
        self, as_dict: bool = False
    ) -> Union[List[torch.Tensor], Dict[str, Any]]:
        if as_dict:
            return {k: v for k, v in self.variables(as_dict=True).items() if v.requires_grad}
        return [v for v in self.variables() if v.requires_grad]

    def __call__(
        self,
        input_dict: Dict[str, Any],
        state: Optional[List[Any]] = None,
        seq_lens: Any = None,
    ) -> Tuple[Any, List[Any]]:
        """``input_dict["obs"]``: the flat preprocessed obs ``[B, ...]`` -> ``forward``'s
        ``(out, state_out)``; ``state_out`` is ``state`` when ``forward`` returns []."""
        restored = dict(input_dict)
        if not state:
            state = []
            i = 0
            while "state_in_{}".format(i) in input_dict:
                state.append(input_dict["state_in_{}".format(i)])
                i += 1
        if seq_lens is None:
            seq_lens = input_dict.get("seq_lens")

        if self.model_config.get("_disable_preprocessor_api"):
            restored["obs_flat"] = input_dict["obs"]
        else:
            restored["obs"] = restore_original_dimensions(input_dict["obs"], self.obs_space)
            try:
                if len(input_dict["obs"].shape) > 2:
                    restored["obs_flat"] = torch.flatten(input_dict["obs"], start_dim=1)
                else:
                    restored["obs_flat"] = input_dict["obs"]
            except AttributeError:
                restored["obs_flat"] = input_dict["obs"]

        with self.context():
            res = self.forward(restored, state or [], seq_lens)

        if (not isinstance(res, list) and not isinstance(res, tuple)) or len(res) != 2:
            raise ValueError(
                "forward() must return a tuple of (output, state) tensors, got {}".format(res)
            )
        outputs, state_out = res
        if not isinstance(state_out, list):
            raise ValueError("State output is not a list: {}".format(state_out))
        self._last_output = outputs
        return outputs, state_out if len(state_out) > 0 else (state or [])


class FullyConnectedNetwork(TorchModelV2):
    """Legacy ``fcnet.FullyConnectedNetwork``: ``obs_flat [B, prod(obs_shape)] ->
    [B, num_outputs]`` (``num_outputs=None``: the last hidden layer's output)."""

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        cfg = self.model_config

        hiddens = list(cfg.get("fcnet_hiddens", [])) + list(cfg.get("post_fcnet_hiddens", []))
        activation = cfg.get("fcnet_activation")
        if not cfg.get("fcnet_hiddens", []):
            activation = cfg.get("post_fcnet_activation")
        no_final_linear = cfg.get("no_final_linear")
        self.vf_share_layers = cfg.get("vf_share_layers")
        self.free_log_std = cfg.get("free_log_std")
        # Free-floating bias variables (log stds) for the second half of the outputs.
        if self.free_log_std:
            assert num_outputs % 2 == 0, ("num_outputs must be divisible by two", num_outputs)
            num_outputs = num_outputs // 2

        layers = []
        prev_layer_size = int(np.prod(obs_space.shape))
        self._logits = None

        for size in hiddens[:-1]:
            layers.append(
                SlimFC(
                    in_size=prev_layer_size,
                    out_size=size,
                    initializer=normc_initializer(1.0),
                    activation_fn=activation,
                )
            )
            prev_layer_size = size

        # The last layer is of size num_outputs, with activation.
        if no_final_linear and num_outputs:
            layers.append(
                SlimFC(
                    in_size=prev_layer_size,
                    out_size=num_outputs,
                    initializer=normc_initializer(1.0),
                    activation_fn=activation,
                )
            )
            prev_layer_size = num_outputs
        # Hidden layers, then (iff num_outputs) a linear logits layer.
        else:
            if len(hiddens) > 0:
                layers.append(
                    SlimFC(
                        in_size=prev_layer_size,
                        out_size=hiddens[-1],
                        initializer=normc_initializer(1.0),
                        activation_fn=activation,
                    )
                )
                prev_layer_size = hiddens[-1]
            if num_outputs:
                self._logits = SlimFC(
                    in_size=prev_layer_size,
                    out_size=num_outputs,
                    initializer=normc_initializer(0.01),
                    activation_fn=None,
                )
            else:
                self.num_outputs = ([int(np.prod(obs_space.shape))] + hiddens[-1:])[-1]

        if self.free_log_std and self._logits:
            self._append_free_log_std = AppendBiasLayer(num_outputs)

        self._hidden_layers = nn.Sequential(*layers)

        self._value_branch_separate = None
        if not self.vf_share_layers:
            prev_vf_layer_size = int(np.prod(obs_space.shape))
            vf_layers = []
            for size in hiddens:
                vf_layers.append(
                    SlimFC(
                        in_size=prev_vf_layer_size,
                        out_size=size,
                        activation_fn=activation,
                        initializer=normc_initializer(1.0),
                    )
                )
                prev_vf_layer_size = size
            self._value_branch_separate = nn.Sequential(*vf_layers)

        self._value_branch = SlimFC(
            in_size=prev_layer_size,
            out_size=1,
            initializer=normc_initializer(0.01),
            activation_fn=None,
        )
        # The last "base" output (before the logits layer) and the last flat input.
        self._features = None
        self._last_flat_in = None

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        obs = input_dict["obs_flat"].float()
        self._last_flat_in = obs.reshape(obs.shape[0], -1)
        self._features = self._hidden_layers(self._last_flat_in)
        logits = self._logits(self._features) if self._logits else self._features
        if self.free_log_std:
            logits = self._append_free_log_std(logits)
        return logits, state

    def value_function(self) -> torch.Tensor:
        assert self._features is not None, "must call forward() first"
        # An empty separate branch (no hiddens) is falsy: legacy then uses the features.
        if self._value_branch_separate:
            return self._value_branch(
                self._value_branch_separate(self._last_flat_in)
            ).squeeze(1)
        return self._value_branch(self._features).squeeze(1)


def _same_padded_convs(
    obs_shape: Tuple[int, ...], filters: List[Any], activation: Any
) -> Tuple[List[nn.Module], int, List[int]]:
    """Legacy VisionNetwork's conv layers before the last: ``SlimConv2d`` with TF-"same"
    padding, for a ``(w, h, c)`` observation. Returns the layers, the channels and the
    ``[w, h]`` size they output."""
    layers: List[nn.Module] = []
    (w, h, in_channels) = obs_shape
    in_size = [w, h]
    for out_channels, kernel, stride in filters:
        padding, out_size = same_padding(in_size, kernel, stride)
        layers.append(SlimConv2d(in_channels, out_channels, kernel, stride, padding, activation_fn=activation))
        in_channels = out_channels
        in_size = out_size
    return layers, in_channels, in_size


class VisionNetwork(TorchModelV2):
    """Legacy ``visionnet.VisionNetwork``: ``obs [B, w, h, c] -> [B, num_outputs]``
    (``num_outputs=None``: the flattened last conv output)."""

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        cfg = self.model_config
        if not cfg.get("conv_filters"):
            cfg["conv_filters"] = get_filter_config(obs_space.shape)

        activation = cfg.get("conv_activation")
        filters = cfg["conv_filters"]
        assert len(filters) > 0, "Must provide at least 1 entry in `conv_filters`!"

        post_fcnet_hiddens = cfg.get("post_fcnet_hiddens", [])
        post_fcnet_activation = get_activation_fn(cfg.get("post_fcnet_activation"), "torch")
        no_final_linear = cfg.get("no_final_linear")
        vf_share_layers = cfg.get("vf_share_layers")

        # Whether the last layer is a Flatten (rather than a n x (1,1) Conv2D).
        self.last_layer_is_flattened = False
        self._logits = None

        layers, in_channels, in_size = _same_padded_convs(obs_space.shape, filters[:-1], activation)

        out_channels, kernel, stride = filters[-1]

        # No final linear: the last layer has an activation and num_outputs nodes
        # (a 1x1-output conv, or the post-fc stack's last layer).
        if no_final_linear and num_outputs:
            out_channels = out_channels if post_fcnet_hiddens else num_outputs
            layers.append(
                SlimConv2d(
                    in_channels, out_channels, kernel, stride, None, activation_fn=activation
                )
            )
            layer_sizes = post_fcnet_hiddens[:-1] + ([num_outputs] if post_fcnet_hiddens else [])
            for out_size in layer_sizes:
                layers.append(
                    SlimFC(
                        in_size=out_channels,
                        out_size=out_size,
                        activation_fn=post_fcnet_activation,
                        initializer=normc_initializer(1.0),
                    )
                )
                out_channels = out_size
        # The conv stack, then a linear layer of size num_outputs.
        else:
            layers.append(
                SlimConv2d(
                    in_channels, out_channels, kernel, stride, None, activation_fn=activation
                )
            )
            if num_outputs:
                in_size = [
                    np.ceil((in_size[0] - kernel[0]) / stride),
                    np.ceil((in_size[1] - kernel[1]) / stride),
                ]
                padding, _ = same_padding(in_size, [1, 1], [1, 1])
                if post_fcnet_hiddens:
                    layers.append(nn.Flatten())
                    in_size = out_channels
                    for i, out_size in enumerate(post_fcnet_hiddens + [num_outputs]):
                        layers.append(
                            SlimFC(
                                in_size=in_size,
                                out_size=out_size,
                                activation_fn=post_fcnet_activation
                                if i < len(post_fcnet_hiddens) - 1
                                else None,
                                initializer=normc_initializer(1.0),
                            )
                        )
                        in_size = out_size
                    # The last layer is the logits layer.
                    self._logits = layers.pop()
                else:
                    self._logits = SlimConv2d(
                        out_channels, num_outputs, [1, 1], 1, padding, activation_fn=None
                    )
            else:
                self.last_layer_is_flattened = True
                layers.append(nn.Flatten())

        self._convs = nn.Sequential(*layers)

        # num_outputs unknown (Flatten at the end): a B=1 dummy pass gives it.
        if self.num_outputs is None:
            dummy_in = (
                torch.from_numpy(self.obs_space.sample()).permute(2, 0, 1).unsqueeze(0).float()
            )
            self.num_outputs = self._convs(dummy_in).shape[1]

        self._value_branch_separate = self._value_branch = None
        if vf_share_layers:
            self._value_branch = SlimFC(
                out_channels, 1, initializer=normc_initializer(0.01), activation_fn=None
            )
        else:
            vf_layers, in_channels, in_size = _same_padded_convs(obs_space.shape, filters[:-1], activation)
            out_channels, kernel, stride = filters[-1]
            vf_layers.append(
                SlimConv2d(
                    in_channels, out_channels, kernel, stride, None, activation_fn=activation
                )
            )
            vf_layers.append(
                SlimConv2d(out_channels, 1, 1, 1, None, activation_fn=None)
            )
            self._value_branch_separate = nn.Sequential(*vf_layers)

        # The last "base" output (before the logits layer).
        self._features = None

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        # [B, w, h, c] -> [B, c, w, h]
        self._features = input_dict["obs"].float().permute(0, 3, 1, 2)
        conv_out = self._convs(self._features)
        if not self._value_branch_separate:
            self._features = conv_out

        if not self.last_layer_is_flattened:
            if self._logits:
                conv_out = self._logits(conv_out)
            if len(conv_out.shape) == 4:
                if conv_out.shape[2] != 1 or conv_out.shape[3] != 1:
                    raise ValueError(
                        "Given `conv_filters` ({}) do not result in a [B, {} "
                        "(`num_outputs`), 1, 1] shape (but in {})! Please "
                        "adjust your Conv2D stack such that the last 2 dims "
                        "are both 1.".format(
                            self.model_config["conv_filters"],
                            self.num_outputs,
                            list(conv_out.shape),
                        )
                    )
                logits = conv_out.squeeze(3).squeeze(2)
            else:
                logits = conv_out
            return logits, state
        return conv_out, state

    def value_function(self) -> torch.Tensor:
        assert self._features is not None, "must call forward() first"
        if self._value_branch_separate:
            value = self._value_branch_separate(self._features)
            return value.squeeze(3).squeeze(2).squeeze(1)
        if not self.last_layer_is_flattened:
            features = self._features.squeeze(3).squeeze(2)
        else:
            features = self._features
        return self._value_branch(features).squeeze(1)

    def _hidden_layers(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, w, h, c] -> [B, C]``: the conv stack on channel-major input."""
        res = self._convs(obs.permute(0, 3, 1, 2))
        return res.squeeze(3).squeeze(2)


def _sub_model_config(**keys: Any) -> Dict[str, Any]:
    """``ComplexInputNetwork``'s partial sub-model dict, with the keys legacy read as
    missing (None) set explicitly, so completing it with MODEL_DEFAULTS changes nothing."""
    return {
        "vf_share_layers": False,
        "no_final_linear": False,
        "free_log_std": False,
        "post_fcnet_activation": None,
        **keys,
    }


def _vector_net(size: int, action_space: gym.Space, cfg: Dict[str, Any], name: str) -> "FullyConnectedNetwork":
    """ComplexInputNetwork's sub-network for a one-hot or flattened component of ``size``
    features: an ``fcnet_hiddens`` FullyConnectedNetwork without outputs."""
    config = _sub_model_config(
        fcnet_hiddens=cfg["fcnet_hiddens"],
        fcnet_activation=cfg.get("fcnet_activation"),
        post_fcnet_hiddens=[],
    )
    return FullyConnectedNetwork(Box(-1.0, 1.0, (size,), np.float32), action_space, None, config, name)


class ComplexInputNetwork(TorchModelV2):
    """Legacy ``complex_input_net.ComplexInputNetwork``: each flattened component of a
    Dict/Tuple obs goes through a VisionNetwork (3D Box), a one-hot + FullyConnectedNetwork
    (Discrete/MultiDiscrete) or a FullyConnectedNetwork (other Box, flattened); the
    concatenation goes through the ``post_fcnet_hiddens`` stack, then the logits
    ``[B, num_outputs]`` and value heads."""

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        original_space = getattr(obs_space, "original_space", obs_space)
        TorchModelV2.__init__(
            self, original_space, action_space, num_outputs, model_config, name
        )
        self.original_space = original_space
        self.processed_obs_space = (
            self.original_space if model_config.get("_disable_preprocessor_api") else obs_space
        )
        cfg = self.model_config
        self.flattened_input_space = _flatten_space(self.original_space)

        self.cnns = nn.ModuleDict()
        self.one_hot = nn.ModuleDict()
        self.flatten_dims = {}
        self.flatten = nn.ModuleDict()
        concat_size = 0
        for i, component in enumerate(self.flattened_input_space):
            i = str(i)
            if len(component.shape) == 3 and isinstance(component, Box):
                config = _sub_model_config(
                    conv_filters=cfg["conv_filters"],
                    conv_activation=cfg.get("conv_activation"),
                    post_fcnet_hiddens=[],
                )
                self.cnns[i] = VisionNetwork(
                    component, action_space, None, config, "cnn_{}".format(i)
                )
                concat_size += self.cnns[i].num_outputs
                self.add_module("cnn_{}".format(i), self.cnns[i])
            elif isinstance(component, (Discrete, MultiDiscrete)):
                size = component.n if isinstance(component, Discrete) else np.sum(component.nvec)
                self.one_hot[i] = _vector_net(size, action_space, cfg, "one_hot_{}".format(i))
                concat_size += self.one_hot[i].num_outputs
                self.add_module("one_hot_{}".format(i), self.one_hot[i])
            else:
                size = int(np.prod(component.shape))
                self.flatten[i] = _vector_net(size, action_space, cfg, "flatten_{}".format(i))
                self.flatten_dims[i] = size
                concat_size += self.flatten[i].num_outputs
                self.add_module("flatten_{}".format(i), self.flatten[i])

        self.post_fc_stack = FullyConnectedNetwork(
            Box(float("-inf"), float("inf"), shape=(concat_size,), dtype=np.float32),
            self.action_space,
            None,
            _sub_model_config(
                fcnet_hiddens=cfg.get("post_fcnet_hiddens", []),
                fcnet_activation=cfg.get("post_fcnet_activation", "relu"),
            ),
            "post_fc_stack",
        )

        self.logits_layer = None
        self.value_layer = None
        self._value_out = None
        if num_outputs:
            self.logits_layer = SlimFC(
                in_size=self.post_fc_stack.num_outputs,
                out_size=num_outputs,
                activation_fn=None,
                initializer=normc_initializer(0.01),
            )
            self.value_layer = SlimFC(
                in_size=self.post_fc_stack.num_outputs,
                out_size=1,
                activation_fn=None,
                initializer=normc_initializer(0.01),
            )
        else:
            self.num_outputs = concat_size

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        if "obs" in input_dict and "obs_flat" in input_dict:
            orig_obs = input_dict["obs"]
        else:
            orig_obs = restore_original_dimensions(input_dict["obs"], self.processed_obs_space)
        outs = []
        for i, component in enumerate(flatten_structure(orig_obs, sort_keys=True)):
            i = str(i)
            if i in self.cnns:
                cnn_out, _ = self.cnns[i]({"obs": component})
                outs.append(cnn_out)
            elif i in self.one_hot:
                if component.dtype in [torch.int8, torch.int16, torch.int32, torch.int64,
                                       torch.uint8]:
                    one_hot_in = {"obs": _one_hot(component, self.flattened_input_space[int(i)])}
                else:
                    one_hot_in = {"obs": component}
                one_hot_out, _ = self.one_hot[i](one_hot_in)
                outs.append(one_hot_out)
            else:
                nn_out, _ = self.flatten[i](
                    {"obs": torch.reshape(component, [-1, self.flatten_dims[i]])}
                )
                outs.append(nn_out)

        out = torch.cat(outs, dim=1)
        out, _ = self.post_fc_stack({"obs": out})
        if self.logits_layer is None:
            return out, []
        logits, values = self.logits_layer(out), self.value_layer(out)
        self._value_out = torch.reshape(values, [-1])
        return logits, []

    def value_function(self) -> torch.Tensor:
        return self._value_out


class RecurrentNetwork(TorchModelV2):
    """Legacy ``recurrent_net.RecurrentNetwork``: ``forward`` reshapes ``obs_flat``
    ``[B * T, n]`` to ``[B, T, n]`` (``[T, B, n]`` if ``_time_major``) for
    ``forward_rnn``, whose ``[B, T, num_outputs]`` output it flattens back."""

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        flat_inputs = input_dict["obs_flat"].float()
        self.time_major = self.model_config.get("_time_major", False)
        inputs = add_time_dimension(
            flat_inputs, seq_lens=seq_lens, framework="torch", time_major=self.time_major
        )
        output, new_state = self.forward_rnn(inputs, state, seq_lens)
        output = torch.reshape(output, [-1, self.num_outputs])
        return output, new_state

    def forward_rnn(
        self, inputs: torch.Tensor, state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """``inputs [B, T, n]``, ``state`` (each ``[B, size]``) -> ``([B, T, num_outputs],
        new state)``."""
        raise NotImplementedError("You must implement this for an RNN model")


def _flatten_inputs_to_1d_tensor(inputs: Any, flat_spaces: List[gym.Space]) -> torch.Tensor:
    """Legacy ``flatten_inputs_to_1d_tensor`` (no time axis): ``[B, sum of flat sizes]``."""
    flat_inputs = flatten_structure(inputs, sort_keys=True)
    batch = flat_inputs[0].shape[0]
    out = []
    for input_, space in zip(flat_inputs, flat_spaces):
        if isinstance(space, (Discrete, MultiDiscrete)):
            out.append(_one_hot(input_, space).float())
        else:
            out.append(torch.reshape(input_, [batch, -1]).float())
    return torch.cat(out, dim=-1)


class LSTMWrapper(RecurrentNetwork):
    """Legacy ``recurrent_net.LSTMWrapper``: a mixin placed before the wrapped model class
    (see ``lstm_wrapped``). The wrapped model's output [B * T, n] (plus the one-hot/flat
    previous action and previous reward, if configured) feeds ``lstm``; ``_logits_branch``
    and ``_value_branch`` read the LSTM output."""

    _wrapped_forward: Callable

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: Optional[int],
        model_config: Dict[str, Any],
        name: str,
    ):
        super().__init__(obs_space, action_space, None, model_config, name)
        cfg = self.model_config

        # Here self.num_outputs is the wrapped model's output size (the LSTM input size).
        if self.num_outputs is None:
            self.num_outputs = int(np.prod(self.obs_space.shape))

        self.cell_size = cfg["lstm_cell_size"]
        self.time_major = cfg.get("_time_major", False)
        self.use_prev_action = cfg["lstm_use_prev_action"]
        self.use_prev_reward = cfg["lstm_use_prev_reward"]

        # Python ints (legacy summed numpy ints, which torch>=2.13's nn.LSTM rejects).
        self.action_dim = 0
        for space in _flatten_space(self.action_space):
            if isinstance(space, Discrete):
                self.action_dim += int(space.n)
            elif isinstance(space, MultiDiscrete):
                self.action_dim += int(np.sum(space.nvec))
            elif space.shape is not None:
                self.action_dim += int(np.prod(space.shape))
            else:
                self.action_dim += int(len(space))

        if self.use_prev_action:
            self.num_outputs += self.action_dim
        if self.use_prev_reward:
            self.num_outputs += 1

        self.lstm = nn.LSTM(self.num_outputs, self.cell_size, batch_first=not self.time_major)

        self.num_outputs = num_outputs
        self._logits_branch = SlimFC(
            in_size=self.cell_size,
            out_size=self.num_outputs,
            activation_fn=None,
            initializer=torch.nn.init.xavier_uniform_,
        )
        self._value_branch = SlimFC(
            in_size=self.cell_size,
            out_size=1,
            activation_fn=None,
            initializer=torch.nn.init.xavier_uniform_,
        )

    def forward(
        self, input_dict: Dict[str, Any], state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """``obs_flat [B * T, ...]``, ``state`` ``[h, c]`` (each ``[B, cell_size]``),
        ``seq_lens [B]`` -> ``([B * T, num_outputs], [h, c])``."""
        assert seq_lens is not None
        wrapped_out, _ = self._wrapped_forward(input_dict, [], None)

        prev_a_r = []
        if self.model_config["lstm_use_prev_action"]:
            prev_a = input_dict["prev_actions"]
            if self.model_config.get("_disable_action_flattening"):
                prev_a_r.append(
                    _flatten_inputs_to_1d_tensor(prev_a, _flatten_space(self.action_space))
                )
            else:
                if isinstance(self.action_space, (Discrete, MultiDiscrete)):
                    prev_a = _one_hot(prev_a.float(), self.action_space)
                else:
                    prev_a = prev_a.float()
                prev_a_r.append(torch.reshape(prev_a, [-1, self.action_dim]))
        if self.model_config["lstm_use_prev_reward"]:
            prev_a_r.append(torch.reshape(input_dict["prev_rewards"].float(), [-1, 1]))
        if prev_a_r:
            wrapped_out = torch.cat([wrapped_out] + prev_a_r, dim=1)

        input_dict["obs_flat"] = wrapped_out
        return super().forward(input_dict, state, seq_lens)

    def forward_rnn(
        self, inputs: torch.Tensor, state: List[torch.Tensor], seq_lens: Any
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        self._features, [h, c] = self.lstm(
            inputs, [torch.unsqueeze(state[0], 0), torch.unsqueeze(state[1], 0)]
        )
        model_out = self._logits_branch(self._features)
        return model_out, [torch.squeeze(h, 0), torch.squeeze(c, 0)]

    def get_initial_state(self) -> List[torch.Tensor]:
        """``[h, c]``, zeros of shape ``[cell_size]`` on the model's device."""
        linear = next(self._logits_branch._model.children())
        return [
            linear.weight.new(1, self.cell_size).zero_().squeeze(0),
            linear.weight.new(1, self.cell_size).zero_().squeeze(0),
        ]

    def value_function(self) -> torch.Tensor:
        assert self._features is not None, "must call forward() first"
        return torch.reshape(self._value_branch(self._features), [-1])


@functools.lru_cache(maxsize=None)
def lstm_wrapped(model_cls: Type[TorchModelV2]) -> Type[LSTMWrapper]:
    """The legacy ``ModelCatalog`` LSTM class for ``model_cls``:
    ``<model_cls>_as_LSTMWrapper(LSTMWrapper, model_cls)``, whose ``_wrapped_forward`` is
    ``model_cls.forward``. Construct it with ``model_cls``'s usual five arguments."""
    if issubclass(model_cls, LSTMWrapper):
        return model_cls
    name = "{}_as_{}".format(model_cls.__name__, LSTMWrapper.__name__)
    return type(
        name,
        (LSTMWrapper, model_cls),
        {"_wrapped_forward": model_cls.forward, "__qualname__": name, "__module__": __name__},
    )


def get_model_v2(
    obs_space: gym.Space,
    action_space: gym.Space,
    num_outputs: Optional[int],
    model_config: Dict[str, Any],
    name: str = "default_model",
) -> TorchModelV2:
    """Legacy ``ModelCatalog.get_model_v2(..., framework="torch")`` for the built-in
    models: VisionNetwork for a 3D Box, FullyConnectedNetwork for a 1D Box (whose
    ``original_space`` holds no >=2D Box), ComplexInputNetwork otherwise; wrapped with
    ``lstm_wrapped`` if ``use_lstm``. Custom models: construct the class directly."""
    if model_config.get("custom_model"):
        raise ValueError(
            "get_model_v2 builds the built-in models only; construct your custom model "
            "class directly (wrapped with lstm_wrapped(...) if use_lstm)."
        )
    if model_config.get("use_attention"):
        raise NotImplementedError("The legacy AttentionWrapper is not reproduced.")
    if (
        model_config.get("lstm_use_prev_action")
        and not model_config.get("_disable_action_flattening")
        and isinstance(action_space, (gym.spaces.Tuple, gym.spaces.Dict))
    ):
        raise ValueError(
            "For your complex action space (Tuple|Dict) and your model's "
            "`prev-actions` setup of your model, you must set "
            "`_disable_action_flattening=True` in your main config dict!"
        )
    orig_space = getattr(obs_space, "original_space", obs_space)
    if isinstance(obs_space, Box) and len(obs_space.shape) == 3:
        model_cls = VisionNetwork
    elif (
        isinstance(obs_space, Box)
        and len(obs_space.shape) == 1
        and (
            not isinstance(orig_space, (gym.spaces.Dict, gym.spaces.Tuple))
            or not any(
                isinstance(s, Box) and len(s.shape) >= 2 for s in _flatten_space(orig_space)
            )
        )
    ):
        model_cls = FullyConnectedNetwork
    else:
        model_cls = ComplexInputNetwork
    if model_config.get("use_lstm"):
        model_cls = lstm_wrapped(model_cls)
    return model_cls(obs_space, action_space, num_outputs, model_config, name)
