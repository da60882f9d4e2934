"""PPO learner updates/s of the default module on the CPU and on a CUDA device, same batch.

Usage: ``python benchmarks/learner_gpu.py``.

One batch of CartPole-v1 experience (``TRAIN_BATCH_SIZE`` env steps, sampled once by
the in-process env runner with seed 0) is trained on by two PPO algorithms with the
default module (MLP 256x256, a separate value network: PPO's vf_share_layers=False), minibatch ``MINIBATCH_SIZE`` and
``NUM_EPOCHS`` epochs: one built with ``learners(num_gpus_per_learner=0)`` (CPU) and one
with ``num_gpus_per_learner=1`` (CUDA). One update is one ``Algorithm.update(fragments)``:
GAE, the batch to tensors (host to device for CUDA), ``NUM_EPOCHS`` passes of
minibatches and, for CUDA, the copy of the weights back into the CPU module the env
runners act with (device to host). Figures per device: updates/s and env steps trained/s
(the median of ``BENCH_LEARNER_UPDATES`` timed updates, default 5, after one warm-up)
and, for CUDA, that weight copy alone (ms, the median of 20).

The CPU learner runs at ``BENCH_THREADS`` torch threads (default: torch's own default,
one per core), recorded as ``cpu_threads``. Prints one JSON document;
``comparisons`` holds the updates/s table (CUDA / CPU) for ``run_all.py``. Without CUDA
it prints ``{"skipped": reason, "cpu": figures}``: the CPU half measured, the CUDA half not.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_BATCH_SIZE = 4000
MINIBATCH_SIZE = 128
NUM_EPOCHS = 10
UPDATES = int(os.environ.get("BENCH_LEARNER_UPDATES", "5"))
SYNC_REPEATS = 20


def build(num_gpus_per_learner: float, log_dir: str) -> Any:
    from rlmodule.algorithms.ppo import PPOConfig

    return (
        PPOConfig()
        .environment("CartPole-v1")
        .training(train_batch_size=TRAIN_BATCH_SIZE, minibatch_size=MINIBATCH_SIZE, num_epochs=NUM_EPOCHS)
        .learners(num_gpus_per_learner=num_gpus_per_learner)
        .debugging(seed=0, log_dir=log_dir)
        .build()
    )


def median_seconds(fn: Callable[[], Any], repeats: int, synchronize: Callable[[], None]) -> float:
    """The median wall-clock seconds of ``repeats`` calls of ``fn`` after one warm-up."""
    fn()
    synchronize()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(num_gpus_per_learner: float, fragments: List[Any], log_dir: str) -> Dict[str, Any]:
    """Updates/s and env steps trained/s of one algorithm's learner on ``fragments``;
    with a separate learner copy also the weight copy into the acting module (ms)."""
    from rlmodule.algorithms.learner_device import copy_weights

    algo = build(num_gpus_per_learner, log_dir)
    on_cuda = algo.learner_module is not algo.module
    synchronize = torch.cuda.synchronize if on_cuda else (lambda: None)
    try:
        seconds = median_seconds(lambda: algo.update(fragments), UPDATES, synchronize)
        figures: Dict[str, Any] = {
            "device": str(next(algo.learner_module.parameters()).device),
            "updates_per_s": round(1.0 / seconds, 3),
            "env_steps_trained_per_s": round(sum(len(f) for f in fragments) / seconds, 1),
        }
        if on_cuda:
            sync = median_seconds(lambda: copy_weights(algo.learner_module, algo.module), SYNC_REPEATS, synchronize)
            figures["weight_sync_ms"] = round(sync * 1e3, 3)
    finally:
        algo.stop()
    return figures


def comparisons(cpu: Dict[str, Any], cuda: Dict[str, Any], threads: int) -> List[Dict[str, Any]]:
    """The updates/s figures as a ``run_all.py`` table."""
    return [{
        "title": "PPO learner on a GPU: updates/s of the default module, CUDA vs CPU",
        "ours": "CUDA learner", "baseline": f"CPU learner ({threads} threads)", "unit": "updates/s",
        "ratio": "CUDA / CPU",
        "rows": [{
            "case": f"CartPole-v1, {TRAIN_BATCH_SIZE} steps, minibatch {MINIBATCH_SIZE}, {NUM_EPOCHS} epochs",
            "ours": cuda["updates_per_s"], "baseline": cpu["updates_per_s"],
            "ratio": round(cuda["updates_per_s"] / cpu["updates_per_s"], 2),
        }],
        "note": "An update includes copying the weights back to the CPU module the env runners act with "
                f"({cuda['weight_sync_ms']} ms of it).",
    }]


def main() -> Dict[str, Any]:
    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as log_dir:
        sampler = build(0, log_dir)
        fragments = sampler.sample(TRAIN_BATCH_SIZE)
        sampler.stop()
        cpu = measure(0, fragments, log_dir)
        settings = {
            "benchmark": "learner_gpu", "train_batch_size": TRAIN_BATCH_SIZE, "minibatch_size": MINIBATCH_SIZE,
            "num_epochs": NUM_EPOCHS, "timed_updates": UPDATES, "cpu_threads": threads,
        }
        if not torch.cuda.is_available():
            reason = f"torch.cuda.is_available() is False (torch {torch.__version__}): the CUDA half was not measured"
            return {**settings, "skipped": reason, "cpu": cpu}
        cuda = measure(1, fragments, log_dir)
    return {
        **settings, "gpu": torch.cuda.get_device_name(), "cpu": cpu, "cuda": cuda,
        "comparisons": comparisons(cpu, cuda, threads),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
