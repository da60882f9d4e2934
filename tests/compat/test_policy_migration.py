"""Migrated policies against the legacy ones, run by real RLlib 2.60 (the oracle).

``fixtures/legacy/policies/sharpened_policy.py``: a ``PPOTorchPolicy`` that builds its
model in ``make_model_and_action_dist`` and acts on sharpened logits; its migration
(``fixtures/migrated/policies/``, what ``rlmigrate`` emits, no TODO) must act like it
(``compat.parity.check``). ``extra_loss_policy.py``: a ``loss`` adding a logit penalty
to PPO's; the migrated learner's ``compute_loss`` must give the same total and
gradients on the same batch and weights, and train.
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.legacy_helpers import legacy_policy, migrated_module, perturb_parameter

from compat import RLModulePolicy
from compat.parity import check

pytestmark = pytest.mark.legacy

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
DISCRETE3 = gym.spaces.Discrete(3)
SETTINGS = dict(clip_param=0.2, vf_clip_param=10.0, vf_loss_coeff=0.5, entropy_coeff=0.01, kl_coeff=0.3)


def fixture(side: str, name: str):
    return importlib.import_module(f"fixtures.{side}.policies.{name}")


@pytest.mark.parametrize("name", ["sharpened_policy", "extra_loss_policy"])
def test_the_migration_has_no_todo_and_imports_nothing_from_ray(name):
    source = importlib.import_module(f"fixtures.migrated.policies.{name}").__file__
    text = open(source).read()
    assert "TODO(rlmigrate)" not in text
    assert "ray" not in {line.split()[1].split(".")[0] for line in text.splitlines() if line.startswith(("import ", "from "))}


def test_a_policy_with_its_own_model_and_sharpened_logits_acts_like_the_legacy_one():
    legacy = legacy_policy(BOX4, DISCRETE3, {}, fixture("legacy", "sharpened_policy").SharpPolicy)
    module = migrated_module(fixture("migrated", "sharpened_policy").SharpPolicy, BOX4, DISCRETE3, legacy)
    report = check(legacy, RLModulePolicy(module))
    assert report.ok, report.summary()
    assert {"action_dist_inputs", "logp", "deterministic_actions", "sampled_actions"} <= set(report.quantities)
    # Acting is sharpened; training reads the model's own logits, as PPO's legacy loss did.
    obs = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (5, 4)), dtype=torch.float32)
    with torch.no_grad():
        acting = module.forward_exploration({"obs": obs})["action_dist_inputs"]
        train = module.forward_train({"obs": obs})["action_dist_inputs"]
    torch.testing.assert_close(acting, train * 3.0)
    perturb_parameter(module, "pi.bias")
    assert not check(legacy, RLModulePolicy(module)).ok


def _batch(legacy, n: int = 64):
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (n, 4)).astype(np.float32)
    with torch.no_grad():
        logits, _ = legacy.model({"obs": torch.as_tensor(obs)})
    dist_inputs = (logits + 0.3 * torch.as_tensor(rng.normal(size=logits.shape), dtype=torch.float32)).numpy()
    actions = rng.integers(0, 3, n)
    logp = torch.log_softmax(torch.as_tensor(dist_inputs), -1)[torch.arange(n), torch.as_tensor(actions)].numpy()
    return {
        "obs": obs, "actions": actions, "action_logp": logp, "action_dist_inputs": dist_inputs,
        "vf_preds": rng.normal(size=n).astype(np.float32), "advantages": rng.normal(size=n).astype(np.float32),
        "value_targets": rng.normal(size=n).astype(np.float32),
    }


def _losses(perturb: bool = False):
    """(legacy total, legacy grads, migrated terms, migrated grads) on one batch."""
    from ray.rllib.policy.sample_batch import SampleBatch

    from rlmodule.algorithms.ppo import PPOConfig
    from rlmodule.torch.learner import TorchOps

    legacy = legacy_policy(BOX4, DISCRETE3, {}, fixture("legacy", "extra_loss_policy").PenalisedPolicy, **SETTINGS)
    migrated = fixture("migrated", "extra_loss_policy")
    module = migrated_module(migrated.PenalisedPolicy, BOX4, DISCRETE3, legacy)
    if perturb:
        perturb_parameter(module, "logits.bias", 0.5)
    learner = migrated.PenalisedPolicyLearner(module, PPOConfig().training(**SETTINGS))
    columns = _batch(legacy)
    legacy.model.zero_grad()
    legacy_total = legacy.loss(legacy.model, legacy.dist_class, legacy._lazy_tensor_dict(SampleBatch({k: v.copy() for k, v in columns.items()})))
    legacy_total.backward()
    inputs = {"obs": torch.as_tensor(columns["obs"])}
    targets = {k: torch.as_tensor(v) for k, v in columns.items() if k != "obs"}
    coeffs = {"entropy_coeff": torch.tensor(SETTINGS["entropy_coeff"]), "kl_coeff": torch.tensor(SETTINGS["kl_coeff"])}
    module.zero_grad()
    terms = learner.minibatch_loss(TorchOps, inputs, targets, torch.arange(len(columns["obs"])), coeffs)
    terms["total_loss"].backward()
    legacy_grads = {n: p.grad for n, p in legacy.model.named_parameters()}
    grads = {n: p.grad for n, p in module.named_parameters()}
    return legacy_total, legacy_grads, terms, grads


def test_a_custom_loss_migrates_to_a_learner_with_the_same_loss_and_gradients():
    legacy_total, legacy_grads, terms, grads = _losses()
    assert abs(float(terms["total_loss"]) - float(legacy_total)) <= 1e-5
    assert list(grads) == list(legacy_grads)
    for name in grads:
        torch.testing.assert_close(grads[name], legacy_grads[name], atol=1e-5, rtol=1e-5, msg=name)
    assert float(terms["logit_penalty"]) > 0  # the loss's tower_stats are learner stats
    assert {"policy_loss", "vf_loss", "entropy", "mean_kl_loss"} <= set(terms)


def test_the_loss_comparison_sees_a_perturbed_weight():
    legacy_total, _, terms, _ = _losses(perturb=True)
    assert abs(float(terms["total_loss"]) - float(legacy_total)) > 1e-3


def test_an_acting_hook_returning_another_class_than_the_module_names_is_refused():
    from compat.migrated_policy import acting_forward
    from rlmodule.torch import TorchDiagGaussian

    legacy = legacy_policy(BOX4, DISCRETE3, {}, fixture("legacy", "sharpened_policy").SharpPolicy)
    module = migrated_module(fixture("migrated", "sharpened_policy").SharpPolicy, BOX4, DISCRETE3, legacy)

    def hook(model, *, obs_batch, state_batches, **kwargs):
        logits, state = model(obs_batch, state_batches)
        return logits, TorchDiagGaussian, state

    with pytest.raises(TypeError, match="TorchDiagGaussian.*TorchCategorical"):
        acting_forward(module, {"obs": torch.zeros(2, 4)}, hook, explore=True)


def test_a_loss_reading_a_column_the_learner_does_not_keep_names_it():
    from compat.migrated_policy import _TrainBatch

    with pytest.raises(KeyError, match="rewards"):
        _TrainBatch({"obs": torch.zeros(1)})["rewards"]


@pytest.mark.slow
def test_the_migrated_policy_and_its_learner_train_on_cartpole(tmp_path):
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.algorithms.ppo import PPOConfig

    migrated = fixture("migrated", "extra_loss_policy")
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .rl_module(rl_module_spec=SingleAgentRLModuleSpec(module_class=migrated.PenalisedPolicy))
        .training(learner_class=migrated.PenalisedPolicyLearner, train_batch_size=1000, num_sgd_iter=6,
                  sgd_minibatch_size=128, lr=1e-3)
        .debugging(seed=0, log_dir=str(tmp_path))
    )
    # Env steps until the mean return first reached 150, seeds 0-2, one thread: 25.6k 26.6k 26.6k;
    # the budget is 1.5x the slowest.
    algo = config.build()
    try:
        while True:
            result = algo.train()
            if result["env_runners"]["episode_return_mean"] >= 150 or result["num_env_steps_sampled"] >= 40_000:
                break
    finally:
        algo.stop()
    assert result["env_runners"]["episode_return_mean"] >= 150, result["num_env_steps_sampled"]
    assert type(algo.learners["default_policy"]) is migrated.PenalisedPolicyLearner
    assert result["learners"]["default_policy"]["logit_penalty"] > 0


def test_training_hooks_step_like_the_legacy_policy():
    """loss + stats_fn + optimizer (RMSprop) + extra_grad_process (apply_grad_clipping):
    one step of the legacy policy's learn_on_batch and one of the migrated learner on
    the same batch and weights give the same weights and stats."""
    from ray.rllib.policy.sample_batch import SampleBatch

    from rlmodule.algorithms.ppo import PPOConfig

    settings = dict(SETTINGS, grad_clip=0.1, lr=0.01)
    legacy = legacy_policy(BOX4, DISCRETE3, {}, fixture("legacy", "training_hooks").TunedPolicy, **settings)
    migrated = fixture("migrated", "training_hooks")
    module = migrated_module(migrated.TunedPolicy, BOX4, DISCRETE3, legacy)
    learner = migrated.TunedPolicyLearner(module, PPOConfig().training(**settings))
    assert type(learner.backend.optimizer).__name__ == "RMSprop"
    columns = _batch(legacy)
    legacy_stats = legacy.learn_on_batch(SampleBatch({k: v.copy() for k, v in columns.items()}))["learner_stats"]
    tensors = {k: torch.as_tensor(v) for k, v in columns.items()}
    from rlmodule.learners.batch import TrainBatch

    batch = TrainBatch({"obs": tensors.pop("obs")}, tensors, np.ones(len(columns["obs"]), np.int64), sequences=False)
    coeffs = {"entropy_coeff": torch.tensor(SETTINGS["entropy_coeff"]), "kl_coeff": torch.tensor(SETTINGS["kl_coeff"])}
    names, values, finite = learner.backend.train_step(batch, torch.arange(len(columns["obs"])), coeffs)
    assert finite
    stats = dict(zip(names, values.tolist()))
    for name, parameter in module.named_parameters():
        torch.testing.assert_close(parameter, legacy.model.get_parameter(name), atol=1e-5, rtol=1e-5, msg=name)
    assert stats["value_bias"] == pytest.approx(float(legacy_stats["value_bias"]), abs=1e-5)
    assert stats["grad_gnorm"] == pytest.approx(float(legacy_stats["grad_gnorm"]), abs=1e-4)
    assert float(legacy_stats["grad_gnorm"]) == pytest.approx(0.1)  # clipped: the stat is min(norm, grad_clip)
