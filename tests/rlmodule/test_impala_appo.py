"""IMPALA and APPO: results, [B, T] batches, checkpoints, target-network syncs,
recurrent and multi-agent modules, tf. Small, fast configurations; learning itself is
tested in test_impala_appo_learning.py."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from rlmodule.algorithms.appo import APPO, APPOConfig
from rlmodule.algorithms.impala import IMPALA, ImpalaConfig
from rlmodule.envs import MultiAgentCartPole
from rlmodule.learners.appo_learner import APPOLearner
from rlmodule.learners.impala_learner import ImpalaLearner
from tests.rlmodule.learners_helpers import ppo_module, rollout

LEARNER_STATS = {"total_loss", "policy_loss", "vf_loss", "entropy", "vf_explained_var", "mean_vtrace_target",
                 "grad_norm", "curr_lr", "curr_entropy_coeff", "num_steps_trained", "num_minibatches"}


def small(config: Any, tmp_path: Path, framework: str = "torch", **training: Any) -> Any:
    training = {"num_sgd_iter": 1, **training}
    return (
        config.framework(framework)
        .environment("CartPole-v1")
        .training(model={"fcnet_hiddens": [16]}, train_batch_size=128, **training)
        .env_runners(num_envs_per_env_runner=4)
        .debugging(seed=5, log_dir=str(tmp_path / "logs"))
    )


def weights(algo: Any, module_id: str = "default_policy") -> Dict[str, np.ndarray]:
    return {k: np.asarray(v).copy() for k, v in algo.get_module(module_id).get_state().items()}


def changed(before: Dict[str, np.ndarray], after: Dict[str, np.ndarray], prefix: str = "") -> bool:
    return any(not np.array_equal(before[k], after[k]) for k in before if k.startswith(prefix))


def finite_stats(stats: Dict[str, float]) -> bool:
    return all(np.isfinite(v) for v in stats.values())


def without_timings(result: Dict[str, Any]) -> str:
    kept = {k: v for k, v in result.items() if k not in ("time_this_iter_s", "time_total_s", "timers")}
    return json.dumps(kept, sort_keys=True, default=float)


def test_configs_build_their_algorithms_with_their_learners(tmp_path):
    assert ImpalaConfig().algo_class is IMPALA and APPOConfig().algo_class is APPO
    assert IMPALA.asynchronous_sampling and issubclass(APPO, IMPALA)
    impala, appo = small(ImpalaConfig(), tmp_path).build(), small(APPOConfig(), tmp_path).build()
    assert type(impala.learners["default_policy"]) is ImpalaLearner
    assert type(appo.learners["default_policy"]) is APPOLearner
    assert type(appo.get_module()).__name__ == "APPOTorchRLModule"
    impala.stop(), appo.stop()


@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig])
def test_train_returns_results_and_trains_on_time_ordered_rows(tmp_path, config_cls):
    algo = small(config_cls(), tmp_path).build()
    learner = algo.learners["default_policy"]
    assert learner.max_seq_len == 32  # ceil(128 / 4 envs): rows are whole fragments
    before = weights(algo)
    result = algo.train()
    stats = result["learners"]["default_policy"]
    assert LEARNER_STATS <= stats.keys() and finite_stats(stats)
    assert stats["num_steps_trained"] == result["num_env_steps_sampled_this_iter"] == 128
    assert result["num_env_steps_trained"] == result["num_env_steps_sampled"] == 128
    assert changed(before, weights(algo), "encoder") and changed(before, weights(algo), "vf")
    algo.stop()


@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig])
def test_restore_continues_with_the_same_next_result(tmp_path, config_cls):
    algo = small(config_cls(), tmp_path / "a", num_sgd_iter=2, sgd_minibatch_size=64).build()
    algo.train()
    path = algo.save(str(tmp_path / "ckpt"))
    expected = algo.train()
    algo.stop()
    again = small(config_cls(), tmp_path / "b", num_sgd_iter=2, sgd_minibatch_size=64).build()
    again.restore(path)
    assert without_timings(again.train()) == without_timings(expected)
    again.stop()


def test_appo_syncs_the_target_network_every_target_network_update_freq_updates(tmp_path):
    algo = small(APPOConfig(), tmp_path, target_network_update_freq=3).build()
    synced, old_changed = [], []
    for _ in range(6):
        before = weights(algo)
        stats = algo.train()["learners"]["default_policy"]
        synced.append(stats["target_network_synced"])
        old_changed.append(changed(before, weights(algo), "old_"))
        assert finite_stats(stats)
    assert synced == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert old_changed == [False, False, True, False, False, True]
    state = weights(algo)
    for source in ("encoder", "pi"):  # tau = 1: the target is a copy right after a sync
        for key in (k for k in state if k.startswith(source + ".")):
            np.testing.assert_array_equal(state["old_" + key], state[key])
    assert algo.learners["default_policy"].get_state()["updates_since_target_sync"] == 0
    algo.stop()


def test_appo_sync_counter_survives_a_checkpoint(tmp_path):
    algo = small(APPOConfig(), tmp_path / "a", target_network_update_freq=3).build()
    algo.train()
    path = algo.save(str(tmp_path / "ckpt"))
    algo.stop()
    again = small(APPOConfig(), tmp_path / "b", target_network_update_freq=3).build()
    again.restore(path)
    assert again.learners["default_policy"].updates_since_target_sync == 1
    assert [again.train()["learners"]["default_policy"]["target_network_synced"] for _ in range(2)] == [0.0, 1.0]
    again.stop()


def test_appo_kl_loss_is_reported_and_penalised(tmp_path):
    algo = small(APPOConfig(), tmp_path, use_kl_loss=True, kl_coeff=0.5, target_network_update_freq=4,
                 num_sgd_iter=2, sgd_minibatch_size=64).build()
    results = [algo.train()["learners"]["default_policy"] for _ in range(2)]
    assert results[-1]["mean_kl_loss"] > 0.0  # the target lags the trained policy
    assert "curr_kl_coeff" in results[-1] and finite_stats(results[-1])
    algo.stop()


@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig])
def test_recurrent_modules_train(tmp_path, config_cls):
    config = small(config_cls(), tmp_path).training(
        model={"use_lstm": True, "lstm_cell_size": 16, "max_seq_len": 8, "fcnet_hiddens": [16]}
    )
    algo = config.build()
    assert algo.get_module().is_stateful() and algo.learners["default_policy"].max_seq_len == 8
    before = weights(algo)
    for _ in range(2):
        stats = algo.train()["learners"]["default_policy"]
    assert finite_stats(stats) and stats["num_steps_trained"] == 128
    assert changed(before, weights(algo), "encoder")
    algo.stop()


def agent_to_policy(agent_id, episode=None, **kwargs):
    return f"p{agent_id}"


@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig])
def test_multi_agent_modules_each_train(tmp_path, config_cls):
    algo = (
        small(config_cls(), tmp_path)
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=agent_to_policy)
        .build()
    )
    before = {m: weights(algo, m) for m in ("p0", "p1")}
    result = algo.train()
    assert set(result["learners"]) == {"p0", "p1"}
    for module_id in ("p0", "p1"):
        stats = result["learners"][module_id]
        assert finite_stats(stats) and stats["num_steps_trained"] > 0
        assert changed(before[module_id], weights(algo, module_id), "encoder")
    algo.stop()


@pytest.mark.tf
@pytest.mark.parametrize("config_cls", [ImpalaConfig, APPOConfig])
def test_tf_trains_iterations(tmp_path, config_cls):
    algo = small(config_cls(), tmp_path, "tf2").build()
    before = weights(algo)
    for _ in range(2):
        stats = algo.train()["learners"]["default_policy"]
    assert LEARNER_STATS <= stats.keys() and finite_stats(stats)
    after = weights(algo)
    assert changed(before, after)
    if config_cls is APPOConfig:  # synced after each update (target_network_update_freq=1)
        assert stats["target_network_synced"] == 1.0
    algo.stop()


def one_update_loss(module: Any, fragments: Any, **settings: Any) -> float:
    config = ImpalaConfig()
    config.seed, config.num_sgd_iter, config.sgd_minibatch_size = 0, 1, None
    for key, value in settings.items():
        setattr(config, key, value)
    learner = ImpalaLearner(copy.deepcopy(module), config)
    return learner.update([dataclasses.replace(f) for f in fragments], timestep=0)["total_loss"]


def with_vf(fragments: Any, step: int, value: float) -> Any:
    out = []
    for f in fragments:
        vf = f.vf_preds.copy()
        vf[step] = value
        out.append(dataclasses.replace(f, vf_preds=vf))
    return out


def test_vtrace_uses_current_values_and_bootstraps_rows_from_the_next_step_or_the_fragment():
    module = ppo_module("torch")
    fragments = rollout(module, num_envs=8, episode_len=6, truncate=True)
    whole = one_update_loss(module, fragments, rollout_fragment_length=8)  # one row per fragment
    # The fragments' vf_preds do not enter V-trace (forward_train's values do) ...
    assert one_update_loss(module, with_vf(fragments, 2, 50.0), rollout_fragment_length=8) == whole
    # ... but a truncated fragment's bootstrap value does.
    rebooted = [dataclasses.replace(f, bootstrap_value=5.0) for f in fragments]
    assert one_update_loss(module, rebooted, rollout_fragment_length=8) != whole
    # Rows of 4: the first row of each fragment bootstraps from V(x_4), the next step.
    cut = one_update_loss(module, fragments, rollout_fragment_length=4)
    assert cut != whole
    assert one_update_loss(module, with_vf(fragments, 2, 50.0), rollout_fragment_length=4) == cut
    assert one_update_loss(module, with_vf(fragments, 4, 50.0), rollout_fragment_length=4) != cut


def test_vtrace_false_is_refused_by_name():
    with pytest.raises(ValueError, match="vtrace=False"):
        ImpalaLearner(ppo_module("torch"), ImpalaConfig().training(vtrace=False))
