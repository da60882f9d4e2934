"""Checkpoints are data (issue 15): loading imports only checked classes and functions,
reads only inside the checkpoint, checks sizes and dtypes before allocating; saving
never deletes what it did not write and leaves a loadable checkpoint if killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from rlmodule import SingleAgentRLModuleSpec
from rlmodule.algorithms.algorithm_checkpoint import STATE_FILE, AlgorithmCheckpointError
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.algorithms.ppo.ppo import PPO
from rlmodule.checkpoint import METADATA_FILE, CheckpointError
from rlmodule.rl_module import load_module
from rlmodule.testing import DiscreteBCTorchModule

ROOT = Path(__file__).resolve().parents[2]
OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)
WEIGHTS = "module_state.safetensors"


def _module(hidden: int = 8) -> DiscreteBCTorchModule:
    spec = SingleAgentRLModuleSpec(DiscreteBCTorchModule, OBS, ACT, model_config_dict={"fcnet_hiddens": [hidden]})
    return spec.build()


def _edit_json(file: Path, edit) -> None:
    data = json.loads(file.read_text())
    edit(data)
    file.write_text(json.dumps(data))


def _algo_checkpoint(tmp_path: Path) -> Path:
    algo = (
        PPOConfig().environment("CartPole-v1").training(model={"fcnet_hiddens": [8]}, train_batch_size=64,
                                                        sgd_minibatch_size=32)
        .env_runners(num_envs_per_env_runner=1).debugging(seed=0, log_dir=str(tmp_path / "logs")).build()
    )
    path = Path(algo.save(str(tmp_path / "algo")))
    algo.stop()
    return path


# --- item 1: an algorithm checkpoint cannot run a command ------------------------------------
def test_algorithm_checkpoint_naming_popen_as_env_is_refused_and_runs_nothing(tmp_path):
    path = _algo_checkpoint(tmp_path)
    marker = tmp_path / "pwned"

    def craft(state):
        state["config"]["env"] = {"__object__": "subprocess:Popen"}
        state["config"]["env_config"] = {"touch": 0, str(marker): 0}  # Popen(dict) runs its keys

    _edit_json(path / STATE_FILE, craft)
    with pytest.raises(AlgorithmCheckpointError, match=r"config\['env'\].*subprocess:Popen.*not a gymnasium.Env"):
        PPO.from_checkpoint(str(path))
    assert not marker.exists()


def test_a_function_from_an_imported_but_untrusted_module_is_refused(tmp_path):
    path = _algo_checkpoint(tmp_path)
    _edit_json(path / STATE_FILE, lambda s: s["config"].update(policy_mapping_fn={"__object__": "shutil:rmtree"}))
    with pytest.raises(AlgorithmCheckpointError, match=r"policy_mapping_fn.*shutil.*trusted_modules=\['shutil'\]"):
        PPO.from_checkpoint(str(path))


# --- item 2: saving never deletes what it did not write ---------------------------------------
def test_saving_over_a_directory_that_is_not_a_checkpoint_is_refused(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("precious")
    with pytest.raises(FileExistsError, match=rf"{project}: exists and is not an RLModule checkpoint.*train.py"):
        _module().save_to_checkpoint(str(project))
    monkeypatch.chdir(project)
    algo = PPOConfig().environment("CartPole-v1").debugging(log_dir=str(tmp_path / "logs")).build()
    with pytest.raises(FileExistsError, match="is not an algorithm checkpoint"):
        algo.save(".")
    ckpt = tmp_path / "module"
    _module().save_to_checkpoint(str(ckpt))
    with pytest.raises(FileExistsError, match="is not an algorithm checkpoint"):  # another kind
        algo.save(str(ckpt))
    algo.stop()
    (ckpt / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"also holds \['notes.txt'\]"):
        _module().save_to_checkpoint(str(ckpt))
    assert (project / "train.py").read_text() == "precious" and (ckpt / "notes.txt").exists()


# --- item 8: a save killed between its renames ------------------------------------------------
_KILLED_SAVE = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    import gymnasium as gym, numpy as np
    import rlmodule.checkpoint_dir as cd
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.testing import DiscreteBCTorchModule
    real = os.replace
    def replace(src, dst):
        real(src, dst)
        if ".rlm-backup-" in str(dst):  # the old checkpoint is out, the new one not yet in
            print("between", flush=True)
            time.sleep(60)
    cd.os.replace = replace
    spec = SingleAgentRLModuleSpec(DiscreteBCTorchModule, gym.spaces.Box(-1.0, 1.0, (4,), np.float32),
                                   gym.spaces.Discrete(3), model_config_dict={{"fcnet_hiddens": [16]}})
    spec.build().save_to_checkpoint({path!r})
    """
)


