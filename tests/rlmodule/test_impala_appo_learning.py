"""IMPALA and APPO must learn CartPole (fixed seeds; slow, run in CI).

Each test trains the default config until the mean return reaches its target or the
env-step budget is spent, and asserts the target was met within the budget.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import pytest

from rlmodule.algorithms.appo import APPOConfig
from rlmodule.algorithms.impala import ImpalaConfig

pytestmark = pytest.mark.slow

# Env steps until the mean return first reached the target, seeds 0-4, one thread
# (AMD EPYC 2 cores); each budget is at least ~1.35x the slowest seed, so that a CPU
# that rounds differently (and follows another trajectory, as another seed would)
# still passes with seed 0:
#   IMPALA torch (400): 72.7k 57.3k 124.9k 99.3k 54.3k  -> 200k (1.6x)
#   APPO torch (400):   70.7k 76.8k 150.5k 59.4k 330.8k -> 450k (1.36x; was 200k, which seed 4 missed)
#   IMPALA tf (300):    61.4k 62.5k 420.9k 50.2k 41.0k  -> 575k (1.37x; was 200k, which seed 2 missed:
#                       it reached 203 at 61k, then stayed near 150-200 until ~330k)
#   APPO tf (300):      96.3k 51.2k 66.6k 52.2k 46.1k   -> 200k (2.1x)
BUDGETS = {
    (ImpalaConfig, "torch"): 200_000,
    (APPOConfig, "torch"): 450_000,
    (ImpalaConfig, "tf2"): 575_000,
    (APPOConfig, "tf2"): 200_000,
}


def train_until(config: Any, target: float, budget: int) -> Tuple[bool, Dict[str, Any]]:
    """Train until the mean return reaches ``target`` or ``budget`` env steps pass."""
    algo = config.build()
    try:
        while True:
            result = algo.train()
            if result["env_runners"]["episode_return_mean"] >= target:
                return True, result
            if result["num_env_steps_sampled"] >= budget:
                return False, result
    finally:
        algo.stop()


def cartpole(config: Any, framework: str, tmp_path) -> Any:
    return config.framework(framework).environment("CartPole-v1").debugging(seed=0, log_dir=str(tmp_path))


@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig], ids=["impala", "appo"])
def test_torch_reaches_400_on_cartpole_within_its_budget(tmp_path, config_cls):
    budget = BUDGETS[config_cls, "torch"]
    reached, result = train_until(cartpole(config_cls(), "torch", tmp_path), 400.0, budget)
    ret = result["env_runners"]["episode_return_mean"]
    assert reached, f"mean return {ret:.1f} after {result['num_env_steps_sampled']} steps"


@pytest.mark.tf
@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig], ids=["impala", "appo"])
def test_tf_reaches_300_on_cartpole_within_its_budget(tmp_path, config_cls):
    budget = BUDGETS[config_cls, "tf2"]
    reached, result = train_until(cartpole(config_cls(), "tf2", tmp_path), 300.0, budget)
    ret = result["env_runners"]["episode_return_mean"]
    assert reached, f"mean return {ret:.1f} after {result['num_env_steps_sampled']} steps"
