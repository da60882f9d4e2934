"""Helpers for migrated model classes: legacy ``TorchModelV2`` code running as an RLModule.

A migrated class (what ``rlmigrate`` emits for a legacy ``TorchModelV2`` subclass; see
MIGRATION.md, "Migrated model classes") is a ``TorchRLModule`` that keeps the legacy
class name, sub-module names and method bodies. Its ``setup()`` starts with
``legacy_model_args(self)`` (the legacy constructor's arguments); its forwards build the
legacy ``input_dict`` with ``legacy_input_dict(self, batch)`` and call the legacy
``forward`` (renamed ``_model_forward``) and ``value_function``. ``RecurrentNetwork``
subclasses use ``legacy_rnn_inputs`` and ``legacy_state_dict`` around their
``forward_rnn``; other stateful models (a ``TorchModelV2`` with a non-empty
``get_initial_state()``, a ``RecurrentNetwork`` overriding ``forward``) use
``legacy_seq_inputs`` and ``legacy_time_rows`` around their legacy ``forward``. Nothing
here imports ray.

A legacy ``TFModelV2`` subclass becomes a ``TfRLModule`` (a ``tf.keras.Model``) of the
same shape: ``legacy_model_args`` is framework-agnostic; ``legacy_input_dict``,
``legacy_rnn_inputs`` and ``legacy_seq_inputs`` build tf tensors (tf ops only, so the
forwards trace under ``tf.function``) for a module whose ``framework`` is ``"tf2"``;
``legacy_state_dict`` and ``legacy_time_rows`` keep tf tensors tf.

Each framework is imported inside the functions of its branch, never when this module is
imported: a migrated TF model loads no torch, a migrated torch model no TensorFlow.
"""

from __future__ import annotations

import copy
import sys
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np

from compat.preprocessing import (
    is_atari_ram,
    is_preprocessed,
    legacy_obs_shape,
    preprocess_obs,
    preprocessed_obs_space,
    restore_original_dimensions,
)
from rlmodule.columns import Columns
from rlmodule.model_config import MODEL_DEFAULTS
from rlmodule.tree import flatten, map_structure

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_MODEL_NAME",
    "FLOAT_MAX",
    "FLOAT_MIN",
    "LEGACY_ONLY_DEFAULTS",
    "legacy_input_dict",
    "legacy_model_args",
    "legacy_model_config",
    "legacy_num_outputs",
    "legacy_rnn_inputs",
    "legacy_seq_inputs",
    "legacy_state_dict",
    "legacy_time_rows",
    "state_key",
]

#: ``ray.rllib.utils.torch_utils.FLOAT_MIN`` / ``FLOAT_MAX`` (action-masking constants).
FLOAT_MIN = -3.4e38
FLOAT_MAX = 3.4e38
#: The ``name`` a legacy policy gave its model (``ModelCatalog.get_model_v2``'s default).
DEFAULT_MODEL_NAME = "default_model"
#: RLlib 2.60 ``MODEL_DEFAULTS`` entries that ``rlmodule.model_config.MODEL_DEFAULTS`` lacks
#: (internal switches and initializers of models this project does not build).
LEGACY_ONLY_DEFAULTS: Dict[str, Any] = {
    "conv_transpose_kernel_initializer": None,
    "conv_transpose_kernel_initializer_config": None,
    "conv_transpose_bias_initializer": None,
    "conv_transpose_bias_initializer_config": None,
    "lstm_weights_initializer": None,
    "lstm_weights_initializer_config": None,
    "lstm_bias_initializer": None,
    "lstm_bias_initializer_config": None,
    "always_check_shapes": False,
    "lstm_use_prev_action_reward": -1,
    "_use_default_native_models": -1,
    "_disable_preprocessor_api": False,
    "_disable_action_flattening": False,
}

LegacyModelArgs = Tuple[gym.Space, gym.Space, int, Dict[str, Any], str]


