"""V-trace against a direct numpy transcription of Espeholt et al. (2018), eq. (1)."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule.learners.vtrace import NumpyOps, vtrace


def reference_vtrace(behaviour_logp, target_logp, rewards, values, bootstrap, discounts, clip_rho, clip_pg_rho):
    """One trajectory of ``n`` steps, the paper's sum (no recursion):
    ``v_s = V(x_s) + sum_{t>=s} (prod_{s<=i<t} gamma_i c_i) rho_bar_t delta_t``."""
    n = len(rewards)
    rho = np.exp(np.asarray(target_logp, np.float64) - np.asarray(behaviour_logp, np.float64))
    rho_bar = rho if clip_rho is None else np.minimum(clip_rho, rho)
    rho_pg = rho if clip_pg_rho is None else np.minimum(clip_pg_rho, rho)
    c = np.minimum(1.0, rho)
    v = np.append(np.asarray(values, np.float64), bootstrap)  # V(x_0) .. V(x_n)
    vs = np.zeros(n + 1)
    vs[n] = bootstrap
    for s in range(n):
        total, weight = 0.0, 1.0
        for t in range(s, n):
            total += weight * rho_bar[t] * (rewards[t] + discounts[t] * v[t + 1] - v[t])
            weight *= discounts[t] * c[t]
        vs[s] = v[s] + total
    pg = np.array([rho_pg[s] * (rewards[s] + discounts[s] * vs[s + 1] - v[s]) for s in range(n)])
    return vs[:n], pg


def random_rows(rng, seq_lens, horizon, gamma=0.9, terminated=None):
    """``[B, T]`` float32 inputs with padding after each row's ``seq_len`` steps."""
    b = len(seq_lens)
    mask = (np.arange(horizon)[None, :] < np.asarray(seq_lens)[:, None]).astype(np.float32)
    data = {
        "behaviour_logp": np.log(rng.uniform(0.1, 0.9, (b, horizon))),
        "target_logp": np.log(rng.uniform(0.1, 0.9, (b, horizon))),
        "rewards": rng.normal(size=(b, horizon)),
        "values": rng.normal(size=(b, horizon)),
        "bootstrap_values": rng.normal(size=(b, horizon)),
        "discounts": np.full((b, horizon), gamma),
    }
    for row, done in enumerate(terminated or []):
        if done:
            data["discounts"][row, seq_lens[row] - 1] = 0.0
    data = {k: (v * mask).astype(np.float32) for k, v in data.items()}
    data["mask"] = mask
    return data


def row_reference(data, row, seq_len, clip_rho, clip_pg_rho):
    sl = slice(0, seq_len)
    return reference_vtrace(
        data["behaviour_logp"][row, sl], data["target_logp"][row, sl], data["rewards"][row, sl],
        data["values"][row, sl], data["bootstrap_values"][row, seq_len - 1], data["discounts"][row, sl],
        clip_rho, clip_pg_rho,
    )


