"""Algorithm: train() results, logging, evaluation, determinism, checkpoints, errors.

Small, fast configurations; learning itself is tested in test_ppo_learning.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from rlmodule.algorithms.algorithm_checkpoint import AlgorithmCheckpointError
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.algorithms.ppo.ppo import PPO
from rlmodule.envs import MultiAgentCartPole

ROOT = Path(__file__).resolve().parents[2]


def small_config(tmp_path: Path, **training: Any) -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .training(model={"fcnet_hiddens": [16]}, train_batch_size=256, sgd_minibatch_size=64, num_sgd_iter=2, **training)
        .env_runners(num_envs_per_env_runner=4)
        .debugging(seed=11, log_dir=str(tmp_path / "logs"))
    )


def without_timings(result: Dict[str, Any]) -> Dict[str, Any]:
    """The result minus wall-clock figures (the only part allowed to differ)."""
    return {k: v for k, v in result.items() if k not in ("time_this_iter_s", "time_total_s", "timers")}


def assert_results_equal(a: Dict[str, Any], b: Dict[str, Any]) -> None:
    a, b = without_timings(a), without_timings(b)
    assert json.dumps(a, sort_keys=True, default=float) == json.dumps(b, sort_keys=True, default=float)


def test_train_returns_the_nested_result_and_counts_steps(tmp_path):
    algo = small_config(tmp_path).build()
    first, second = algo.train(), algo.train()
    runners = second["env_runners"]
    for key in ("episode_return_mean", "episode_return_min", "episode_return_max", "episode_len_mean", "num_episodes"):
        assert key in runners
    assert runners["episode_return_min"] <= runners["episode_return_mean"] <= runners["episode_return_max"]
    assert first["num_env_steps_sampled"] >= 256 and second["num_env_steps_sampled"] == (
        first["num_env_steps_sampled"] + second["num_env_steps_sampled_this_iter"]
    )
    assert second["num_env_steps_trained"] == second["num_env_steps_sampled"]
    stats = second["learners"]["default_policy"]
    for key in ("total_loss", "policy_loss", "vf_loss", "entropy", "curr_lr", "curr_kl_coeff"):
        assert math.isfinite(stats[key]), key
    assert second["training_iteration"] == 2 and second["time_total_s"] >= second["time_this_iter_s"] > 0
    assert set(second["timers"]) == {"env_runner_sampling_s", "learner_update_s"}
    algo.stop()


def test_results_are_logged_as_json_lines_csv_and_tensorboard(tmp_path):
    algo = small_config(tmp_path).build()
    results = [algo.train() for _ in range(2)]
    algo.stop()
    log_dir = Path(algo.log_dir)
    assert log_dir == tmp_path / "logs"
    lines = (log_dir / "result.json").read_text().splitlines()
    assert [json.loads(line)["training_iteration"] for line in lines] == [1, 2]
    rows = list(csv.DictReader(open(log_dir / "progress.csv")))
    assert len(rows) == 2
    assert float(rows[1]["env_runners/episode_return_mean"]) == pytest.approx(results[1]["env_runners"]["episode_return_mean"])
    assert float(rows[1]["learners/default_policy/vf_loss"]) == pytest.approx(results[1]["learners"]["default_policy"]["vf_loss"])
    assert list(log_dir.glob("events.out.tfevents.*"))


def test_same_seed_and_config_give_identical_results(tmp_path):
    runs = []
    for name in ("a", "b"):
        algo = small_config(tmp_path / name).build()
        runs.append([algo.train() for _ in range(2)])
        algo.stop()
    for a, b in zip(*runs):
        assert_results_equal(a, b)
    other = small_config(tmp_path / "c").debugging(seed=12).build()
    assert without_timings(other.train()) != without_timings(runs[0][0])
    other.stop()


def test_evaluate_runs_the_requested_episodes(tmp_path):
    algo = small_config(tmp_path).evaluation(evaluation_interval=2, evaluation_duration=3).build()
    assert "evaluation" not in algo.train()
    result = algo.train()
    evaluation = result["evaluation"]["env_runners"]
    assert evaluation["num_episodes"] >= 3 and evaluation["episode_return_mean"] > 0
    assert algo.evaluate()["env_runners"]["num_episodes"] >= 3
    algo.stop()


_CONTINUE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {root!r})
    import torch
    torch.set_num_threads(1)
    from rlmodule.algorithms.ppo.ppo import PPO
    algo = PPO.from_checkpoint({ckpt!r})
    result = algo.train()
    algo.stop()
    for key in ("time_this_iter_s", "time_total_s", "timers"):
        result.pop(key)
    print(json.dumps(result, sort_keys=True, default=float))
    """
)


def test_a_checkpoint_restored_in_a_new_process_continues_identically(tmp_path):
    algo = small_config(tmp_path / "run").build()
    for _ in range(2):
        algo.train()
    path = algo.save(str(tmp_path / "ckpt"))
    uninterrupted = algo.train()
    algo.stop()
    script = _CONTINUE.format(root=str(ROOT), ckpt=path)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    restored = json.loads(done.stdout.strip().splitlines()[-1])
    assert restored["training_iteration"] == 3
    assert restored == json.loads(json.dumps(without_timings(uninterrupted), sort_keys=True, default=float))


def test_restore_in_process_matches_and_the_checkpoint_holds_no_pickle(tmp_path):
    algo = small_config(tmp_path / "run").build()
    algo.train()
    path = Path(algo.save(str(tmp_path / "ckpt")))
    expected = algo.train()
    algo.stop()
    names = sorted(p.name for p in path.rglob("*") if p.is_file())
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".pt"))], names
    again = small_config(tmp_path / "other").build()
    again.restore(str(path))
    assert_results_equal(again.train(), expected)
    again.stop()


