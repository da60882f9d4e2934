"""PPO learner end to end (tf2): learning, NaN check, state round trip, tf.function."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from rlmodule.learners import NonFiniteLossError, make_learner  # noqa: E402
from tests.rlmodule.learners_helpers import good_action_prob, ppo_config, ppo_module, rollout  # noqa: E402

pytestmark = pytest.mark.tf


def _weights(module):
    return [w.numpy().copy() for w in module.weights]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _module(model=None):
    tf.keras.utils.set_random_seed(0)
    return ppo_module("tf2", model)


def test_bandit_learns_the_good_action():
    module = _module()
    learner = make_learner(module, ppo_config(lr=1e-2, sgd_minibatch_size=32, num_sgd_iter=4, grad_clip=1.0))
    assert learner.backend.use_tf_function
    before = good_action_prob(module)
    rng = np.random.default_rng(0)
    for i in range(10):
        stats = learner.update(rollout(module, 32, rng=rng), timestep=i * 32)
    assert all(np.isfinite(v) for v in stats.values())
    assert stats["num_minibatches"] == 4 and stats["grad_norm"] > 0
    assert good_action_prob(module) > before + 0.3


def test_recurrent_bandit_learns_on_sequences():
    module = _module({"use_lstm": True})
    learner = make_learner(module, ppo_config(lr=3e-3, sgd_minibatch_size=32, num_sgd_iter=4, grad_clip=1.0))
    before = good_action_prob(module)
    rng = np.random.default_rng(0)
    for i in range(6):
        stats = learner.update(rollout(module, 32, episode_len=6, rng=rng), timestep=i)
    assert stats["num_steps_trained"] == 32 * 6 * 4
    assert good_action_prob(module) > before + 0.25


def test_nan_raises_before_applying_and_restores_weights_and_adam():
    module = _module()
    learner = make_learner(module, ppo_config(sgd_minibatch_size=8, num_sgd_iter=3))
    learner.update(rollout(module, 32), timestep=0)
    weights, state = _weights(module), learner.get_state()
    frags = rollout(module, 32, rng=np.random.default_rng(3))
    frags[20].obs[0, 1] = np.nan
    calls = []
    step = learner.backend.train_step
    learner.backend.train_step = lambda *a: calls.append(1) or step(*a)
    with pytest.raises(NonFiniteLossError, match="module 'default_policy': policy_loss is nan"):
        learner.update(frags, timestep=1)
    assert len(calls) > 1  # earlier minibatches were applied, then rolled back
    _assert_same(weights, _weights(module))
    after = learner.get_state()
    for k, v in state.items():
        if k.startswith("optimizer/"):
            np.testing.assert_array_equal(after[k], v, err_msg=k)
    frags = rollout(module, 32, rng=np.random.default_rng(4))
    frags[0].rewards[0] = np.inf
    with pytest.raises(FloatingPointError, match="module 'default_policy'"):
        learner.update(frags, timestep=1)
    _assert_same(weights, _weights(module))


def test_state_round_trip_continues_identically():
    module = _module()
    config = ppo_config(sgd_minibatch_size=16, num_sgd_iter=2, lr=1e-3)
    learner = make_learner(module, config)
    rng = np.random.default_rng(0)
    first, second = rollout(module, 32, rng=rng), rollout(module, 32, rng=rng)
    learner.update(first, timestep=0)
    state, weights = learner.get_state(), module.get_state()
    assert all(isinstance(v, (np.ndarray, float, int)) for v in state.values())
    assert state["kl_coeff"] == pytest.approx(0.1)  # 0.2 halved: KL far below kl_target
    stats_a = learner.update(second, timestep=32)

    module_b = _module()
    module_b.set_state(weights)
    learner_b = make_learner(module_b, config)
    learner_b.set_state(state)
    stats_b = learner_b.update(second, timestep=32)
    for k in stats_a:
        assert stats_b[k] == pytest.approx(stats_a[k], rel=1e-6, abs=1e-7), k
    for a, b in zip(_weights(module), _weights(module_b)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="optimizer state"):
        learner_b.set_state({**state, "optimizer/bogus": np.zeros(3)})


def test_tf_function_matches_eager():
    results = []
    for compiled in (True, False):
        module = _module()
        learner = make_learner(module, ppo_config(sgd_minibatch_size=16, num_sgd_iter=2, grad_clip=0.5))
        learner.backend.use_tf_function = compiled
        stats = learner.update(rollout(module, 32), timestep=0)
        results.append((stats, _weights(module)))
    (s1, w1), (s2, w2) = results
    for k in s1:
        assert s2[k] == pytest.approx(s1[k], rel=1e-5, abs=1e-6), k
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_torch_only_learner_hooks_are_refused_by_the_tf_backend():
    from rlmodule.learners import PPOLearner

    class WithOptimizer(PPOLearner):
        def make_optimizer(self, params, lr):
            return None

    with pytest.raises(NotImplementedError, match="make_optimizer"):
        make_learner(_module(), ppo_config(), learner_class=WithOptimizer)