@pytest.mark.parametrize("clip_rho, clip_pg_rho", [(1.0, 1.0), (0.5, 2.0), (None, None)])
def test_matches_the_papers_sum_on_padded_rows(clip_rho, clip_pg_rho):
    rng = np.random.default_rng(0)
    seq_lens = [6, 1, 4, 6]
    data = random_rows(rng, seq_lens, 6, terminated=[False, True, False, True])
    vs, pg = vtrace(NumpyOps, **data, clip_rho_threshold=clip_rho, clip_pg_rho_threshold=clip_pg_rho)
    assert vs.shape == pg.shape == (4, 6)
    for row, n in enumerate(seq_lens):
        ref_vs, ref_pg = row_reference(data, row, n, clip_rho, clip_pg_rho)
        np.testing.assert_allclose(vs[row, :n], ref_vs, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(pg[row, :n], ref_pg, rtol=1e-5, atol=1e-5)
        assert not pg[row, n:].any()  # padding contributes nothing


def test_clipping_thresholds_change_targets_and_advantages_independently():
    data = random_rows(np.random.default_rng(1), [5], 5)
    data["target_logp"] = data["behaviour_logp"] + np.log(3.0)  # rho = 3 everywhere
    vs1, pg1 = vtrace(NumpyOps, **data, clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0)
    vs2, pg2 = vtrace(NumpyOps, **data, clip_rho_threshold=2.0, clip_pg_rho_threshold=1.0)
    vs3, pg3 = vtrace(NumpyOps, **data, clip_rho_threshold=1.0, clip_pg_rho_threshold=2.0)
    assert not np.allclose(vs1, vs2)
    np.testing.assert_allclose(vs1, vs3)
    # Same targets, pg rho clipped at 2 instead of 1: advantages exactly double.
    np.testing.assert_allclose(pg3, 2.0 * pg1, rtol=1e-6)


def test_on_policy_targets_are_the_n_step_returns():
    """rho = 1: v_s = sum_k gamma^k r_{s+k} + gamma^(n-s) V(x_n) (TD(lambda=1) to the end)."""
    rng = np.random.default_rng(2)
    gamma, n = 0.9, 7
    data = random_rows(rng, [n], n, gamma=gamma)
    data["target_logp"] = data["behaviour_logp"].copy()
    vs, pg = vtrace(NumpyOps, **data)
    r, v, boot = data["rewards"][0], data["values"][0], data["bootstrap_values"][0, -1]
    returns = [sum(gamma**k * r[s + k] for k in range(n - s)) + gamma ** (n - s) * boot for s in range(n)]
    np.testing.assert_allclose(vs[0], returns, rtol=1e-5, atol=1e-5)
    next_vs = np.append(returns[1:], boot)
    np.testing.assert_allclose(pg[0], r + gamma * next_vs - v, rtol=1e-5, atol=1e-5)


def test_termination_ignores_the_bootstrap_value_and_truncation_uses_it():
    rng = np.random.default_rng(3)
    terminated = random_rows(rng, [4], 4, terminated=[True])
    truncated = {k: v.copy() for k, v in terminated.items()}
    truncated["discounts"][0, 3] = 0.9
    results = {}
    for name, data in (("terminated", terminated), ("truncated", truncated)):
        for boot in (0.0, 10.0):
            data["bootstrap_values"][0, 3] = boot
            results[name, boot] = vtrace(NumpyOps, **data)[0]
    np.testing.assert_allclose(results["terminated", 0.0], results["terminated", 10.0])
    last = terminated
    rho_bar = min(1.0, float(np.exp(last["target_logp"][0, 3] - last["behaviour_logp"][0, 3])))
    expected_last = last["values"][0, 3] + rho_bar * (last["rewards"][0, 3] - last["values"][0, 3])
    np.testing.assert_allclose(results["terminated", 0.0][0, 3], expected_last, rtol=1e-6)
    assert results["truncated", 10.0][0, 3] > results["truncated", 0.0][0, 3]


def test_rows_are_independent_and_padding_does_not_leak():
    rng = np.random.default_rng(4)
    data = random_rows(rng, [3, 5], 5)
    vs, _ = vtrace(NumpyOps, **data)
    noisy = {k: v.copy() for k, v in data.items()}
    for key in ("rewards", "values", "behaviour_logp", "target_logp"):
        noisy[key][0, 3:] = 99.0  # garbage in row 0's padding
    vs_noisy, _ = vtrace(NumpyOps, **noisy)
    np.testing.assert_allclose(vs_noisy[0, :3], vs[0, :3], rtol=1e-6)
    np.testing.assert_allclose(vs_noisy[1], vs[1], rtol=1e-6)


def test_a_mis_shaped_input_is_named():
    data = random_rows(np.random.default_rng(5), [3], 3)
    data["rewards"] = data["rewards"][:, :2]
    with pytest.raises(ValueError, match="rewards has shape"):
        vtrace(NumpyOps, **data)


def test_torch_matches_numpy_and_split_time_inverts_flatten():
    import torch

    from rlmodule.torch.learner import TorchOps

    data = random_rows(np.random.default_rng(6), [4, 2, 3], 4, terminated=[True, False, False])
    vs, pg = vtrace(NumpyOps, **data)
    t_vs, t_pg = vtrace(TorchOps, **{k: torch.as_tensor(v) for k, v in data.items()})
    np.testing.assert_allclose(t_vs.numpy(), vs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t_pg.numpy(), pg, rtol=1e-5, atol=1e-6)
    x = torch.arange(24.0).reshape(3, 4, 2)
    assert torch.equal(TorchOps.split_time(TorchOps.flatten_time(x), 4), x)


@pytest.mark.tf
def test_tf_matches_numpy_inside_a_tf_function():
    import tensorflow as tf

    from rlmodule.tf.learner import TfOps

    data = random_rows(np.random.default_rng(7), [4, 2, 3], 4, terminated=[False, True, False])
    vs, pg = vtrace(NumpyOps, **data)
    spec = {k: tf.TensorSpec([None, 4], tf.float32) for k in data}
    fn = tf.function(lambda d: vtrace(TfOps, **d), input_signature=[spec], autograph=False)
    tf_vs, tf_pg = fn({k: tf.constant(v) for k, v in data.items()})
    np.testing.assert_allclose(tf_vs.numpy(), vs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tf_pg.numpy(), pg, rtol=1e-5, atol=1e-6)
    x = tf.reshape(tf.range(24.0), [3, 4, 2])
    np.testing.assert_array_equal(TfOps.split_time(TfOps.flatten_time(x), 4).numpy(), x.numpy())
