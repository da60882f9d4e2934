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

The built-in models are stateless; a subclass that adds state is flagged by the codemod.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Type

from torch import nn

from compat.legacy_torch_models import ComplexInputNetwork, FullyConnectedNetwork, VisionNetwork
from compat.migrated_model import legacy_input_dict, legacy_model_args
from rlmodule.columns import Columns
from rlmodule.rl_module import RLModule
from rlmodule.torch import TorchRLModule

__all__ = ["ComplexInputNetworkRLModule", "FullyConnectedNetworkRLModule", "VisionNetworkRLModule"]


def _rl_module_base(legacy: Type[nn.Module]) -> Type[TorchRLModule]:
    """A ``TorchRLModule`` that is also the drop-in ``legacy`` model class."""

    class Base(TorchRLModule, legacy):  # type: ignore[misc, valid-type]
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

        def _forward_inference(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
            logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
            return {Columns.ACTION_DIST_INPUTS: logits}

        def _forward_exploration(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
            logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
            return {Columns.ACTION_DIST_INPUTS: logits, Columns.VF_PREDS: self.value_function()}

        def _forward_train(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
            logits, _ = self._model_forward(legacy_input_dict(self, batch, is_training=True), [], None)
            return {Columns.ACTION_DIST_INPUTS: logits, Columns.VF_PREDS: self.value_function()}

    Base.__name__ = Base.__qualname__ = f"{legacy.__name__}RLModule"
    Base.__doc__ = f"RLModule base of a migrated ``{legacy.__name__}`` subclass (see the module docstring)."
    return Base


FullyConnectedNetworkRLModule = _rl_module_base(FullyConnectedNetwork)
VisionNetworkRLModule = _rl_module_base(VisionNetwork)
ComplexInputNetworkRLModule = _rl_module_base(ComplexInputNetwork)
