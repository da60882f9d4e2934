"""RLModule bases for migrated subclasses of RLlib's built-in torch models.

A legacy ``class MyNet(FullyConnectedNetwork)`` becomes ``class
MyNet(FullyConnectedNetworkRLModule)`` (what ``rlmigrate`` emits): a ``TorchRLModule``
that builds the same layers, under the same names, as the drop-in
``compat.legacy_torch_models.FullyConnectedNetwork``, so the legacy ``state_dict`` loads
with ``strict=True``:

- ``setup(*legacy_args)`` runs the built-in model's constructor with
  ``(obs_space, action_space, num_outputs, model_config, name)``: the arguments the
  subclass passed to ``super().__init__(...)``, or, when called without them (the
  subclass does not override the constructor), those of ``legacy_model_args(self)``;
- ``_model_forward`` is the built-in model's legacy ``forward(input_dict, state,
  seq_lens)`` (a subclass's renamed ``forward`` overrides it and may call
  ``super()._model_forward(...)``), ``value_function`` the built-in one;
- the three RLModule forwards build the legacy ``input_dict`` and call both.

The built-in models are stateless; a subclass that adds state gets the codemod's
stateful forwards.

``TfFullyConnectedNetworkRLModule`` is the same for RLlib's TF ``FullyConnectedNetwork``:
a ``TfRLModule`` building ray 2.60's functional Keras ``base_model`` (layers ``fc_<i>``,
``fc_out``, ``fc_value_<i>``, ``value_out``) without ray.

Each base is built, and its framework imported, when its name is first used (``from
compat.migrated_builtins import TfFullyConnectedNetworkRLModule``), never by ``import
compat.migrated_builtins``: a migrated TF model loads no torch, a torch one no TensorFlow.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np

from compat.migrated_model import legacy_input_dict, legacy_model_args
from rlmodule.columns import Columns
from rlmodule.rl_module import RLModule

__all__ = [
    "ComplexInputNetworkRLModule", "FullyConnectedNetworkRLModule", "TfFullyConnectedNetworkRLModule",
    "VisionNetworkRLModule",
]


class LegacyForwards:
    """The three RLModule forwards of a migrated stateless model: the legacy
    ``input_dict`` (torch or tf tensors, by the module's framework) into
    ``self._model_forward``, and ``self.value_function()`` for ``vf_preds``."""

    def _forward_inference(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
        return {Columns.ACTION_DIST_INPUTS: logits}

    def _forward_exploration(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
        return {Columns.ACTION_DIST_INPUTS: logits, Columns.VF_PREDS: self.value_function()}

    def _forward_train(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        logits, _ = self._model_forward(legacy_input_dict(self, batch, is_training=True), [], None)
        return {Columns.ACTION_DIST_INPUTS: logits, Columns.VF_PREDS: self.value_function()}


def _torch_base(legacy_name: str) -> type:
    """A ``TorchRLModule`` that is also the drop-in ``compat.legacy_torch_models``
    model class ``legacy_name``."""
    from torch import nn

    from compat import legacy_torch_models
    from rlmodule.torch import TorchRLModule

    legacy = getattr(legacy_torch_models, legacy_name)

    class Base(LegacyForwards, TorchRLModule, legacy):  # type: ignore[misc, valid-type]
        # The RLModule's meaning wins where both classes define a name.
        __call__ = nn.Module.__call__
        forward = TorchRLModule.forward
        get_initial_state = RLModule.get_initial_state

        def setup(self, *legacy_args: Any) -> None:
            """Build the built-in model's layers from ``legacy_args`` (default:
            ``legacy_model_args(self)``)."""
            args = legacy_args or legacy_model_args(self)
            legacy.__init__(self, *args)

        def _model_forward(self, input_dict: Dict[str, Any], state: list, seq_lens: Any) -> Any:
            """The built-in model's legacy ``forward``: ``([B, num_outputs], state)``."""
            return legacy.forward(self, input_dict, state, seq_lens)

    Base.__name__ = Base.__qualname__ = f"{legacy.__name__}RLModule"
    Base.__doc__ = f"RLModule base of a migrated ``{legacy.__name__}`` subclass (see the module docstring)."
    return Base


#: The torch bases: ``<X>RLModule`` wraps ``compat.legacy_torch_models.<X>``.
_TORCH_BASES = ("ComplexInputNetworkRLModule", "FullyConnectedNetworkRLModule", "VisionNetworkRLModule")


def __getattr__(name: str) -> Any:
    """The base ``name``, built (and its framework imported) on first use."""
    if name in _TORCH_BASES:
        cls = _torch_base(name.removesuffix("RLModule"))
    elif name == "TfFullyConnectedNetworkRLModule":
        cls = _tf_fully_connected_network()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = cls
    return cls


