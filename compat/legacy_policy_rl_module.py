"""LegacyPolicyRLModule: a whole legacy torch policy, unchanged, as a TorchRLModule.

For policies whose behaviour lives in ``action_sampler_fn``, ``action_distribution_fn``,
``make_model_and_action_dist`` or ``extra_action_out`` overrides. Exploration and
inference run the policy's own ``compute_actions`` (explore=True / False), so actions,
``action_logp``, ``action_dist_inputs`` and every extra output (``vf_preds``, ...) come
out exactly as the legacy policy makes them; the module returns ``actions`` directly.
``forward_train`` returns ``action_dist_inputs`` with gradients from
``action_distribution_fn`` when the policy overrides it, else from the model, plus
``vf_preds`` when the model has a value function.

Inputs are raw observations ``[B, ...]``; recurrent policies take one step at a time
(``obs`` ``[B, 1, ...]``, ``state_in`` keyed ``state_0``, ``state_1``, ...).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

import numpy as np
import torch

from compat.action_dist import map_legacy_dist_class
from compat.preprocessing import preprocess_obs
from rlmodule.columns import Columns
from rlmodule.rl_module import RLModuleConfig
from rlmodule.specs import SpecType
from rlmodule.torch.torch_rl_module import TorchRLModule


#: Legacy TorchPolicyV2 hooks that change what a policy computes beyond its model.
POLICY_HOOKS = ("action_distribution_fn", "action_sampler_fn", "make_model_and_action_dist")


def policy_hooks(policy: Any) -> List[str]:
    """The :data:`POLICY_HOOKS` a legacy torch policy's class overrides (none for an
    object that is not a ray ``TorchPolicyV2``)."""
    try:
        from ray.rllib.policy.torch_policy_v2 import TorchPolicyV2
    except ImportError:  # not a ray policy (ray would be installed)
        return []
    if not isinstance(policy, TorchPolicyV2):
        return []
    return [h for h in POLICY_HOOKS if getattr(type(policy), h) is not getattr(TorchPolicyV2, h)]


class LegacyPolicyRLModule(TorchRLModule):
    """The policy is ``self.policy``; its model is registered as ``self.model``."""

    @classmethod
    def wrap(cls, legacy_policy: Any) -> "LegacyPolicyRLModule":
        """Wrap a legacy torch policy (anything with ``compute_actions`` and ``model``)."""
        for attr in ("compute_actions", "model", "observation_space", "action_space"):
            if not hasattr(legacy_policy, attr):
                raise TypeError(
                    f"LegacyPolicyRLModule.wrap(): {type(legacy_policy).__name__} has no {attr!r}; is it a legacy Policy?"
                )
        obs_space = getattr(legacy_policy.observation_space, "original_space", legacy_policy.observation_space)
        model_config = dict(legacy_policy.config.get("model", {})) if hasattr(legacy_policy, "config") else {}
        module = cls(RLModuleConfig(obs_space, legacy_policy.action_space, model_config))
        module.policy = legacy_policy
        if isinstance(legacy_policy.model, torch.nn.Module):
            module.model = legacy_policy.model
        module._num_states = len(legacy_policy.get_initial_state())
        dist_class = getattr(legacy_policy, "dist_class", None)
        module.action_dist_cls = (
            None
            if dist_class is None
            else map_legacy_dist_class(dist_class, legacy_policy.action_space, legacy_policy.model, model_config)
        )
        return module

    def get_initial_state(self) -> Dict[str, torch.Tensor]:
        if "policy" not in self.__dict__:  # during __init__, before wrap() attaches the policy
            return {}
        return {f"state_{i}": torch.as_tensor(s) for i, s in enumerate(self.policy.get_initial_state())}

    def _dist_cls(self) -> Any:
        if self.action_dist_cls is None:
            raise NotImplementedError(
                f"{type(self.policy).__name__} has no action distribution class (it samples in "
                "action_sampler_fn); use the 'actions' and 'action_logp' outputs"
            )
        return self.action_dist_cls

    def get_train_action_dist_cls(self) -> Any:
        return self._dist_cls()

    def get_exploration_action_dist_cls(self) -> Any:
        return self._dist_cls()

    def get_inference_action_dist_cls(self) -> Any:
        return self._dist_cls()

    def output_specs_inference(self) -> SpecType:
        return [Columns.ACTIONS, Columns.ACTION_LOGP]

    def output_specs_exploration(self) -> SpecType:
        return [Columns.ACTIONS, Columns.ACTION_LOGP]

    def output_specs_train(self) -> SpecType:
        return [Columns.ACTION_DIST_INPUTS]

    def _forward_inference(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._compute_actions(batch, explore=False)

    def _forward_exploration(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._compute_actions(batch, explore=True)

    def _flat_obs(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if not self._num_states:
            return preprocess_obs(batch[Columns.OBS], self.config.observation_space, batch_dims=1)
        obs = preprocess_obs(batch[Columns.OBS], self.config.observation_space, batch_dims=2)
        if obs.shape[1] != 1:
            raise ValueError(
                f"LegacyPolicyRLModule: a recurrent legacy policy acts one step at a time; got obs with T={obs.shape[1]}"
            )
        return obs[:, 0]

    def _states(self, batch: Mapping[str, Any]) -> List[Any]:
        return [np.asarray(batch[Columns.STATE_IN][f"state_{i}"]) for i in range(self._num_states)]

    def _compute_actions(self, batch: Mapping[str, Any], explore: bool) -> Dict[str, Any]:
        flat = self._flat_obs(batch).numpy()
        actions, state_out, extra = self.policy.compute_actions(
            flat, state_batches=self._states(batch) or None, explore=explore
        )
        out: Dict[str, Any] = {Columns.ACTIONS: torch.as_tensor(np.asarray(actions))}
        out.update({k: torch.as_tensor(np.asarray(v)) for k, v in extra.items()})
        if self._num_states:
            out = {k: v[:, None] for k, v in out.items()}  # [B] -> [B, 1]: one time step
            out[Columns.STATE_OUT] = {f"state_{i}": torch.as_tensor(s) for i, s in enumerate(state_out)}
        return out

    def _forward_train(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        from ray.rllib.policy.sample_batch import SampleBatch

        input_dict = SampleBatch({Columns.OBS: self._flat_obs(batch)}, _is_training=True)
        states = [torch.as_tensor(s) for s in self._states(batch)]
        seq_lens = torch.ones(len(input_dict), dtype=torch.int32) if states else None
        policy = self.policy
        if "action_distribution_fn" in policy_hooks(policy):
            dist_inputs, _, _ = policy.action_distribution_fn(
                policy.model, obs_batch=input_dict, state_batches=states, seq_lens=seq_lens,
                explore=False, is_training=True,
            )
        else:
            dist_inputs, _ = policy.model(input_dict, states, seq_lens)
        out = {Columns.ACTION_DIST_INPUTS: dist_inputs}
        if hasattr(policy.model, "value_function"):
            out[Columns.VF_PREDS] = policy.model.value_function()
        return out