def legacy_model_config(model_config_dict: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``model_config`` a legacy model received: a deep copy of RLlib 2.60's
    ``MODEL_DEFAULTS`` updated with the user's dict (top-level keys replace the
    defaults), as a legacy ``AlgorithmConfig.training(model=...)`` held it. As in ray
    2.60, ``custom_options`` is an ordinary key: kept, never turned into kwargs."""
    defaults = {**MODEL_DEFAULTS, **LEGACY_ONLY_DEFAULTS}
    return copy.deepcopy({**defaults, **dict(model_config_dict)})


def legacy_num_outputs(action_space: gym.Space, model_config: Mapping[str, Any]) -> int:
    """The ``num_outputs`` a legacy policy built its model with: the input size of the
    distribution ``ModelCatalog.get_action_dist(action_space, model_config)`` picks."""
    if model_config.get("custom_action_dist"):
        raise NotImplementedError(
            f"custom_action_dist {model_config['custom_action_dist']!r}: its input size lives in ray's "
            "ModelCatalog registry; bind num_outputs (and the other legacy arguments) yourself in setup()"
        )
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return int(np.sum(action_space.nvec))
    if isinstance(action_space, gym.spaces.Box):
        return _box_num_outputs(action_space)
    if isinstance(action_space, gym.spaces.Tuple):
        return sum(legacy_num_outputs(s, model_config) for s in action_space.spaces)
    if isinstance(action_space, gym.spaces.Dict):
        return sum(legacy_num_outputs(s, model_config) for s in action_space.spaces.values())
    raise NotImplementedError(f"legacy RLlib has no default action distribution for {action_space}")


def _box_num_outputs(space: gym.spaces.Box) -> int:
    """Integer Box: a MultiCategorical over ``[low, high]``; float Box: a DiagGaussian."""
    if space.dtype.name.startswith("int"):
        return int(np.prod(space.shape)) * int(np.max(space.high) - np.min(space.low) + 1)
    if len(space.shape) > 1:
        raise NotImplementedError(f"legacy RLlib supports 1-D Box action spaces only, got shape {space.shape}")
    return 2 * int(np.prod(space.shape))


def legacy_model_args(module: Any) -> LegacyModelArgs:
    """``(obs_space, action_space, num_outputs, model_config, name)`` as a legacy policy
    passed them to the model's constructor, from ``module.config``:

    * ``obs_space``: the legacy preprocessed space (a float32 ``Box`` with
      ``original_space`` for Discrete, MultiDiscrete, Dict, Tuple and Atari-RAM spaces;
      the observation space itself otherwise);
    * ``num_outputs``: :func:`legacy_num_outputs`; ``model_config``:
      :func:`legacy_model_config` of ``model_config_dict``; ``name``: ``"default_model"``.

    Also sets the five as attributes of ``module`` (``obs_space``, ``action_space``,
    ``num_outputs``, ``model_config``, ``name``): legacy code reads them outside its
    constructor. Call it first in ``setup()``.
    """
    config = module.config
    model_config = legacy_model_config(config.model_config_dict)
    if model_config["_disable_preprocessor_api"]:
        raise NotImplementedError(
            "_disable_preprocessor_api=True is not supported: migrated models see preprocessed observations"
        )
    args = (
        preprocessed_obs_space(config.observation_space),
        config.action_space,
        legacy_num_outputs(config.action_space, model_config),
        model_config,
        DEFAULT_MODEL_NAME,
    )
    module.obs_space, module.action_space, module.num_outputs, module.model_config, module.name = args
    return args


def legacy_input_dict(module: Any, batch: Mapping[str, Any], is_training: bool = False) -> Dict[str, Any]:
    """The ``input_dict`` legacy ``forward`` received (``ModelV2.__call__``'s) for the raw
    ``batch["obs"]`` (``[B, ...]``, nested for Dict/Tuple spaces):

    * ``"obs"``: the preprocessed observation in the space's structure (Dict -> an
      ``OrderedDict``, Tuple -> a list; discrete leaves one-hot, all leaves float32);
      a ``Box`` observation as given (float64 cast to float32, as the legacy policy did);
    * ``"obs_flat"``: ``[B, F]``, the legacy preprocessor's output flattened;
    * ``"is_training"``: ``is_training``.

    Torch tensors for a ``TorchRLModule``; for a ``TfRLModule`` (``module.framework ==
    "tf2"``) the same values as tf tensors, computed with tf ops only (so the forwards
    also trace under ``tf.function``), as legacy ``TFModelV2.__call__`` received them.
    """
    if _is_tf(module):
        return _tf_input_dict(module.config.observation_space, batch[Columns.OBS], is_training)
    import torch

    space = module.config.observation_space
    obs = preprocess_obs(batch[Columns.OBS], space)
    if obs.is_floating_point() and obs.dtype != torch.float16:
        obs = obs.float()
    return {
        Columns.OBS: restore_original_dimensions(obs, space),
        "obs_flat": torch.flatten(obs, start_dim=1) if obs.dim() > 2 else obs,
        "is_training": is_training,
    }


def state_key(i: int) -> str:
    """Key of the ``i``-th legacy state tensor in ``state_in`` / ``state_out`` dicts."""
    return f"state_{i}"


def legacy_state_dict(state: Sequence[Any], framework: Optional[str] = None) -> Dict[str, Any]:
    """A legacy state list -> ``{"state_0": ..., "state_1": ...}`` (each tensor as it is:
    without batch dim for ``get_initial_state``, ``[B, ...]`` for ``state_out``).

    The values' framework follows the tensors given: if any entry is a tf tensor (or
    variable), every entry becomes a tf tensor (``tf.convert_to_tensor``; a state list of
    tf tensors and numpy arrays is all tf); otherwise each entry becomes a torch tensor
    (``torch.as_tensor``: torch tensors as they are, numpy arrays and lists converted).
    ``framework`` (``"torch"`` / ``"tf2"``) forces one, e.g. for numpy initial states of a
    ``TfRLModule``; without it those come back as torch tensors, which
    :func:`legacy_rnn_inputs` and :func:`legacy_seq_inputs` turn into tf tensors again for
    a ``TfRLModule``.
    """
    if framework in ("tf", "tf2") or (framework is None and any(_is_tf_tensor(s) for s in state)):
        import tensorflow as tf

        return {state_key(i): tf.convert_to_tensor(_tf_compatible(s)) for i, s in enumerate(state)}
    if framework not in (None, "torch"):
        raise ValueError(f"framework must be 'torch', 'tf2' or None, got {framework!r}")
    import torch

    return {state_key(i): torch.as_tensor(s) for i, s in enumerate(state)}


def legacy_rnn_inputs(module: Any, batch: Mapping[str, Any]) -> Tuple[torch.Tensor, List[torch.Tensor], torch.Tensor]:
    """``forward_rnn``'s arguments, as legacy ``RecurrentNetwork.forward`` built them:

    * ``inputs``: ``[B, T, F]`` float32, the legacy-preprocessed, flattened ``batch["obs"]``
      (``[B, T, ...]``);
    * ``state``: the list of ``batch["state_in"]["state_<i>"]`` tensors, each ``[B, ...]``;
    * ``seq_lens``: ``[B]`` int32, ``batch["seq_lens"]`` or ``T`` for every row.

    Torch tensors for a ``TorchRLModule``; tf tensors, computed with tf ops only, for a
    ``TfRLModule`` (``module.framework == "tf2"``; ``F`` static, so the forwards trace
    under ``tf.function``; state values of any kind, numpy or torch included, become tf
    tensors of the same dtype).
    """
    if module.model_config.get("_time_major"):
        raise NotImplementedError("_time_major=True: migrated recurrent models take batch-major [B, T, ...] inputs")
    if _is_tf(module):
        return _tf_rnn_inputs(module, batch)
    import torch

    obs = preprocess_obs(batch[Columns.OBS], module.config.observation_space, batch_dims=2)
    b, t = obs.shape[:2]
    state_in = batch[Columns.STATE_IN]
    state = [torch.as_tensor(state_in[state_key(i)]) for i in range(len(state_in))]
    seq_lens = batch.get(Columns.SEQ_LENS)
    if seq_lens is None:
        seq_lens = torch.full((b,), t, dtype=torch.int32)
    seq_lens = torch.as_tensor(seq_lens, dtype=torch.int32)
    return obs.reshape(b, t, -1).float(), state, seq_lens


# --- TensorFlow (TfRLModule) ------------------------------------------------------------
# The torch helpers above have the same semantics; compat.preprocessing is the reference
# implementation (checked against ray's get_preprocessor), these are its tf-op mirror.


def _is_tf(module: Any) -> bool:
    return getattr(module, "framework", None) in ("tf", "tf2")


def _tf_input_dict(space: gym.Space, raw_obs: Any, is_training: bool) -> Dict[str, Any]:
    import tensorflow as tf

    obs = _tf_preprocess(raw_obs, space)
    if obs.dtype.is_floating and obs.dtype != tf.float16:
        obs = tf.cast(obs, tf.float32)
    if obs.shape.rank is not None and obs.shape.rank > 2:
        size = obs.shape[1:].num_elements()
        flat = tf.reshape(obs, [-1, size] if size is not None else tf.concat([tf.shape(obs)[:1], [-1]], axis=0))
    else:
        flat = obs
    return {Columns.OBS: _tf_unpack(obs, space), "obs_flat": flat, "is_training": is_training}


def _tf_preprocess(obs: Any, space: gym.Space) -> Any:
    """``compat.preprocessing.preprocess_obs`` (one batch dim) with tf ops."""
    import tensorflow as tf

    legacy_obs_shape(space)  # raises for the unsupported spaces, as preprocess_obs does
    if not is_preprocessed(space):
        return tf.convert_to_tensor(obs)
    return _tf_flatten(obs, space)


def _tf_flatten(obs: Any, space: gym.Space) -> Any:
    """``[B, legacy_obs_size(space)]`` float32 (the feature size static, for tracing)."""
    import tensorflow as tf

    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces) if isinstance(obs, OrderedDict) else sorted(space.spaces)
        return tf.concat([_tf_flatten(obs[key], sub) for key, sub in zip(keys, space.spaces.values())], axis=-1)
    if isinstance(space, gym.spaces.Tuple):
        return tf.concat([_tf_flatten(obs[i], sub) for i, sub in enumerate(space.spaces)], axis=-1)
    x = tf.convert_to_tensor(obs)
    if isinstance(space, gym.spaces.Discrete):
        x = tf.reshape(tf.cast(x, tf.int64), [-1]) - int(space.start)
        return tf.one_hot(x, int(space.n), dtype=tf.float32)
    if isinstance(space, gym.spaces.MultiDiscrete):
        x = tf.reshape(tf.cast(x, tf.int64), [-1, int(space.nvec.size)])
        x = x - tf.constant(space.start.reshape(-1), dtype=tf.int64)
        hots = [tf.one_hot(x[..., i], int(n), dtype=tf.float32) for i, n in enumerate(space.nvec.reshape(-1))]
        return tf.concat(hots, axis=-1)
    size = x.shape[1:].num_elements()
    if size is not None and size != int(np.prod(space.shape)):
        raise ValueError(f"observation of shape {list(x.shape[1:])} does not fit {space}")
    x = tf.reshape(tf.cast(x, tf.float32), [-1, int(np.prod(space.shape))])
    return (x - 128) / 128 if is_atari_ram(space) else x


def _tf_unpack(obs: Any, space: gym.Space) -> Any:
    """``restore_original_dimensions`` with tf ops: ``[B, F]`` -> the Dict (an
    ``OrderedDict``) / Tuple (a list) structure, each leaf ``[B, *its preprocessed shape]``."""
    import tensorflow as tf

    if not isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        return obs
    size = legacy_obs_shape(space)[0]
    if obs.shape.rank != 2 or obs.shape[-1] != size:
        raise ValueError(f"Expected flattened obs shape of [..., {size}], got {obs.shape}")
    children = list(enumerate(space.spaces)) if isinstance(space, gym.spaces.Tuple) else list(space.spaces.items())
    unpacked: Dict[Any, Any] = OrderedDict()
    offset = 0
    for key, child in children:
        shape = legacy_obs_shape(child)
        child_size = int(np.prod(shape))
        part = tf.reshape(obs[:, offset : offset + child_size], [-1, *shape])
        unpacked[key] = _tf_unpack(part, child)
        offset += child_size
    return list(unpacked.values()) if isinstance(space, gym.spaces.Tuple) else unpacked


def _is_tf_tensor(x: Any) -> bool:
    """A tf tensor or variable (tensorflow not imported: nothing can be one)."""
    tf = sys.modules.get("tensorflow")
    if tf is None or _is_torch_tensor(x) or isinstance(x, (np.ndarray, np.generic)):
        return False
    return bool(tf.is_tensor(x) or isinstance(x, tf.Variable))


def _is_torch_tensor(x: Any) -> bool:
    """A torch tensor (torch not imported: nothing can be one)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _tf_compatible(x: Any) -> Any:
    """What ``tf.convert_to_tensor`` takes: a torch tensor as its numpy array (eagerly:
    a state a torch-typed ``get_initial_state`` produced), anything else as it is."""
    if _is_torch_tensor(x):
        return x.detach().cpu().numpy()
    return x


