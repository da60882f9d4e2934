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

BUDGET = 200_000


def train_until(config: Any, target: float) -> Tuple[bool, Dict[str, Any]]:
    """Train until the mean return reaches ``target`` or ``BUDGET`` env steps pass."""
    algo = config.build()
    try:
        while True:
            result = algo.train()
            if result["env_runners"]["episode_return_mean"] >= target:
                return True, result
            if result["num_env_steps_sampled"] >= BUDGET:
                return False, result
    finally:
        algo.stop()


def cartpole(config: Any, framework: str, tmp_path) -> Any:
    return config.framework(framework).environment("CartPole-v1").debugging(seed=0, log_dir=str(tmp_path))


@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig], ids=["impala", "appo"])
def test_torch_reaches_400_on_cartpole_within_200k_steps(tmp_path, config_cls):
    reached, result = train_until(cartpole(config_cls(), "torch", tmp_path), 400.0)
    ret = result["env_runners"]["episode_return_mean"]
    assert reached, f"mean return {ret:.1f} after {result['num_env_steps_sampled']} steps"


@pytest.mark.tf
@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig], ids=["impala", "appo"])
def test_tf_reaches_300_on_cartpole_within_200k_steps(tmp_path, config_cls):
    reached, result = train_until(cartpole(config_cls(), "tf2", tmp_path), 300.0)
    ret = result["env_runners"]["episode_return_mean"]
    assert reached, f"mean return {ret:.1f} after {result['num_env_steps_sampled']} steps"
