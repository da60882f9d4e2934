"""PPO must learn (fixed seeds; slow, run in CI).

Each test trains until its target is met or its env-step budget is spent, and asserts
the target was met within the budget.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Tuple

import pytest

from rlmodule import SingleAgentRLModuleSpec
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.envs import MultiAgentCartPole, StatelessCartPole

pytestmark = pytest.mark.slow


def train_until(config: PPOConfig, budget: int, done: Callable[[Dict[str, Any]], bool]) -> Tuple[bool, Dict[str, Any]]:
    """Train until ``done(result)`` or ``budget`` env steps; ``(reached, last result)``."""
    algo = config.build()
    try:
        while True:
            result = algo.train()
            if done(result):
                return True, result
            if result["num_env_steps_sampled"] >= budget:
                return False, result
    finally:
        algo.stop()


def mean_return(result: Dict[str, Any]) -> float:
    return result["env_runners"]["episode_return_mean"]


# Env steps until the mean return first reached 450 with PPOConfig's defaults on
# CartPole-v1, seeds 0-14, one thread (AMD EPYC 2 cores):
#   torch: 66.6k 79.9k 92.2k 67.6k 82.9k 84.0k 80.9k 70.7k 82.9k 94.2k 97.3k 107.5k 69.6k 82.9k 84.0k
#   tf2:   96.3k 98.3k 109.6k 147.5k 79.9k 104.4k 99.3k 91.1k 92.2k 105.5k 113.7k 111.6k 65.5k 127.0k 87.0k
# A CPU that rounds differently (another SIMD kernel, another thread count) follows
# another trajectory, as another seed would: each budget is about 1.4x the slowest of
# its 15 runs, so seed 0 passes wherever these spreads hold. Both backends run the same
# update (tests/test_learner_parity_torch_tf.py); tf's runs still took a median 1.2x
# torch's steps (before tf's Adam stepped as torch's: 1.5x, seeds 0-4).
CARTPOLE_TARGET = 450


def test_ppo_torch_learns_cartpole_within_150k_steps(tmp_path):
    config = PPOConfig().environment("CartPole-v1").debugging(seed=0, log_dir=str(tmp_path))
    reached, result = train_until(config, 150_000, lambda r: mean_return(r) >= CARTPOLE_TARGET)
    assert reached, f"mean return {mean_return(result):.1f} after {result['num_env_steps_sampled']} steps"


@pytest.mark.tf
@pytest.mark.usefixtures("tf_op_determinism")
def test_ppo_tf_learns_cartpole_within_200k_steps(tmp_path):
    config = PPOConfig().framework("tf2").environment("CartPole-v1").debugging(seed=0, log_dir=str(tmp_path))
    reached, result = train_until(config, 200_000, lambda r: mean_return(r) >= CARTPOLE_TARGET)
    assert reached, f"mean return {mean_return(result):.1f} after {result['num_env_steps_sampled']} steps"


def pendulum_config(tmp_path) -> PPOConfig:
    return (
        PPOConfig()
        .environment("Pendulum-v1")
        .training(
            lr=1e-3, gamma=0.9, lambda_=0.95, train_batch_size=4096, sgd_minibatch_size=256, num_sgd_iter=10,
            clip_param=0.2, vf_clip_param=10_000.0, model={"fcnet_hiddens": [64, 64]},
        )
        .env_runners(num_envs_per_env_runner=16)
        .debugging(seed=0, log_dir=str(tmp_path))
    )


# Env steps until the mean return first reached -400, seeds 0-4, one thread:
#   53.2k-61.4k (57.3k 61.4k 61.4k 61.4k 53.2k): the 200k budget is ~3.3x the slowest seed.
def test_ppo_torch_learns_pendulum_within_200k_steps(tmp_path):
    reached, result = train_until(pendulum_config(tmp_path), 200_000, lambda r: mean_return(r) >= -400)
    assert reached, f"mean return {mean_return(result):.1f} after {result['num_env_steps_sampled']} steps"


def memory_config(tmp_path, use_lstm: bool) -> PPOConfig:
    return (
        PPOConfig()
        .environment(StatelessCartPole)
        .training(model={"use_lstm": use_lstm, "lstm_cell_size": 64, "max_seq_len": 20, "fcnet_hiddens": [64]})
        .debugging(seed=0, log_dir=str(tmp_path / str(use_lstm)))
    )


def test_an_lstm_does_clearly_better_than_an_mlp_on_the_memory_task(tmp_path):
    # Stateless CartPole hides the velocities: an MLP plateaus near a return of 50.
    # Mean returns after the 60k budget, seeds 0-4, one thread (AMD EPYC 2 cores):
    #   LSTM: 165.4 184.2 190.1 137.6 182.1 (the slowest 1.5x the 90 asked; it first
    #         reached 90 at 26.6k 26.6k 31.7k 23.6k 27.6k steps: the budget is 1.9x those)
    #   MLP:  46.5 45.8 53.3 47.6 49.8 (LSTM/MLP at least 2.9x, 2x asked)
    budget = 60_000
    _, with_lstm = train_until(memory_config(tmp_path, True), budget, lambda r: False)
    _, without = train_until(memory_config(tmp_path, False), budget, lambda r: False)
    assert with_lstm["num_env_steps_sampled"] == without["num_env_steps_sampled"]
    assert mean_return(with_lstm) >= 90, mean_return(with_lstm)
    assert mean_return(with_lstm) >= 2 * mean_return(without), (mean_return(with_lstm), mean_return(without))


def agent_to_policy(agent_id, episode=None, **kwargs):
    return f"p{agent_id}"


def test_independent_multi_agent_ppo_learns_two_agent_cartpole(tmp_path):
    config = (
        PPOConfig()
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=agent_to_policy)
        .debugging(seed=0, log_dir=str(tmp_path))
    )

    def both(result):
        returns = result["env_runners"]["agent_episode_returns_mean"]
        return min(returns.values()) >= 400

    # Env steps until both agents' mean returns first reached 400, seeds 0-4, one thread
    # (AMD EPYC 2 cores): 101.4k 93.2k 180.2k 114.7k 616.4k (seed 4's weaker agent stayed
    # near 200-260 from 200k to 500k). The budget is 850k, ~1.38x the slowest seed (the
    # old 400k missed seed 4); seed 0 still stops at 101k, only a failing run goes on.
    reached, result = train_until(config, 850_000, both)
    assert reached, result["env_runners"]["agent_episode_returns_mean"]


def test_a_migrated_fixture_model_trains_with_ppo_like_a_builtin_one(tmp_path):
    migrated = importlib.import_module("fixtures.migrated.models.value_caching")
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .rl_module(rl_module_spec=SingleAgentRLModuleSpec(module_class=migrated.ValueCachingModel))
        # Its 2x64 network wants more updates per sample than the 2x256 default is tuned for.
        .training(model={"custom_model_config": {"hiddens": [64, 64]}}, train_batch_size=512, num_sgd_iter=6)
        .env_runners(num_envs_per_env_runner=8)
        .debugging(seed=0, log_dir=str(tmp_path))
    )
    # Env steps until the mean return first reached 400 / 450, seeds 0-4, one thread:
    #   400: 68.1k 70.7k 74.2k 117.8k 70.7k
    #   450: 81.9k 80.4k never (seed 2 peaks at 426 near 82k, falls to ~250, 338 at 200k) 132.6k 80.4k
    # 450 is out of reach for one seed in five at any budget up to 200k, so the target is
    # 400 and the budget 160k, ~1.36x the slowest seed (the old 100k failed seed 3).
    reached, result = train_until(config, 160_000, lambda r: mean_return(r) >= 400)
    assert reached, f"mean return {mean_return(result):.1f} after {result['num_env_steps_sampled']} steps"
