"""Fragment: what an env runner hands to a learner.

One fragment is one agent's contiguous steps in one sub-environment within one
``sample()`` call: an episode, or the part of it that fell into this call. Learners
compute advantages per fragment (GAE needs time order and the value after the last
step) and cut recurrent training sequences from it.

How the runners fill it (``rlmodule.env_runners``):

- ``SingleAgentEnvRunner.sample()`` returns fragments ordered by ``env_index``, then
  time; their arrays are views into per-call ``[N, T, ...]`` buffers (contiguous per
  fragment; a learner may modify them in place, fragments never overlap).
- ``actions`` are the sampled (unclipped) actions; the env received them clipped to
  the Box bounds. ``rewards`` are float32 copies of the env's rewards.
- ``episode_id`` is unique across runners too: ``(worker_index << 32) + k``. A
  fragment that continues in the next ``sample()`` call keeps its ``episode_id``.
- With ``explore=False`` the runner acts with ``forward_inference``: ``vf_preds`` and
  ``bootstrap_value`` are 0.0 unless that forward returns ``vf_preds``.
- Exploring with a feed-forward module whose forward returns no ``vf_preds`` but that
  has ``compute_values`` (the built-in PPO modules), the single-agent runner acts with
  the actor only and leaves ``vf_preds`` ``None`` with ``bootstrap_obs`` set; the
  learner computes values in one batch. Recurrent modules get values per step.
- Multi-agent: an agent that acted last and has no new observation yet (turn-based
  envs) keeps that step for the next call (its reward may still arrive); the
  fragment before it bootstraps from that step's ``vf_preds``. An agent truncated
  without a final observation bootstraps from its last ``vf_preds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from rlmodule.rl_module import DEFAULT_MODULE_ID


@dataclass
class Fragment:
    """Numpy arrays with a leading time axis of length ``L`` (``len(fragment)``).

    Attributes:
        obs: ``[L, *obs_shape]`` observations the actions were taken on (nested
            dicts/tuples of such arrays for Dict/Tuple observation spaces).
        actions: ``[L, *action_shape]`` (nested for Dict/Tuple action spaces).
        rewards: ``[L]`` float32.
        action_logp: ``[L]`` float32, log-likelihood of ``actions`` under the
            sampling distribution.
        action_dist_inputs: ``[L, D]`` float32, the sampling distribution's inputs
            (``None`` when the module returned actions directly).
        vf_preds: ``[L]`` float32, V(obs[t]) as the acting forward returned it (zeros if
            it returns none and the module has no ``compute_values``), or ``None``: the
            module leaves values to ``compute_values(batch)`` and the learner computes
            them, with ``bootstrap_value``, in one batched call before it trains
            (:func:`rlmodule.learners.values.fill_values`, as RLlib's GAE connector).
        terminated: the last step ended the episode by termination (V after it is 0).
        truncated: the last step ended the episode by truncation (time limit).
        bootstrap_value: V(observation after the last step), with the acting weights:
            the final observation for a truncated episode, the next observation for a
            fragment cut by the end of ``sample()``; 0.0 if ``terminated`` (and until
            the learner fills it when ``vf_preds`` is ``None``).
        state_in: recurrent modules only: the state before each step, a dict
            ``{name: [L, ...]}`` (nested like ``module.get_initial_state()``).
        module_id: the module that acted (``policy_mapping_fn``'s choice).
        agent_id: the agent (``None`` in single-agent envs).
        env_index: which sub-environment of the runner.
        episode_id: unique per episode within the runner.
        infos: optional extra per-step columns ``{name: [L, ...]}``.
        bootstrap_obs: when ``vf_preds`` is ``None`` and the episode did not
            terminate: the observation after the last step (unbatched), for
            ``bootstrap_value``.
    """

    obs: Any
    actions: Any
    rewards: np.ndarray
    action_logp: np.ndarray
    action_dist_inputs: Optional[np.ndarray]
    vf_preds: Optional[np.ndarray]
    terminated: bool
    truncated: bool
    bootstrap_value: float
    state_in: Optional[Dict[str, Any]] = None
    module_id: str = DEFAULT_MODULE_ID
    agent_id: Any = None
    env_index: int = 0
    episode_id: int = 0
    infos: Dict[str, np.ndarray] = field(default_factory=dict)
    bootstrap_obs: Any = None

    def __len__(self) -> int:
        return len(self.rewards)
