"""AlgorithmConfig / PPOConfig: setters, errors that name the key, to_dict/from_dict,
and the JSON form checkpoints store."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest

from rlmodule import SingleAgentRLModuleSpec
from rlmodule.algorithms.algorithm_checkpoint import (
    AlgorithmCheckpointError,
    config_from_json,
    config_to_json,
    join_arrays,
    split_arrays,
)
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.algorithms.ppo.ppo import PPO
from rlmodule.envs import MultiAgentCartPole
from rlmodule.testing import DiscreteBCTorchModule


def mapping_fn(agent_id, episode=None, **kwargs):
    return f"p{agent_id}"


def full_config() -> PPOConfig:
    return (
        PPOConfig()
        .framework("tf")
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .rl_module(rl_module_spec=SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule))
        .training(model={"fcnet_hiddens": [8]}, lr=3e-4, lr_schedule=[[0, 1e-3], [1000, 1e-4]], gamma=0.9,
                  lambda_=0.8, train_batch_size=512, sgd_minibatch_size=64, num_sgd_iter=3, clip_param=0.1,
                  vf_clip_param=5.0, entropy_coeff=0.01, kl_coeff=0.5, grad_clip=1)
        .env_runners(num_envs_per_env_runner=4, rollout_fragment_length=32)
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=mapping_fn)
        .evaluation(evaluation_interval=2, evaluation_duration=3)
        .reporting(metrics_num_episodes_for_smoothing=20)
        .debugging(seed=7, log_dir="/tmp/x")
    )


def test_the_builder_sets_what_it_is_given_and_build_makes_a_ppo():
    config = full_config()
    assert config.framework_str == "tf2" and config.env is MultiAgentCartPole
    assert config.lr == 3e-4 and config.lambda_ == 0.8 and config.grad_clip == 1.0
    assert config.model["fcnet_hiddens"] == [8] and config.model["fcnet_activation"] == "tanh"
    assert config.get_rollout_fragment_length() == 32
    assert config.algo_class is PPO
    assert PPOConfig().training(train_batch_size=1000).env_runners(num_envs_per_env_runner=3).get_rollout_fragment_length() == 334


def test_to_dict_from_dict_round_trips_every_setting():
    config = full_config()
    settings = config.to_dict()
    assert {"framework", "env", "env_config", "lr", "lambda_", "num_envs_per_env_runner", "policies",
            "policy_mapping_fn", "evaluation_interval", "seed", "log_dir", "model"} <= set(settings)
    again = PPOConfig.from_dict(settings)
    assert again.to_dict().keys() == settings.keys()
    for key, value in settings.items():
        if key != "rl_module_spec":
            assert again.to_dict()[key] == value, key
    assert again.rl_module_spec.module_class is DiscreteBCTorchModule


def test_the_json_form_round_trips_classes_functions_and_specs():
    settings = full_config().to_dict()
    data = json.loads(json.dumps(config_to_json(settings)))
    with pytest.raises(AlgorithmCheckpointError, match="policy_mapping_fn.*trusted_modules"):
        config_from_json(data, "ckpt")  # the mapping function's module is not trusted by default
    back = config_from_json(data, "ckpt", trusted_modules=["tests"])
    assert back["env"] is MultiAgentCartPole and back["policy_mapping_fn"] is mapping_fn
    assert back["rl_module_spec"].module_class is DiscreteBCTorchModule
    assert back["lr_schedule"] == [[0, 1e-3], [1000, 1e-4]]


def test_a_lambda_in_the_config_is_named_when_loading_its_json():
    settings = PPOConfig().multi_agent(policy_mapping_fn=lambda a, e=None, **k: "x").to_dict()
    data = config_to_json(settings)
    with pytest.raises(AlgorithmCheckpointError, match="policy_mapping_fn.*config=") as info:
        config_from_json(data, "ckpt_dir")
    assert "ckpt_dir" in str(info.value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c: c.training(lrr=1.0), "unknown setting 'lrr'"),
        (lambda c: c.training(lr="fast"), r"training\(lr=...\): expected float, got str"),
        (lambda c: c.training(num_sgd_iter=2.5), r"num_sgd_iter=...\): expected int"),
        (lambda c: c.training(use_gae=1), r"use_gae=...\): expected bool"),
        (lambda c: c.training(num_sgd_iter=True), r"num_sgd_iter=...\): expected int, got bool"),
        (lambda c: c.training(grad_clip=-1), r"grad_clip=...\): expected None or a positive number"),
        (lambda c: c.training(lr_schedule=[[5, 1e-3]]), "timesteps must start at 0"),
        (lambda c: c.training(lr_schedule=1e-3), r"lr_schedule=...\): expected None or a list"),
        (lambda c: c.training(seed=3), "unknown setting 'seed'"),
        (lambda c: c.env_runners(num_envs_per_env_runner=0), r"num_envs_per_env_runner=...\): expected an int >= 1"),
        (lambda c: c.env_runners(rollout_fragment_length="long"), r"rollout_fragment_length=...\)"),
        (lambda c: c.evaluation(evaluation_duration=0), r"evaluation_duration=...\)"),
        (lambda c: c.debugging(seed="7"), r"debugging\(seed=...\)"),
        (lambda c: c.environment(env=3), "environment"),
        (lambda c: c.framework("jax"), "framework"),
    ],
)
def test_wrong_settings_raise_naming_the_key(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call(PPOConfig())


def test_from_dict_names_unknown_keys():
    with pytest.raises(KeyError, match="unknown setting.*bogus"):
        PPOConfig.from_dict({"lr": 1e-3, "bogus": 1})


def test_from_dict_validates_values_like_the_setters():
    with pytest.raises(TypeError, match="num_sgd_iter"):
        PPOConfig.from_dict({"num_sgd_iter": "many"})


def test_state_trees_split_into_json_and_arrays_and_back():
    tree = {"a": np.arange(3, dtype=np.float32), "b": [1, {"c": np.uint32(7)}], "d": "x", "e": None}
    json_tree, arrays = split_arrays(tree)
    assert json.loads(json.dumps(json_tree)) == json_tree
    back = join_arrays(json_tree, arrays)
    np.testing.assert_array_equal(back["a"], tree["a"])
    assert back["b"][1]["c"] == 7 and back["d"] == "x" and back["e"] is None


def test_state_trees_refuse_what_needs_pickle_naming_the_path():
    with pytest.raises(AlgorithmCheckpointError, match="'/learner/opt'.*set"):
        split_arrays({"learner": {"opt": {1, 2}}})


def test_from_dict_takes_the_defaults_to_dict_returns():
    defaults = PPOConfig().to_dict()
    assert PPOConfig.from_dict(defaults).to_dict() == defaults


def test_the_legacy_rollouts_spelling_sets_the_env_runner_settings():
    config = PPOConfig().rollouts(num_rollout_workers=0, num_envs_per_worker=3, rollout_fragment_length=16)
    assert (config.num_env_runners, config.num_envs_per_env_runner, config.rollout_fragment_length) == (0, 3, 16)
    with pytest.raises(TypeError, match="num_envs_per_env_runner"):
        PPOConfig().rollouts(num_envs_per_worker=0)


class NoArgumentEnv(gym.Env):
    """An env class whose constructor takes nothing (no env_config)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.made = True


