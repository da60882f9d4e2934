"""GAE / discounted returns per fragment against a hand-written reference."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule.env_runners.fragment import Fragment
from rlmodule.learners.gae import (
    compute_advantages,
    compute_gae,
    discounted_reverse_cumsum,
    standardize,
)


def _frag(rewards, values, bootstrap=0.0, terminated=False):
    n = len(rewards)
    return Fragment(
        obs=np.zeros((n, 1), np.float32),
        actions=np.zeros(n, np.int64),
        rewards=np.asarray(rewards, np.float32),
        action_logp=np.zeros(n, np.float32),
        action_dist_inputs=None,
        vf_preds=np.asarray(values, np.float32),
        terminated=terminated,
        truncated=not terminated,
        bootstrap_value=bootstrap,
    )


def reference_gae(rewards, values, last_value, gamma, lam):
    """The textbook backward loop (CleanRL's ppo.py), one fragment."""
    n = len(rewards)
    adv = np.zeros(n)
    last = 0.0
    for t in reversed(range(n)):
        next_value = last_value if t == n - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_value - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv, adv + np.asarray(values)


def test_hand_computed_two_steps():
    # r = [1, 2], V = [0.5, 1.0], bootstrap 3 (truncated), gamma 0.9, lambda 0.5:
    # delta1 = 2 + 0.9*3 - 1 = 3.7, A1 = 3.7
    # delta0 = 1 + 0.9*1 - 0.5 = 1.4, A0 = 1.4 + 0.45*3.7 = 3.065
    adv, targets = compute_gae([1.0, 2.0], [0.5, 1.0], 3.0, gamma=0.9, lambda_=0.5)
    np.testing.assert_allclose(adv, [3.065, 3.7], rtol=1e-6)
    np.testing.assert_allclose(targets, [3.565, 4.7], rtol=1e-6)


def test_truncation_bootstraps_and_termination_does_not():
    rewards, values = [0.0, 0.0, 1.0], [0.2, 0.3, 0.4]
    truncated = _frag(rewards, values, bootstrap=5.0, terminated=False)
    terminated = _frag(rewards, values, bootstrap=5.0, terminated=True)  # bootstrap ignored
    adv_tr, _ = compute_advantages([truncated], 0.99, 0.95)
    adv_te, _ = compute_advantages([terminated], 0.99, 0.95)
    np.testing.assert_allclose(adv_tr, reference_gae(rewards, values, 5.0, 0.99, 0.95)[0], rtol=1e-5)
    np.testing.assert_allclose(adv_te, reference_gae(rewards, values, 0.0, 0.99, 0.95)[0], rtol=1e-5)
    assert adv_tr[-1] == pytest.approx(1.0 + 0.99 * 5.0 - 0.4, rel=1e-6)
    assert adv_te[-1] == pytest.approx(1.0 - 0.4, rel=1e-6)


def test_lambda_zero_is_td_error_and_lambda_one_is_return_minus_value():
    rng = np.random.default_rng(0)
    r, v, b, g = rng.normal(size=6), rng.normal(size=6), 0.7, 0.9
    frag = _frag(r, v, bootstrap=b)
    adv0, _ = compute_advantages([frag], g, 0.0)
    next_v = np.append(v[1:], b)
    np.testing.assert_allclose(adv0, r + g * next_v - v, rtol=1e-5, atol=1e-6)
    adv1, targets1 = compute_advantages([frag], g, 1.0)
    returns = np.array([sum(g**k * r[t + k] for k in range(6 - t)) + g ** (6 - t) * b for t in range(6)])
    np.testing.assert_allclose(targets1, returns, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(adv1, returns - v, rtol=1e-5, atol=1e-5)


def test_many_fragments_of_mixed_lengths_match_the_reference_loop():
    rng = np.random.default_rng(1)
    lengths = [1, 7, 0, 3, 64, 2, 33, 1, 5, 17]
    frags = [
        _frag(rng.normal(size=n), rng.normal(size=n), bootstrap=float(rng.normal()), terminated=bool(i % 2))
        for i, n in enumerate(lengths)
    ]
    adv, targets = compute_advantages(frags, 0.97, 0.9)
    assert adv.shape == targets.shape == (sum(lengths),) and adv.dtype == np.float32
    ref_adv, ref_targets = [], []
    for f in frags:
        a, t = reference_gae(f.rewards.astype(np.float64), f.vf_preds.astype(np.float64), 0.0 if f.terminated else f.bootstrap_value, 0.97, 0.9)
        ref_adv.append(a)
        ref_targets.append(t)
    np.testing.assert_allclose(adv, np.concatenate(ref_adv), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, np.concatenate(ref_targets), rtol=1e-5, atol=1e-5)


def test_discounted_reverse_cumsum_resets_at_segment_boundaries():
    out = discounted_reverse_cumsum(np.ones(5), [2, 3], 0.5)
    np.testing.assert_allclose(out, [1.5, 1.0, 1.75, 1.5, 1.0])


def test_no_gae_uses_discounted_returns_minus_values():
    r, v = [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]
    frag = _frag(r, v, bootstrap=2.0)
    adv, targets = compute_advantages([frag], 0.5, 0.95, use_gae=False)
    returns = [1 + 0.5 + 0.25 + 0.125 * 2, 1 + 0.5 + 0.25 * 2, 1 + 0.5 * 2]
    np.testing.assert_allclose(targets, returns, rtol=1e-6)
    np.testing.assert_allclose(adv, np.array(returns) - 0.5, rtol=1e-6)
    # Without a critic, values and bootstrap count as 0: advantages are the plain returns.
    adv_nc, targets_nc = compute_advantages([frag], 0.5, 0.95, use_gae=False, use_critic=False)
    np.testing.assert_allclose(adv_nc, [1.75, 1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(targets_nc, [1.75, 1.5, 1.0], rtol=1e-6)


def test_standardize_like_rllib():
    x = np.array([1.0, 2.0, 3.0, 6.0])
    np.testing.assert_allclose(standardize(x), (x - 3.0) / x.std(), rtol=1e-6)
    np.testing.assert_allclose(standardize(np.full(3, 7.0)), np.zeros(3))  # std floored at 1e-4
