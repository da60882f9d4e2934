"""rlmodule.acting.Actor, the one acting path: shapes for feed-forward and recurrent
modules (torch and tf2), sampling and logp with explore on and off, values from the
forward or compute_values(), the early-alpha output styles, and the acting mode (eval,
no autograd) switched once and restored, also for a module called directly."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rlmodule import RLModuleConfig
from rlmodule.acting import Actor, acting_mode, sample_actions
from rlmodule.torch import TorchRLModule
from tests.rlmodule.learners_helpers import ppo_module

B = 5
FRAMEWORKS = ["torch", "tf2"]
BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
DISCRETE2 = gym.spaces.Discrete(2)


def observations(n: int = B, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 4)).astype(np.float32)


def _repeat(state, n):
    if isinstance(state, dict):
        return {k: _repeat(v, n) for k, v in state.items()}
    return np.repeat(np.asarray(state)[None], n, axis=0)


# --- feed-forward ------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("explore", [True, False])
def test_feed_forward_act_shapes_logp_and_values(framework, explore):
    module = ppo_module(framework)
    actor = Actor(module)
    assert not actor.stateful and actor.framework == framework
    obs = observations()
    step = actor.act(obs, explore=explore)
    assert step.actions.shape == (B,) and step.actions.dtype == np.int64
    assert step.logp.shape == (B,) and step.logp.dtype == np.float32
    assert step.action_dist_inputs.shape == (B, 2) and step.state_out is None
    # the built-in feed-forward module leaves values to compute_values()
    assert "vf_preds" not in step.out
    values = np.asarray(actor.to_numpy(module.compute_values({"obs": actor.to_tensor(obs)})))
    np.testing.assert_allclose(step.vf_preds, values, rtol=1e-6)
    assert actor.act(obs, explore=explore, values=False).vf_preds is None
    logits = step.action_dist_inputs
    if explore:
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        np.testing.assert_allclose(step.logp, log_probs[np.arange(B), step.actions], rtol=1e-5, atol=1e-6)
        assert (step.logp < 0).all()
    else:  # deterministic: the argmax, logp 0
        np.testing.assert_array_equal(step.actions, logits.argmax(-1))
        np.testing.assert_array_equal(step.logp, np.zeros(B, np.float32))


def test_exploration_samples_what_the_distribution_samples():
    module = ppo_module("torch")
    actor = Actor(module)
    obs = observations(64)
    torch.manual_seed(3)
    step = actor.act(obs, explore=True, values=False)
    torch.manual_seed(3)
    out = module.forward_exploration({"obs": torch.as_tensor(obs)})
    expected, logp = sample_actions(module, out, explore=True)
    np.testing.assert_array_equal(step.actions, expected.numpy())
    np.testing.assert_allclose(step.logp, logp.numpy(), rtol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bootstrap_values_follow_the_acting_rule(framework):
    module = ppo_module(framework)
    actor = Actor(module)
    obs = observations()
    explored = actor.values(obs, explore=True)
    assert explored.shape == (B,) and explored.dtype == np.float32
    np.testing.assert_allclose(explored, actor.compute_values(obs), rtol=1e-6)
    # evaluation records only the values the inference forward returns (none here)
    assert actor.values(obs, explore=False) is None


# --- recurrent -----------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("explore", [True, False])
def test_recurrent_act_adds_and_drops_the_time_axis_and_carries_state(framework, explore):
    module = ppo_module(framework, model={"use_lstm": True})
    actor = Actor(module)
    assert actor.stateful
    obs = observations()
    state = _repeat(actor.initial_state(), B)
    step = actor.act(obs, state, explore=explore)
    assert step.actions.shape == (B,) and step.logp.shape == (B,) and step.action_dist_inputs.shape == (B, 2)
    assert step.vf_preds.shape == (B,)  # from the forward (exploring), else compute_values()
    out = step.out
    assert np.shape(actor.to_numpy(out["action_dist_inputs"])) == (B, 1, 2)  # the forward saw [B, 1, ...]
    flat_state = [np.asarray(x) for x in _leaves(step.state_out)]
    assert all(x.shape[0] == B for x in flat_state)
    # the same step by hand: obs [B, 1, 4] and state_in
    forward = module.forward_exploration if explore else module.forward_inference
    by_hand = forward({"obs": actor.to_tensor(obs[:, None]), "state_in": actor.to_tensor(state)})
    dist_inputs = actor.to_numpy(by_hand["action_dist_inputs"])[:, 0]
    np.testing.assert_allclose(step.action_dist_inputs, dist_inputs, rtol=1e-5, atol=1e-7)  # tf.function vs eager
    for a, b in zip(flat_state, _leaves(actor.to_numpy(by_hand["state_out"]))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    if not explore:
        np.testing.assert_array_equal(step.logp, np.zeros(B, np.float32))
    # the next step carries the state: different from starting afresh
    obs2 = observations(seed=1)
    carried = actor.act(obs2, step.state_out, explore=False)
    fresh = actor.act(obs2, state, explore=False)
    assert not np.allclose(carried.action_dist_inputs, fresh.action_dist_inputs)
    if explore:  # bootstrap values: the exploration forward's vf_preds
        np.testing.assert_allclose(actor.values(obs, state, explore=True), step.vf_preds, rtol=1e-5, atol=1e-7)
    else:  # the inference forward runs the actor only: no values without compute_values
        assert actor.values(obs, state, explore=False) is None
        assert actor.act(obs, state, explore=False, values=False).vf_preds is None


def _leaves(x):
    if isinstance(x, dict):
        return [leaf for v in x.values() for leaf in _leaves(v)]
    return [x]


def test_recurrent_inference_logp_zeros_keep_the_time_axis():
    module = ppo_module("torch", model={"use_lstm": True})
    actor = Actor(module)
    batch = actor.batch(observations(), _repeat(actor.initial_state(), B))
    out = module.forward_inference(batch)
    actions, logp = sample_actions(module, out, explore=False)
    assert tuple(actions.shape) == tuple(logp.shape) == (B, 1) and not logp.any()


# --- output styles of the specification ----------------------------------------------------
class StyleModule(TorchRLModule):
    """Returns ``action_dist`` (a torch.distributions object) or ``actions`` directly."""

    style = "action_dist"

    def setup(self) -> None:
        self.lin = nn.Linear(4, 2)

    def _forward_any(self, batch):
        logits = self.lin(batch["obs"])
        if self.style == "action_dist":
            return {"action_dist": torch.distributions.Categorical(logits=logits)}
        return {"actions": logits.argmax(-1), "action_logp": torch.full((len(logits),), -0.5)}

    _forward_inference = _forward_exploration = _forward_train = _forward_any


@pytest.mark.parametrize("explore", [True, False])
def test_torch_distribution_outputs(explore):
    module = StyleModule(RLModuleConfig(observation_space=BOX4, action_space=DISCRETE2))
    obs = observations()
    step = Actor(module).act(obs, explore=explore)
    logits = module.lin(torch.as_tensor(obs)).detach().numpy()
    if explore:
        expected = torch.distributions.Categorical(logits=torch.as_tensor(logits)).log_prob(torch.as_tensor(step.actions))
        np.testing.assert_allclose(step.logp, expected.numpy(), rtol=1e-5)
    else:
        np.testing.assert_array_equal(step.actions, logits.argmax(-1))  # the mode
        np.testing.assert_array_equal(step.logp, np.zeros(B, np.float32))
    assert step.action_dist_inputs is None and step.vf_preds is None


def test_actions_outputs_keep_their_logp():
    module = StyleModule(RLModuleConfig(observation_space=BOX4, action_space=DISCRETE2))
    module.style = "actions"
    for explore in (True, False):
        step = Actor(module).act(observations(), explore=explore)
        np.testing.assert_array_equal(step.logp, np.full(B, -0.5, np.float32))


def test_an_unknown_framework_is_refused():
    class NoFramework:
        framework = "jax"

        def is_stateful(self):
            return False

    with pytest.raises(ValueError, match="'jax'"):
        Actor(NoFramework())


# --- mode ----------------------------------------------------------------------------------------
class DropoutModule(TorchRLModule):
    """A Linear after dropout (p=0.5): only eval mode is deterministic. Reports the mode
    and whether autograd was on while it ran."""

    def setup(self) -> None:
        self.drop, self.lin = nn.Dropout(0.5), nn.Linear(4, 2)

    def _forward_any(self, batch):
        return {
            "action_dist_inputs": self.lin(self.drop(batch["obs"])),
            "mode": self.training,
            "grad": torch.is_grad_enabled(),
        }

    _forward_inference = _forward_exploration = _forward_train = _forward_any

    def compute_values(self, batch):
        assert not self.training and not torch.is_grad_enabled()
        return self.lin(batch["obs"]).sum(-1)


def dropout_module() -> DropoutModule:
    return DropoutModule(RLModuleConfig(observation_space=BOX4, action_space=DISCRETE2))


@pytest.mark.parametrize("training", [True, False])
def test_act_runs_in_eval_mode_without_autograd_and_restores_the_mode(training):
    module = dropout_module()
    module.train(training)
    obs = observations(64)
    step = Actor(module).act(obs, explore=False)
    assert step.out["mode"] is False and step.out["grad"] is False
    np.testing.assert_allclose(step.action_dist_inputs, module.lin(torch.as_tensor(obs)).detach().numpy(), rtol=1e-6)
    assert step.vf_preds.shape == (64,)  # compute_values ran in the acting mode too
    assert module.training is training and module.drop.training is training
    assert torch.is_grad_enabled()


def test_the_block_mode_switches_once_and_restores():
    module = dropout_module()  # in train mode, as built
    actor = Actor(module)
    with actor.mode():
        assert torch.is_inference_mode_enabled() and not module.training and not module.drop.training
        step = actor.act(observations(), explore=True)
        # a forward called directly inside the block finds the mode on and keeps it
        out = module.forward_exploration({"obs": torch.as_tensor(observations())})
        assert out["mode"] is False and not module.training
    assert step.out["mode"] is False
    assert module.training and module.drop.training
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


def test_the_block_mode_of_a_multi_agent_module_covers_its_sub_modules():
    from rlmodule.marl_module import MultiAgentRLModule

    marl = MultiAgentRLModule()
    marl.add_module("a", dropout_module())
    marl.add_module("b", dropout_module())
    with acting_mode(marl):
        assert not marl["a"].training and not marl["b"].training
    assert marl["a"].training and marl["b"].training


@pytest.mark.parametrize("forward", ["forward_exploration", "forward_inference"])
def test_a_module_in_train_mode_called_directly_switches_itself(forward):
    module = dropout_module()
    obs = torch.ones(64, 4)
    out = getattr(module, forward)({"obs": obs})
    assert out["mode"] is False and out["grad"] is False
    assert not out["action_dist_inputs"].requires_grad
    assert torch.equal(out["action_dist_inputs"], module.lin(obs).detach())
    assert module.training and module.drop.training and torch.is_grad_enabled()
    # forward_train runs in train mode, with autograd
    out = module.forward_train({"obs": obs})
    assert out["mode"] is True and out["grad"] is True and out["action_dist_inputs"].requires_grad


def test_tf_acting_through_tf_function_matches_the_eager_forward():
    module = ppo_module("tf2")
    actor = Actor(module)
    for seed in (0, 1):  # the second call reuses the traced function
        obs = observations(seed=seed)
        step = actor.act(obs, explore=False)
        eager = actor.to_numpy(module.forward_inference({"obs": actor.to_tensor(obs)})["action_dist_inputs"])
        np.testing.assert_allclose(step.action_dist_inputs, eager, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(step.actions, eager.argmax(-1))
