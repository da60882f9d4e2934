"""benchmarks/train_cartpole.py: both libraries train at the same torch thread count
(1 unless ``--threads N``), interleaved per seed, and the report says so (nothing is
trained: the runs are stubbed)."""

import importlib.util
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_train_cartpole", BENCHMARKS / "train_cartpole.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []

    def run(name):
        def fn(seed):
            calls.append((name, seed, torch.get_num_threads()))
            return {"seconds": 1.0 + seed, "env_steps": 1000, "reached": True}

        return fn

    monkeypatch.delenv("BENCH_THREADS", raising=False)
    monkeypatch.setattr(module, "SEEDS", (0, 1))
    monkeypatch.setattr(module, "ours_time_to_target", run("ours"))
    monkeypatch.setattr(module, "sb3_time_to_target", run("sb3"))
    monkeypatch.setattr(module, "sb3_missing", lambda: None)
    monkeypatch.setattr(module, "sampling_rates", lambda num_envs: {
        "num_envs": num_envs, "ours_env_steps_per_s": 2, "bare_vector_env_steps_per_s": 4, "ratio": 0.5,
        "plain_loop_env_steps_per_s": 5, "ratio_to_plain_loop": 0.4,
    })
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield module, calls
    torch.set_num_threads(threads)


def test_runs_alternate_per_seed_at_one_thread_by_default(bench, capsys):
    module, calls = bench
    report = module.main([])
    assert calls == [("ours", 0, 1), ("sb3", 0, 1), ("ours", 1, 1), ("sb3", 1, 1)]
    assert report["torch_threads"] == 1
    assert report["run_order"] == "interleaved per seed: ours seed 0, SB3 seed 0, ours seed 1, SB3 seed 1"
    assert report["comparisons"][0]["rows"][-1]["ratio"] == 1.0
    assert report["comparisons"][0]["note"] == f"Both libraries at 1 torch thread(s); runs {report['run_order']}."


def test_threads_option_sets_both_libraries_thread_count(bench, capsys):
    module, calls = bench
    report = module.main(["--threads", "2"])
    assert {threads for _, _, threads in calls} == {2}
    assert report["torch_threads"] == 2
