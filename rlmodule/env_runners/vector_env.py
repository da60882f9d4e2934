"""SameStepVectorEnv: ``N`` copies of a gymnasium env stepped in one process.

Semantics are gymnasium's ``SyncVectorEnv(autoreset_mode=SAME_STEP)``: when a sub-env's
episode ends, :meth:`SameStepVectorEnv.step` resets it at once, returns its reset
observation in the batch and its final observation separately. What it leaves out is
what the env runner does not read: per-step info dicts merged into batched arrays,
and numpy scalars where a Discrete action can be a Python int (a ``Discrete.contains``
check costs more for a numpy integer than CartPole's physics). On CartPole that halves
the stepping overhead per sub-env step (see ``benchmarks/train_cartpole.py``).

What it adds: observations and rewards are checked. A None, NaN / inf, wrong-shape or
wrong-structure observation (from ``reset()`` or ``step()``, including the final
observation of a truncated episode) and a None or non-finite reward raise
:class:`~rlmodule.env_runners.env_checks.EnvDataError` naming the env, the sub-env, the
step and the observation key. Per step this costs one ``np.isfinite(...).all()`` per
float leaf of the batch, a shape comparison of the stacked Box observations and a sum
of the rewards; the culprit is looked for only when one of them fails.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from rlmodule.env_runners.env_checks import (
    BATCHING_ERRORS,
    EnvDataError,
    env_name,
    observation_problem,
    reward_problem,
)
from rlmodule.tree import flatten


class SameStepVectorEnv:
    """``N`` sub-envs from ``env_fns``, batched observations, same-step autoreset.

    Attributes:
        envs: the sub-envs (``gym.Env``).
        num_envs: ``N``.
        single_observation_space, single_action_space: one sub-env's spaces (every
            sub-env must have the same ones).
        infos: the info dicts of the last ``step()`` (per sub-env; an ended
            episode's final info).
        reset_infos: sub-env index -> the info of its latest ``reset()``.
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
        self._float_leaves = [x for x in flatten(self._obs) if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
        self._rewards = np.zeros(self.num_envs, np.float64)
        self._terminated = np.zeros(self.num_envs, np.bool_)
        self._truncated = np.zeros(self.num_envs, np.bool_)
        self._box_obs = isinstance(self.single_observation_space, gym.spaces.Box)
        self._split_actions = _action_splitter(self.single_action_space, self.num_envs)
        self._num_steps = 0  # step() calls so far
        self._episode_start = np.zeros(self.num_envs, np.int64)  # _num_steps at each sub-env's last reset
        self.infos: Sequence[Dict[str, Any]] = ()
        self.reset_infos: Dict[int, Dict[str, Any]] = {}

    def get_sub_environments(self) -> List[gym.Env]:
        """The sub-envs (the name RLlib's legacy ``BaseEnv`` gave them)."""
        return self.envs

    def reset(self, seed: Optional[Sequence[Optional[int]]] = None) -> Any:
        """Reset every sub-env (sub-env ``i`` with ``seed[i]``); returns the batched
        observations (``[N, ...]`` leaves; the buffer is reused by later calls)."""
        seeds = list(seed) if seed is not None else [None] * self.num_envs
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset(seed=...): {len(seeds)} seeds for {self.num_envs} sub-envs")
        self._episode_start[:] = self._num_steps
        results = [env.reset(seed=s) for env, s in zip(self.envs, seeds)]
        self.reset_infos = {i: info for i, (_, info) in enumerate(results)}
        return self._batch([obs for obs, _ in results], range(self.num_envs))

    def step(self, actions: Any) -> Tuple[Any, np.ndarray, np.ndarray, np.ndarray, Dict[int, Any]]:
        """Step sub-env ``i`` with ``actions[i]``. Returns ``(obs, rewards [N] float64,
        terminated [N] bool, truncated [N] bool, final_obs)``: ``final_obs`` maps the index
        of each sub-env whose episode ended at this step to its last observation (its
        slot in ``obs`` already holds the reset observation). Arrays are reused by later
        calls."""
        results = [env.step(action) for env, action in zip(self.envs, self._split_actions(actions))]
        self._num_steps += 1
        observations, rewards, terminated, truncated, self.infos = zip(*results)
        self._store_rewards(rewards)
        self._terminated[:] = terminated
        self._truncated[:] = truncated
        final_obs: Dict[int, Any] = {}
        ended = self._terminated | self._truncated
        reset: List[int] = []
        if ended.any():
            observations = list(observations)
            reset = np.flatnonzero(ended).tolist()
            for i in reset:
                final_obs[i] = observations[i]
                if self._truncated[i] and not self._terminated[i]:  # the runner bootstraps from it
                    self._check_observation(i, observations[i], reset=False)
                observations[i], self.reset_infos[i] = self.envs[i].reset()
                self._episode_start[i] = self._num_steps
        return self._batch(observations, reset), self._rewards, self._terminated, self._truncated, final_obs

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def _batch(self, observations: Sequence[Any], reset: Sequence[int]) -> Any:
        """The observations in the batch buffer (``[N, ...]`` leaves); EnvDataError
        naming the first that does not fit the space (``reset``: the indices of those
        that ``reset()`` returned)."""
        try:
            batch = self._fill(observations)
            for leaf in self._float_leaves:
                if not np.isfinite(leaf).all():
                    break
            else:
                return batch
        except BATCHING_ERRORS:
            pass
        for i, obs in enumerate(observations):
            self._check_observation(i, obs, reset=i in reset)
        # Nothing wrong after all (e.g. lists instead of arrays): gymnasium's way.
        return concatenate(self.single_observation_space, observations, self._obs)

    def _fill(self, observations: Sequence[Any]) -> Any:
        if self._box_obs:  # np.array: cheaper than np.stack for small observations
            stacked = np.array(observations)  # ragged rows raise; assigning would broadcast them
            if stacked.shape != self._obs.shape or stacked.dtype.kind not in "biuf":
                raise ValueError(f"observations stack to {stacked.shape} {stacked.dtype}")
            self._obs[...] = stacked
            return self._obs
        return concatenate(self.single_observation_space, observations, self._obs)

    def _check_observation(self, i: int, obs: Any, reset: bool) -> None:
        problem = observation_problem(self.single_observation_space, obs)
        if problem:
            raise EnvDataError(f"{self._where(i, reset)}: {problem}")

    def _store_rewards(self, rewards: Sequence[Any]) -> None:
        """``rewards`` into the rewards buffer; EnvDataError naming the first None, NaN
        or non-number."""
        try:
            if math.isfinite(sum(rewards)):  # None raises, NaN / inf propagate
                self._rewards[:] = rewards
                return
        except BATCHING_ERRORS:
            pass
        for i, reward in enumerate(rewards):
            problem = reward_problem(reward)
            if problem:
                raise EnvDataError(f"{self._where(i, reset=False, what='reward')}: {problem}")
        self._rewards[:] = rewards

    def _where(self, i: int, reset: bool, what: str = "observation") -> str:
        """Which env, sub-env and step returned the value."""
        head = f"{env_name(self.envs[i])} (sub-env {i}): the {what}"
        if reset:
            return f"{head} reset() returned after {self._num_steps} step() calls"
        step = self._num_steps - int(self._episode_start[i])
        return f"{head} step() returned at step {step} of the episode (step() call {self._num_steps})"


def _action_splitter(space: gym.Space, n: int) -> Callable[[Any], List[Any]]:
    """Batched actions -> one action per sub-env: Python ints for Discrete, rows for
    array spaces, gymnasium's ``iterate`` for Dict/Tuple spaces."""
    if isinstance(space, gym.spaces.Discrete):
        return lambda actions: np.asarray(actions).reshape(n).tolist()
    if isinstance(space, (gym.spaces.Box, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
        return lambda actions: list(np.asarray(actions))
    batched = batch_space(space, n)
    return lambda actions: list(iterate(batched, actions))
