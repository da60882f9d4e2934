"""Remote env runners on Ray (``env_runners(num_env_runners=N)``, N > 0): result
structure, weight broadcast, restart of a killed runner, asynchronous sampling,
multi-agent, checkpoints. One local Ray instance for the file (2 CPUs).

Learning with remote runners is tested in test_ray_learning.py.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch

from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.algorithms.ppo.ppo import PPO
from rlmodule.env_runners.env_runner_group import import_ray
from rlmodule.envs import MultiAgentCartPole

ray = pytest.importorskip("ray")

BATCH = 256


pytestmark = pytest.mark.usefixtures("local_ray")


def config(tmp_path: Path, num_env_runners: int, algo_class: type = PPO) -> PPOConfig:
    return (
        PPOConfig(algo_class=algo_class)
        .environment("CartPole-v1")
        .training(model={"fcnet_hiddens": [16]}, train_batch_size=BATCH, sgd_minibatch_size=64, num_sgd_iter=2)
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=4)
        .debugging(seed=11, log_dir=str(tmp_path / f"logs{num_env_runners}"))
    )


def structure(tree: Any) -> Any:
    """The nested key structure of a result (leaves replaced by their kind)."""
    if isinstance(tree, dict):
        return {k: structure(v) for k, v in tree.items()}
    return "number" if isinstance(tree, (int, float)) else type(tree).__name__


def same_weights(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def assert_sane(result: Dict[str, Any]) -> None:
    assert result["num_env_steps_sampled_this_iter"] >= BATCH
    assert result["num_env_steps_trained_this_iter"] == result["num_env_steps_sampled_this_iter"]
    runners = result["env_runners"]
    assert runners["episode_return_min"] <= runners["episode_return_mean"] <= runners["episode_return_max"]
    for stats in result["learners"].values():
        assert math.isfinite(stats["total_loss"])


def test_remote_results_match_the_in_process_structure_and_weights_reach_the_actors(tmp_path):
    local = config(tmp_path, 0).build()
    local_results = [local.train() for _ in range(2)]
    local.stop()

    algo = config(tmp_path, 2).build()
    group = algo.env_runner_group
    initial = {k: v.clone() for k, v in algo.get_module().get_state().items()}  # get_state() shares storage
    assert all(same_weights(w, initial) for w in group.get_remote_weights())
    results = [algo.train() for _ in range(2)]
    for result, expected in zip(results, local_results):
        assert structure(result) == structure(expected)
        assert_sane(result)
    # each actor sampled its share, 128 steps: CartPole episodes end at different times
    assert results[1]["num_env_steps_sampled"] == 2 * BATCH
    assert results[1]["env_runners"]["num_env_steps_sampled_lifetime"] == 2 * BATCH
    learner_weights = algo.get_module().get_state()
    assert not same_weights(learner_weights, initial)
    assert all(same_weights(w, learner_weights) for w in group.get_remote_weights())
    algo.stop()


def test_a_killed_runner_is_restarted_and_training_continues_and_checkpoints_work(tmp_path, caplog):
    algo = config(tmp_path, 2).build()
    first = algo.train()
    assert first["env_runners"]["num_env_runner_restarts"] == 0
    group = algo.env_runner_group
    ray.kill(group.actors[0], no_restart=True)
    with caplog.at_level(logging.WARNING, logger="rlmodule.env_runners.env_runner_group"):
        after = [algo.train() for _ in range(2)]
    assert [r.getMessage() for r in caplog.records if "died" in r.getMessage()][0].startswith("env runner 1 died")
    for result in after:
        assert result["env_runners"]["num_env_runner_restarts"] == 1
        assert_sane(result)
    assert after[1]["num_env_steps_sampled"] == 3 * BATCH
    assert all(same_weights(w, algo.get_module().get_state()) for w in group.get_remote_weights())

    path = algo.save(str(tmp_path / "ckpt"))
    algo.stop()
    restored = PPO.from_checkpoint(path)
    assert restored.env_runner_group is not None
    assert all(same_weights(w, restored.get_module().get_state()) for w in restored.env_runner_group.get_remote_weights())
    result = restored.train()
    assert result["training_iteration"] == 4 and result["num_env_steps_sampled"] == 4 * BATCH
    assert result["env_runners"]["num_env_runner_restarts"] == 1
    assert result["env_runners"]["num_env_steps_sampled_lifetime"] == 4 * BATCH
    restored.stop()


class BusyLearnerPPO(PPO):
    """Asynchronous sampling; the learner stays busy for a while after each update."""

    asynchronous_sampling = True
    busy_s = 2.0  # long enough for the actors' next calls to finish on a loaded machine

    def setup(self) -> None:
        super().setup()
        self.delivered: List[Dict[str, Any]] = []

    def training_step(self) -> Dict[str, Any]:
        fragments = self.sample(self.config.train_batch_size)
        self.delivered.append(
            {
                "steps": sum(len(f) for f in fragments),
                "episodes": sum(bool(f.terminated or f.truncated) for f in fragments),
                "lag": self.env_runner_group.last_weights_lag,
            }
        )
        stats = self.update(fragments)
        time.sleep(self.busy_s)
        return {"learners": stats}


def test_asynchronous_sampling_goes_on_while_the_learner_is_busy(tmp_path):
    algo = config(tmp_path, 2, algo_class=BusyLearnerPPO).build()
    results = [algo.train() for _ in range(3)]
    algo.stop()
    for result, delivered in zip(results, algo.delivered):
        # counters count what sample() delivered, whatever the actors sampled meanwhile
        assert result["num_env_steps_sampled_this_iter"] == delivered["steps"] >= BATCH
        assert result["env_runners"]["num_episodes"] == delivered["episodes"]
        assert_sane(result)
    # iterations 2 and 3 got fragments sampled while the learner was busy, with the
    # weights from before its last update (or older: on a loaded machine a call may
    # still be running from the iteration before), ready without waiting
    lags = [d["lag"] for d in algo.delivered]
    assert lags[0] == 0 and all(1 <= lag <= i for i, lag in enumerate(lags) if i), lags
    assert max(r["timers"]["env_runner_sampling_s"] for r in results[1:]) < BusyLearnerPPO.busy_s / 2


def agent_to_policy(agent_id, episode=None, **kwargs):
    return f"p{agent_id}"


def test_multi_agent_remote_runners_match_the_in_process_structure(tmp_path):
    def multi_agent(num_env_runners: int) -> PPOConfig:
        return (
            config(tmp_path, num_env_runners)
            .environment(MultiAgentCartPole, env_config={"num_agents": 2})
            .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=agent_to_policy)
        )

    local = multi_agent(0).build()
    expected = local.train()
    local.stop()
    algo = multi_agent(2).build()
    result = algo.train()
    assert structure(result) == structure(expected)
    assert set(result["learners"]) == {"p0", "p1"}
    assert result["env_runners"]["num_agent_steps_sampled"] > result["env_runners"]["num_env_steps_sampled"] >= BATCH
    weights = algo.env_runner_group.get_remote_weights()
    learner = algo.module.get_state()
    assert all(same_weights(w[m], learner[m]) for w in weights for m in ("p0", "p1"))
    algo.stop()


def test_without_ray_the_error_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    with pytest.raises(ImportError, match=r"num_env_runners.*rlmodule-migrate\[ray\]"):
        import_ray()


def test_impala_trains_on_asynchronous_remote_runners(tmp_path):
    from rlmodule.algorithms.impala import ImpalaConfig

    algo = (
        ImpalaConfig()
        .environment("CartPole-v1")
        .training(model={"fcnet_hiddens": [16]}, train_batch_size=BATCH)
        .env_runners(num_env_runners=2, num_envs_per_env_runner=4)
        .debugging(seed=3, log_dir=str(tmp_path / "impala"))
        .build()
    )
    try:
        assert algo.asynchronous_sampling and algo.env_runner_group is not None
        results = [algo.train() for _ in range(3)]
    finally:
        algo.stop()
    for result in results:
        assert result["num_env_steps_sampled_this_iter"] >= BATCH  # at least the batch was ready
        stats = result["learners"]["default_policy"]
        assert math.isfinite(stats["total_loss"]) and stats["num_steps_trained"] > 0
    assert results[-1]["num_env_steps_sampled"] == sum(r["num_env_steps_sampled_this_iter"] for r in results)
