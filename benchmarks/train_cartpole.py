"""PPO time-to-475 on CartPole-v1, ours vs Stable-Baselines3, and sampling throughput.

Usage: ``python benchmarks/train_cartpole.py [--threads N]``.

For each of 3 seeds (``BENCH_SEEDS=N`` in the environment: seeds 0..N-1, for a
quicker, noisier run), in this run and on this machine, both libraries train until the
mean return of the last 100 episodes reaches 475 (or ``MAX_STEPS`` env steps pass),
interleaved per seed (ours seed 0, SB3 seed 0, ours seed 1, ...) so that a change in the
machine's load during the run hits both alike:

- ours: ``PPOConfig().environment("CartPole-v1")`` with its defaults;
- SB3: ``PPO("MlpPolicy")`` with RL-Zoo's tuned CartPole-v1 hyperparameters (8 envs,
  n_steps 32, batch 256, 20 epochs, gae_lambda 0.8, gamma 0.98, linear lr 1e-3 and
  clip 0.2 schedules).

Both run with the same torch intra-op thread count: 1 unless ``--threads N`` (or
``BENCH_THREADS=N``, for ``run_all.py``). At torch's default (one thread per core) idle
threads spin-wait, which turns any other load on the machine into noise: one such run
measured 235 s for one of our seeds and 141 s for one of SB3's at similar step counts.
Prints JSON: wall-clock seconds and env steps to 475 per seed and their medians, the
thread count and the run order. Target: ours at most half SB3's median wall-clock.

Sampling: env steps/s of our env runner (CartPole, the default PPO module, exploration)
next to stepping gymnasium's bare ``SyncVectorEnv`` of as many CartPole copies with
random actions, at the default ``num_envs_per_env_runner`` (the target: at least 70% of
the bare rate) and, for reference, at 8 envs. Also reported: the rate of a plain Python
loop stepping the sub-envs with random actions (no vector-env bookkeeping), the floor
any sampler pays. ``comparisons`` holds the same figures as tables for ``run_all.py``;
without stable-baselines3 (the dev extra) the SB3 side is reported missing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 475.0
MAX_STEPS = 300_000
SEEDS = tuple(range(int(os.environ.get("BENCH_SEEDS", "3"))))
SB3_NUM_ENVS = 8  # RL-Zoo's n_envs for CartPole-v1


def ours_time_to_target(seed: int) -> Dict[str, Any]:
    import tempfile

    from rlmodule.algorithms.ppo import PPOConfig

    with tempfile.TemporaryDirectory() as log_dir:
        algo = PPOConfig().environment("CartPole-v1").debugging(seed=seed, log_dir=log_dir).build()
        start = time.perf_counter()
        steps, reached = 0, False
        while steps < MAX_STEPS and not reached:
            result = algo.train()
            steps = result["num_env_steps_sampled"]
            reached = result["env_runners"]["episode_return_mean"] >= TARGET
        elapsed = time.perf_counter() - start
        algo.stop()
    return {"seconds": round(elapsed, 2), "env_steps": int(steps), "reached": bool(reached)}


def sb3_time_to_target(seed: int) -> Dict[str, Any]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class StopAtTarget(BaseCallback):
        def _on_step(self) -> bool:
            buffer = self.model.ep_info_buffer
            return not (len(buffer) >= 100 and np.mean([e["r"] for e in buffer]) >= TARGET)

    def linear(start: float):
        return lambda progress_remaining: progress_remaining * start

    start = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=SB3_NUM_ENVS, seed=seed)
    model = PPO(
        "MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
        learning_rate=linear(1e-3), clip_range=linear(0.2), seed=seed, device="cpu", verbose=0,
    )
    callback = StopAtTarget()
    model.learn(total_timesteps=MAX_STEPS, callback=callback)
    elapsed = time.perf_counter() - start
    buffer = model.ep_info_buffer
    reached = len(buffer) >= 100 and np.mean([e["r"] for e in buffer]) >= TARGET
    return {"seconds": round(elapsed, 2), "env_steps": int(model.num_timesteps), "reached": bool(reached)}


def _rates(steppers: Dict[str, Tuple[Callable[[], Any], int]], rounds: int = 7, seconds: float = 0.5) -> Dict[str, float]:
    """Env steps/s of each ``name: (step, env steps per call)``: the median over
    ``rounds`` interleaved windows of ``seconds`` each, so a machine that slows down or
    speeds up during the measurement affects every stepper alike."""
    samples: Dict[str, List[float]] = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, (step, per_call) in steppers.items():
            steps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                step()
                steps += per_call
            samples[name].append(steps / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in samples.items()}


def sampling_rates(num_envs: int) -> Dict[str, Any]:
    """Env steps/s with ``num_envs`` CartPole copies: our runner, gymnasium's bare
    SyncVectorEnv and a plain loop over the sub-envs (both with random actions)."""
    from rlmodule.algorithms.ppo import PPOConfig
    from rlmodule.env_runners import make_env_runner

    config = PPOConfig().environment("CartPole-v1").env_runners(num_envs_per_env_runner=num_envs).debugging(seed=0)
    runner = make_env_runner(config)
    runner.sample(num_timesteps=2000)  # warm-up
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make("CartPole-v1") for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.reset(seed=0)
    envs.action_space.seed(0)
    rng = np.random.default_rng(0)

    def plain_loop() -> None:
        for env, action in zip(envs.envs, rng.integers(0, 2, num_envs).tolist()):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    steps_per_sample = num_envs * runner.rollout_fragment_length
    rates = _rates(
        {
            "ours": (runner.sample, steps_per_sample),
            "bare": (lambda: envs.step(envs.action_space.sample()), num_envs),
            "plain": (plain_loop, num_envs),
        }
    )
    runner.stop()
    envs.close()
    return {
        "num_envs": num_envs,
        "ours_env_steps_per_s": round(rates["ours"]),
        "bare_vector_env_steps_per_s": round(rates["bare"]),
        "ratio": round(rates["ours"] / rates["bare"], 3),
        "plain_loop_env_steps_per_s": round(rates["plain"]),
        "ratio_to_plain_loop": round(rates["ours"] / rates["plain"], 3),
    }


def _median(runs: List[Dict[str, Any]], key: str) -> Optional[float]:
    values = [r[key] for r in runs if r["reached"]]
    return statistics.median(values) if len(values) == len(runs) else None


def _ratio(ours: Optional[float], baseline: Optional[float]) -> Optional[float]:
    return round(ours / baseline, 3) if ours and baseline else None


def comparisons(report: Dict[str, Any], baseline_missing: Optional[str]) -> List[Dict[str, Any]]:
    """The figures as ``run_all.py`` tables: time and env steps to the target return per
    seed and their medians, and sampling rates."""
    ours, sb3 = report["ours"], report["sb3_rl_zoo"]

    def rows(key: str, target: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
        table = []
        for i, seed in enumerate(SEEDS):
            mine, theirs = ours["runs"][i], sb3["runs"][i] if sb3["runs"] else None
            missed = [name for name, run in (("ours", mine), ("SB3", theirs)) if run and not run["reached"]]
            case = f"seed {seed}" + (f" ({', '.join(missed)}: {TARGET:g} not reached)" if missed else "")
            value = theirs[key] if theirs else None
            table.append({"case": case, "ours": mine[key], "baseline": value, "ratio": _ratio(mine[key], value)})
        median = f"median_{key}"
        table.append({"case": "median", "ours": ours[median], "baseline": sb3[median],
                      "ratio": _ratio(ours[median], sb3[median]), "target": target})
        return table

    sb3_label = "Stable-Baselines3 PPO, RL-Zoo hyperparameters"
    missing = {"baseline_missing": baseline_missing} if baseline_missing else {}
    note = f"Both libraries at {report['torch_threads']} torch thread(s); runs {report['run_order']}."
    sampling = [report["sampling"]] + ([report["sampling_8_envs"]] if report["sampling_8_envs"] else [])
    return [
        {
            "title": f"PPO on CartPole-v1: wall-clock to a mean return of {TARGET:g}",
            "ours": "PPO, `PPOConfig()` defaults", "baseline": sb3_label, "unit": "s", "ratio": "ours / baseline",
            "rows": rows("seconds", {"op": "<=", "value": 0.5}), "note": note, **missing,
        },
        {
            "title": f"PPO on CartPole-v1: env steps to a mean return of {TARGET:g}",
            "ours": "PPO, `PPOConfig()` defaults", "baseline": sb3_label, "unit": "env steps",
            "ratio": "ours / baseline", "rows": rows("env_steps", None), "note": note, **missing,
        },
        {
            "title": "Sampling throughput: our env runner vs gymnasium's bare vector env",
            "ours": "env runner (exploration, default PPO module)",
            "baseline": "`SyncVectorEnv`, random actions", "unit": "env steps/s", "ratio": "ours / baseline",
            "rows": [
                {"case": f"{s['num_envs']} envs", "ours": s["ours_env_steps_per_s"],
                 "baseline": s["bare_vector_env_steps_per_s"], "ratio": s["ratio"],
                 "target": {"op": ">=", "value": 0.7} if s is report["sampling"] else None}
                for s in sampling
            ],
        },
    ]


def sb3_missing() -> Optional[str]:
    """Why stable-baselines3 cannot run here, or None."""
    try:
        import stable_baselines3  # noqa: F401
    except ImportError as error:
        return f"stable-baselines3 (the dev extra) is not importable: {error}"
    return None


def interleaved_runs(with_sb3: bool) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """``(ours, sb3)`` time-to-target runs per seed, in the order ours seed 0, SB3 seed 0,
    ours seed 1, ... (``sb3`` empty without SB3)."""
    ours: List[Dict[str, Any]] = []
    sb3: List[Dict[str, Any]] = []
    for seed in SEEDS:
        ours.append(ours_time_to_target(seed))
        if with_sb3:
            sb3.append(sb3_time_to_target(seed))
    return ours, sb3


def run_order(with_sb3: bool) -> str:
    names = ("ours", "SB3") if with_sb3 else ("ours",)
    runs = ", ".join(f"{name} seed {seed}" for seed in SEEDS for name in names)
    return f"interleaved per seed: {runs}" if with_sb3 else runs


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "1")),
        help="torch intra-op threads for both libraries (default 1, or $BENCH_THREADS)",
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    from rlmodule.algorithms.ppo import PPOConfig

    default_envs = PPOConfig().num_envs_per_env_runner
    missing = sb3_missing()
    ours, sb3 = interleaved_runs(with_sb3=missing is None)
    ours_s, sb3_s = _median(ours, "seconds"), _median(sb3, "seconds") if sb3 else None
    report = {
        "target_return": TARGET,
        "seeds": list(SEEDS),
        "torch_threads": torch.get_num_threads(),
        "run_order": run_order(with_sb3=missing is None),
        "max_env_steps": MAX_STEPS,
        "ours": {"runs": ours, "median_seconds": ours_s, "median_env_steps": _median(ours, "env_steps")},
        "sb3_rl_zoo": {
            "runs": sb3, "median_seconds": sb3_s, "median_env_steps": _median(sb3, "env_steps") if sb3 else None,
        },
        "wall_clock_ratio_ours_over_sb3": _ratio(ours_s, sb3_s),
        "target_ratio_at_most": 0.5,
        "sampling": sampling_rates(default_envs),
        "sampling_8_envs": sampling_rates(8) if default_envs != 8 else None,
        "target_sampling_ratio_at_least": 0.7,
    }
    report["comparisons"] = comparisons(report, missing)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
