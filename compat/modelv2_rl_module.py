"""ModelV2RLModule: a legacy torch ModelV2, unchanged, as a TorchRLModule.

The module receives raw observations (``batch["obs"]``: ``[B, ...]``, or ``[B, T, ...]``
for recurrent models), applies the legacy preprocessor (one-hot / flattening) and calls
the model exactly as a legacy policy did - ``model(input_dict, state, seq_lens)``, which
restores the original observation structure and builds ``obs_flat`` - then
``model.value_function()``. The legacy state list maps to ``state_in`` / ``state_out``
dicts keyed ``"state_0"``, ``"state_1"``, ... (each ``[B, ...]``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import gymnasium as gym
import torch

from compat.action_dist import map_legacy_dist_class
from compat.preprocessing import preprocess_obs
from rlmodule.columns import Columns
from rlmodule.rl_module import RLModuleConfig
from rlmodule.specs import SpecType
from rlmodule.torch.torch_rl_module import TorchRLModule


def _state_key(i: int) -> str:
    return f"state_{i}"


class ModelV2RLModule(TorchRLModule):
    """The legacy model lives in ``self.model`` (so its ``state_dict`` keys are
    ``model.<legacy key>``). Build it with :meth:`wrap`."""

    _has_value = True  # False for a model without ``value_function`` (no ``vf_preds``)

    @classmethod
    def wrap(
        cls,
        legacy_model: Any,
        *,
        action_dist_class: Any = None,
        observation_space: Optional[gym.Space] = None,
        action_space: Optional[gym.Space] = None,
    ) -> "ModelV2RLModule":
        """Wrap ``legacy_model`` (any object with the torch ModelV2 surface).

        ``action_dist_class`` is the legacy policy's distribution class (default: what
        legacy ``ModelCatalog.get_action_dist`` picks for the action space).
        ``observation_space`` defaults to the model's original (unflattened) space.
        """
        for attr in ("forward", "value_function", "get_initial_state", "obs_space", "action_space"):
            if not hasattr(legacy_model, attr):
                raise TypeError(f"ModelV2RLModule.wrap(): {type(legacy_model).__name__} has no {attr!r}; is it a ModelV2?")
        if not isinstance(legacy_model, torch.nn.Module):
            raise TypeError(
                f"ModelV2RLModule.wrap(): {type(legacy_model).__name__} is not a torch model; "
                "TF ModelV2s are not supported (see MIGRATION.md)"
            )
        obs_space = observation_space or getattr(legacy_model.obs_space, "original_space", legacy_model.obs_space)
        act_space = action_space or legacy_model.action_space
        module = cls(RLModuleConfig(obs_space, act_space, dict(getattr(legacy_model, "model_config", {}) or {})))
        module.model = legacy_model
        module._num_states = len(legacy_model.get_initial_state())
        # ModelV2's own value_function() raises NotImplementedError: such a model has no critic.
        module._has_value = type(legacy_model).value_function.__qualname__ != "ModelV2.value_function"
        if action_dist_class is None:
            from ray.rllib.models.catalog import ModelCatalog  # the legacy default, as legacy picks it

            action_dist_class, _ = ModelCatalog.get_action_dist(act_space, module.config.model_config_dict, framework="torch")
        module.legacy_dist_class = action_dist_class
        module.action_dist_cls = map_legacy_dist_class(action_dist_class, act_space, legacy_model, module.config.model_config_dict)
        return module

    def get_initial_state(self) -> Dict[str, torch.Tensor]:
        if "model" not in self._modules:  # during __init__, before wrap() attaches the model
            return {}
        return {_state_key(i): torch.as_tensor(s) for i, s in enumerate(self.model.get_initial_state())}

    def output_specs_inference(self) -> SpecType:
        return [Columns.ACTION_DIST_INPUTS]

    def output_specs_exploration(self) -> SpecType:
        return [Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS] if self._has_value else [Columns.ACTION_DIST_INPUTS]

    def output_specs_train(self) -> SpecType:
        return self.output_specs_exploration()

    def _forward_inference(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._call_model(batch, training=False)

    def _forward_exploration(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._call_model(batch, training=False)

    def _forward_train(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._call_model(batch, training=True)

    def _call_model(self, batch: Mapping[str, Any], training: bool) -> Dict[str, Any]:
        """Every forward also reports ``vf_preds`` (legacy policies did, in every mode),
        unless the model has no ``value_function``."""
        space = self.config.observation_space
        if not self._num_states:
            obs = preprocess_obs(batch[Columns.OBS], space, batch_dims=1)
            logits, _ = self.model({Columns.OBS: obs, "is_training": training}, [], None)
            out = {Columns.ACTION_DIST_INPUTS: logits}
            if self._has_value:
                out[Columns.VF_PREDS] = self.model.value_function()
            return out
        obs = preprocess_obs(batch[Columns.OBS], space, batch_dims=2)
        b, t = obs.shape[:2]
        state_in = batch[Columns.STATE_IN]
        state: List[torch.Tensor] = [torch.as_tensor(state_in[_state_key(i)]) for i in range(self._num_states)]
        seq_lens = batch.get(Columns.SEQ_LENS)
        seq_lens = torch.full((b,), t, dtype=torch.int32) if seq_lens is None else torch.as_tensor(seq_lens, dtype=torch.int32)
        flat = obs.reshape((b * t,) + tuple(obs.shape[2:]))
        logits, state_out = self.model({Columns.OBS: flat, "is_training": training}, state, seq_lens)
        out = {
            Columns.ACTION_DIST_INPUTS: logits.reshape((b, t) + tuple(logits.shape[1:])),
            Columns.STATE_OUT: {_state_key(i): s for i, s in enumerate(state_out)},
        }
        if self._has_value:
            out[Columns.VF_PREDS] = self.model.value_function().reshape(b, t)
        return out
