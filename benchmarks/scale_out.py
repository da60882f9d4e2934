"""Sampling throughput with 0, 1 and 2 Ray env runners (``EnvRunnerGroup``), and RLlib
2.60's new API stack training our default PPO module (``compat.rllib``) beside it.

Two envs: CartPole-v1, and a deliberately slow CartPole that sleeps 1 ms per step
(an env whose step dominates, where spreading runners over processes must pay off).
For each env and runner count: the default PPO module, 8 envs per runner, repeated
synchronous ``sample(2000)`` calls (0 runners: the in-process runner's ``sample``) for
about ``SECONDS`` of wall clock after one warm-up call. Sampling only, no learning.

Prints one JSON: env steps/s per env and runner count, and for the slow env the
speed-up from 1 to 2 runners (near 2 expected: each runner sleeps in its own process;
needs 2 free CPUs).

RLlib (with the legacy extra, ``ray[rllib]``): RLlib's PPO with our default module through
``compat.rllib.to_rllib_spec``, CartPole-v1, in the same run:

* env steps/s of RLlib's ``synchronous_parallel_sample`` of ``BATCH`` steps with 1 and 2
  remote env runners (8 envs each), as our runner group's figures above;
* learner updates/s for ``num_learners`` 0 (in-process) and 2 (DDP, one process each):
  ``learner_group.update`` on one fixed sample of ``BATCH`` steps, 1 epoch, minibatches
  of ``MINIBATCH`` per learner (connectors and GAE included), repeated for about
  ``SECONDS``. ``updates_per_s`` counts synchronised optimizer steps of the group (2
  learners each take half of every batch, so half as many steps per batch);
  ``env_steps_trained_per_s`` is the comparable figure.

Starts a local Ray instance with 4 logical CPUs (2 learners + 1 env runner + the
driver; they may exceed the cores), or uses the one ``RAY_ADDRESS`` names.
``comparisons`` holds the figures as tables for ``run_all.py``; without ray (the ray
extra) it prints ``{"skipped": reason}`` instead; without RLlib the ``rllib`` entry says
why it was skipped.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List

import gymnasium as gym

SECONDS = 4.0
BATCH = 2000
MINIBATCH = 250


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


def rllib_config(num_env_runners: int, num_learners: int) -> Any:
    """RLlib 2.60 PPO (new API stack) training our default PPO module on CartPole-v1."""
    from ray.rllib.algorithms.ppo import PPOConfig as RLlibPPOConfig

    from compat.rllib import to_rllib_spec
    from rlmodule.algorithms.ppo import PPOConfig

    return (
        RLlibPPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .environment("CartPole-v1")
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=8)
        .learners(num_learners=num_learners)
        .training(train_batch_size_per_learner=BATCH // max(num_learners, 1), minibatch_size=MINIBATCH, num_epochs=1)
        .rl_module(rl_module_spec=to_rllib_spec(PPOConfig().get_default_rl_module_spec()))
        .debugging(seed=0)
    )


def rllib_sample(algo: Any) -> List[Any]:
    """One synchronous sample of ``BATCH`` env steps from the remote env runners (episodes)."""
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    return synchronous_parallel_sample(
        worker_set=algo.env_runner_group, max_env_steps=BATCH, concat=True, _uses_new_env_runners=True
    )


def rllib_env_steps_per_second(num_env_runners: int) -> float:
    algo = rllib_config(num_env_runners, 0).build_algo()
    try:
        return steps_per_second(lambda: rllib_sample(algo))
    finally:
        algo.stop()


def rllib_learner_rates(num_learners: int) -> Dict[str, float]:
    """``updates_per_s`` and ``env_steps_trained_per_s`` of ``learner_group.update`` on one sample."""
    algo = rllib_config(1, num_learners).build_algo()
    try:
        episodes = rllib_sample(algo)
        steps = sum(len(e) for e in episodes)
        per_learner = steps / max(num_learners, 1)
        updates_per_call = -(-per_learner // MINIBATCH)  # ceil: the last minibatch may be short

        def update() -> None:
            algo.learner_group.update(episodes=episodes, timesteps={}, num_epochs=1, minibatch_size=MINIBATCH)

        update()  # warm-up (optimizer state, DDP buckets)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS:
            update()
            calls += 1
        elapsed = time.perf_counter() - start
        return {
            "updates_per_s": round(calls * updates_per_call / elapsed, 1),
            "env_steps_trained_per_s": round(calls * steps / elapsed, 1),
        }
    finally:
        algo.stop()


def measure_rllib() -> Dict[str, Any]:
    """RLlib with our module: env steps/s per remote env runner count, learner rates per
    ``num_learners``; ``{"skipped": reason}`` without RLlib."""
    try:
        import ray.rllib  # noqa: F401
    except ImportError as error:
        return {"skipped": f"RLlib (the legacy extra) is not importable: {error}"}
    return {
        "env_steps_per_s": {f"{n}_env_runners": round(rllib_env_steps_per_second(n), 1) for n in (1, 2)},
        "learner": {f"{n}_learners": rllib_learner_rates(n) for n in (0, 2)},
        "minibatch_per_learner": MINIBATCH,
    }


def rllib_comparisons(figures: Dict[str, Dict[str, float]], rllib: Dict[str, Any]) -> List[Dict[str, Any]]:
    """RLlib's figures as ``run_all.py`` tables: its env runners beside ours, 2 learners vs 0."""
    if "skipped" in rllib:
        return []
    ours = figures["CartPole-v1"]
    sampling = {
        "title": "RLlib 2.60 env runners with our module vs our runner group (CartPole-v1)",
        "ours": "our Ray env runners", "baseline": "RLlib env runners", "unit": "env steps/s",
        "ratio": "ours / baseline",
        "rows": [
            {"case": f"{n} runner(s)", "ours": ours[f"{n}_runners"], "baseline": rllib["env_steps_per_s"][f"{n}_env_runners"],
             "ratio": round(ours[f"{n}_runners"] / rllib["env_steps_per_s"][f"{n}_env_runners"], 2)}
            for n in (1, 2)
        ],
    }
    two, zero = rllib["learner"]["2_learners"], rllib["learner"]["0_learners"]
    learners = {
        "title": "RLlib 2.60 learners training our module: num_learners 2 vs 0",
        "ours": "2 learners (DDP)", "baseline": "in-process learner", "unit": "per s",
        "ratio": "ours / baseline",
        "rows": [
            {"case": key, "ours": two[key], "baseline": zero[key], "ratio": round(two[key] / zero[key], 2)}
            for key in ("updates_per_s", "env_steps_trained_per_s")
        ],
    }
    return [sampling, learners]


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
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        figures: Dict[str, Dict[str, float]] = {}
        for name, env in (("CartPole-v1", "CartPole-v1"), ("SlowCartPole_1ms", SlowCartPole)):
            figures[name] = {f"{n}_runners": round(measure(env, n), 1) for n in (0, 1, 2)}
        rllib = measure_rllib()
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
        "rllib_with_our_module": rllib,
        "comparisons": comparisons(figures) + rllib_comparisons(figures, rllib),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
