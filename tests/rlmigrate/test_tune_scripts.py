"""End to end: a legacy Tune script (``tune.run("PPO", config={...legacy keys...})``)
migrated by ``rlmigrate migrate --write`` runs our PPO under Ray Tune (``PPO.as_trainable()``):
the trial's results have our keys and its checkpoint is ours. ~15 s on 2 CPUs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.legacy, pytest.mark.slow]
pytest.importorskip("ray.tune")

ROOT = Path(__file__).resolve().parents[2]

LEGACY_SCRIPT = '''
import json
import sys

import ray
from ray import tune

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
config = {
    "env": "CartPole-v1", "framework": "torch", "num_workers": 0, "train_batch_size": 256,
    "sgd_minibatch_size": 64, "num_sgd_iter": 1, "model": {"fcnet_hiddens": [16]}, "seed": 0,
}
analysis = tune.run(
    "PPO", config=config, stop={"training_iteration": 1}, checkpoint_at_end=True, storage_path=sys.argv[1], verbose=0,
)
trial = analysis.trials[0]
print(json.dumps({"keys": sorted(trial.last_result), "checkpoint": trial.checkpoint.path, "status": trial.status}))
ray.shutdown()
'''


def test_a_migrated_tune_script_runs_our_ppo_and_writes_our_checkpoint(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    script = project / "sweep.py"
    script.write_text(textwrap.dedent(LEGACY_SCRIPT).lstrip())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    migrated = subprocess.run(
        [sys.executable, "-m", "rlmigrate", "migrate", "--write", "--no-progress", "-j", "1", str(project)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    text = script.read_text()
    assert 'tune.run(\n    PPO.as_trainable(), config=config' in text and "from rlmodule.algorithms.ppo import PPO\n" in text
    assert '"num_env_runners": 0' in text and "TODO" not in text

    run = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "results")], capture_output=True, text=True, env=env, timeout=180,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["status"] == "TERMINATED"
    assert {"env_runners", "learners", "num_env_steps_sampled"} <= set(report["keys"])
    assert "episode_reward_mean" not in report["keys"]  # RLlib's legacy keys: not RLlib's algorithm

    from rlmodule.algorithms import Algorithm

    algo = Algorithm.from_checkpoint(report["checkpoint"])  # our format (algorithm_state.json, no pickle)
    try:
        assert type(algo).__name__ == "PPO" and algo.iteration == 1 and algo.config.train_batch_size == 256
    finally:
        algo.stop()
