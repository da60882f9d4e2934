"""``rlmigrate migrate --target rllib``: golden outputs (``fixtures/legacy/rllib_target/``
-> ``fixtures/migrated_rllib/rllib_target/``; the default target's outputs of the same
inputs are in ``fixtures/migrated/rllib_target/``), and a migrated legacy project trained
by RLlib 2.60 itself through ``compat.rllib``'s adapter.

``python -m tests.compat.test_rllib_target`` rewrites the ``--target rllib`` golden files
from the current rules (review the diff before committing it).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codemods.migrate import migrate_source
from codemods.rules import all_rules
from tests.codemod_fixtures import FIXTURES, LEGACY, ROOT, output, repo_index

MIGRATED_RLLIB = FIXTURES / "migrated_rllib"
CASES = sorted(p.relative_to(LEGACY).as_posix() for p in (LEGACY / "rllib_target").glob("*.py"))
REPO = repo_index()


def _migrate(data: bytes, case: str):
    return migrate_source(data, case, all_rules(), REPO, target="rllib")


@pytest.mark.parametrize("case", CASES)
def test_rllib_target_output_matches_the_expected_file_byte_for_byte(case):
    data = (LEGACY / case).read_bytes()
    assert output(_migrate(data, case), data) == (MIGRATED_RLLIB / case).read_bytes()


@pytest.mark.parametrize("case", CASES)
def test_a_second_rllib_target_run_changes_nothing(case):
    result = _migrate((MIGRATED_RLLIB / case).read_bytes(), case)
    assert result.new_bytes is None and result.status == "unchanged"


def test_every_rllib_target_expected_file_has_a_legacy_input():
    assert sorted(p.relative_to(MIGRATED_RLLIB).as_posix() for p in MIGRATED_RLLIB.rglob("*.py")) == CASES


def test_rllib_target_outputs_name_no_setting_rllib_260_refuses():
    """No ``_enable_*`` flag, no legacy key RLlib 2.60 refuses or ignores, no import of ours
    for the algorithm configs."""
    for case in CASES:
        text = (MIGRATED_RLLIB / case).read_text()
        for refused in ("_enable_", "rlmodule.algorithms", "num_workers", "num_rollout_workers", "sgd_minibatch_size",
                        "num_sgd_iter", "num_envs_per_worker", "SingleAgentRLModuleSpec", ".rollouts(", '"model"'):
            assert refused not in text, (case, refused)


# ------------------------------------------------------------------------------------------
# End to end: a small legacy project migrated with --target rllib, trained by RLlib 2.60
# ------------------------------------------------------------------------------------------
LEGACY_MODEL = '''
import torch
from torch import nn

from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


class TinyModel(TorchModelV2, nn.Module):
    def __init__(self, obs_space, action_space, num_outputs, model_config, name, hidden=16):
        TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        nn.Module.__init__(self)
        self.torso = nn.Sequential(nn.Linear(obs_space.shape[0], hidden), nn.Tanh())
        self.logits = nn.Linear(hidden, num_outputs)
        self.value_head = nn.Linear(hidden, 1)
        self._features = None

    def forward(self, input_dict, state, seq_lens):
        self._features = self.torso(input_dict["obs_flat"])
        return self.logits(self._features), state

    def value_function(self):
        return torch.reshape(self.value_head(self._features), [-1])
'''

LEGACY_SCRIPT = '''
import json
import sys

import ray
from ray.rllib.agents.ppo import PPOTrainer
from ray.rllib.models import ModelCatalog

from tiny_model import TinyModel

ModelCatalog.register_custom_model("tiny", TinyModel)
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
config = {
    "env": "CartPole-v1",
    "framework": "torch",
    "seed": 0,
    "num_workers": 0,
    "rollout_fragment_length": 64,
    "train_batch_size": 64,
    "sgd_minibatch_size": 32,
    "num_sgd_iter": 1,
    "model": {"custom_model": "tiny", "custom_model_config": {"hidden": 8}},
}
trainer = PPOTrainer(config=config)
for _ in range(2):
    result = trainer.train()
with open(sys.argv[1], "w") as f:
    json.dump({
        "iteration": result["training_iteration"],
        "loss": float(result["info"]["learner"]["default_policy"]["learner_stats"]["total_loss"]),
        "steps": float(result["timesteps_total"]),
        "hidden": trainer.get_module().inner.torso[0].out_features if hasattr(trainer, "get_module") else None,
    }, f)
trainer.stop()
ray.shutdown()
'''


@pytest.mark.legacy
@pytest.mark.slow
def test_a_migrated_legacy_project_trains_under_rllib_260(tmp_path):
    """``rlmigrate migrate --target rllib --out-dir`` on a custom torch ModelV2 and a PPO
    script; the migrated script runs in a subprocess: RLlib 2.60's PPO builds our module
    through the adapter (the custom_model_config reaches it) and trains 2 iterations."""
    project, out = tmp_path / "legacy", tmp_path / "migrated"
    project.mkdir()
    (project / "tiny_model.py").write_text(textwrap.dedent(LEGACY_MODEL).lstrip())
    (project / "train.py").write_text(textwrap.dedent(LEGACY_SCRIPT).lstrip())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(out)]), "TF_CPP_MIN_LOG_LEVEL": "2"}
    migrate = subprocess.run(
        [sys.executable, "-m", "rlmigrate", "migrate", "--target", "rllib", "--out-dir", str(out), str(project)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    script = (out / "train.py").read_text()
    assert "RLModuleSpec(module_class=RLlibAdapter" in script and "TODO(rlmigrate)" not in script, script
    results = tmp_path / "results.json"
    trained = subprocess.run(
        [sys.executable, str(out / "train.py"), str(results)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-4000:]
    found = json.loads(results.read_text())
    assert found["iteration"] == 2
    assert math.isfinite(found["loss"])
    assert found["steps"] >= 128
    assert found["hidden"] == 8


def update() -> None:
    for case in CASES:
        data = (LEGACY / case).read_bytes()
        target = MIGRATED_RLLIB / case
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(output(_migrate(data, case), data))
        print(f"wrote {target.relative_to(FIXTURES)}")


if __name__ == "__main__":
    update()
