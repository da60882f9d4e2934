"""Callbacks (``config.callbacks(...)``, ``rlmodule.callbacks``): hooks called with the
right counts and keyword arguments by the single- and multi-agent env runners (in
process and remote) and the algorithm; custom metrics reported; checkpoints keep the
class and refuse an untrusted one; a legacy callbacks class migrated by the codemod
trains unchanged."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch

from rlmodule import DEFAULT_MODULE_ID
from rlmodule.algorithms.algorithm_checkpoint import STATE_FILE, AlgorithmCheckpointError
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.algorithms.ppo.ppo import PPO
from rlmodule.callbacks import DefaultCallbacks, Episode, MetricsLogger, RLlibCallback, summarize_custom_metrics
from rlmodule.env_runners import make_env_runner
from rlmodule.envs import MultiAgentCartPole


class Recorder(RLlibCallback):
    """Records every episode hook call (modern signature) in a class-level log."""

    log: List[Dict[str, Any]] = []

    def _record(self, hook: str, **kwargs: Any) -> None:
        Recorder.log.append(dict(kwargs, hook=hook, length=len(kwargs["episode"]), episode_obj=kwargs["episode"]))

    def on_episode_start(self, *, episode, env_runner, metrics_logger, env, env_index, rl_module, **kwargs):
        self._record("start", episode=episode, env_runner=env_runner, metrics_logger=metrics_logger, env=env,
                     env_index=env_index, rl_module=rl_module, **kwargs)

    def on_episode_step(self, *, episode, env_index, **kwargs):
        self._record("step", episode=episode, env_index=env_index, **kwargs)

    def on_episode_end(self, *, episode, env_index, **kwargs):
        episode.custom_metrics["ret"] = episode.get_return()
        episode.custom_metrics["nan_sometimes"] = math.nan if episode.id_ % 2 else 1.0
        self._record("end", episode=episode, env_index=env_index, **kwargs)

    def on_sample_end(self, *, env_runner, samples, **kwargs):
        Recorder.log.append({"hook": "sample_end", "env_runner": env_runner, "samples": samples})


class LegacyStyle(DefaultCallbacks):
    """ray 1.x / 2.x legacy signatures (no env_runner/rl_module parameters)."""

    seen: List[Any] = []

    def on_episode_start(self, *, worker, base_env, policies, episode, env_index, **kwargs):
        episode.user_data["poles"] = []

    def on_episode_step(self, *, worker, base_env, episode, env_index, **kwargs):
        episode.user_data["poles"].append(abs(episode.last_observation_for()[2]))

    def on_episode_end(self, worker, base_env, policies, episode, env_index):  # no **kwargs: gets only these
        LegacyStyle.seen.append((worker, base_env, policies))
        episode.custom_metrics["pole_angle"] = float(np.mean(episode.user_data["poles"]))
        episode.hist_data["lengths"] = [episode.length]


def cartpole(num_envs: int = 2, seed: int = 3) -> PPOConfig:
    return (
        PPOConfig().environment("CartPole-v1").training(model={"fcnet_hiddens": [8]})
        .env_runners(num_envs_per_env_runner=num_envs, rollout_fragment_length=50).debugging(seed=seed)
    )


def test_single_agent_hooks_are_called_per_step_and_episode_with_both_keyword_styles():
    Recorder.log = []
    runner = make_env_runner(cartpole().callbacks(Recorder))
    fragments = runner.sample()
    metrics = runner.get_metrics()
    hooks = Counter(entry["hook"] for entry in Recorder.log)
    # 2 sub-envs x 50 steps; every ended episode is followed by a new one on that sub-env
    assert hooks["step"] == 100 and hooks["sample_end"] == 1
    assert hooks["end"] == metrics["num_episodes"] > 0 and hooks["start"] == hooks["end"] + 2
    start = next(e for e in Recorder.log if e["hook"] == "start")
    assert start["env_runner"] is runner and start["worker"] is runner and start["rl_module"] is runner.module
    assert start["metrics_logger"] is runner.metrics_logger and start["env"] is runner.env
    assert start["base_env"].get_sub_environments() == runner.env.envs
    assert start["policies"] == {DEFAULT_MODULE_ID: runner.module}
    assert Recorder.log[-1]["samples"] is fragments
    ended = [e["episode_obj"] for e in Recorder.log if e["hook"] == "end"]
    assert len({ep.id_ for ep in ended}) == len(ended)
    by_id = {f.episode_id: f for f in fragments if f.terminated or f.truncated}
    for episode in ended:
        obs, rewards = episode.get_observations(), episode.get_rewards()
        assert len(obs) == len(episode) + 1 == episode.length + 1 and len(episode.get_infos()) == len(obs)
        assert episode.get_return() == episode.total_reward == sum(rewards) and episode.is_done
        assert np.array_equal(episode.last_observation_for(), obs[-1]) and episode.last_info_for() == {}
        if episode.id_ in by_id:  # the episode started in this call: same steps as its fragment
            fragment = by_id[episode.id_]
            assert np.array_equal(np.stack(obs[:-1]), fragment.obs)
            assert np.array_equal(np.array(episode.get_actions()), fragment.actions)
    # custom metrics over the same episodes as the return statistics; NaN left out
    custom = metrics["custom_metrics"]
    assert custom["ret_mean"] == pytest.approx(metrics["episode_return_mean"])
    assert (custom["ret_min"], custom["ret_max"]) == (metrics["episode_return_min"], metrics["episode_return_max"])
    assert custom["nan_sometimes_mean"] == 1.0


def test_callbacks_do_not_change_what_is_sampled():
    torch.manual_seed(0)  # the module's initial weights and the action samples
    plain = make_env_runner(cartpole(seed=5)).sample()
    Recorder.log = []
    torch.manual_seed(0)
    hooked = make_env_runner(cartpole(seed=5).callbacks([Recorder, LegacyStyle])).sample()
    assert len(plain) == len(hooked)
    for a, b in zip(plain, hooked):
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.actions, b.actions) and a.episode_id == b.episode_id


def test_legacy_signatures_get_only_the_arguments_they_name():
    LegacyStyle.seen = []
    runner = make_env_runner(cartpole().callbacks(LegacyStyle))
    runner.sample(num_timesteps=600)
    metrics = runner.get_metrics()
    worker, base_env, policies = LegacyStyle.seen[0]
    assert worker is runner and base_env is runner.env and policies[DEFAULT_MODULE_ID] is runner.module
    assert 0 < metrics["custom_metrics"]["pole_angle_mean"] < 0.21  # CartPole ends at 0.2095 rad
    assert len(metrics["hist_stats"]["lengths"]) == len(LegacyStyle.seen)
    assert sum(metrics["hist_stats"]["lengths"]) / len(LegacyStyle.seen) == pytest.approx(metrics["episode_len_mean"])


def test_without_callbacks_the_metrics_have_no_callback_keys():
    runner = make_env_runner(cartpole())
    runner.sample()
    assert runner._callbacks is None and "custom_metrics" not in runner.get_metrics()


class MultiAgentRecorder(RLlibCallback):
    ends: List[Episode] = []
    steps = 0

    def on_episode_step(self, *, episode, **kwargs):
        MultiAgentRecorder.steps += 1

    def on_episode_end(self, *, episode, env, base_env, env_index, policies, **kwargs):
        assert env is base_env.get_sub_environments()[env_index] and set(policies) == {"p0", "p1"}
        episode.custom_metrics["agents"] = len(episode.get_observations())
        MultiAgentRecorder.ends.append(episode)


def agent_to_policy(agent_id, episode=None, **kwargs):
    return f"p{agent_id}"


def test_multi_agent_hooks_see_per_agent_episodes():
    MultiAgentRecorder.ends, MultiAgentRecorder.steps = [], 0
    config = (
        cartpole(num_envs=2).environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=agent_to_policy).callbacks(MultiAgentRecorder)
    )
    runner = make_env_runner(config)
    runner.sample(num_timesteps=400)
    metrics = runner.get_metrics()
    assert MultiAgentRecorder.steps == 400 and len(MultiAgentRecorder.ends) == metrics["num_episodes"] > 0
    for episode in MultiAgentRecorder.ends:
        obs = episode.get_observations()
        assert set(obs) == {0, 1} and episode.is_done
        assert {agent: len(o) for agent, o in obs.items()} == {a: len(r) + 1 for a, r in episode.get_rewards().items()}
        assert max(len(r) for r in episode.get_rewards().values()) == len(episode)
        assert set(episode.agent_rewards) == {(0, "p0"), (1, "p1")} and episode.policy_for(1) == "p1"
        assert sum(episode.agent_rewards.values()) == episode.total_reward == episode.get_return()
    assert metrics["custom_metrics"]["agents_mean"] == 2.0


class TrainHooks(DefaultCallbacks):
    calls: List[str] = []

    def on_algorithm_init(self, *, algorithm, metrics_logger, **kwargs):
        TrainHooks.calls.append("init")
        metrics_logger.log_value("inits", 1, reduce="sum")

    def on_episode_end(self, *, episode, metrics_logger, **kwargs):
        episode.custom_metrics["len"] = episode.length
        metrics_logger.log_value("longest", episode.length, reduce="max")

    def on_train_result(self, *, algorithm, result, **kwargs):  # RLlib 2.x
        TrainHooks.calls.append("result")
        result["len_plus_one"] = result["env_runners"]["custom_metrics"]["len_mean"] + 1


class TrainerResult(DefaultCallbacks):
    def on_train_result(self, *, trainer, result, **kwargs):  # ray 1.x spelling
        result["trainer_is_algorithm"] = isinstance(trainer, PPO)


def ppo(tmp_path: Path, callbacks: Any, num_env_runners: int = 0) -> PPOConfig:
    return (
        PPOConfig().environment("CartPole-v1")
        .training(train_batch_size=400, sgd_minibatch_size=100, num_sgd_iter=1, model={"fcnet_hiddens": [8]})
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=2)
        .debugging(seed=1, log_dir=str(tmp_path / "logs")).callbacks(callbacks)
    )


def test_train_calls_on_train_result_which_may_add_keys(tmp_path):
    TrainHooks.calls = []
    algo = ppo(tmp_path, [TrainHooks, TrainerResult]).build()
    result = algo.train()
    algo.stop()
    assert TrainHooks.calls == ["init", "result"]
    runners = result["env_runners"]
    assert result["len_plus_one"] == runners["custom_metrics"]["len_mean"] + 1 == runners["episode_len_mean"] + 1
    assert result["custom_metrics"] is runners["custom_metrics"]  # the legacy place, same dict
    assert runners["longest"] == runners["custom_metrics"]["len_max"]  # first iteration: the same episodes
    assert result["inits"] == 1 and result["trainer_is_algorithm"] is True
    logged = [json.loads(line) for line in (Path(algo.log_dir) / "result.json").read_text().splitlines()]
    assert logged[-1]["len_plus_one"] == result["len_plus_one"]


def test_callbacks_survive_a_checkpoint_and_an_untrusted_path_is_refused(tmp_path):
    algo = ppo(tmp_path, TrainHooks).build()
    algo.train()
    path = algo.save(str(tmp_path / "ckpt"))
    algo.stop()
    state = json.loads((Path(path) / STATE_FILE).read_text())
    assert state["config"]["callbacks"] == {"__object__": f"{__name__}:TrainHooks"}
    restored = PPO.from_checkpoint(path)
    assert restored.config.callbacks_class is TrainHooks
    assert restored.env_runner.get_metrics()["custom_metrics"]["len_mean"] > 0  # the window came back
    restored.stop()
    for bad, message in (
        ("rlmodule.envs:MultiAgentCartPole", "RLlibCallback subclass"),  # trusted module, wrong kind
        ("evil_module_never_imported:Callbacks", "evil_module_never_imported"),
    ):
        state["config"]["callbacks"] = {"__object__": bad}
        (Path(path) / STATE_FILE).write_text(json.dumps(state))
        with pytest.raises(AlgorithmCheckpointError, match=message):
            PPO.from_checkpoint(path)


class RayOnly:
    pass


RayOnly.__module__ = "ray.rllib.algorithms.callbacks"


class FromRay(RayOnly):
    pass


class PostprocessingCallbacks(DefaultCallbacks):
    def on_postprocess_trajectory(self, *, worker, episode, agent_id, policy_id, policies, postprocessed_batch,
                                  original_batches, **kwargs):
        pass


def test_what_this_stack_cannot_call_is_refused_naming_it():
    with pytest.raises(TypeError, match="on_postprocess_trajectory.*never be called.*learner_class"):
        PPOConfig().callbacks(PostprocessingCallbacks)
    with pytest.raises(TypeError, match="derives from ray's class: import DefaultCallbacks"):
        PPOConfig().callbacks(FromRay)
    with pytest.raises(TypeError, match="RLlibCallback subclass"):
        PPOConfig().callbacks({"on_episode_end": print})  # ray 0.8's dict of functions
    assert PPOConfig().callbacks(TrainHooks).callbacks(None).callbacks_class is None
    assert PPOConfig.from_dict(PPOConfig().callbacks(TrainHooks).to_dict()).callbacks_class is TrainHooks


def test_metrics_logger_reductions():
    logger = MetricsLogger()
    for v in (1, 2, 3):
        logger.log_value("m", v)
        logger.log_value("w", v, window=2)
        logger.log_value("s", v, reduce="sum")
        logger.log_value("l", v, reduce="lifetime_sum")
        logger.log_value(("a", "b"), v, reduce="min")
    assert logger.peek("m") == 2.0
    assert logger.reduce() == {"m": 2.0, "w": 2.5, "s": 6.0, "l": 6.0, "a/b": 1.0}
    logger.log_value("s", 10, reduce="sum")
    logger.log_value("l", 10, reduce="lifetime_sum")
    assert logger.reduce() == {"m": 2.0, "w": 2.5, "s": 10.0, "l": 16.0, "a/b": 1.0}  # no new value: kept
    with pytest.raises(ValueError, match="window=N"):
        logger.log_value("e", 1.0, reduce="ema")
    assert summarize_custom_metrics([{"x": 1.0}, {"x": math.nan}, {"y": 2.0}]) == {
        "x_mean": 1.0, "x_min": 1.0, "x_max": 1.0, "y_mean": 2.0, "y_min": 2.0, "y_max": 2.0,
    }


@pytest.mark.usefixtures("local_ray")
def test_remote_env_runners_call_the_hooks_and_ship_the_custom_metrics(tmp_path):
    pytest.importorskip("ray")
    algo = ppo(tmp_path, TrainHooks, num_env_runners=1).build()
    try:
        results = [algo.train() for _ in range(2)]
    finally:
        algo.stop()
    runners = results[-1]["env_runners"]
    assert runners["num_episodes"] > 0 and runners["custom_metrics"]["len_mean"] == pytest.approx(runners["episode_len_mean"])
    assert 0 < runners["longest"] <= runners["custom_metrics"]["len_max"]  # this iteration's <= the window's
    assert results[-1]["len_plus_one"] == runners["custom_metrics"]["len_mean"] + 1


LEGACY_CALLBACKS = '''
from ray.rllib.agents.callbacks import DefaultCallbacks


class PoleAngle(DefaultCallbacks):
    def on_episode_start(self, *, worker, base_env, policies, episode, env_index, **kwargs):
        episode.user_data["angles"] = []

    def on_episode_step(self, *, worker, base_env, episode, env_index, **kwargs):
        episode.user_data["angles"].append(abs(episode.last_observation_for()[2]))

    def on_episode_end(self, *, worker, base_env, policies, episode, env_index, **kwargs):
        episode.custom_metrics["pole_angle"] = max(episode.user_data["angles"])
'''


def test_a_migrated_legacy_callbacks_class_trains_and_reports_its_metric(tmp_path):
    from codemods.migrate import migrate_source
    from codemods.rules import all_rules

    result = migrate_source(LEGACY_CALLBACKS.encode(), "callbacks.py", all_rules())
    migrated = result.new_bytes.decode()
    assert "from rlmodule.callbacks import DefaultCallbacks" in migrated and "ray" not in migrated
    assert migrated.replace("from rlmodule.callbacks import DefaultCallbacks", "") == LEGACY_CALLBACKS.replace(
        "from ray.rllib.agents.callbacks import DefaultCallbacks", ""
    )
    namespace: Dict[str, Any] = {"__name__": "migrated_callbacks"}
    exec(compile(migrated, "callbacks.py", "exec"), namespace)
    algo = ppo(tmp_path, namespace["PoleAngle"]).build()
    results = [algo.train() for _ in range(2)]
    algo.stop()
    custom = results[-1]["custom_metrics"]
    # the final observation of a fallen pole lies just past the 0.2095 rad limit
    assert 0 < custom["pole_angle_min"] <= custom["pole_angle_mean"] <= custom["pole_angle_max"] < 0.3
    assert custom["pole_angle_max"] > 0.2095  # some pole fell