def test_a_save_killed_between_its_renames_leaves_a_loadable_checkpoint_and_is_cleaned(tmp_path):
    path = tmp_path / "ckpt"
    _module().save_to_checkpoint(str(path))
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVE.format(root=str(ROOT), path=str(path))], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "between"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not path.exists() and any(".rlm-backup-" in p.name for p in tmp_path.iterdir())
    assert load_module(path).config.model_config_dict["fcnet_hiddens"] == [8]  # recovered by itself
    staging = tmp_path / f".ckpt.rlm-staging-{child.pid}-0badc0de"  # what a kill during writing leaves
    staging.mkdir()
    (staging / WEIGHTS).write_bytes(b"\0" * 1024)
    _module(hidden=4).save_to_checkpoint(str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert load_module(path).config.model_config_dict["fcnet_hiddens"] == [4]


def test_the_next_save_keeps_a_live_saves_staging_directory(tmp_path):
    live = tmp_path / f".ckpt.rlm-staging-{os.getppid()}-00000001"
    live.mkdir()
    _module().save_to_checkpoint(str(tmp_path / "ckpt"))
    assert live.is_dir()


# --- item 9: what a module checkpoint can reach -----------------------------------------------
def test_catalog_class_must_be_a_catalog(tmp_path):
    path = tmp_path / "ckpt"
    _module().save_to_checkpoint(str(path))
    _edit_json(path / METADATA_FILE, lambda m: m["spec"].update(catalog_class="subprocess:Popen"))
    with pytest.raises(CheckpointError, match=r"spec.catalog_class: 'subprocess:Popen' .*not a Catalog subclass"):
        load_module(path)


def test_a_class_from_a_module_not_imported_is_not_imported(tmp_path):
    path = tmp_path / "ckpt"
    _module().save_to_checkpoint(str(path))
    _edit_json(path / METADATA_FILE, lambda m: m.update(module_class="antigravity:Module"))
    with pytest.raises(CheckpointError, match=r"module_class: 'antigravity:Module'.*trusted_modules=\['antigravity'\]"):
        load_module(path)
    assert "antigravity" not in sys.modules


def test_load_state_path_in_a_checkpoint_is_ignored(tmp_path):
    outside = tmp_path / "outside"
    _module().save_to_checkpoint(str(outside))
    path = tmp_path / "ckpt"
    module = _module()
    module.save_to_checkpoint(str(path))
    _edit_json(path / METADATA_FILE, lambda m: m["spec"].update(load_state_path=str(outside)))
    (outside / METADATA_FILE).unlink()  # reading it would now fail
    loaded = load_module(path)
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_module_ids_outside_the_checkpoint_are_refused(tmp_path):
    outside = tmp_path / "outside"
    _module().save_to_checkpoint(str(outside))
    path = tmp_path / "marl"
    _module().as_multi_agent().save_to_checkpoint(str(path))
    for module_id in (str(outside), "../../outside"):
        _edit_json(path / METADATA_FILE, lambda m: m.update(module_ids=[module_id]))
        with pytest.raises(CheckpointError, match="module_ids"):
            load_module(path)
    (path / "modules" / "default_policy" / WEIGHTS).unlink()
    (path / "modules" / "default_policy" / WEIGHTS).symlink_to(outside / WEIGHTS)
    _edit_json(path / METADATA_FILE, lambda m: m.update(module_ids=["default_policy"]))
    with pytest.raises(CheckpointError, match="leads outside the checkpoint directory"):
        load_module(path)


_HUGE = textwrap.dedent(
    """
    import json, re, sys
    sys.path.insert(0, {root!r})
    from rlmodule.checkpoint import CheckpointError
    from rlmodule.rl_module import load_module
    try:
        load_module({path!r})
    except CheckpointError as e:
        # VmHWM: this process's own peak (ru_maxrss keeps the parent's peak across exec)
        peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
        print(json.dumps({{"error": str(e), "maxrss_kb": peak}}))
    """
)


def test_declared_sizes_are_checked_before_allocating(tmp_path):
    path = tmp_path / "ckpt"
    _module().save_to_checkpoint(str(path))
    _edit_json(path / METADATA_FILE, lambda m: m["spec"]["model_config_dict"].update(fcnet_hiddens=[50_000_000]))
    done = subprocess.run(
        [sys.executable, "-c", _HUGE.format(root=str(ROOT), path=str(path))], capture_output=True, text=True, timeout=300
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "checkpoint [8, 4], module [50000000, 4]" in result["error"]
    assert result["maxrss_kb"] < 1_000_000, result  # the 50M-unit layer alone is 1.4 GB (peak here: ~0.24 GB)


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool, torch.float64])
def test_weights_of_another_dtype_are_refused(tmp_path, dtype):
    path = tmp_path / "ckpt"
    _module().save_to_checkpoint(str(path))
    tensors = load_file(str(path / WEIGHTS))
    tensors = {k: v.to(dtype) for k, v in tensors.items()}
    save_file(tensors, str(path / WEIGHTS))
    with pytest.raises(CheckpointError, match=r"dtypes do not match the module: .*weight: checkpoint"):
        load_module(path)


def test_non_finite_weights_are_refused_unless_asked(tmp_path):
    path = tmp_path / "ckpt"
    _module().save_to_checkpoint(str(path))
    tensors = load_file(str(path / WEIGHTS))
    name = sorted(tensors)[0]
    tensors[name][0] = float("nan")
    save_file(tensors, str(path / WEIGHTS))
    with pytest.raises(CheckpointError, match=rf"\['{name}'\] hold NaN or infinity; .*allow_non_finite=True"):
        load_module(path)
    assert torch.isnan(load_module(path, allow_non_finite=True).state_dict()[name]).any()
