"""PPO loss numerics on tiny hand-computed examples (torch and tf), KL adaptation, schedules."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule.learners import LOSS_MASK, PPOLearner, Schedule
from rlmodule.learners.batch import ADVANTAGES, VALUE_TARGETS
from tests.rlmodule.learners_helpers import ppo_config, ppo_module

TF = pytest.param("tf2", marks=pytest.mark.tf)
FRAMEWORKS = ["torch", TF]

# Four steps, two actions. Ratios r = [0.5, 1, 1.5, 2] with clip_param 0.2 and
# advantages [1, -1, 1, -1]: min(rA, clip(r)A) = [0.5, -1, 1.2, -2] -> policy_loss 0.325.
LOGITS = np.array([[0.3, -0.2], [1.0, 0.5], [-0.4, 0.9], [0.0, 2.0]], np.float32)
OLD_LOGITS = np.array([[0.0, 0.0], [0.8, 0.1], [0.2, 0.2], [0.5, 1.0]], np.float32)
ACTIONS = np.array([0, 1, 0, 1])
RATIOS = np.array([0.5, 1.0, 1.5, 2.0])
ADV = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
TARGETS = np.array([0.0, 1.0, 2.0, 8.0], np.float32)
VALUES = TARGETS + np.array([0.5, 0.0, 0.0, 2.0], np.float32)  # squared errors [0.25, 0, 0, 4]
CLIP, VF_CLIP, VF_COEFF, ENT, KL_COEFF = 0.2, 3.0, 0.5, 0.01, 0.2


def _log_softmax(x):
    x = x.astype(np.float64)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _expected():
    logp, old = _log_softmax(LOGITS), _log_softmax(OLD_LOGITS)
    entropy = -(np.exp(logp) * logp).sum(-1).mean()
    kl = (np.exp(old) * (old - logp)).sum(-1).mean()
    err = TARGETS - VALUES
    ev = 1 - err.var() / (TARGETS.var() + 1e-6)
    terms = {
        "policy_loss": 0.325,
        "vf_loss": (0.25 + 0 + 0 + 3.0) / 4,  # 4 clamped at vf_clip_param 3
        "vf_loss_unclipped": (0.25 + 4.0) / 4,
        "entropy": entropy,
        "mean_kl_loss": kl,
        "vf_explained_var": ev,
    }
    terms["total_loss"] = 0.325 + VF_COEFF * terms["vf_loss"] - ENT * entropy + KL_COEFF * kl
    return terms


def _learner(framework, **settings):
    config = ppo_config(**{"clip_param": CLIP, "vf_clip_param": VF_CLIP, "vf_loss_coeff": VF_COEFF, **settings})
    return PPOLearner(ppo_module(framework), config)


def _inputs(framework, pad=False, with_old_inputs=True):
    """(ops, batch, fwd_out, as_tensor) for the 4-step example; ``pad`` appends a fifth,
    masked-out step with wild values."""
    logp = _log_softmax(LOGITS)[np.arange(4), ACTIONS]
    batch = {
        "actions": ACTIONS,
        "action_logp": (logp - np.log(RATIOS)).astype(np.float32),
        ADVANTAGES: ADV,
        VALUE_TARGETS: TARGETS,
        "action_dist_inputs": OLD_LOGITS,
    }
    fwd = {"action_dist_inputs": LOGITS, "vf_preds": VALUES}
    if pad:
        batch = {k: np.concatenate([v, v[:1] * 0 + 50]) for k, v in batch.items()}
        batch["actions"][-1] = 0
        batch["action_logp"][-1] = -30.0  # ratio ~ e^29
        fwd = {k: np.concatenate([v, v[:1] * 0 + 1000]) for k, v in fwd.items()}
        batch[LOSS_MASK] = np.array([True] * 4 + [False])
    if not with_old_inputs:
        del batch["action_dist_inputs"]
    if framework == "torch":
        import torch

        from rlmodule.torch.learner import TorchOps as ops

        conv = lambda x: torch.as_tensor(x)  # noqa: E731
    else:
        import tensorflow as tf

        from rlmodule.tf.learner import TfOps as ops

        conv = lambda x: tf.convert_to_tensor(x)  # noqa: E731
    return ops, {k: conv(v) for k, v in batch.items()}, {k: conv(v) for k, v in fwd.items()}


COEFFS = {"entropy_coeff": ENT, "kl_coeff": KL_COEFF}


def _floats(terms):
    return {k: float(np.asarray(v)) for k, v in terms.items()}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_loss_terms_match_hand_computation(framework):
    learner = _learner(framework)
    ops, batch, fwd = _inputs(framework)
    terms = _floats(learner.compute_loss(ops, batch, fwd, COEFFS))
    expected = _expected()
    for name, value in expected.items():
        assert terms[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_masked_steps_do_not_count(framework):
    learner = _learner(framework)
    ops, batch, fwd = _inputs(framework, pad=True)
    terms = _floats(learner.compute_loss(ops, batch, fwd, COEFFS))
    for name, value in _expected().items():
        assert terms[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


def _grads(framework, learner, coeffs):
    """d total_loss / d (logits, values) for the example."""
    ops, batch, fwd = _inputs(framework)
    if framework == "torch":
        for v in fwd.values():
            v.requires_grad_(True)
        learner.compute_loss(ops, batch, fwd, coeffs)["total_loss"].backward()
        return fwd["action_dist_inputs"].grad.numpy(), fwd["vf_preds"].grad.numpy()
    import tensorflow as tf

    fwd = {k: tf.Variable(v) for k, v in fwd.items()}
    with tf.GradientTape() as tape:
        loss = learner.compute_loss(ops, batch, {k: tf.identity(v) for k, v in fwd.items()}, coeffs)["total_loss"]
    g = tape.gradient(loss, [fwd["action_dist_inputs"], fwd["vf_preds"]])
    return g[0].numpy(), g[1].numpy()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_clipping_cuts_the_gradient_where_pessimistic_term_is_clipped(framework):
    learner = _learner(framework)
    g_logits, g_values = _grads(framework, learner, {"entropy_coeff": 0.0, "kl_coeff": 0.0})
    # Step 2 (r = 1.5 > 1.2, A > 0) is clipped: no policy gradient; the others have one.
    np.testing.assert_allclose(g_logits[2], 0.0, atol=1e-7)
    assert np.all(np.abs(g_logits[[0, 1, 3]]).sum(-1) > 1e-3)
    # Step 3's squared error 4 is clamped at vf_clip_param 3: no value gradient; step 0's
    # error 0.5 gives d/dV 0.5 * (1/4) * 2 * 0.5 = 0.125.
    np.testing.assert_allclose(g_values, [0.125, 0.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_entropy_bonus_pushes_toward_uniform(framework):
    learner = _learner(framework)
    g_logits, _ = _grads(framework, learner, {"entropy_coeff": 1.0, "kl_coeff": 0.0})
    g_base, _ = _grads(framework, learner, {"entropy_coeff": 0.0, "kl_coeff": 0.0})
    # Minimising -H moves each row's logits toward each other: the gradient from the
    # entropy term on the larger logit is positive (descent lowers it).
    diff = g_logits - g_base
    larger = LOGITS.argmax(-1)
    assert np.all(diff[np.arange(4), larger] > 0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_kl_estimate_without_acting_dist_inputs(framework):
    learner = _learner(framework)
    ops, batch, fwd = _inputs(framework, with_old_inputs=False)
    terms = _floats(learner.compute_loss(ops, batch, fwd, COEFFS))
    k3 = np.mean((RATIOS - 1) - np.log(RATIOS))
    assert terms["mean_kl_loss"] == pytest.approx(k3, rel=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_switches_kl_loss_critic_and_vf_clip(framework):
    ops, batch, fwd = _inputs(framework)
    expected = _expected()
    no_kl = _floats(_learner(framework, use_kl_loss=False).compute_loss(ops, batch, fwd, COEFFS))
    assert no_kl["mean_kl_loss"] == 0.0
    assert no_kl["total_loss"] == pytest.approx(expected["total_loss"] - KL_COEFF * expected["mean_kl_loss"], rel=1e-5)
    no_critic = _floats(_learner(framework, use_critic=False, use_gae=False).compute_loss(ops, batch, fwd, COEFFS))
    assert no_critic["vf_loss"] == 0.0
    assert no_critic["total_loss"] == pytest.approx(expected["total_loss"] - VF_COEFF * expected["vf_loss"], rel=1e-5)
    unclipped = _floats(_learner(framework, vf_clip_param=None).compute_loss(ops, batch, fwd, COEFFS))
    assert unclipped["vf_loss"] == pytest.approx(expected["vf_loss_unclipped"], rel=1e-6)


def test_gae_without_critic_is_refused():
    with pytest.raises(ValueError, match="use_gae=True needs use_critic=True"):
        _learner("torch", use_critic=False)


def test_kl_coefficient_adapts_like_rllib():
    learner = _learner("torch", kl_coeff=0.2, kl_target=0.01)
    for kl, expected in [(0.03, 0.3), (0.015, 0.3), (0.004, 0.15), (0.005, 0.15), (float("nan"), 0.15)]:
        stats = {"mean_kl_loss": kl}
        learner.after_update(stats)
        assert learner.kl_coeff == pytest.approx(expected), kl
        assert stats["curr_kl_coeff"] == pytest.approx(expected)
    fixed = _learner("torch", kl_coeff=0.2, use_kl_loss=False)
    fixed.after_update({"mean_kl_loss": 1.0})
    assert fixed.kl_coeff == 0.2


def test_schedule_is_piecewise_linear_and_validated():
    s = Schedule(1.0, [[0, 1e-3], [100, 5e-4], [300, 0.0]], "lr_schedule")
    assert s.value(0) == pytest.approx(1e-3)
    assert s.value(50) == pytest.approx(7.5e-4)
    assert s.value(200) == pytest.approx(2.5e-4)
    assert s.value(10_000) == 0.0
    assert Schedule(0.3, None).value(123) == 0.3
    with pytest.raises(ValueError, match="lr_schedule.*timestep 0"):
        Schedule(1.0, [[10, 1.0], [20, 0.5]], "lr_schedule")
    with pytest.raises(ValueError, match="entropy_coeff_schedule.*non-decreasing"):
        Schedule(1.0, [[0, 1.0], [20, 0.5], [10, 0.1]], "entropy_coeff_schedule")
    with pytest.raises(ValueError, match="pairs"):
        Schedule(1.0, [1, 2, 3], "lr_schedule")