def _tf_state(batch: Mapping[str, Any]) -> List[Any]:
    """``batch["state_in"]["state_<i>"]`` as tf tensors (dtypes as given)."""
    import tensorflow as tf

    state_in = batch.get(Columns.STATE_IN) or {}
    return [tf.convert_to_tensor(_tf_compatible(state_in[state_key(i)])) for i in range(len(state_in))]


def _tf_seq_lens(batch: Mapping[str, Any], b: Any, t: Any) -> Any:
    """``batch["seq_lens"]`` as ``[B]`` int32, or ``T`` for every row."""
    import tensorflow as tf

    seq_lens = batch.get(Columns.SEQ_LENS)
    if seq_lens is None:
        return tf.fill(tf.reshape(b, [1]), tf.cast(t, tf.int32))
    return tf.cast(tf.convert_to_tensor(_tf_compatible(seq_lens)), tf.int32)


def _tf_time_leaves(obs: Any) -> Tuple[Any, Any, Any]:
    """``(b, t, obs as rows)``: every leaf ``[B, T, ...]`` -> ``[B * T, ...]`` (tf ops;
    ``b``, ``t`` scalar tensors; dict leaves keep their mapping type, so an
    ``OrderedDict`` is still read in the space's order)."""
    import tensorflow as tf

    first = tf.convert_to_tensor(_tf_compatible(flatten(obs, lists=True)[0]))
    b, t = tf.shape(first)[0], tf.shape(first)[1]

    def rows(x: Any) -> Any:
        if isinstance(x, Mapping):
            items = [(k, rows(v)) for k, v in x.items()]
            return OrderedDict(items) if isinstance(x, OrderedDict) else dict(items)
        if isinstance(x, (tuple, list)):
            return type(x)(rows(v) for v in x)
        x = tf.convert_to_tensor(_tf_compatible(x))
        return tf.reshape(x, tf.concat([[b * t], tf.shape(x)[2:]], axis=0))

    return b, t, rows(obs)


