"""learners(num_gpus_per_learner=...): the learners train a copy of the module on the
learner device while the env runners act with the CPU module.

There is no GPU here: the ``learner_on_cpu`` fixture replaces
``rlmodule.torch.cuda.cuda_device`` so that the learners' copy is made on the CPU,
which runs the whole two-copy path (copy, per-update weight sync, save/restore) with
numerics that must equal the single-copy path's exactly.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import torch

from rlmodule.algorithms.appo import APPOConfig
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.envs import MultiAgentCartPole


@pytest.fixture
def learner_on_cpu(monkeypatch):
    """The learner device is "cpu": the separate learner copy without CUDA."""
    from rlmodule.torch import cuda

    monkeypatch.setattr(cuda, "cuda_device", lambda setting: "cpu")


def small(tmp_path: Path, num_gpus_per_learner: float = 0, config: Any = None, **training: Any) -> Any:
    return (
        (config or PPOConfig())
        .environment("CartPole-v1")
        .training(model={"fcnet_hiddens": [16]}, train_batch_size=256, sgd_minibatch_size=64, num_sgd_iter=2, **training)
        .env_runners(num_envs_per_env_runner=4)
        .learners(num_gpus_per_learner=num_gpus_per_learner)
        .debugging(seed=11, log_dir=str(tmp_path / f"logs{num_gpus_per_learner}"))
    )


def weights(module: Any) -> Dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def assert_same_weights(a: Any, b: Any) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


def without_timings(result: Dict[str, Any]) -> str:
    kept = {k: v for k, v in result.items() if k not in ("time_this_iter_s", "time_total_s", "timers")}
    return json.dumps(kept, sort_keys=True, default=float)


def learner_states(algo: Any) -> Dict[str, Any]:
    return {mid: learner.get_state() for mid, learner in algo.learners.items()}


def assert_same_learner_states(a: Dict[str, Any], b: Dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for mid in a:
        assert a[mid].keys() == b[mid].keys()
        for key in a[mid]:
            np.testing.assert_array_equal(np.asarray(a[mid][key]), np.asarray(b[mid][key]), err_msg=f"{mid} {key}")


# --- the default path -------------------------------------------------------------------
def test_by_default_the_learners_train_the_acting_module_itself(tmp_path):
    algo = small(tmp_path).build()
    assert algo.learner_module is algo.module
    assert algo.learners["default_policy"].module is algo.module
    algo.stop()


# --- the two-copy path ------------------------------------------------------------------
def test_the_learners_train_a_separate_copy_whose_weights_the_acting_module_gets_after_each_update(
    tmp_path, learner_on_cpu
):
    algo = small(tmp_path, num_gpus_per_learner=1).build()
    acting, learning = algo.module, algo.learner_module
    assert learning is not acting and type(learning) is type(acting)
    assert algo.learners["default_policy"].module is learning
    assert algo.get_module() is acting and algo.env_runner.module is acting
    shared = {p.data_ptr() for p in acting.parameters()} & {p.data_ptr() for p in learning.parameters()}
    assert not shared, "the copies share parameter storage"
    assert_same_weights(acting, learning)
    for _ in range(2):
        before = weights(acting)
        algo.train()
        assert_same_weights(acting, learning)
        assert any(not np.array_equal(before[k], v) for k, v in weights(acting).items())
    algo.stop()


@pytest.mark.parametrize("config_class", [PPOConfig, APPOConfig])
def test_training_numerics_equal_the_single_copy_path(tmp_path, learner_on_cpu, config_class):
    """Same seed: the same results (evaluation included), weights and optimizer state;
    APPO's target networks travel with the weights."""
    runs = {}
    for gpus in (0, 1):
        config = small(tmp_path, num_gpus_per_learner=gpus, config=config_class()).evaluation(
            evaluation_interval=2, evaluation_duration=2
        )
        algo = config.build()
        assert (algo.learner_module is algo.module) == (gpus == 0)
        results = [without_timings(algo.train()) for _ in range(2)]
        runs[gpus] = results, weights(algo.module), learner_states(algo)
        assert "evaluation" in json.loads(results[-1])
        algo.stop()
    assert runs[0][0] == runs[1][0]
    assert runs[0][1].keys() == runs[1][1].keys()
    for key in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][key], runs[1][1][key], err_msg=key)
    assert_same_learner_states(runs[0][2], runs[1][2])


def test_multi_agent_modules_are_copied_and_synced_per_module(tmp_path, learner_on_cpu):
    config = (
        small(tmp_path, num_gpus_per_learner=0.5)
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=lambda agent_id, episode=None, **kw: f"p{agent_id}")
    )
    algo = config.build()
    for module_id in ("p0", "p1"):
        assert algo.learners[module_id].module is algo.learner_module[module_id]
        assert algo.learner_module[module_id] is not algo.get_module(module_id)
    algo.train()
    for module_id in ("p0", "p1"):
        assert_same_weights(algo.get_module(module_id), algo.learner_module[module_id])
    algo.stop()


