"""SameStepVectorEnv: ``N`` copies of a gymnasium env stepped in one process.

Semantics are gymnasium's ``SyncVectorEnv(autoreset_mode=SAME_STEP)``: when a sub-env's
episode ends, :meth:`SameStepVectorEnv.step` resets it at once, returns its reset
observation in the batch and its final observation separately. What it leaves out is
what the env runner does not read: per-step info dicts merged into batched arrays,
and numpy scalars where a Discrete action can be a Python int (a ``Discrete.contains``
check costs more for a numpy integer than CartPole's physics). On CartPole that halves
the stepping overhead per sub-env step (see ``benchmarks/train_cartpole.py``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate


class SameStepVectorEnv:
    """``N`` sub-envs from ``env_fns``, batched observations, same-step autoreset.

    Attributes:
        envs: the sub-envs (``gym.Env``).
        num_envs: ``N``.
        single_observation_space, single_action_space: one sub-env's spaces (every
            sub-env must have the same ones).
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        self.envs: List[gym.Env] = [fn() for fn in env_fns]
        if not self.envs:
            raise ValueError("SameStepVectorEnv needs at least one env")
        self.num_envs = len(self.envs)
        first = self.envs[0]
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        for i, env in enumerate(self.envs[1:], start=1):
            for what in ("observation_space", "action_space"):
                if getattr(env, what) != getattr(first, what):
                    raise ValueError(
                        f"sub-env {i} has {what} {getattr(env, what)}, sub-env 0 has {getattr(first, what)}; "
                        "every copy of the env must have the same spaces"
                    )
        self._obs = create_empty_array(self.single_observation_space, self.num_envs)
        self._rewards = np.zeros(self.num_envs, np.float64)
        self._terminated = np.zeros(self.num_envs, np.bool_)
        self._truncated = np.zeros(self.num_envs, np.bool_)
        self._box_obs = isinstance(self.single_observation_space, gym.spaces.Box)
        self._split_actions = _action_splitter(self.single_action_space, self.num_envs)

    def reset(self, seed: Optional[Sequence[Optional[int]]] = None) -> Any:
        """Reset every sub-env (sub-env ``i`` with ``seed[i]``); returns the batched
        observations (``[N, ...]`` leaves; the buffer is reused by later calls)."""
        seeds = list(seed) if seed is not None else [None] * self.num_envs
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset(seed=...): {len(seeds)} seeds for {self.num_envs} sub-envs")
        return self._batch([env.reset(seed=s)[0] for env, s in zip(self.envs, seeds)])

    def step(self, actions: Any) -> Tuple[Any, np.ndarray, np.ndarray, np.ndarray, Dict[int, Any]]:
        """Step sub-env ``i`` with ``actions[i]``. Returns ``(obs, rewards [N] float64,
        terminated [N] bool, truncated [N] bool, final_obs)``: ``final_obs`` maps the index
        of each sub-env whose episode ended at this step to its last observation (its
        slot in ``obs`` already holds the reset observation). Arrays are reused by later
        calls."""
        results = [env.step(action) for env, action in zip(self.envs, self._split_actions(actions))]
        observations, rewards, terminated, truncated, _ = zip(*results)
        self._rewards[:] = rewards
        self._terminated[:] = terminated
        self._truncated[:] = truncated
        final_obs: Dict[int, Any] = {}
        ended = self._terminated | self._truncated
        if ended.any():
            observations = list(observations)
            for i in np.flatnonzero(ended).tolist():
                final_obs[i] = observations[i]
                observations[i], _ = self.envs[i].reset()
        return self._batch(observations), self._rewards, self._terminated, self._truncated, final_obs

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def _batch(self, observations: List[Any]) -> Any:
        if self._box_obs:  # row by row: cheaper than np.stack for small observations
            buf = self._obs
            for i, obs in enumerate(observations):
                buf[i] = obs
            return buf
        return concatenate(self.single_observation_space, observations, self._obs)


def _action_splitter(space: gym.Space, n: int) -> Callable[[Any], List[Any]]:
    """Batched actions -> one action per sub-env: Python ints for Discrete, rows for
    array spaces, gymnasium's ``iterate`` for Dict/Tuple spaces."""
    if isinstance(space, gym.spaces.Discrete):
        return lambda actions: np.asarray(actions).reshape(n).tolist()
    if isinstance(space, (gym.spaces.Box, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
        return lambda actions: list(np.asarray(actions))
    batched = batch_space(space, n)
    return lambda actions: list(iterate(batched, actions))