def _tf_rnn_inputs(module: Any, batch: Mapping[str, Any]) -> Tuple[Any, List[Any], Any]:
    """:func:`legacy_rnn_inputs` with tf ops: ``[B, T, F]`` float32 (``F`` static),
    the state list, ``[B]`` int32 seq_lens."""
    import tensorflow as tf

    space = module.config.observation_space
    b, t, rows = _tf_time_leaves(batch[Columns.OBS])
    obs = _tf_preprocess(rows, space)  # [B * T, F] (preprocessed) or [B * T, *shape]
    size = obs.shape[1:].num_elements()
    inputs = tf.reshape(tf.cast(obs, tf.float32), [b, t, size if size is not None else -1])
    return inputs, _tf_state(batch), _tf_seq_lens(batch, b, t)


def _tf_seq_inputs(module: Any, batch: Mapping[str, Any], is_training: bool) -> Tuple[Dict[str, Any], List[Any], Any]:
    """:func:`legacy_seq_inputs` with tf ops."""
    b, t, rows = _tf_time_leaves(batch[Columns.OBS])
    input_dict = _tf_input_dict(module.config.observation_space, rows, is_training)
    return input_dict, _tf_state(batch), _tf_seq_lens(batch, b, t)


def legacy_seq_inputs(
    module: Any, batch: Mapping[str, Any], is_training: bool = False
) -> Tuple[Dict[str, Any], List[torch.Tensor], torch.Tensor]:
    """A stateful legacy model's ``forward`` arguments, as a legacy policy passed them:

    * ``input_dict``: :func:`legacy_input_dict` of the observations ``[B, T, ...]`` laid
      out as legacy padded rows ``[B * T, ...]`` (each sequence padded to ``T``);
    * ``state``: the list of ``batch["state_in"]["state_<i>"]`` tensors, each ``[B, ...]``
      (the state before each sequence's first step);
    * ``seq_lens``: ``[B]`` int32, ``batch["seq_lens"]`` or ``T`` for every row.

    For a ``TfRLModule`` the same as tf tensors (tf ops only; see :func:`legacy_rnn_inputs`).
    """
    if _is_tf(module):
        return _tf_seq_inputs(module, batch, is_training)
    import torch

    obs = batch[Columns.OBS]
    b, t = flatten(obs, lists=True)[0].shape[:2]
    rows = map_structure(lambda x: torch.as_tensor(x).reshape(b * t, *x.shape[2:]), obs)
    input_dict = legacy_input_dict(module, {Columns.OBS: rows}, is_training=is_training)
    state_in = batch.get(Columns.STATE_IN) or {}
    state = [torch.as_tensor(state_in[state_key(i)]) for i in range(len(state_in))]
    seq_lens = batch.get(Columns.SEQ_LENS)
    if seq_lens is None:
        seq_lens = torch.full((b,), t, dtype=torch.int32)
    return input_dict, state, torch.as_tensor(seq_lens, dtype=torch.int32)


def legacy_time_rows(x: Any, seq_lens: Any) -> Any:
    """Legacy padded rows ``[B * T, ...]`` -> ``[B, T, ...]`` (``B = len(seq_lens)``); a
    torch or tf tensor, as given."""
    if _is_torch_tensor(x):
        return x.reshape(seq_lens.shape[0], -1, *x.shape[1:])
    import tensorflow as tf

    return tf.reshape(x, tf.concat([[tf.shape(seq_lens)[0], -1], tf.shape(x)[1:]], axis=0))