def test_make_env_takes_ids_classes_callables_and_argument_free_classes():
    assert PPOConfig().environment("CartPole-v1", env_config={"max_episode_steps": 7}).make_env().spec.max_episode_steps == 7
    assert isinstance(PPOConfig().environment(NoArgumentEnv).make_env(), NoArgumentEnv)
    made = PPOConfig().environment(lambda cfg: ("made", cfg), env_config={"k": 1}).make_env()
    assert made == ("made", {"k": 1})
    assert PPOConfig().environment(MultiAgentCartPole, env_config={"num_agents": 3}).make_env().agents == [0, 1, 2]
    with pytest.raises(ValueError, match="no environment"):
        PPOConfig().make_env()


def test_every_base_setting_names_a_keyword_its_setter_takes():
    import inspect

    from rlmodule.algorithms.algorithm_config import _BASE_SETTINGS, AlgorithmConfig

    for key, (setter, attr) in _BASE_SETTINGS.items():
        parameters = inspect.signature(getattr(AlgorithmConfig, setter)).parameters
        assert key in parameters or (key, setter) in {("framework", "framework"), ("env", "environment"), ("callbacks", "callbacks")}, key
        assert hasattr(AlgorithmConfig(), attr), attr


def test_rllib_2_10_training_spellings_are_aliases():
    config = PPOConfig().training(minibatch_size=128, num_epochs=5)
    assert (config.sgd_minibatch_size, config.num_sgd_iter) == (128, 5)
    with pytest.raises(TypeError, match="unknown setting 'minibatch'"):
        PPOConfig().training(minibatch=1)


