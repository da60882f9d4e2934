"""Sampling throughput with 0, 1 and 2 Ray env runners (``EnvRunnerGroup``).

Two envs: CartPole-v1, and a deliberately slow CartPole that sleeps 1 ms per step
(an env whose step dominates, where spreading runners over processes must pay off).
For each env and runner count: the default PPO module, 8 envs per runner, repeated
synchronous ``sample(2000)`` calls (0 runners: the in-process runner's ``sample``) for
about ``SECONDS`` of wall clock after one warm-up call. Sampling only, no learning.

Prints one JSON: env steps/s per env and runner count, and for the slow env the
speed-up from 1 to 2 runners (near 2 expected: each runner sleeps in its own process;
needs 2 free CPUs). Starts a local Ray instance with 2 CPUs, or uses the one
``RAY_ADDRESS`` names. ``comparisons`` holds the same figures as tables for
``run_all.py``; without ray (the ray extra) it prints ``{"skipped": reason}`` instead.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List

import gymnasium as gym

SECONDS = 4.0
BATCH = 2000


class SlowCartPole(gym.Wrapper):
    """CartPole-v1 whose every step sleeps 1 ms (a slow simulator)."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action: Any) -> Any:
        time.sleep(0.001)
        return self.env.step(action)


def steps_per_second(sample: Any) -> float:
    """Env steps/s of repeated ``sample()`` calls (each returns a fragment list)."""
    sample()  # warm-up (actor start, first reset)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        steps += sum(len(f) for f in sample())
    return steps / (time.perf_counter() - start)


def measure(env: Any, num_env_runners: int) -> float:
    from rlmodule.algorithms.ppo import PPOConfig
    from rlmodule.env_runners import EnvRunnerGroup, make_env_runner

    config = (
        PPOConfig()
        .environment(env)
        .training(train_batch_size=BATCH)
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=8)
        .debugging(seed=0)
    )
    if num_env_runners == 0:
        runner = make_env_runner(config)
        try:
            return steps_per_second(lambda: runner.sample(num_timesteps=BATCH))
        finally:
            runner.stop()
    probe = config.make_env()
    module = config.get_rl_module_spec(probe).build()
    probe.close()
    group = EnvRunnerGroup(config, module.get_state(), multi_agent=False)
    try:
        return steps_per_second(lambda: group.sample(BATCH))
    finally:
        group.stop()


def comparisons(figures: Dict[str, Dict[str, float]]) -> List[Dict[str, Any]]:
    """The figures as ``run_all.py`` tables (env steps/s per env)."""

    labels = {"0_runners": "in-process runner", "1_runners": "1 Ray env runner", "2_runners": "2 Ray env runners"}

    def table(title: str, ours: str, baseline: str) -> Dict[str, Any]:
        return {
            "title": title, "ours": labels[ours], "baseline": labels[baseline], "unit": "env steps/s",
            "ratio": "ours / baseline",
            "rows": [
                {"case": env, "ours": rates[ours], "baseline": rates[baseline],
                 "ratio": round(rates[ours] / rates[baseline], 2)}
                for env, rates in figures.items()
            ],
        }

    return [
        table("Ray env-runner scale-out: 2 remote runners vs 1", "2_runners", "1_runners"),
        table("Ray env runner vs the in-process runner", "1_runners", "0_runners"),
    ]


def main() -> Dict[str, Any]:
    try:
        import ray
    except ImportError as error:
        return {"benchmark": "scale_out", "skipped": f"ray (the ray extra) is not importable: {error}"}
    import torch

    torch.set_num_threads(1)  # as each actor runs
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        figures: Dict[str, Dict[str, float]] = {}
        for name, env in (("CartPole-v1", "CartPole-v1"), ("SlowCartPole_1ms", SlowCartPole)):
            figures[name] = {f"{n}_runners": round(measure(env, n), 1) for n in (0, 1, 2)}
    finally:
        ray.shutdown()
    slow = figures["SlowCartPole_1ms"]
    return {
        "env_steps_per_s": figures,
        "slow_env_speedup_1_to_2_runners": round(slow["2_runners"] / slow["1_runners"], 2),
        "seconds_per_setting": SECONDS,
        "batch": BATCH,
        "num_envs_per_env_runner": 8,
        "cpus": os.cpu_count(),
        "comparisons": comparisons(figures),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