def test_remote_env_runners_get_the_acting_modules_weights(tmp_path, learner_on_cpu):
    """What ``update()`` broadcasts is the CPU module's state, equal to the learners'
    weights (a recording stand-in for the Ray runner group)."""

    class RecordingGroup:
        def __init__(self) -> None:
            self.states = []

        def sync_weights(self, state: Dict[str, Any]) -> None:
            self.states.append(state)

    algo = small(tmp_path, num_gpus_per_learner=1).build()
    algo.env_runner_group = group = RecordingGroup()
    algo.update(algo.env_runner.sample(num_timesteps=256))
    (state,) = group.states
    assert all(t.device.type == "cpu" for t in state.values())
    assert [t.data_ptr() for t in state.values()] == [t.data_ptr() for t in algo.module.state_dict().values()]
    assert_same_weights(algo.module, algo.learner_module)
    algo.env_runner_group = None
    algo.stop()


def test_save_writes_the_learned_weights_and_restore_loads_both_copies(tmp_path, learner_on_cpu):
    algo = small(tmp_path, num_gpus_per_learner=1).build()
    algo.train()
    path = algo.save(str(tmp_path / "ckpt"))
    saved_weights, saved_learners = weights(algo.learner_module), learner_states(algo)
    next_result = without_timings(algo.train())
    algo.stop()

    again = small(tmp_path, num_gpus_per_learner=1).build()
    again.restore(path)
    for module in (again.module, again.learner_module):
        for key, value in weights(module).items():
            np.testing.assert_array_equal(value, saved_weights[key], err_msg=key)
    assert_same_learner_states(learner_states(again), saved_learners)
    assert without_timings(again.train()) == next_result
    again.stop()

    on_cpu = small(tmp_path).build()  # the checkpoint format does not depend on the path
    on_cpu.restore(path)
    assert on_cpu.learner_module is on_cpu.module
    assert without_timings(on_cpu.train()) == next_result
    on_cpu.stop()


# --- errors ------------------------------------------------------------------------------
def test_build_without_cuda_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"learners\(num_gpus_per_learner=1\): torch.cuda.is_available\(\) is False"):
        small(tmp_path, num_gpus_per_learner=1).build()


def test_a_gpu_learner_with_tf2_is_refused_at_build(tmp_path):
    with pytest.raises(ValueError, match=r"learners\(num_gpus_per_learner=1\): the learner on a GPU needs framework 'torch'"):
        small(tmp_path, num_gpus_per_learner=1).framework("tf2").build()


@pytest.mark.parametrize("kwargs,error,message", [
    ({"num_learners": 2}, ValueError, r"learners\(num_learners=2\).*compat.rllib"),
    ({"num_learners": -1}, TypeError, r"learners\(num_learners=...\): expected an int >= 0"),
    ({"num_gpus_per_learner": 2}, ValueError, r"learners\(num_gpus_per_learner=2\): one learner trains on one GPU"),
    ({"num_gpus_per_learner": -0.5}, TypeError, r"learners\(num_gpus_per_learner=...\): expected a number >= 0"),
    ({"num_gpus_per_learner": True}, TypeError, r"learners\(num_gpus_per_learner=...\)"),
    ({"num_gpus_per_learner": "1"}, TypeError, r"learners\(num_gpus_per_learner=...\)"),
])
def test_learners_settings_out_of_range_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        PPOConfig().learners(**kwargs)


# --- config --------------------------------------------------------------------------------
def test_learners_settings_round_trip_through_to_dict_and_from_dict():
    config = PPOConfig().learners(num_learners=1, num_gpus_per_learner=0.5)
    assert (config.num_learners, config.num_gpus_per_learner) == (1, 0.5)
    settings = config.to_dict()
    assert (settings["num_learners"], settings["num_gpus_per_learner"]) == (1, 0.5)
    again = PPOConfig.from_dict(settings)
    assert again.to_dict() == settings
    assert (PPOConfig().num_learners, PPOConfig().num_gpus_per_learner) == (0, 0)
    assert PPOConfig.from_dict({"num_gpus_per_learner": 1}).num_gpus_per_learner == 1


def test_the_legacy_num_gpus_key_points_at_num_gpus_per_learner():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(KeyError, match=r"'num_gpus' has no equivalent here: drop it .*learners\(num_gpus_per_learner=1\)"):
            PPOConfig.from_dict({"num_gpus": 1})