def test_a_legacy_policy_mapping_fn_with_worker_is_called_with_it():
    calls = []

    def legacy_mapping(agent_id, episode, worker, **kwargs):  # RLlib's legacy signature
        calls.append(worker)
        return "p0" if agent_id == 0 else "p1"

    config = (
        PPOConfig()
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=legacy_mapping)
        .env_runners(num_envs_per_env_runner=1, rollout_fragment_length=4)
    )
    assert config.get_policy_mapping_fn(worker="w")(1, None) == "p1" and calls == ["w"]
    runner = config.build().env_runner
    fragments = runner.sample(num_timesteps=4)
    assert {f.module_id for f in fragments} == {"p0", "p1"} and calls[-1] is runner
    new_style = PPOConfig().multi_agent(policies={"p0"}, policy_mapping_fn=lambda agent_id, episode: "p0")
    assert new_style.get_policy_mapping_fn(worker="w")(0, None) == "p0"  # no worker= for a function without it


@pytest.mark.parametrize("key", ["custom_model", "custom_action_dist"])
def test_a_legacy_catalog_key_without_a_module_class_is_refused_not_ignored(key):
    """A legacy config the codemod kept (its class stayed legacy, or its algorithm is
    unknown here) names a ModelCatalog registration; the default module would build
    and silently ignore it."""
    env = gym.make("CartPole-v1")
    config = PPOConfig().environment("CartPole-v1").training(model={key: "my_model"})
    with pytest.raises(ValueError, match=f"{key}='my_model'.*PPOTorchRLModule.*module_class"):
        config.get_rl_module_spec(env)
    multi = PPOConfig().environment(MultiAgentCartPole, env_config={"num_agents": 2}).multi_agent(
        policies={"p0", "p1"}, policy_mapping_fn=lambda agent_id, *args, **kwargs: f"p{agent_id}"
    ).training(model={key: "my_model"})
    with pytest.raises(ValueError, match=key):
        multi.get_rl_module_spec(multi.make_env())
    # With the migrated class given, the key is the class's business (kept in its model config).
    spec = config.rl_module(rl_module_spec=SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule)).get_rl_module_spec(env)
    assert spec.module_class is DiscreteBCTorchModule and spec.model_config_dict[key] == "my_model"


def test_settings_read_dict_style_as_legacy_policy_code_does():
    from rlmodule.algorithms.ppo import PPOConfig

    config = PPOConfig().training(clip_param=0.25, lambda_=0.9).env_runners(num_env_runners=0)
    assert config["clip_param"] == 0.25
    assert config["lambda"] == 0.9 and config["lambda_"] == 0.9  # the legacy spelling too
    assert config["num_workers"] == 0
    assert config["minibatch_size"] == config["sgd_minibatch_size"]
    with pytest.raises(KeyError, match="'no_such_key'"):
        config["no_such_key"]


def test_learner_class_must_be_a_learner_subclass_and_is_built_by_the_algorithm(tmp_path):
    from rlmodule.algorithms.ppo import PPOConfig
    from rlmodule.learners import PPOLearner

    class CountingLearner(PPOLearner):
        calls = 0

        def compute_loss(self, ops, batch, fwd_out, coeffs):
            CountingLearner.calls += 1
            return super().compute_loss(ops, batch, fwd_out, coeffs)

    with pytest.raises(TypeError, match="learner_class"):
        PPOConfig().training(learner_class=object)
    config = (
        PPOConfig().environment("CartPole-v1")
        .training(learner_class=CountingLearner, train_batch_size=64, sgd_minibatch_size=32, num_sgd_iter=1)
        .env_runners(num_envs_per_env_runner=1)
        .debugging(seed=0, log_dir=str(tmp_path))
    )
    assert PPOConfig.from_dict(config.to_dict()).learner_class is CountingLearner
    algo = config.build()
    try:
        algo.train()
    finally:
        algo.stop()
    assert type(algo.learners["default_policy"]) is CountingLearner and CountingLearner.calls >= 2


def test_an_lr_a_schedule_overrides_is_reported_not_ignored():
    """PPO's default lr_schedule decides the learning rate: an lr set without a schedule
    warns, naming both; lr_schedule=None (or a schedule of your own, or a to_dict() copy
    holding both) does not."""
    with pytest.warns(UserWarning, match=r"lr=5e-05 is not used: lr_schedule=\[\[0, 0.003\], \[100000, 0.0001\]\]"):
        PPOConfig().training(lr=5e-5)
    with pytest.warns(UserWarning, match="pass lr_schedule=None"):
        PPOConfig.from_dict({"lr": 5e-5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PPOConfig().training(lr=5e-5, lr_schedule=None).lr_schedule is None
        PPOConfig.from_dict(PPOConfig().training(lr=5e-5, lr_schedule=[[0, 1e-3], [10, 1e-4]]).to_dict())
        PPOConfig().training(gamma=0.9)
