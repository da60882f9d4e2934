"""Env runners name the env, sub-env, step and observation key when an env returns
NaN / inf, None, wrong-shape or wrong-structure observations or NaN / None rewards
(single- and multi-agent), before anything reaches the module."""

from __future__ import annotations

import itertools
from typing import Any, Dict, Optional

import gymnasium as gym
import numpy as np
import pytest

from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.env_runners import EnvDataError, MultiAgentEnvRunner, SingleAgentEnvRunner
from rlmodule.env_runners.vector_env import SameStepVectorEnv

BOX = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
NESTED = gym.spaces.Dict(
    {
        "pos": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
        "sensors": gym.spaces.Tuple((gym.spaces.Box(-np.inf, np.inf, (3,), np.float32), gym.spaces.Discrete(2))),
    }
)
EPISODE_LEN = 5
OMIT = object()  # a fault value: leave the key out


def _good(space: gym.Space) -> Any:
    if space is BOX:
        return np.full(4, 0.1, np.float32)
    return {"pos": np.zeros(2, np.float32), "sensors": (np.zeros(3, np.float32), 1)}


def _replace(obs: Any, path: tuple, value: Any) -> Any:
    """``obs`` with the leaf at ``path`` replaced by ``value`` (removed if OMIT)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(obs, dict):
        out = {k: v for k, v in obs.items() if not (k == key and not rest and value is OMIT)}
        if key in out:
            out[key] = _replace(obs[key], rest, value)
        return out
    items = list(obs)
    items[key] = _replace(items[key], rest, value)
    return tuple(items)


class FaultyEnv(gym.Env):
    """Episodes of ``EPISODE_LEN`` steps (terminated, or truncated if ``truncate``).
    The ``index``-th env made returns ``fault["value"]`` at ``fault["path"]`` of its
    observation (or as its reward if ``fault["reward"]``) at step ``fault["step"]``
    (0: the reset) of its episode ``fault["episode"]``."""

    action_space = gym.spaces.Discrete(2)

    def __init__(self, index: int, space: gym.Space, fault: Dict[str, Any], truncate: bool = False) -> None:
        self.index, self.observation_space, self.fault, self.truncate = index, space, fault, truncate
        self.episode, self.t = -1, 0

    def _faulty(self) -> bool:
        f = self.fault
        return self.index == f["env"] and self.episode == f["episode"] and self.t == f["step"]

    def _obs(self) -> Any:
        good = _good(self.observation_space)
        if self._faulty() and not self.fault.get("reward"):
            return _replace(good, self.fault.get("path", ()), self.fault["value"])
        return good

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        reward = self.fault["value"] if self._faulty() and self.fault.get("reward") else 1.0
        done = self.t >= EPISODE_LEN
        return self._obs(), reward, done and not self.truncate, done and self.truncate, {}


def faulty_factory(space: gym.Space, fault: Dict[str, Any], truncate: bool = False):
    counter = itertools.count()
    return lambda cfg: FaultyEnv(next(counter), space, fault, truncate)


def single_runner(make_env, num_envs: int = 3) -> SingleAgentEnvRunner:
    config = (
        PPOConfig().environment(make_env).training(model={"fcnet_hiddens": [8]})
        .env_runners(num_envs_per_env_runner=num_envs, rollout_fragment_length=12).debugging(seed=0)
    )
    return SingleAgentEnvRunner(config)


def nan_at(index: int, size: int = 4, value: float = np.nan) -> np.ndarray:
    out = np.zeros(size, np.float32)
    out[index] = value
    return out


STEP3 = r"the observation step\(\) returned at step 3 of the episode \(step\(\) call 3\)"
CASES = [
    ("nan from step", BOX, dict(env=1, episode=0, step=3, value=nan_at(2)),
     rf"FaultyEnv \(sub-env 1\): {STEP3}: observation holds nan at index \(2,\), expected finite numbers \(Box"),
    ("None from the first reset", BOX, dict(env=2, episode=0, step=0, value=None),
     r"FaultyEnv \(sub-env 2\): the observation reset\(\) returned after 0 step\(\) calls: observation is None, expected Box"),
    ("None from an autoreset", BOX, dict(env=0, episode=1, step=0, value=None),
     r"FaultyEnv \(sub-env 0\): the observation reset\(\) returned after 5 step\(\) calls: observation is None"),
    ("wrong shape", BOX, dict(env=1, episode=0, step=3, value=np.zeros(3, np.float32)),
     rf"FaultyEnv \(sub-env 1\): {STEP3}: observation has shape \(3,\), expected \(4,\) of Box"),
    ("a shape numpy would broadcast", BOX, dict(env=1, episode=0, step=3, value=np.zeros(1, np.float32)),
     rf"FaultyEnv \(sub-env 1\): {STEP3}: observation has shape \(1,\), expected \(4,\) of Box"),
    ("strings", BOX, dict(env=1, episode=0, step=3, value=np.array(["a"] * 4)),
     rf"{STEP3}: observation holds <U1 values \(ndarray\), expected numbers of Box"),
    ("inf in a nested leaf", NESTED, dict(env=1, episode=0, step=3, path=("sensors", 0), value=nan_at(1, 3, np.inf)),
     rf"FaultyEnv \(sub-env 1\): {STEP3}: observation\['sensors'\]\[0\] holds inf at index \(1,\), expected finite numbers"),
    ("None leaf", NESTED, dict(env=2, episode=0, step=3, path=("sensors", 1), value=None),
     rf"FaultyEnv \(sub-env 2\): {STEP3}: observation\['sensors'\]\[1\] is None, expected Discrete\(2\)"),
    ("missing key", NESTED, dict(env=1, episode=0, step=3, path=("pos",), value=OMIT),
     rf"{STEP3}: observation has no key 'pos' \(keys: \['sensors'\]\), expected Dict"),
    ("short tuple", NESTED, dict(env=1, episode=0, step=3, path=("sensors",), value=(np.zeros(3, np.float32),)),
     rf"{STEP3}: observation\['sensors'\] has 1 items, expected 2 for Tuple"),
    ("array for a dict", NESTED, dict(env=1, episode=0, step=3, value=np.zeros(5, np.float32)),
     rf"{STEP3}: observation is a ndarray, expected a dict for Dict"),
]


@pytest.mark.parametrize("case, space, fault, message", CASES, ids=[c[0] for c in CASES])
def test_bad_observations_name_env_sub_env_step_and_key(case, space, fault, message):
    runner = single_runner(faulty_factory(space, fault))
    with pytest.raises(EnvDataError, match=message):
        for _ in range(3):
            runner.sample()


@pytest.mark.parametrize(
    "value, says", [(None, "is None"), (float("nan"), "is nan"), (np.ones(2), r"is a ndarray of shape \(2,\)")]
)
def test_bad_rewards_name_env_sub_env_and_step(value, says):
    runner = single_runner(faulty_factory(BOX, dict(env=1, episode=1, step=2, value=value, reward=True)))
    with pytest.raises(
        EnvDataError,
        match=rf"FaultyEnv \(sub-env 1\): the reward step\(\) returned at step 2 of the episode \(step\(\) call 7\): "
        rf"reward {says}, expected a finite number",
    ):
        runner.sample()


def test_a_bad_final_observation_of_a_truncated_episode_is_named():
    make = faulty_factory(BOX, dict(env=1, episode=0, step=EPISODE_LEN, value=nan_at(0)), truncate=True)
    runner = single_runner(make)
    with pytest.raises(
        EnvDataError,
        match=r"FaultyEnv \(sub-env 1\): the observation step\(\) returned at step 5 of the episode \(step\(\) call 5\): "
        r"observation holds nan at index \(0,\)",
    ):
        runner.sample()


def test_registered_envs_are_named_by_their_id():
    class NanAtStep3(gym.ObservationWrapper):
        def reset(self, **kwargs):
            self.t = 0
            return super().reset(**kwargs)

        def step(self, action):
            self.t += 1
            return super().step(action)

        def observation(self, obs):
            return nan_at(1) if getattr(self, "t", 0) == 3 else obs

    envs = SameStepVectorEnv([lambda: NanAtStep3(gym.make("CartPole-v1")) for _ in range(2)])
    envs.reset(seed=[0, 1])
    envs.step([0, 0])
    envs.step([0, 0])
    with pytest.raises(EnvDataError, match=r"CartPole-v1 \(sub-env 0\): the observation step\(\) returned at step 3"):
        envs.step([0, 0])


def test_lists_of_the_right_shape_are_still_accepted():
    class ListObs(gym.Env):
        observation_space, action_space = BOX, gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            return [0.0, 1.0, 2.0, 3.0], {}

        def step(self, action):
            return [1.0, 1.0, 1.0, 1.0], 1.0, False, False, {}

    envs = SameStepVectorEnv([ListObs for _ in range(2)])
    np.testing.assert_array_equal(envs.reset()[1], [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(envs.step([0, 1])[0], np.ones((2, 4), np.float32))


# --- multi-agent -----------------------------------------------------------------------------
class MultiFaulty:
    """Agents 0 and 1 step their own :class:`FaultyEnv`; agent 1 of the ``index``-th
    copy made carries the fault."""

    def __init__(self, index: int, fault: Dict[str, Any], truncate: bool = False) -> None:
        self.envs = {a: FaultyEnv(index if a == 1 else -1, BOX, fault, truncate) for a in (0, 1)}
        self.observation_space, self.action_space = BOX, FaultyEnv.action_space
        self.observation_spaces = {a: BOX for a in self.envs}
        self.action_spaces = {a: self.action_space for a in self.envs}

    def get_agent_ids(self):
        return set(self.envs)

    def reset(self, *, seed: Optional[int] = None, options=None):
        return {a: env.reset(seed=seed)[0] for a, env in self.envs.items()}, {}

    def step(self, actions):
        obs, rewards, terms, truncs = {}, {}, {}, {}
        for a, action in actions.items():
            obs[a], rewards[a], terms[a], truncs[a], _ = self.envs[a].step(action)
        terms["__all__"], truncs["__all__"] = all(terms.values()), all(truncs.values())
        return obs, rewards, terms, truncs, {}


def multi_runner(fault: Dict[str, Any], truncate: bool = False) -> MultiAgentEnvRunner:
    counter = itertools.count()
    config = (
        PPOConfig().environment(lambda cfg: MultiFaulty(next(counter), fault, truncate))
        .training(model={"fcnet_hiddens": [8]})
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=12).debugging(seed=0)
        .multi_agent(policies={"p0"}, policy_mapping_fn=lambda aid, ep, **kw: "p0")
    )
    return MultiAgentEnvRunner(config)


MA_CASES = [
    ("nan from step", dict(env=1, episode=0, step=3, value=nan_at(2)),
     r"MultiFaulty \(env copy 1\), agent 1 \(module 'p0'\): the observation step\(\) returned at step 3 of the "
     r"episode: observation holds nan at index \(2,\), expected finite numbers \(Box"),
    ("None from reset", dict(env=0, episode=1, step=0, value=None),
     r"MultiFaulty \(env copy 0\), agent 1 \(module 'p0'\): the observation reset\(\) returned: observation is None"),
    ("wrong shape, every agent of the batch", dict(env=1, episode=0, step=3, value=np.zeros(3, np.float32)),
     r"MultiFaulty \(env copy 1\), agent 1 \(module 'p0'\): the observation step\(\) returned at step 3 of the "
     r"episode: observation has shape \(3,\), expected \(4,\) of Box"),
    ("nan reward", dict(env=1, episode=0, step=2, value=float("nan"), reward=True),
     r"MultiFaulty \(env copy 1\), agent 1: the reward step\(\) returned at step 2 of the episode: reward is nan"),
    ("None reward", dict(env=1, episode=0, step=2, value=None, reward=True),
     r"MultiFaulty \(env copy 1\), agent 1: the reward step\(\) returned at step 2 of the episode: reward is None"),
]


@pytest.mark.parametrize("case, fault, message", MA_CASES, ids=[c[0] for c in MA_CASES])
def test_multi_agent_bad_observations_and_rewards_are_named(case, fault, message):
    runner = multi_runner(fault)
    with pytest.raises(EnvDataError, match=message):
        for _ in range(3):
            runner.sample()


def test_multi_agent_bad_final_observation_of_a_truncated_episode_is_named():
    runner = multi_runner(dict(env=0, episode=0, step=EPISODE_LEN, value=None), truncate=True)
    with pytest.raises(
        EnvDataError,
        match=r"MultiFaulty \(env copy 0\), agent 1 \(module 'p0'\): the observation step\(\) returned at step 5 "
        r"of the episode: observation is None",
    ):
        runner.sample()
