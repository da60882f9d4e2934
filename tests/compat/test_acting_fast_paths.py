"""The acting hot path's shortcuts keep the slow path's results: categorical draws
(``argmax(p / q)`` instead of ``torch.multinomial``), TorchMLP's inlined nn.Linear,
PPOTorchRLModule's acting forwards without nn.Module dispatch, and RLModulePolicy's
outputs for ``explore=True``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from compat import RLModulePolicy
from rlmodule import SingleAgentRLModuleSpec
from rlmodule.algorithms.ppo import PPOConfig
from rlmodule.torch.models import TorchMLP
from rlmodule.torch.distributions import TorchCategorical

BOX = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


def ppo_module(vf_share_layers: bool, action_space: gym.Space = gym.spaces.Discrete(3)):
    spec = PPOConfig().framework("torch").get_default_rl_module_spec()
    model = {"fcnet_hiddens": [16, 16], "vf_share_layers": vf_share_layers}
    spec.update(
        SingleAgentRLModuleSpec(observation_space=BOX, action_space=action_space, model_config_dict=model),
        override=False,
    )
    return spec.build()


@pytest.mark.parametrize("shape", [(1, 2), (6, 5), (3, 4, 7)])
def test_categorical_sample_draws_what_torch_categorical_draws(shape):
    logits = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(11)
    expected = [torch.distributions.Categorical(logits=logits).sample() for _ in range(20)]
    torch.manual_seed(11)
    ours = [TorchCategorical(logits).sample() for _ in range(20)]
    for a, b in zip(expected, ours):
        assert b.dtype == torch.int64 and b.shape == shape[:-1]
        assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_categorical_sample_refuses_nan_probabilities(bad):
    logits = torch.tensor([[0.0, 1.0], [bad, 0.0]])
    with pytest.raises(RuntimeError, match="NaN"):
        TorchCategorical(logits).sample()


def test_mlp_inlined_linear_matches_the_layers_and_respects_parametrizations():
    torch.manual_seed(0)
    mlp = TorchMLP(4, [8, 8], "tanh", output_dim=3)
    x = torch.randn(5, 4)
    torch.testing.assert_close(mlp(x), mlp.net(x), rtol=0, atol=0)
    # a parametrized layer is no plain nn.Linear: its own forward (and weight) is used
    nn.utils.parametrize.register_parametrization(mlp.net[0], "weight", _Double())
    torch.testing.assert_close(mlp(x), mlp.net(x), rtol=0, atol=0)
    # a replaced layer is used at once (nothing is cached)
    mlp.net[2] = nn.Linear(8, 8, bias=False)
    torch.testing.assert_close(mlp(x), mlp.net(x), rtol=0, atol=0)


class _Double(nn.Module):
    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return 2 * w


@pytest.mark.parametrize("vf_share_layers", [False, True])
def test_ppo_torch_acting_forwards_and_compute_values_equal_forward_train(vf_share_layers):
    torch.manual_seed(0)
    module = ppo_module(vf_share_layers)
    batch = {"obs": torch.as_tensor(module.sample_batch(6)["obs"])}
    train = module.forward_train(batch)
    # feed-forward acting runs the actor only; values come from compute_values()
    for forward in (module.forward_exploration, module.forward_inference):
        out = forward(batch)
        assert sorted(out) == ["action_dist_inputs"]
        torch.testing.assert_close(out["action_dist_inputs"], train["action_dist_inputs"], rtol=0, atol=0)
    values = module.compute_values(batch)
    assert values.shape == (6,)
    torch.testing.assert_close(values, train["vf_preds"], rtol=0, atol=0)
    # replaced sub-modules are used at once (nothing is cached)
    module.vf = TorchMLP(16, [], None, output_dim=1)
    torch.testing.assert_close(module.compute_values(batch), module.forward_train(batch)["vf_preds"], rtol=0, atol=0)


def test_policy_explore_outputs_keep_the_legacy_keys_dtypes_and_draws():
    torch.manual_seed(0)
    module = ppo_module(vf_share_layers=False)
    policy = RLModulePolicy(module)
    obs = BOX.sample()
    torch.manual_seed(5)
    action, state, extra = policy.compute_single_action(obs, explore=True)
    assert state == [] and isinstance(action, np.int32)
    assert sorted(extra) == ["action_dist_inputs", "action_logp", "action_prob", "vf_preds"]
    assert {k: np.asarray(v).dtype for k, v in extra.items()} == dict.fromkeys(extra, np.dtype(np.float32))
    out = module.forward_exploration({"obs": torch.as_tensor(obs[None])})
    np.testing.assert_array_equal(extra["action_dist_inputs"], out["action_dist_inputs"][0].numpy())
    np.testing.assert_array_equal(extra["vf_preds"], module.compute_values({"obs": torch.as_tensor(obs[None])})[0].detach().numpy())
    log_probs = torch.log_softmax(out["action_dist_inputs"][0], -1)
    assert extra["action_logp"] == log_probs[action].item()
    assert extra["action_prob"] == np.exp(extra["action_logp"])
    torch.manual_seed(5)
    assert action == torch.distributions.Categorical(logits=out["action_dist_inputs"]).sample().item()
