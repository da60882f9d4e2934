"""rlmodule.envs.MultiAgentEnv: RLlib 2.60's multi-agent env interface, what the
multi-agent env runner accepts, and the clear errors for envs of ray <= 2.2."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.env_runners import MultiAgentEnvRunner, SingleAgentEnvRunner, make_env_runner
from rlmodule.envs import MultiAgentCartPole, MultiAgentEnv

BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


class Walkers(MultiAgentEnv):
    """Two agents with different action spaces given the old way (Dict keyed by agent);
    "slow" acts every other step (a turn-based pattern); 6 steps per episode."""

    def __init__(self, config=None):
        super().__init__()
        self.observation_space = gym.spaces.Dict({"fast": BOX, "slow": BOX})
        self.action_space = gym.spaces.Dict({"fast": gym.spaces.Discrete(2), "slow": gym.spaces.Discrete(3)})
        self._agent_ids = {"fast", "slow"}
        self.t = 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return {"fast": np.zeros(2, np.float32), "slow": np.zeros(2, np.float32)}, {"fast": {"t": 0}}

    def step(self, action_dict):
        assert self.action_space["slow"].contains(action_dict.get("slow", 0))
        self.t += 1
        obs = {"fast": np.full(2, self.t / 10, np.float32)}
        if self.t % 2 == 0:
            obs["slow"] = np.full(2, -self.t / 10, np.float32)
        rewards = {agent: 1.0 for agent in action_dict}
        done = self.t >= 6
        return obs, rewards, {"__all__": done}, {"__all__": False}, {"fast": {"t": self.t}}


class LegacyDones(Walkers):
    def step(self, action_dict):
        obs, rewards, terminateds, _, infos = super().step(action_dict)
        return obs, rewards, terminateds, infos  # ray <= 2.2: (obs, rewards, dones, infos)


class LegacyReset(Walkers):
    def reset(self, *, seed=None, options=None):
        return super().reset()[0]  # ray <= 2.2: only the observations


def test_the_interface_reads_spaces_both_ways():
    env = Walkers()
    assert env.get_observation_space("slow") == BOX and env.get_action_space("slow") == gym.spaces.Discrete(3)
    assert env.get_agent_ids() == {"fast", "slow"}
    cartpole = MultiAgentCartPole({"num_agents": 3})
    assert isinstance(cartpole, (MultiAgentEnv, gym.Env)) and cartpole.possible_agents == [0, 1, 2]
    assert cartpole.get_observation_space(2) == cartpole.observation_spaces[2] and cartpole.max_num_agents == 3
    with pytest.raises(NotImplementedError):
        MultiAgentEnv().step({})


def config(env) -> PPOConfig:
    return (
        PPOConfig().environment(env).training(model={"fcnet_hiddens": [8]})
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=12).debugging(seed=0)
    )


def test_an_env_class_deriving_from_it_is_multi_agent_and_its_agents_act_with_their_spaces():
    cfg = config(Walkers).multi_agent(
        policies={"fast", "slow"}, policy_mapping_fn=lambda agent_id, episode=None, **kw: agent_id
    )
    runner = make_env_runner(cfg)
    assert isinstance(runner, MultiAgentEnvRunner)
    fragments = runner.sample()
    slow = [f for f in fragments if f.agent_id == "slow"]
    assert slow and all(f.module_id == "slow" and set(np.unique(f.actions)) <= {0, 1, 2} for f in slow)
    assert sum(len(f) for f in slow) * 2 == sum(len(f) for f in fragments if f.agent_id == "fast")
    assert runner.get_metrics()["episode_len_mean"] == 6
    assert config(Walkers).is_multi_agent() and not config("CartPole-v1").is_multi_agent()


def test_without_multi_agent_settings_every_agent_uses_the_default_module():
    algo = config(MultiAgentCartPole).training(train_batch_size=64, sgd_minibatch_size=32, num_sgd_iter=1).build()
    try:
        result = algo.train()
    finally:
        algo.stop()
    assert list(result["learners"]) == ["default_policy"]


@pytest.mark.parametrize(
    "env, message",
    [
        (LegacyDones, r"step\(\) returned 4 values \(obs, rewards, dones, infos\).*terminateds.*truncateds"),
        (LegacyReset, r"reset\(\) returned a dict.*\(obs, infos\)"),
    ],
)
def test_ray_2_2_envs_are_refused_saying_how_to_convert_them(env, message):
    runner = make_env_runner(config(env))
    with pytest.raises(TypeError, match=message):
        runner.sample()


def test_the_single_agent_runner_refuses_a_multi_agent_env():
    with pytest.raises(TypeError, match="is a MultiAgentEnv: configure it as multi-agent"):
        SingleAgentEnvRunner(config(lambda cfg: Walkers()))
