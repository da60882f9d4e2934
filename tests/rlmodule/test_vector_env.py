"""SameStepVectorEnv steps exactly as gymnasium's SyncVectorEnv(autoreset_mode=SAME_STEP)."""

import gymnasium as gym
import numpy as np
import pytest

from rlmodule.env_runners.vector_env import SameStepVectorEnv

from tests.rlmodule.test_env_runners import DictObsEnv

N = 4


def _pair(make):
    ours = SameStepVectorEnv([make for _ in range(N)])
    theirs = gym.vector.SyncVectorEnv([make for _ in range(N)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    return ours, theirs


def _assert_same_obs(a, b):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for k in a:
            _assert_same_obs(a[k], b[k])
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert np.asarray(a).dtype == np.asarray(b).dtype


@pytest.mark.parametrize(
    "make",
    [
        lambda: gym.make("CartPole-v1", max_episode_steps=15),  # terminations and truncations
        lambda: gym.make("Pendulum-v1", max_episode_steps=7),  # Box actions, truncations only
        lambda: DictObsEnv(),  # Dict observations with a Discrete leaf
    ],
    ids=["cartpole", "pendulum", "dict_obs"],
)
def test_steps_like_gymnasium_same_step_autoreset(make):
    ours, theirs = _pair(make)
    seeds = [11, 12, 13, 14]
    _assert_same_obs(ours.reset(seed=seeds), theirs.reset(seed=seeds)[0])
    theirs.action_space.seed(0)
    ended = 0
    for _ in range(60):
        actions = theirs.action_space.sample()
        obs, rew, term, trunc, final_obs = ours.step(actions)
        obs_t, rew_t, term_t, trunc_t, infos = theirs.step(actions)
        _assert_same_obs(obs, obs_t)
        np.testing.assert_array_equal(rew, rew_t)
        np.testing.assert_array_equal(term, term_t)
        np.testing.assert_array_equal(trunc, trunc_t)
        expected = np.flatnonzero(infos.get("_final_obs", np.zeros(N, bool))).tolist()
        assert sorted(final_obs) == expected
        for i in expected:
            _assert_same_obs(final_obs[i], infos["final_obs"][i])
        ended += len(expected)
    assert ended > 0  # episodes did end (and reset) during the comparison
    ours.close()
    theirs.close()


def test_discrete_actions_reach_the_env_as_python_ints():
    seen = []

    class Recorder(DictObsEnv):
        def step(self, action):
            seen.append(action)
            return super().step(action)

    env = SameStepVectorEnv([Recorder for _ in range(2)])
    env.reset(seed=[0, 1])
    env.step(np.array([1, 0]))
    assert seen == [1, 0] and all(type(a) is int for a in seen)


def test_different_spaces_and_wrong_seed_count_raise_naming_them():
    with pytest.raises(ValueError, match=r"sub-env 1 has observation_space"):
        SameStepVectorEnv([lambda: gym.make("CartPole-v1"), lambda: gym.make("Pendulum-v1")])
    env = SameStepVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(2)])
    with pytest.raises(ValueError, match=r"3 seeds for 2 sub-envs"):
        env.reset(seed=[1, 2, 3])
