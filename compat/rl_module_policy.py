"""RLModulePolicy: an RLModule behind the legacy ``Policy.compute_actions*`` surface.

Serving code keeps calling ``policy.compute_single_action(obs)`` while the model
underneath is an RLModule. ``explore=True`` runs ``forward_exploration`` and samples;
``explore=False`` runs ``forward_inference`` and takes the deterministic action
(logp 0); ``explore=None`` follows ``config["explore"]``. Results have the legacy
shapes, dtypes (int64 -> int32, float64 -> float32, as legacy ``convert_to_numpy``)
and keys: ``(actions, state_outs, extra)`` with ``action_dist_inputs``,
``action_logp``, ``action_prob`` and ``vf_preds`` when the module produces it (from
its forward, else its ``compute_values(batch)``).
Observations may be raw (nested for Dict/Tuple spaces) or legacy-preprocessed (flat).
Acting runs through :class:`rlmodule.acting.Actor` (mode, time axis, sampling, values).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch

from compat.preprocessing import is_flattened, legacy_obs_size, restore_raw_obs
from rlmodule.acting import Actor
from rlmodule.columns import Columns
from rlmodule.tree import map_structure

DEFAULT_CONFIG: Dict[str, Any] = {"explore": True}
_NOT_EXTRA = frozenset((Columns.ACTIONS, Columns.STATE_OUT, Columns.ACTION_DIST))
_REDUCED_DTYPE = {np.dtype(np.int64): np.int32, np.dtype(np.float64): np.float32}


def _to_numpy(x: Any) -> Any:
    """Legacy ``convert_to_numpy(reduce_type=True)``: int64 -> int32, float64 -> float32."""
    if isinstance(x, torch.Tensor):
        x = x.numpy(force=True)  # detached, on the CPU
    elif isinstance(x, Mapping):
        return {k: _to_numpy(v) for k, v in x.items()}
    elif isinstance(x, tuple):
        return tuple(_to_numpy(v) for v in x)
    else:
        x = np.asarray(x)
    reduced = _REDUCED_DTYPE.get(x.dtype)
    return x if reduced is None else x.astype(reduced)


class RLModulePolicy:
    """The legacy Policy surface over a torch RLModule.

    Attributes:
        module: the RLModule.
        observation_space, action_space: default to the module's spaces.
        config: a dict with at least ``explore`` (default True).
    """

    def __init__(
        self,
        module: Any,
        observation_space: Optional[gym.Space] = None,
        action_space: Optional[gym.Space] = None,
        config: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if module.framework != "torch":
            raise TypeError(f"RLModulePolicy needs a torch RLModule, got framework {module.framework!r}")
        self.module = module
        self._actor = Actor(module, to_numpy=_to_numpy)
        module_config = module.config
        self.observation_space = observation_space or module_config.observation_space
        self.action_space = action_space or module_config.action_space
        self.config = {**DEFAULT_CONFIG, **(config or {})}
        self._stateful = module.is_stateful()
        self._state_keys = list(module.get_initial_state()) if self._stateful else []
        self._flat_size = legacy_obs_size(self.observation_space) if is_flattened(self.observation_space) else None

    # --- acting -------------------------------------------------------------------------
    def compute_actions(
        self,
        obs_batch: Any,
        state_batches: Optional[List[Any]] = None,
        prev_action_batch: Any = None,
        prev_reward_batch: Any = None,
        info_batch: Any = None,
        episodes: Any = None,
        explore: Optional[bool] = None,
        timestep: Optional[int] = None,
        **kwargs: Any,
    ) -> Tuple[Any, List[np.ndarray], Dict[str, np.ndarray]]:
        """``(actions [B, ...], state_outs [[B, ...], ...], extra {key: [B, ...]})``."""
        return self._compute(obs_batch, state_batches, explore)

    def compute_actions_from_input_dict(
        self, input_dict: Mapping[str, Any], explore: Optional[bool] = None, timestep: Optional[int] = None,
        episodes: Any = None, **kwargs: Any,
    ) -> Tuple[Any, List[np.ndarray], Dict[str, np.ndarray]]:
        """As :meth:`compute_actions`, reading ``obs`` and ``state_in_<i>`` keys."""
        states = []
        while f"state_in_{len(states)}" in input_dict:
            states.append(input_dict[f"state_in_{len(states)}"])
        return self._compute(input_dict[Columns.OBS], states or None, explore)

    def compute_single_action(
        self, obs: Any = None, state: Optional[List[Any]] = None, *, prev_action: Any = None,
        prev_reward: Any = None, info: Any = None, input_dict: Optional[Mapping[str, Any]] = None,
        episode: Any = None, explore: Optional[bool] = None, timestep: Optional[int] = None, **kwargs: Any,
    ) -> Tuple[Any, List[np.ndarray], Dict[str, Any]]:
        """One observation (no batch dim) -> ``(action, state_outs, extra)`` unbatched.
        Like legacy ``Policy.compute_single_action``, actions are not unsquashed
        (legacy ``Algorithm.compute_single_action`` did that, not the policy)."""
        if input_dict is not None:
            obs = input_dict[Columns.OBS]
            state = [input_dict[f"state_in_{i}"] for i in range(len(self._state_keys))] or state
        obs = _add_batch_dim(obs)
        batch_state = None if state is None else [np.asarray(s)[None] for s in state]
        actions, state_out, extra = self._compute(obs, batch_state, explore)
        return _first(actions), [s[0] for s in state_out], {k: v[0] for k, v in extra.items()}

    def compute_log_likelihoods(
        self, actions: Any, obs_batch: Any, state_batches: Optional[List[Any]] = None,
        prev_action_batch: Any = None, prev_reward_batch: Any = None, actions_normalized: bool = True,
        in_training: bool = True,
    ) -> torch.Tensor:
        """``[B]`` log-likelihoods of ``actions`` under the exploration distribution."""
        obs, state = self._inputs(obs_batch, state_batches)
        actor = self._actor
        with torch.no_grad():
            out = actor.forward(actor.batch(obs, state), explore=True)
            dist = actor.distribution(out, explore=True)
            acts = torch.as_tensor(np.asarray(actions))
            if self._stateful:
                acts = acts[:, None]
            logp = dist.logp(acts) if hasattr(dist, "logp") else dist.log_prob(acts)
        return logp[:, 0] if self._stateful else logp

    def _compute(self, obs_batch: Any, state_batches: Optional[List[Any]], explore: Optional[bool]):
        if explore is None:
            explore = self.config["explore"]
        obs, state = self._inputs(obs_batch, state_batches)
        step = self._actor.act(obs, state, explore=explore, values=True)  # numpy through _to_numpy
        actions, logp = step.actions, step.logp  # deterministic actions have logp 0, as in legacy
        # Every other per-sample output is an extra (action_dist_inputs, vf_preds, and
        # whatever a wrapped legacy policy's extra_action_out produced).
        extra: Dict[str, Any] = {}
        for key, value in step.out.items():
            if key in _NOT_EXTRA or not isinstance(value, torch.Tensor):
                continue
            if key == Columns.ACTION_DIST_INPUTS:
                extra[key] = step.action_dist_inputs
            elif key == Columns.VF_PREDS:
                extra[key] = step.vf_preds
            else:
                value = _to_numpy(value)
                extra[key] = value[:, 0] if self._stateful else value
        if step.vf_preds is not None and Columns.VF_PREDS not in extra:  # legacy PPO always reported them
            extra[Columns.VF_PREDS] = step.vf_preds
        extra[Columns.ACTION_LOGP] = logp
        extra[Columns.ACTION_PROB] = np.exp(logp)
        state_outs = [step.state_out[k] for k in self._state_keys] if self._stateful else []
        return actions, state_outs, extra

    def _inputs(self, obs_batch: Any, state_batches: Optional[List[Any]]) -> Tuple[Any, Any]:
        """``(obs, state)`` for the actor: raw observations (legacy-preprocessed ones
        restored) and, recurrent, the state dict (``[B, ...]`` leaves)."""
        obs = obs_batch
        if self._flat_size is not None and not isinstance(obs, (dict, tuple)):
            obs = restore_raw_obs(obs, self.observation_space)  # legacy-preprocessed input
        if not self._stateful:
            return obs, None
        initial = self.module.get_initial_state()
        if state_batches is None:
            n = len(_first_leaf(obs))
            state = {k: initial[k].expand((n,) + tuple(initial[k].shape)) for k in self._state_keys}
        else:  # legacy-shaped states ([B, cell] for [B, layers=1, cell]) are reshaped
            state = {
                k: torch.as_tensor(np.asarray(s)).reshape((len(s),) + tuple(initial[k].shape))
                for k, s in zip(self._state_keys, state_batches)
            }
        return obs, state

    # --- state and weights -----------------------------------------------------------------
    def get_initial_state(self) -> List[np.ndarray]:
        """The module's initial state as a list (legacy order: the state dict's order)."""
        initial = self.module.get_initial_state()
        return [_to_numpy(initial[k]) for k in self._state_keys]

    def is_recurrent(self) -> bool:
        return self._stateful

    def num_state_tensors(self) -> int:
        return len(self._state_keys)

    def get_weights(self) -> Dict[str, np.ndarray]:
        """``{name: numpy array}`` of the module's weights."""
        return {k: v.detach().cpu().numpy() for k, v in self.module.get_state().items()}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        self.module.set_state(weights)

    def get_state(self) -> Dict[str, Any]:
        """Weights plus the policy's config (legacy ``Policy.get_state`` shape)."""
        return {"weights": self.get_weights(), "config": dict(self.config)}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.set_weights(state["weights"])
        self.config.update(state.get("config", {}))

    def export_checkpoint(self, export_dir: str, *args: Any, **kwargs: Any) -> str:
        """Save the module as an RLModule checkpoint (JSON + safetensors) in ``export_dir``."""
        return self.module.save_to_checkpoint(export_dir)


# The helpers below take a plain array directly, without map_structure's Mapping check.
def _add_batch_dim(x: Any) -> Any:
    if type(x) is np.ndarray:
        return x[None]
    return map_structure(lambda v: v.unsqueeze(0) if isinstance(v, torch.Tensor) else np.asarray(v)[None], x)


def _first(x: Any) -> Any:
    if type(x) is np.ndarray:
        return x[0]
    return map_structure(lambda v: v[0], x)


def _first_leaf(x: Any) -> Any:
    while isinstance(x, (dict, tuple)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return x