def test_from_checkpoint_with_a_lambda_mapping_asks_for_the_config(tmp_path):
    config = (
        small_config(tmp_path)
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=lambda agent_id, episode=None, **kw: f"p{agent_id}")
    )
    algo = config.build()
    path = algo.save(str(tmp_path / "ckpt"))
    algo.stop()
    with pytest.raises(AlgorithmCheckpointError, match="policy_mapping_fn"):
        PPO.from_checkpoint(path)
    restored = PPO.from_checkpoint(path, config=config)
    assert set(restored.learners) == {"p0", "p1"}
    restored.stop()


def test_a_save_that_fails_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    algo = small_config(tmp_path).build()
    path = Path(algo.save(str(tmp_path / "ckpt")))
    before = {p.name: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    algo.train()
    monkeypatch.setattr(algo.env_runner, "get_state", lambda: {"bad": object()})
    with pytest.raises(AlgorithmCheckpointError, match="bad"):
        algo.save(str(path))
    assert {p.name: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ckpt")) == []
    algo.stop()


def test_independent_multi_agent_modules_each_get_a_learner(tmp_path):
    algo = (
        small_config(tmp_path)
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=agent_to_policy)
        .build()
    )
    result = algo.train()
    assert set(result["learners"]) == {"p0", "p1"}
    assert algo.get_module("p0") is not algo.get_module("p1")
    assert result["learners"]["p0"]["num_steps_trained"] > 0
    algo.stop()


def agent_to_policy(agent_id, episode=None, **kwargs):
    return f"p{agent_id}"


def test_a_nan_loss_raises_naming_the_module_and_term_before_any_update(tmp_path, monkeypatch):
    algo = small_config(tmp_path).build()
    sample = algo.env_runner.sample

    def sample_with_a_nan_reward(**kwargs):  # an env's NaN reward is refused while sampling
        fragments = sample(**kwargs)
        fragments[0].rewards[-1] = np.nan
        return fragments

    monkeypatch.setattr(algo.env_runner, "sample", sample_with_a_nan_reward)
    before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
    with pytest.raises(FloatingPointError, match="default_policy") as info:
        algo.train()
    message = str(info.value)
    assert "nan" in message.lower() and any(term in message for term in ("policy_loss", "vf_loss", "total_loss"))
    after = algo.get_module().state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    algo.stop()


def test_in_process_sampling_never_imports_ray(tmp_path):
    # Remote env runners (num_env_runners > 0, tests/test_ray_env_runners.py) import Ray
    # lazily; building and training in-process must not.
    code = textwrap.dedent(
        f"""
        import sys
        from rlmodule.algorithms.ppo import PPOConfig
        import rlmodule.env_runners
        algo = (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, sgd_minibatch_size=32,
                num_sgd_iter=1).env_runners(num_envs_per_env_runner=2).debugging(log_dir={str(tmp_path)!r}).build())
        algo.train()
        algo.stop()
        assert "ray" not in sys.modules, "ray was imported"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=300)


@pytest.mark.tf
def test_tf_ppo_trains_an_iteration(tmp_path):
    algo = small_config(tmp_path).framework("tf2").build()
    result = algo.train()
    assert math.isfinite(result["learners"]["default_policy"]["total_loss"])
    assert result["num_env_steps_trained"] >= 256
    algo.stop()


def pettingzoo_mapping(agent_id, episode=None, **kwargs):
    return "p" + agent_id


def test_ppo_learns_on_a_pettingzoo_parallel_env(tmp_path):
    from tests.rlmodule.test_env_runners import tiny_parallel_env_class

    # Each agent earns action + 0.25 per step: the best return is 5 * 1.25 for "a"
    # (truncated after 5 steps) and 3 * 1.25 for "b" (terminated after 3).
    algo = (
        PPOConfig()
        .environment(tiny_parallel_env_class())
        .multi_agent(policies={"pa", "pb"}, policy_mapping_fn=pettingzoo_mapping)
        .training(model={"fcnet_hiddens": [16]}, train_batch_size=256, sgd_minibatch_size=64)
        .env_runners(num_envs_per_env_runner=4)
        .debugging(seed=3, log_dir=str(tmp_path))
        .build()
    )
    first = algo.train()["env_runners"]["agent_episode_returns_mean"]
    for _ in range(14):
        result = algo.train()
    algo.stop()
    last = result["env_runners"]["agent_episode_returns_mean"]
    assert set(result["learners"]) == {"pa", "pb"}
    assert last["a"] > first["a"] and last["a"] >= 0.9 * 6.25, (first, last)
    assert last["b"] >= 0.9 * 3.75, (first, last)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_shows_on_a_terminal_only(tmp_path, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    algo = small_config(tmp_path).build()
    algo.train()
    algo.train()
    algo.stop()
    shown = terminal.getvalue()
    assert "PPO" in shown and "ret=" in shown and "steps=" in shown
    pipe = io.StringIO()  # not a terminal: nothing
    monkeypatch.setattr(sys, "stderr", pipe)
    algo = small_config(tmp_path / "quiet").build()
    algo.train()
    algo.stop()
    assert pipe.getvalue() == ""


def test_a_module_without_vf_preds_is_named_and_trains_without_a_critic(tmp_path):
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.testing import DiscreteBCTorchModule

    config = small_config(tmp_path).rl_module(rl_module_spec=SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule))
    algo = config.build()
    with pytest.raises(KeyError, match="DiscreteBCTorchModule.*vf_preds.*use_critic=False"):
        algo.train()
    algo.stop()
    algo = config.training(use_critic=False, use_gae=False).build()
    assert math.isfinite(algo.train()["learners"]["default_policy"]["policy_loss"])
    algo.stop()
