"""Our algorithms under Ray Tune (rlmodule.algorithms.tune): a sweep, results, stopping
criteria, checkpoints in our format, a trial restored from its checkpoint.

Tune runs on a local Ray with 2 CPUs (each trial takes one): a grid over ``lr`` (2
trials of 2 iterations, one after the other in one reused actor), one trial that fails
in its 2nd iteration, resumed by ``Tuner.restore`` from its last checkpoint (both
compared with the same config trained in this process: same seed and config give the
same weights), and one trial sampling with a remote env runner. About 35 s on 2 cores.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from rlmodule.algorithms.algorithm_checkpoint import ARRAYS_FILE, MODULE_DIR, STATE_FILE
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.algorithms.ppo.ppo import PPO
from rlmodule.callbacks import RLlibCallback

tune = pytest.importorskip("ray.tune")

BATCH = 128  # env steps per iteration: 2 envs x 64-step fragments
LRS = [1e-3, 3e-4]


def small_config(**training: Any) -> PPOConfig:
    """PPO on CartPole, tiny; ``lr_schedule=None`` so that ``lr`` is the learning rate."""
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .training(model={"fcnet_hiddens": [16]}, lr_schedule=None, train_batch_size=BATCH, sgd_minibatch_size=64,
                  num_sgd_iter=1, **training)
        .env_runners(num_envs_per_env_runner=2)
        .debugging(seed=5)
    )


def trained_weights(config: PPOConfig, iterations: int) -> Dict[str, np.ndarray]:
    """The module's weights after ``iterations`` train() calls in this process."""
    algo = config.build()
    algo.write_results = False
    for _ in range(iterations):
        algo.train()
    algo.stop()
    return weights(algo)


def weights(algo: Any) -> Dict[str, np.ndarray]:
    return {name: np.asarray(value.detach().numpy()) for name, value in algo.module.get_state().items()}


def assert_weights_equal(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def run_config(tmp_path: Path, name: str, **kwargs: Any) -> Any:
    return tune.RunConfig(storage_path=str(tmp_path), name=name, verbose=0, **kwargs)


class FailOnce(RLlibCallback):
    """Raises at the end of the 2nd iteration, once per trial (a marker file in the trial's
    working directory, which Tune makes the actor's cwd and keeps for the restarted trial)."""

    def on_train_result(self, *, result: Dict[str, Any], **kwargs: Any) -> None:
        marker = Path("failed_once")
        if result["training_iteration"] == 2 and not marker.exists():
            marker.touch()
            raise RuntimeError("injected failure (test_tune.FailOnce)")


@pytest.fixture(scope="module")
def sweep(local_ray, tmp_path_factory) -> List[Any]:
    """A grid over lr (the config object as param_space), 2 iterations, checkpoint at end;
    one trial at a time in one actor (the second trial's algorithm built by reset_config)."""
    tuner = tune.Tuner(
        PPO.as_trainable(),
        param_space=small_config(lr=tune.grid_search(LRS)),
        tune_config=tune.TuneConfig(max_concurrent_trials=1, reuse_actors=True),
        run_config=run_config(
            tmp_path_factory.mktemp("tune"), "sweep",
            stop={"training_iteration": 2}, checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True),
        ),
    )
    return sorted(tuner.fit(), key=lambda result: result.config["lr"], reverse=True)


@pytest.fixture(scope="module")
def failed_once(local_ray, tmp_path_factory) -> Dict[str, Any]:
    """One trial (the dict form, a legacy key in it) that fails in its 2nd iteration,
    then the experiment resumed by ``Tuner.restore``, which restores the trial from its
    1st checkpoint; stopped by a nested result key. ``{"failed": result, "resumed": result}``."""
    settings = {**small_config(lr=LRS[0]).callbacks(FailOnce).to_dict(), "num_workers": 0}
    del settings["num_env_runners"]
    tuner = tune.Tuner(
        PPO.as_trainable(),
        param_space=settings,
        run_config=run_config(
            tmp_path_factory.mktemp("tune"), "failed_once",
            stop={"env_runners/num_env_steps_sampled_lifetime": 3 * BATCH},
            checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1),
        ),
    )
    grid = tuner.fit()
    (failed,) = grid
    (resumed,) = tune.Tuner.restore(grid.experiment_path, PPO.as_trainable(), resume_errored=True).fit()
    return {"failed": failed, "resumed": resumed}


def test_as_trainable_is_a_tune_trainable_named_like_the_algorithm():
    from rlmodule.algorithms.appo.appo import APPO
    from rlmodule.algorithms.bc.bc import BC
    from rlmodule.algorithms.impala.impala import IMPALA

    trainable = PPO.as_trainable()
    assert issubclass(trainable, tune.Trainable) and trainable.__name__ == "PPO"
    assert trainable.algorithm_class is PPO and PPO.as_trainable() is trainable
    for algorithm_class in (IMPALA, APPO, BC):
        assert algorithm_class.as_trainable().algorithm_class is algorithm_class
        assert algorithm_class.as_trainable().__name__ == algorithm_class.__name__


def test_without_ray_tune_as_trainable_names_what_to_install(monkeypatch):
    for name in ("ray", "ray.tune"):
        monkeypatch.setitem(sys.modules, name, None)  # "import ray" raises ImportError
    monkeypatch.delitem(sys.modules, "rlmodule.algorithms.tune", raising=False)
    with pytest.raises(ImportError, match=re.escape('pip install "rlmodule-migrate[tune]" (ray[tune]==2.60.0)')):
        PPO.as_trainable()


