"""BC must learn (fixed seeds; slow, run in CI): from expert data recorded with a
trained PPO policy, BC recovers >= 90% of the expert's return on CartPole."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import pytest

from rlmodule.algorithms.bc import BCConfig
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.env_runners import make_env_runner

pytestmark = pytest.mark.slow

EXPERT_STEPS = 20_000
EVAL_EPISODES = 20

# Seeds 0-4 (the same seed for expert and BC), one thread (AMD EPYC 2 cores):
#   expert's env steps to a mean return of 450: 66.6k 79.9k 92.2k 67.6k 82.9k (the
#   150k cap is 1.6x the slowest; PPO CartPole over 15 seeds: 66.6k-107.5k, 1.4x,
#   tests/test_ppo_learning.py); the expert's evaluation: 500 for every seed;
#   BC's evaluation after 10 / 20 / 30 iterations: 500 500 500 408.6 468.9 / 500 for
#   every seed / 500 for every seed (and still 500 after 45 and 60).
# So every seed has BC at 1.0x the expert's return (0.9x asked) by iteration 20 of 30.


def train_expert(log_dir: Path):
    """PPO on CartPole with a fixed seed, trained until its mean return is >= 450."""
    config = (
        PPOConfig().environment("CartPole-v1").evaluation(evaluation_duration=EVAL_EPISODES)
        .debugging(seed=0, log_dir=str(log_dir))
    )
    algo = config.build()
    while algo.train()["env_runners"]["episode_return_mean"] < 450:
        assert algo.counters["num_env_steps_sampled"] < 150_000, "the PPO expert did not reach a mean return of 450"
    return algo


def record(algo, path: Path, steps: int) -> None:
    """``steps`` env steps of the expert's ``forward_inference`` actions as .npz columns
    ``obs``, ``actions``, ``eps_id`` (a separate runner, seeded apart from training)."""
    config = copy.copy(algo.config)
    runner = make_env_runner(config, module=algo.module, worker_index=500)
    try:
        fragments = runner.sample(num_timesteps=steps, explore=False)
    finally:
        runner.stop()
    np.savez(
        path,
        obs=np.concatenate([f.obs for f in fragments]),
        actions=np.concatenate([f.actions for f in fragments]),
        eps_id=np.concatenate([np.full(len(f), f.episode_id) for f in fragments]),
    )


def test_bc_recovers_90_percent_of_the_ppo_experts_return_on_cartpole(tmp_path):
    start = time.perf_counter()
    expert = train_expert(tmp_path / "expert")
    try:
        data = tmp_path / "expert.npz"
        record(expert, data, EXPERT_STEPS)
        expert_return = expert.evaluate()["env_runners"]["episode_return_mean"]
    finally:
        expert.stop()
    expert_s = time.perf_counter() - start

    config = (
        BCConfig().environment("CartPole-v1").offline_data(input_=str(data))
        .evaluation(evaluation_duration=EVAL_EPISODES).debugging(seed=0, log_dir=str(tmp_path / "bc"))
    )
    bc = config.build()
    try:
        for _ in range(30):
            stats = bc.train()["learners"]["default_policy"]
        bc_return = bc.evaluate()["env_runners"]["episode_return_mean"]
    finally:
        bc.stop()
    bc_s = time.perf_counter() - start - expert_s
    print(f"expert {expert_return:.1f} ({expert_s:.1f}s), BC {bc_return:.1f} ({bc_s:.1f}s), BC loss {stats['policy_loss']:.3f}")
    assert bc_return >= 0.9 * expert_return, f"BC {bc_return:.1f} < 0.9 * expert {expert_return:.1f}"
