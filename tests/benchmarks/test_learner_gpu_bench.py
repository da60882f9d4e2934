"""benchmarks/learner_gpu.py at toy sizes: without CUDA it measures the CPU half and
reports skipped; with a CUDA device (stood in for by the CPU learner copy) it reports
both halves and a run_all.py comparison table."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench(monkeypatch):
    module = load("learner_gpu")
    for name, value in (("TRAIN_BATCH_SIZE", 128), ("MINIBATCH_SIZE", 64), ("NUM_EPOCHS", 1), ("UPDATES", 1),
                        ("SYNC_REPEATS", 2)):
        monkeypatch.setattr(module, name, value)
    monkeypatch.delenv("BENCH_THREADS", raising=False)
    return module


def test_without_cuda_the_cpu_half_is_measured_and_the_run_reported_skipped(bench, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = json.loads(json.dumps(bench.main()))
    assert "torch.cuda.is_available() is False" in result["skipped"]
    assert result["cpu"]["device"] == "cpu" and result["cpu"]["updates_per_s"] > 0
    assert result["cpu"]["env_steps_trained_per_s"] == pytest.approx(128 * result["cpu"]["updates_per_s"], rel=0.01)
    assert "cuda" not in result and load("run_all").parse_output(0, json.dumps(result), "")["status"] == "skipped"


def test_with_cuda_both_halves_and_a_comparison_are_reported(bench, monkeypatch):
    from rlmodule.torch import cuda

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "stand-in")
    monkeypatch.setattr(cuda, "cuda_device", lambda setting: "cpu")
    result = json.loads(json.dumps(bench.main()))
    assert "skipped" not in result and result["gpu"] == "stand-in"
    assert "weight_sync_ms" in result["cuda"] and "weight_sync_ms" not in result["cpu"]
    (table,) = result["comparisons"]
    (row,) = table["rows"]
    assert (row["ours"], row["baseline"]) == (result["cuda"]["updates_per_s"], result["cpu"]["updates_per_s"])
    assert row["ratio"] == round(row["ours"] / row["baseline"], 2)
    assert load("run_all").parse_output(0, json.dumps(result), "")["status"] == "ok"