def test_training_settings_take_search_spaces_and_build_refuses_them():
    config = small_config(lr=tune.grid_search(LRS), gamma=tune.uniform(0.9, 0.99))
    assert config.lr == {"grid_search": LRS} and config.to_dict()["lr"] == {"grid_search": LRS}
    with pytest.raises(ValueError, match=r"lr, gamma hold\(s\) a Ray Tune search space.*PPO.as_trainable\(\)"):
        config.build()
    with pytest.raises(TypeError, match="num_env_runners"):  # other setters still check their values
        config.env_runners(num_env_runners=tune.grid_search([0, 1]))


def test_a_trial_config_is_checked_and_log_dir_refused():
    trainable = PPO.as_trainable()
    with pytest.warns(DeprecationWarning, match="'num_workers' is a legacy RLlib key"):
        assert trainable.algorithm_config({"lr": 0.01, "num_workers": 0}).lr == 0.01
    with pytest.raises(KeyError, match="unknown setting.*lrr"):
        trainable.algorithm_config({"lrr": 0.01})
    with pytest.raises(ValueError, match="log_dir='runs/x': under Ray Tune"):
        trainable.algorithm_config({"log_dir": "runs/x"})


def test_resources_are_a_cpu_per_trial_and_per_remote_env_runner():
    trainable = PPO.as_trainable()
    assert trainable.default_resource_request({}).bundles == [{"CPU": 1}]
    assert trainable.default_resource_request({"num_env_runners": 2}).bundles == [{"CPU": 1}] * 3
    gpu = trainable.default_resource_request({"num_gpus_per_learner": 1, "num_env_runners": 1})
    assert gpu.bundles == [{"CPU": 1, "GPU": 1}, {"CPU": 1}]


def test_the_plain_algorithm_class_is_not_a_tune_trainable(local_ray, tmp_path):
    """Why the spelling is PPO.as_trainable(): Tune takes classes that subclass Trainable only."""
    tuner = tune.Tuner(PPO, param_space=small_config(), run_config=run_config(tmp_path, "plain"))
    with pytest.raises(TypeError, match="convertable to Trainable"):
        tuner.fit()


def test_the_sweep_reports_both_trials_with_our_keys_and_their_lr(sweep):
    assert [result.config["lr"] for result in sweep] == LRS
    for result, lr in zip(sweep, LRS):
        assert result.error is None
        metrics = result.metrics
        assert metrics["training_iteration"] == 2 and metrics["num_env_steps_sampled"] == 2 * BATCH
        assert metrics["learners"]["default_policy"]["curr_lr"] == lr  # the learner trained with the trial's lr
        assert math.isfinite(metrics["env_runners"]["episode_return_mean"])
        assert list(result.metrics_dataframe["training_iteration"]) == [1, 2]  # reported per iteration
    assert sweep[0].metrics["pid"] == sweep[1].metrics["pid"]  # one actor, reused


def test_trial_results_are_in_the_trial_directory(sweep):
    trial_dir = Path(sweep[0].path)
    lines = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
    assert [line["training_iteration"] for line in lines] == [1, 2]
    assert lines[1]["env_runners"]["episode_return_mean"] == sweep[0].metrics["env_runners"]["episode_return_mean"]
    with open(trial_dir / "progress.csv") as f:
        header = next(csv.reader(f))
    assert {"env_runners/episode_return_mean", "learners/default_policy/total_loss"} <= set(header)
    assert list(trial_dir.glob("events.out.tfevents.*"))


def test_a_trial_checkpoint_is_ours_and_holds_the_trial_s_weights(sweep):
    for result, lr in zip(sweep, LRS):
        path = Path(result.checkpoint.path)
        assert sorted(p.name for p in path.iterdir()) == sorted([STATE_FILE, ARRAYS_FILE, MODULE_DIR])
        algo = PPO.from_checkpoint(str(path))
        assert algo.iteration == 2 and algo.config.lr == lr
        algo.stop()
        # the trial ran our PPO with its config: the same config trained here ends with the same weights
        assert_weights_equal(weights(algo), trained_weights(small_config(lr=lr), 2))


@pytest.mark.filterwarnings("ignore:.*'num_workers' is a legacy RLlib key:DeprecationWarning")
def test_a_failed_trial_resumes_from_its_checkpoint_and_continues_identically(failed_once):
    failed, resumed = failed_once["failed"], failed_once["resumed"]
    assert "injected failure" in str(failed.error) and failed.metrics["training_iteration"] == 1
    assert resumed.error is None
    metrics = resumed.metrics
    assert metrics["training_iteration"] == 3 and metrics["env_runners"]["num_env_steps_sampled_lifetime"] == 3 * BATCH
    assert metrics["iterations_since_restore"] == 2  # restored from the checkpoint of iteration 1
    restored = PPO.from_checkpoint(resumed.checkpoint.path, config=small_config(lr=LRS[0]))
    restored.stop()
    assert restored.iteration == 3
    assert_weights_equal(weights(restored), trained_weights(small_config(lr=LRS[0]), 3))


def test_a_trial_samples_with_remote_env_runners_in_its_placement_group(local_ray, tmp_path):
    """The trial reserves its runner's CPU (2 CPUs in all, the whole local Ray): the runner's
    actor must be scheduled inside the trial's placement group, or it would wait forever
    (the time budget turns that into a failure)."""
    tuner = tune.Tuner(
        PPO.as_trainable(),
        param_space=small_config().env_runners(num_env_runners=1, num_envs_per_env_runner=2),
        tune_config=tune.TuneConfig(time_budget_s=120),
        run_config=run_config(tmp_path, "remote", stop={"training_iteration": 1}),
    )
    (result,) = tuner.fit()
    assert result.error is None and result.metrics["training_iteration"] == 1
    assert result.metrics["env_runners"]["num_env_steps_sampled"] == BATCH
