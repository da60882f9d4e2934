"""The tf learner must train like the torch one: one PPO update of both backends from
the same weights on the same batch gives the same loss terms and the same weights.

The learners shuffle with the same seeded numpy Generator, so both see the same
minibatches; the losses are the same code (``PPOLearner.compute_loss``) on each
backend's ops. What is left to differ is float rounding, which these tolerances cover
with a wide margin (measured on an AMD EPYC: weights within 5e-7 after the update's 12
Adam steps; 3e-3 with Keras' own Adam, whose epsilon placement differs from torch's).
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.tf

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from rlmodule.learners import PPOLearner  # noqa: E402
from rlmodule.models.weight_transfer import copy_torch_to_tf  # noqa: E402
from tests.rlmodule.learners_helpers import ppo_config, ppo_module, rollout  # noqa: E402


def _torch_weights_in_keras_layout(module):
    """The torch module's parameters as numpy, Linear weights transposed to ``[in, out]``."""
    return [p.detach().numpy().T if p.dim() == 2 else p.detach().numpy() for p in module.parameters()]


def test_one_ppo_update_matches_between_torch_and_tf():
    torch.manual_seed(0)
    # The defaults' learning rate, clipping and minibatching; 2x64 for speed.
    config = ppo_config(lr=3e-3, num_sgd_iter=3, sgd_minibatch_size=256, grad_clip=0.5, vf_clip_param=float("inf"))
    torch_module = ppo_module("torch", model={"fcnet_hiddens": [64, 64]})
    tf_module = ppo_module("tf2", model={"fcnet_hiddens": [64, 64]})
    copy_torch_to_tf(torch_module, tf_module)
    # 64 episodes of 16 steps (1024 steps), truncated (bootstrapped), acted by the torch module.
    fragments = rollout(torch_module, num_envs=64, episode_len=16, rng=np.random.default_rng(1), truncate=True)

    torch_stats = PPOLearner(torch_module, config).update(copy.deepcopy(fragments), timestep=0)
    tf_stats = PPOLearner(tf_module, config).update(copy.deepcopy(fragments), timestep=0)

    assert torch_stats["num_minibatches"] == tf_stats["num_minibatches"] == 12
    for term in ("policy_loss", "vf_loss", "entropy", "mean_kl_loss", "total_loss", "grad_norm"):
        np.testing.assert_allclose(tf_stats[term], torch_stats[term], rtol=1e-3, atol=1e-5, err_msg=term)
    expected = _torch_weights_in_keras_layout(torch_module)
    got = [v.numpy() for v in tf_module.trainable_variables]
    # Each of the 12 Adam steps moves a weight by up to lr = 3e-3; a different step rule
    # shows as differences of that order, rounding as < 1e-6.
    for i, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=f"weight {i} {a.shape}")


@pytest.mark.parametrize("scale", [1e-9, 1e-7, 1e-5, 1e-2])
def test_tf_adam_steps_like_torch_adam_for_any_gradient_scale(scale):
    """Adam's step is scale-free only while |g| >> epsilon; near epsilon both must agree."""
    from rlmodule.tf.learner import TfLearnerBackend

    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(8,)).astype(np.float32) * scale for _ in range(5)]
    torch_w = torch.nn.Parameter(torch.zeros(8))
    torch_adam = torch.optim.Adam([torch_w], lr=1e-3, eps=1e-8)
    tf_w = tf.Variable(tf.zeros(8))

    learner = SimpleNamespace(  # what TfLearnerBackend reads of a learner
        module=SimpleNamespace(trainable_variables=[tf_w]),
        module_id="m",
        grad_clip=None,
        lr_schedule=SimpleNamespace(value=lambda timestep: 1e-3),
    )
    tf_adam = TfLearnerBackend(learner).optimizer
    for g in grads:
        torch_w.grad = torch.as_tensor(g)
        torch_adam.step()
        tf_adam.apply_gradients([(tf.constant(g), tf_w)])
        np.testing.assert_allclose(tf_w.numpy(), torch_w.detach().numpy(), rtol=1e-5, atol=1e-8)