def _tf_activation(name: Any) -> Any:
    """ray's ``get_activation_fn(name, "tf")``."""
    import tensorflow as tf

    if name in (None, "linear"):
        return None
    table = {"relu": tf.nn.relu, "tanh": tf.nn.tanh, "elu": tf.nn.elu, "swish": tf.nn.swish, "silu": tf.nn.swish}
    if name not in table:
        raise ValueError(f"unknown fcnet activation {name!r} (relu, tanh, elu, swish, linear)")
    return table[name]


def _tf_normc_initializer(std: float = 1.0) -> Any:
    """ray's TF ``normc_initializer``: each column normalised to norm ``std``."""
    import tensorflow as tf

    def initializer(shape: Any, dtype: Any = None, **kwargs: Any) -> Any:
        out = np.random.randn(*shape).astype(np.float32)
        out *= std / np.sqrt(np.square(out).sum(axis=0, keepdims=True))
        return tf.constant(out)

    return initializer


def _tf_fully_connected_network() -> type:
    import tensorflow as tf

    from rlmodule.tf import TfRLModule

    class TfFullyConnectedNetworkRLModule(LegacyForwards, TfRLModule):
        """RLModule base of a migrated TF ``FullyConnectedNetwork`` subclass: ray 2.60's
        ``base_model`` (``obs_flat [B, F] -> ([B, num_outputs], [B, 1])``)."""

        def setup(self, *legacy_args: Any) -> None:
            """Build the layers from ``legacy_args`` (default: ``legacy_model_args(self)``)."""
            obs_space, _action_space, num_outputs, model_config, _name = legacy_args or legacy_model_args(self)
            if legacy_args:
                self.obs_space, self.action_space, self.num_outputs, self.model_config, self.name = legacy_args
            if model_config.get("free_log_std"):
                raise NotImplementedError("free_log_std=True: the migrated TF FullyConnectedNetwork does not build it")
            hiddens = list(model_config.get("fcnet_hiddens", [])) + list(model_config.get("post_fcnet_hiddens", []))
            activation = model_config.get("fcnet_activation")
            if not model_config.get("fcnet_hiddens", []):
                activation = model_config.get("post_fcnet_activation")
            activation = _tf_activation(activation)
            inputs = tf.keras.layers.Input(shape=(int(np.prod(obs_space.shape)),), name="observations")
            last_layer, logits_out, i = inputs, None, 1
            for size in hiddens[:-1]:
                last_layer = tf.keras.layers.Dense(
                    size, name=f"fc_{i}", activation=activation, kernel_initializer=_tf_normc_initializer(1.0)
                )(last_layer)
                i += 1
            if model_config.get("no_final_linear") and num_outputs:
                logits_out = tf.keras.layers.Dense(
                    num_outputs, name="fc_out", activation=activation, kernel_initializer=_tf_normc_initializer(1.0)
                )(last_layer)
            else:
                if hiddens:
                    last_layer = tf.keras.layers.Dense(
                        hiddens[-1], name=f"fc_{i}", activation=activation,
                        kernel_initializer=_tf_normc_initializer(1.0),
                    )(last_layer)
                if num_outputs:
                    logits_out = tf.keras.layers.Dense(
                        num_outputs, name="fc_out", activation=None, kernel_initializer=_tf_normc_initializer(0.01)
                    )(last_layer)
                else:
                    self.num_outputs = ([int(np.prod(obs_space.shape))] + hiddens[-1:])[-1]
            last_vf_layer = None
            if not model_config.get("vf_share_layers"):
                last_vf_layer = inputs
                for j, size in enumerate(hiddens, start=1):
                    last_vf_layer = tf.keras.layers.Dense(
                        size, name=f"fc_value_{j}", activation=activation,
                        kernel_initializer=_tf_normc_initializer(1.0),
                    )(last_vf_layer)
            value_out = tf.keras.layers.Dense(
                1, name="value_out", activation=None, kernel_initializer=_tf_normc_initializer(0.01)
            )(last_vf_layer if last_vf_layer is not None else last_layer)
            self.base_model = tf.keras.Model(inputs, [logits_out if logits_out is not None else last_layer, value_out])

        def _model_forward(self, input_dict: Dict[str, Any], state: list, seq_lens: Any) -> Any:
            model_out, self._value_out = self.base_model(input_dict["obs_flat"])
            return model_out, state

        def value_function(self) -> Any:
            return tf.reshape(self._value_out, [-1])

    TfFullyConnectedNetworkRLModule.__qualname__ = "TfFullyConnectedNetworkRLModule"  # its checkpoint class path
    return TfFullyConnectedNetworkRLModule

