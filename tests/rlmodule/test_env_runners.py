"""Env runners: fragments replay exactly against hand-stepped envs (autoreset, seeds,
clipping), bootstrap values, episode statistics, recurrent state, determinism,
multi-agent grouping/mapping, PettingZoo parallel envs, and the tf2 path."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlmodule import RLModuleConfig
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.env_runners import (
    Fragment,
    MultiAgentEnvRunner,
    ParallelEnvAdapter,
    SingleAgentEnvRunner,
    is_parallel_env,
    make_env_runner,
)
from rlmodule.envs import MultiAgentCartPole
from rlmodule.learners.values import fill_values
from rlmodule.marl_module import MultiAgentRLModule
from rlmodule.torch import TorchRLModule


# --- test envs and modules -----------------------------------------------------------------
class ChainEnv(gym.Env):
    """obs ``[episode counter, t, noise]``; non-integer rewards; terminates at random
    (seeded) steps; wrap in a TimeLimit for truncation."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.episode = -1

    def _obs(self) -> np.ndarray:
        return np.array([self.episode, self.t, self.noise], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        self.noise = float(self.np_random.uniform(-1, 1))
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        reward = 0.37 * self.noise + 0.1 * int(action) + 0.013 * self.t
        self.noise = float(self.np_random.uniform(-1, 1))
        terminated = bool(self.np_random.random() < 0.12)
        return self._obs(), reward, terminated, False, {}


def make_chain(env_config: Dict[str, Any]) -> gym.Env:
    return gym.wrappers.TimeLimit(ChainEnv(), max_episode_steps=env_config.get("max_steps", 9))


class DictObsEnv(gym.Env):
    """Dict observations ``{"pos": Box(2), "mode": Discrete(3)}``; truncated at 6 steps."""

    observation_space = gym.spaces.Dict(
        {"pos": gym.spaces.Box(-5.0, 5.0, (2,), np.float32), "mode": gym.spaces.Discrete(3)}
    )
    action_space = gym.spaces.Discrete(2)

    def _obs(self):
        return {"pos": self.pos.copy(), "mode": int(self.t % 3)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.pos = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        self.pos = (self.pos + (0.1 if action else -0.1)).astype(np.float32)
        return self._obs(), float(self.pos.sum()), False, self.t >= 6, {}


class EchoActionEnv(gym.Env):
    """Box actions in [-1, 1]; the observation is the action the env received."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, np.float32)), action
        return np.asarray(action, np.float32), 0.0, False, False, {}


class SumValueModule(TorchRLModule):
    """Uniform (or fixed-mean Gaussian) policy; ``vf_preds = obs.sum(-1)`` (Box obs) or
    ``obs["pos"].sum(-1) + obs["mode"]`` (DictObsEnv)."""

    def setup(self) -> None:
        self.bias = torch.nn.Parameter(torch.zeros(()))
        self.mean = 0.0

    def _value(self, obs: Any) -> torch.Tensor:
        if isinstance(obs, dict):
            return obs["pos"].float().sum(-1) + obs["mode"].float()
        return obs.float().sum(-1)

    def _forward_exploration(self, batch):
        obs = batch["obs"]
        value = self._value(obs)
        space = self.config.action_space
        if isinstance(space, gym.spaces.Discrete):
            logits = torch.zeros(value.shape + (int(space.n),)) + self.bias
        else:
            d = space.shape[0]
            logits = torch.cat([torch.full(value.shape + (d,), self.mean), torch.full(value.shape + (d,), -1.0)], -1)
        return {"action_dist_inputs": logits, "vf_preds": value + self.bias}

    _forward_inference = _forward_exploration
    _forward_train = _forward_exploration


def sum_module(obs_space: gym.Space, act_space: gym.Space) -> SumValueModule:
    return SumValueModule(RLModuleConfig(observation_space=obs_space, action_space=act_space))


def chain_config(num_envs: int = 3, length: int = 5, seed: int = 7, max_steps: int = 9, window: int = 100):
    config = (
        PPOConfig()
        .environment(make_chain, env_config={"max_steps": max_steps})
        .env_runners(num_envs_per_env_runner=num_envs, rollout_fragment_length=length)
        .debugging(seed=seed)
    )
    config.metrics_num_episodes_for_smoothing = window
    return config


def by_env(fragments: List[Fragment]) -> Dict[int, List[Fragment]]:
    out: Dict[int, List[Fragment]] = {}
    for f in fragments:
        out.setdefault(f.env_index, []).append(f)
    return out


def replay(make_env, seed: int, frags: List[Fragment], value_fn=None, clip=None) -> List[tuple]:
    """Hand-step one sub-env along its fragments (in order, across calls), asserting
    obs, rewards, flags and bootstrap values. Returns ``[(step, return, length)]`` of
    the completed episodes."""
    env = make_env()
    obs, _ = env.reset(seed=seed)
    step, ret, length, done = 0, 0.0, 0, []
    for f in frags:
        n = len(f)
        for k in range(n):
            np.testing.assert_equal(_at(f.obs, k), obs)
            action = _at(f.actions, k)
            obs, reward, term, trunc, _ = env.step(clip(action) if clip else action)
            step += 1
            ret += reward
            length += 1
            assert f.rewards[k] == np.float32(reward)
            last = k == n - 1
            assert (term or trunc) == (last and (f.terminated or f.truncated))
        assert f.terminated == term and f.truncated == (trunc and not term)
        if f.terminated:
            assert f.bootstrap_value == 0.0
        elif value_fn is not None:  # truncated: the real final obs; cut: the next obs
            assert f.bootstrap_value == pytest.approx(value_fn(obs), rel=1e-6, abs=1e-6)
        if f.terminated or f.truncated:
            done.append((step, ret, length))
            ret, length = 0.0, 0
            obs, _ = env.reset()
    return done


def _at(struct: Any, k: int) -> Any:
    if isinstance(struct, dict):
        return {key: _at(v, k) for key, v in struct.items()}
    return struct[k]


# --- single agent ---------------------------------------------------------------------------
def test_fragments_replay_exactly_with_autoreset_bootstrap_and_exact_metrics():
    config = chain_config(num_envs=3, length=5, seed=7, window=4)
    module = sum_module(ChainEnv.observation_space, ChainEnv.action_space)
    runner = SingleAgentEnvRunner(config, module=module, worker_index=2)
    torch.manual_seed(0)
    calls = [runner.sample() for _ in range(4)]
    fragments = [f for call in calls for f in call]
    assert all(sum(len(f) for f in call) == 15 for call in calls)
    # vf_preds is V(obs[t]); fragments never cross an episode boundary
    for f in fragments:
        np.testing.assert_allclose(f.vf_preds, f.obs.sum(-1), rtol=1e-6)
        assert (f.obs[:, 0] == f.obs[0, 0]).all()  # one episode counter
        np.testing.assert_array_equal(np.diff(f.obs[:, 1]), 1)  # consecutive steps
        assert f.action_dist_inputs.shape == (len(f), 2)
        np.testing.assert_allclose(f.action_logp, np.log(0.5), rtol=1e-6)
    kinds = {(f.terminated, f.truncated) for f in fragments}
    assert kinds == {(True, False), (False, True), (False, False)}
    completed = []
    for i, frags in by_env(fragments).items():
        seed = 7 + 1000 * 2 + i
        completed += [(s, i, r, n) for s, r, n in replay(lambda: make_chain({}), seed, frags, lambda o: o.sum())]
    # a cut fragment continues in the next call: same episode id, next step
    for frags in by_env(fragments).values():
        for a, b in zip(frags, frags[1:]):
            if a.terminated or a.truncated:
                assert b.episode_id != a.episode_id and b.obs[0, 1] == 0
            else:
                assert b.episode_id == a.episode_id and b.obs[0, 1] == a.obs[-1, 1] + 1
    completed.sort()
    metrics = runner.get_metrics()
    window = [r for _, _, r, _ in completed[-4:]]
    assert metrics["num_episodes"] == len(completed) > 4
    assert metrics["episode_return_mean"] == np.mean(window)
    assert metrics["episode_return_min"] == min(window)
    assert metrics["episode_return_max"] == max(window)
    assert metrics["episode_len_mean"] == np.mean([n for *_, n in completed[-4:]])
    assert metrics["num_env_steps_sampled"] == metrics["num_env_steps_sampled_lifetime"] == 60
    runner.sample(num_timesteps=4)  # ceil(4 / 3) = 2 steps per sub-env
    again = runner.get_metrics()
    assert again["num_env_steps_sampled"] == 6 and again["num_env_steps_sampled_lifetime"] == 66
    state = runner.get_state()
    fresh = SingleAgentEnvRunner(config, module=module)
    fresh.set_state(copy.deepcopy(state))
    assert fresh.get_metrics()["episode_return_mean"] == again["episode_return_mean"]
    runner.stop()


class ComputeValuesModule(SumValueModule):
    """SumValueModule whose acting forward returns no ``vf_preds``: values come from
    ``compute_values(batch)`` (``[B]``, or ``[B, T]`` with a pass-through ``state_in``
    when ``recurrent``)."""

    recurrent = False

    def get_initial_state(self):
        return {"h": torch.zeros(2)} if self.recurrent else {}

    def _forward_exploration(self, batch):
        out = super()._forward_exploration(batch)
        del out["vf_preds"]
        if self.recurrent:
            out["state_out"] = batch["state_in"]
        return out

    _forward_inference = _forward_exploration

    def compute_values(self, batch):
        self.value_calls += 1
        return self._value(batch["obs"]) + self.bias

    def setup(self) -> None:
        super().setup()
        self.value_calls = 0


@pytest.mark.parametrize("recurrent", [False, True])
def test_values_left_to_compute_values_are_recorded_and_bootstrapped(recurrent):
    config = chain_config(num_envs=3, length=5, seed=7)
    module = ComputeValuesModule(RLModuleConfig(observation_space=ChainEnv.observation_space, action_space=ChainEnv.action_space))
    module.recurrent = recurrent
    runner = SingleAgentEnvRunner(config, module=module)
    calls = [runner.sample() for _ in range(4)]
    fragments = [f for call in calls for f in call]
    assert any(f.truncated for f in fragments) and any(not (f.terminated or f.truncated) for f in fragments)
    if recurrent:  # values need each step's state: computed while acting, one call per step
        assert module.value_calls == 4 * 5 + 4 and all(f.bootstrap_obs is None for f in fragments)
    else:  # left to the learner: the observation after each non-terminated fragment is kept
        assert module.value_calls == 0 and all(f.vf_preds is None for f in fragments)
        assert all((f.bootstrap_obs is None) == f.terminated for f in fragments)
        fill_values(module, fragments)
        assert module.value_calls == 1  # every step and bootstrap observation in one batch
    for f in fragments:
        assert f.vf_preds.dtype == np.float32
        np.testing.assert_allclose(f.vf_preds, f.obs.sum(-1), rtol=1e-6)
    for i, frags in by_env(fragments).items():  # bootstrap values: V(final obs) / V(next obs)
        replay(lambda: make_chain({}), 7 + i, frags, lambda o: o.sum())
    # evaluation (explore=False) computes no values
    module.value_calls = 0
    assert all((f.vf_preds == 0).all() for f in runner.sample(explore=False))
    assert module.value_calls == 0


def test_fill_values_names_a_module_without_compute_values():
    runner = SingleAgentEnvRunner(chain_config(num_envs=2, length=3), module=sum_module(ChainEnv.observation_space, ChainEnv.action_space))
    fragments = runner.sample()
    fragments[0].vf_preds = None
    with pytest.raises(ValueError, match=r"module 'pol'.*no compute_values"):
        fill_values(runner.module, fragments, "pol")


def test_no_episodes_yet_gives_nan_statistics():
    runner = SingleAgentEnvRunner(chain_config(num_envs=1, max_steps=50), module=sum_module(ChainEnv.observation_space, ChainEnv.action_space))
    metrics = runner.get_metrics()
    assert np.isnan(metrics["episode_return_mean"]) and metrics["num_episodes"] == 0


def test_dict_observations_replay_and_bootstrap():
    config = (
        PPOConfig().environment(lambda cfg: DictObsEnv())
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=4).debugging(seed=3)
    )
    module = sum_module(DictObsEnv.observation_space, DictObsEnv.action_space)
    runner = SingleAgentEnvRunner(config, module=module)
    fragments = runner.sample() + runner.sample() + runner.sample()
    assert isinstance(fragments[0].obs, dict) and fragments[0].obs["pos"].shape[1:] == (2,)
    assert any(f.truncated for f in fragments)

    def value(o):
        return float(np.float32(o["pos"]).sum() + o["mode"])

    for i, frags in by_env(fragments).items():
        assert replay(DictObsEnv, 3 + i, frags, value)


def test_ppo_module_on_dict_observations():
    config = (
        PPOConfig().environment(lambda cfg: DictObsEnv()).training(model={"fcnet_hiddens": [8]})
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=7).debugging(seed=3)
    )
    runner = SingleAgentEnvRunner(config)
    fragments = runner.sample()
    assert all(f.vf_preds is None for f in fragments)  # values are left to the learner
    fill_values(runner.module, fragments)
    cut = [f for f in fragments if not f.truncated]
    assert cut and all(f.bootstrap_value != 0.0 for f in cut)
    f = fragments[0]
    values = runner.module.compute_values({"obs": {k: torch.from_numpy(v) for k, v in f.obs.items()}})
    np.testing.assert_allclose(values.detach().numpy(), f.vf_preds, rtol=1e-5, atol=1e-6)


def test_continuous_actions_are_stored_unclipped_and_sent_clipped():
    config = PPOConfig().environment(lambda cfg: EchoActionEnv()).env_runners(
        num_envs_per_env_runner=2, rollout_fragment_length=6
    )
    module = sum_module(EchoActionEnv.observation_space, EchoActionEnv.action_space)
    module.mean = 0.9  # std exp(-1): about 40% of the samples fall outside [-1, 1]
    runner = SingleAgentEnvRunner(config, module=module)
    (f0, f1) = runner.sample()
    for f in (f0, f1):
        assert (f.actions > 1.0).any()
        np.testing.assert_array_equal(f.obs[1:], np.clip(f.actions[:-1], -1.0, 1.0))
        assert f.bootstrap_value == pytest.approx(float(np.clip(f.actions[-1], -1, 1).sum()))
        # logp is the unclipped sample's
        std = np.exp(-1.0)
        expected = (-0.5 * ((f.actions - 0.9) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
        np.testing.assert_allclose(f.action_logp, expected, rtol=1e-4)


def test_explore_false_acts_deterministically():
    config = chain_config(num_envs=2, length=6)
    runner = SingleAgentEnvRunner(config)
    fragments = runner.sample(explore=False)
    for f in fragments:
        np.testing.assert_array_equal(f.actions, f.action_dist_inputs.argmax(-1))
        np.testing.assert_array_equal(f.action_logp, 0.0)
        np.testing.assert_array_equal(f.vf_preds, 0.0)  # forward_inference has no value


def test_same_seed_and_weights_give_identical_fragments():
    def run(seed: int, weights=None):
        runner = SingleAgentEnvRunner(chain_config(num_envs=2, length=6, seed=seed))
        if weights is not None:
            runner.set_weights(weights)
        torch.manual_seed(123)
        return runner, runner.sample() + runner.sample()

    first, a = run(5)
    _, b = run(5, first.get_weights())
    _, c = run(6, first.get_weights())
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for name in ("obs", "actions", "rewards", "action_logp", "vf_preds", "action_dist_inputs"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert (x.terminated, x.truncated, x.bootstrap_value) == (y.terminated, y.truncated, y.bootstrap_value)
    assert not np.array_equal(a[0].obs, c[0].obs)


def test_recurrent_state_resets_at_episode_start_and_carries_across_calls():
    config = (
        PPOConfig().environment("CartPole-v1", env_config={"max_episode_steps": 7})
        .training(model={"use_lstm": True, "lstm_cell_size": 8, "fcnet_hiddens": [8], "vf_share_layers": True})
        .env_runners(num_envs_per_env_runner=3, rollout_fragment_length=5).debugging(seed=0)
    )
    runner = SingleAgentEnvRunner(config)
    module = runner.module
    assert module.is_stateful()
    torch.manual_seed(0)
    first, second = runner.sample(), runner.sample()
    for f in first:  # every fragment of the first call starts an episode
        for value in f.state_in.values():
            assert value.shape[0] == len(f)
            np.testing.assert_array_equal(value[0], 0.0)
    assert any(f.truncated for f in first + second)
    first_ids = {f.episode_id for f in first}
    nexts = {f.env_index: f for f in second if f.episode_id in first_ids}
    assert nexts
    for f in first + second:
        obs = torch.from_numpy(f.obs)[None]  # [1, L, 4]
        state = {k: torch.from_numpy(v[:1]) for k, v in f.state_in.items()}
        out = module.forward_exploration({"obs": obs, "state_in": state})
        np.testing.assert_allclose(out["vf_preds"][0].numpy(), f.vf_preds, rtol=1e-4, atol=1e-5)
        if len(f) > 1:
            assert not np.allclose(f.state_in["h"][1], 0.0)
        if f.episode_id not in first_ids:  # a new episode in the second call: reset state
            np.testing.assert_array_equal(f.state_in["h"][0], 0.0)
    for f in first:
        if f.terminated or f.truncated:
            continue
        g = nexts[f.env_index]  # continues in the second call with the carried state
        state = {k: torch.from_numpy(v[:1]) for k, v in f.state_in.items()}
        out = module.forward_exploration({"obs": torch.from_numpy(f.obs)[None], "state_in": state})
        assert not np.allclose(g.state_in["h"][0], 0.0)
        for k, v in out["state_out"].items():
            np.testing.assert_allclose(v[0].numpy(), g.state_in[k][0], rtol=1e-4, atol=1e-6)
        full = torch.from_numpy(np.concatenate([f.obs, g.obs[:1]]))[None]
        boot = module.forward_exploration({"obs": full, "state_in": state})["vf_preds"][0, -1]
        assert f.bootstrap_value == pytest.approx(float(boot), rel=1e-4, abs=1e-5)


def test_tf2_ppo_module_samples():
    config = (
        PPOConfig().framework("tf2").environment("CartPole-v1").training(model={"fcnet_hiddens": [16]})
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=6)
    )
    import tensorflow as tf

    runner = make_env_runner(config)
    assert isinstance(runner, SingleAgentEnvRunner) and runner.module.framework == "tf2"
    first, second = runner.sample(), runner.sample()
    fill_values(runner.module, first)
    assert sum(len(f) for f in first) == 12
    values = runner.module.compute_values({"obs": tf.convert_to_tensor(first[0].obs)})
    np.testing.assert_allclose(values.numpy(), first[0].vf_preds, rtol=1e-5, atol=1e-6)
    assert np.isfinite(first[0].action_logp).all() and (first[0].action_logp < 0).all()
    cut = [f for f in first if not (f.terminated or f.truncated)]
    for f in cut:
        nxt = next(g for g in second if g.env_index == f.env_index)
        v = runner.module.compute_values({"obs": tf.convert_to_tensor(nxt.obs[:1])}).numpy()[0]
        assert f.bootstrap_value == pytest.approx(float(v), rel=1e-5, abs=1e-6)
    runner.set_weights(runner.get_weights())


def test_rollout_fragment_length_and_num_timesteps():
    config = chain_config(num_envs=4, length=5)
    config.rollout_fragment_length = "auto"
    config.train_batch_size = 30  # ceil(30 / 4) = 8 steps per sub-env
    runner = SingleAgentEnvRunner(config, module=sum_module(ChainEnv.observation_space, ChainEnv.action_space))
    assert sum(len(f) for f in runner.sample()) == 32
    assert sum(len(f) for f in runner.sample(num_timesteps=10)) == 12


# --- multi agent ----------------------------------------------------------------------------
def ma_config(num_envs: int, mapping, policies, seed: int = 1, length: int = 20):
    config = (
        PPOConfig().environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .training(model={"fcnet_hiddens": [8]})
        .env_runners(num_envs_per_env_runner=num_envs, rollout_fragment_length=length).debugging(seed=seed)
    )
    if policies is not None:
        config.multi_agent(policies=policies, policy_mapping_fn=mapping)
    return config


def count_forwards(runner: MultiAgentEnvRunner) -> List[tuple]:
    """Record ``(module_id, batch size)`` per forward and ``("step", env index)`` per env step."""
    calls: List[tuple] = []
    for mid, m in runner.module.items():
        original = m.forward_exploration

        def wrapped(batch, _mid=mid, _orig=original, **kw):
            calls.append((_mid, int(batch["obs"].shape[0])))
            return _orig(batch, **kw)

        m.forward_exploration = wrapped
    for e, env in enumerate(runner.envs):
        step = env.step

        def wrapped_step(actions, _step=step, _e=e):
            calls.append(("step", _e))
            return _step(actions)

        env.step = wrapped_step
    return calls


def forwards_between_steps(calls: List[tuple]) -> List[List[tuple]]:
    """The forwards before each round of env steps (the last entry: bootstrap forwards)."""
    rounds: List[List[tuple]] = [[]]
    for call in calls:
        if call[0] == "step":
            if rounds[-1] and rounds[-1][-1] == "stepped":
                continue
            rounds[-1].append("stepped")
        else:
            if rounds[-1] and rounds[-1][-1] == "stepped":
                rounds.append([])
            rounds[-1].append(call)
    return [[c for c in r if c != "stepped"] for r in rounds]


def test_multi_agent_groups_agents_per_module_and_maps_them():
    config = ma_config(3, lambda agent_id, episode, **kw: f"p{agent_id}", {"p0", "p1"}, length=60)
    runner = make_env_runner(config)
    assert isinstance(runner, MultiAgentEnvRunner)
    calls = count_forwards(runner)
    fragments = runner.sample()
    assert {(f.agent_id, f.module_id) for f in fragments} == {(0, "p0"), (1, "p1")}
    rounds = forwards_between_steps(calls)
    assert len(rounds) == 61  # 60 acting rounds, then the bootstrap forwards
    for r in rounds:  # at most one forward per module per step, batched over env copies
        assert len({mid for mid, _ in r}) == len(r)
    assert sorted(rounds[0]) == [("p0", 3), ("p1", 3)]
    agent_steps = sum(len(f) for f in fragments)
    assert agent_steps == sum(b for r in rounds[:-1] for _, b in r)
    metrics = runner.get_metrics()
    assert metrics["num_env_steps_sampled"] == 180 and metrics["num_agent_steps_sampled"] == agent_steps

    # exact statistics: an episode's return is the sum over its agents' fragments
    episodes: Dict[int, Dict[int, float]] = {}
    done_agents: Dict[int, set] = {}
    for f in fragments:
        np.testing.assert_array_equal(f.rewards, 1.0)  # each step got its own reward
        rets = episodes.setdefault(f.episode_id, {})
        rets[f.agent_id] = rets.get(f.agent_id, 0.0) + float(f.rewards.sum())
        if f.terminated or f.truncated:
            done_agents.setdefault(f.episode_id, set()).add(f.agent_id)
            assert f.terminated and f.bootstrap_value == 0.0  # CartPole terminates
        else:
            assert f.bootstrap_value != 0.0
    complete = [e for e, agents in done_agents.items() if agents == {0, 1}]
    assert metrics["num_episodes"] == len(complete) > 0
    returns = [sum(episodes[e].values()) for e in complete]
    assert metrics["episode_return_mean"] == pytest.approx(np.mean(returns))
    assert metrics["episode_return_max"] == max(returns)
    for agent in (0, 1):
        assert metrics["agent_episode_returns_mean"][agent] == pytest.approx(
            np.mean([episodes[e][agent] for e in complete])
        )
    assert metrics["module_episode_returns_mean"]["p1"] == metrics["agent_episode_returns_mean"][1]


def test_multi_agent_shared_module_batches_all_agents_and_is_deterministic():
    runner = MultiAgentEnvRunner(ma_config(2, None, None))
    assert list(runner.module.keys()) == ["default_policy"]
    calls = count_forwards(runner)
    torch.manual_seed(3)
    a = runner.sample(num_timesteps=16)
    assert calls[0] == ("default_policy", 4)  # 2 agents x 2 env copies in one forward
    assert {f.module_id for f in a} == {"default_policy"}
    torch.manual_seed(3)
    again = MultiAgentEnvRunner(ma_config(2, None, None), module=runner.module)
    b = again.sample(num_timesteps=16)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.obs, y.obs)
        np.testing.assert_array_equal(x.actions, y.actions)
        np.testing.assert_array_equal(x.action_logp, y.action_logp)
        assert (x.agent_id, x.env_index, x.bootstrap_value) == (y.agent_id, y.env_index, y.bootstrap_value)


def test_unknown_module_id_from_mapping_is_named():
    runner = MultiAgentEnvRunner(ma_config(1, lambda aid, ep, **kw: "p0", {"p0"}))
    runner._mapping_fn = lambda aid, ep, **kw: "nope"
    with pytest.raises(KeyError, match="nope"):
        runner.sample(num_timesteps=1)


# --- PettingZoo and turn-based envs ---------------------------------------------------------
def tiny_parallel_env_class():
    from pettingzoo import ParallelEnv

    class TinyParallel(ParallelEnv):
        """Agents "a" (truncated after 5 steps) and "b" (terminated after 3)."""

        metadata = {"name": "tiny_parallel_v0"}

        def __init__(self, config=None):
            self.possible_agents = ["a", "b"]
            self._obs_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
            self._act_space = gym.spaces.Discrete(2)

        def observation_space(self, agent):
            return self._obs_space

        def action_space(self, agent):
            return self._act_space

        def _obs(self, agent):
            return np.array([self.t, 1.0 if agent == "a" else 2.0], np.float32)

        def reset(self, seed=None, options=None):
            self.agents = list(self.possible_agents)
            self.t = 0
            return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

        def step(self, actions):
            self.t += 1
            rewards = {a: float(actions[a]) + 0.25 for a in actions}
            terms = {a: a == "b" and self.t >= 3 for a in actions}
            truncs = {a: a == "a" and self.t >= 5 for a in actions}
            obs = {a: self._obs(a) for a in actions}
            self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
            return obs, rewards, terms, truncs, {a: {} for a in actions}

    return TinyParallel


def test_pettingzoo_parallel_env():
    env_cls = tiny_parallel_env_class()
    assert is_parallel_env(env_cls()) and not is_parallel_env(MultiAgentCartPole())
    config = (
        PPOConfig().environment(env_cls).multi_agent(policies={"pa", "pb"}, policy_mapping_fn=lambda aid, ep, **kw: "p" + aid)
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=7)
    )
    space = env_cls().observation_space("a")
    module = MultiAgentRLModule()
    for mid in ("pa", "pb"):
        module.add_module(mid, sum_module(space, gym.spaces.Discrete(2)))
    runner = make_env_runner(config, module=module)
    assert isinstance(runner.envs[0], ParallelEnvAdapter)
    fragments = runner.sample()  # 7 env steps per copy: one whole episode (5) + 2 steps
    a = [f for f in fragments if f.agent_id == "a"]
    b = [f for f in fragments if f.agent_id == "b"]
    assert {f.module_id for f in a} == {"pa"} and {f.module_id for f in b} == {"pb"}
    a_done = [f for f in a if f.truncated]
    b_done = [f for f in b if f.terminated]
    assert len(a_done) == len(b_done) == 2
    for f in a_done:
        assert len(f) == 5 and f.bootstrap_value == pytest.approx(5.0 + 1.0)  # V(final obs)
    for f in b_done:
        assert len(f) == 3 and f.bootstrap_value == 0.0
    cut = [f for f in fragments if not (f.terminated or f.truncated)]
    assert {len(f) for f in cut} == {2} and len(cut) == 4
    for f in cut:  # V(next obs) = t + agent marker
        assert f.bootstrap_value == pytest.approx(2.0 + (1.0 if f.agent_id == "a" else 2.0))
    metrics = runner.get_metrics()
    returns = [sum(float(g.rewards.sum()) for g in fragments if g.episode_id == f.episode_id) for f in a_done]
    assert metrics["num_episodes"] == 2 and metrics["episode_len_mean"] == 5.0
    assert metrics["episode_return_mean"] == pytest.approx(np.mean(returns))
    assert metrics["agent_episode_returns_mean"]["b"] == pytest.approx(3 * 0.25 + np.mean([f.actions.sum() for f in b_done]))
    assert set(metrics["module_episode_returns_mean"]) == {"pa", "pb"}

    # the adapter's "__all__" flags
    adapter = ParallelEnvAdapter(env_cls())
    adapter.reset(seed=0)
    for t in range(5):
        _, _, terms, truncs, _ = adapter.step({a: 0 for a in adapter.agents})
        assert terms["__all__"] is False and truncs["__all__"] is (t == 4)
    assert adapter.observation_spaces["b"] == space and adapter.possible_agents == ["a", "b"]

    # module built from the config's spec through the adapter's spaces
    built = make_env_runner(config)
    assert set(built.module.keys()) == {"pa", "pb"}
    assert built.sample(num_timesteps=4)


class TurnBasedEnv:
    """RLlib-style: "x" and "y" alternate; an agent's reward arrives one env step after
    it acts (0.5 + action + t); the episode ends after 6 env steps."""

    def __init__(self, config=None):
        self.possible_agents = ["x", "y"]
        self.observation_space = gym.spaces.Box(-100.0, 100.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        self.pending = None
        return {"x": np.array([0.0], np.float32)}, {}

    def step(self, actions):
        (agent, action), = actions.items()
        rewards = {}
        if self.pending is not None:
            rewards[self.pending[0]] = self.pending[1]
        self.pending = (agent, 0.5 + int(action) + self.t)
        self.t += 1
        done = self.t >= 6
        if done:
            rewards[agent] = rewards.get(agent, 0.0) + self.pending[1]
        other = "y" if agent == "x" else "x"
        obs = {other: np.array([self.t], np.float32)}
        if done:
            obs[agent] = np.array([self.t], np.float32)
        return obs, rewards, {"__all__": done}, {"__all__": False}, {}


@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_turn_based_rewards_and_carried_steps(steps_per_call):
    config = (
        PPOConfig().environment(TurnBasedEnv).multi_agent(policies={"default_policy"})
        .env_runners(num_envs_per_env_runner=1, rollout_fragment_length=steps_per_call)
    )
    space = gym.spaces.Box(-100.0, 100.0, (1,), np.float32)
    runner = MultiAgentEnvRunner(config, module=sum_module(space, gym.spaces.Discrete(2)))
    fragments = [f for _ in range(12 // steps_per_call) for f in runner.sample()]
    per_agent: Dict[tuple, List[Fragment]] = {}
    for f in fragments:
        per_agent.setdefault((f.episode_id, f.agent_id), []).append(f)
    first_episode = min(e for e, _ in per_agent)
    for agent in ("x", "y"):
        frags = per_agent[(first_episode, agent)]
        obs = np.concatenate([f.obs[:, 0] for f in frags])
        actions = np.concatenate([f.actions for f in frags])
        rewards = np.concatenate([f.rewards for f in frags])
        np.testing.assert_array_equal(obs, [0, 2, 4] if agent == "x" else [1, 3, 5])
        np.testing.assert_allclose(rewards, 0.5 + actions + obs)  # delayed rewards land on the right step
        assert frags[-1].terminated and not any(f.terminated for f in frags[:-1])
        for f, g in zip(frags, frags[1:]):  # a cut fragment bootstraps from the carried step
            assert f.bootstrap_value == pytest.approx(float(g.obs[0, 0]))
    metrics = runner.get_metrics()
    returns = [sum(float(f.rewards.sum()) for f in fragments if f.episode_id == e) for e in {f.episode_id for f in fragments}]
    assert metrics["num_episodes"] == len(returns) == 2  # 12 env steps: two whole episodes
    assert metrics["episode_return_mean"] == pytest.approx(np.mean(returns))
    assert metrics["episode_len_mean"] == 6


def test_multi_agent_recurrent_state_per_agent():
    config = ma_config(2, lambda aid, ep, **kw: "shared", {"shared"}, length=6)
    config.training(model={"fcnet_hiddens": [8], "use_lstm": True, "lstm_cell_size": 4, "vf_share_layers": True})
    runner = MultiAgentEnvRunner(config)
    module = runner.module["shared"]
    first, second = runner.sample(), runner.sample()
    first_ids = {(f.episode_id, f.agent_id) for f in first}
    for f in first + second:
        state = {k: torch.from_numpy(v[:1]) for k, v in f.state_in.items()}
        out = module.forward_exploration({"obs": torch.from_numpy(f.obs)[None], "state_in": state})
        np.testing.assert_allclose(out["vf_preds"][0].numpy(), f.vf_preds, rtol=1e-4, atol=1e-5)
    for f in first:  # every agent's episode starts in the first call
        np.testing.assert_array_equal(f.state_in["h"][0], 0.0)
    carried = [f for f in second if (f.episode_id, f.agent_id) in first_ids]
    assert carried and all(not np.allclose(f.state_in["h"][0], 0.0) for f in carried)


class NestedEnv(gym.Env):
    """Tuple observations, Dict actions with a Box part; the observation echoes the
    (clipped) move it received; truncated after 4 steps."""

    observation_space = gym.spaces.Tuple((gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(3)))
    action_space = gym.spaces.Dict(
        {"move": gym.spaces.Box(-1, 1, (2,), np.float32), "pick": gym.spaces.Discrete(2)}
    )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return (np.zeros(2, np.float32), 0), {}

    def step(self, action):
        move = np.asarray(action["move"], np.float32)
        assert self.action_space["move"].contains(move), move
        self.t += 1
        return (move, self.t % 3), float(action["pick"]), False, self.t >= 4, {}


@pytest.mark.parametrize("use_lstm", [False, True])
def test_tuple_observations_and_dict_actions(use_lstm):
    config = (
        PPOConfig().environment(lambda cfg: NestedEnv())
        .training(model={"fcnet_hiddens": [8], "use_lstm": use_lstm, "lstm_cell_size": 4, "free_log_std": False})
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=6)
    )
    runner = SingleAgentEnvRunner(config)
    fragments = runner.sample()
    assert [len(f) for f in fragments] == [4, 2, 4, 2]
    for f in fragments:
        assert isinstance(f.obs, tuple) and isinstance(f.actions, dict)
        np.testing.assert_array_equal(f.obs[0][1:], np.clip(f.actions["move"][:-1], -1, 1))
        np.testing.assert_array_equal(f.rewards, f.actions["pick"])
        assert (f.state_in is not None) == use_lstm
    assert runner.get_metrics()["episode_return_mean"] == np.mean(
        [f.actions["pick"].sum() for f in fragments if f.truncated]
    )


def _checkpoint_roundtrip(state: Dict[str, Any]) -> Dict[str, Any]:
    """What a checkpoint keeps: a JSON tree plus numpy arrays (no pickle)."""
    from rlmodule.algorithms.algorithm_checkpoint import join_arrays, split_arrays

    tree, arrays = split_arrays(state)
    return join_arrays(json.loads(json.dumps(tree)), {k: np.array(v) for k, v in arrays.items()})


@pytest.mark.parametrize("recurrent", [False, True])
def test_a_restored_runner_continues_exactly(recurrent):
    if recurrent:
        config = (
            PPOConfig().environment("CartPole-v1", env_config={"max_episode_steps": 9})
            .training(model={"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [8], "vf_share_layers": True})
            .env_runners(num_envs_per_env_runner=3, rollout_fragment_length=5).debugging(seed=4)
        )
    else:
        config = chain_config(num_envs=3, length=5, seed=4)
    runner = SingleAgentEnvRunner(config)
    torch.manual_seed(1)
    runner.sample()
    runner.get_metrics()
    runner.sample()  # an unreported period and running episodes
    state = _checkpoint_roundtrip(runner.get_state())
    rng = torch.get_rng_state()
    expected, expected_metrics = runner.sample() + runner.sample(), runner.get_metrics()

    restored = SingleAgentEnvRunner(config)
    restored.set_weights(runner.get_weights())
    restored.set_state(state)
    torch.set_rng_state(rng)
    got, got_metrics = restored.sample() + restored.sample(), restored.get_metrics()
    assert len(got) == len(expected)
    for x, y in zip(expected, got):
        for name in ("obs", "actions", "rewards", "action_logp", "vf_preds"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert (x.episode_id, x.terminated, x.truncated, x.bootstrap_value) == (
            y.episode_id, y.terminated, y.truncated, y.bootstrap_value
        )
        if recurrent:
            np.testing.assert_array_equal(x.state_in["h"], y.state_in["h"])
    assert json.dumps(got_metrics) == json.dumps(expected_metrics)
    assert expected_metrics["num_episodes"] > 0


def test_nested_recurrent_state_of_a_separate_critic_is_recorded_per_leaf():
    config = (
        PPOConfig().environment("CartPole-v1", env_config={"max_episode_steps": 6})
        .training(model={"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [8], "vf_share_layers": False})
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=8).debugging(seed=0)
    )
    runner = SingleAgentEnvRunner(config)
    initial = runner.module.get_initial_state()
    assert all(isinstance(v, dict) for v in initial.values())  # {"actor": {...}, "critic": {...}}
    fragments = runner.sample()
    for f in fragments:
        assert f.state_in.keys() == initial.keys()
        for part, leaves in f.state_in.items():
            assert leaves.keys() == initial[part].keys()
            for name, value in leaves.items():
                assert value.shape == (len(f),) + tuple(np.shape(initial[part][name]))
                np.testing.assert_array_equal(value[0], 0.0)  # each episode starts from zeros
    runner.stop()
