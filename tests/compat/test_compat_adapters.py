"""compat adapters against real RLlib 2.60 legacy policies (the oracle).

Each case builds a legacy PPOTorchPolicy standalone (design.md), wraps its model with
``ModelV2RLModule`` and serves that module through ``RLModulePolicy``; both must agree
with the legacy policy: distribution inputs, values, deterministic actions (logp 0),
sampled actions under the same seed, log-likelihoods, dtypes and shapes.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.legacy_helpers import legacy_policy

from compat import ModelV2RLModule, RLModulePolicy

pytestmark = pytest.mark.legacy


def preprocessed(policy, raw_obs):
    """What a legacy policy receives: the legacy preprocessor's output per observation."""
    from ray.rllib.models.preprocessors import get_preprocessor

    space = getattr(policy.observation_space, "original_space", policy.observation_space)
    prep = get_preprocessor(space)(space)
    return np.stack([prep.transform(o) for o in raw_obs])


class MaskedDictModel:
    """Built lazily (needs ray): a custom TorchModelV2 with value caching and masking."""

    @staticmethod
    def register():
        from ray.rllib.models import ModelCatalog
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.utils.torch_utils import FLOAT_MIN
        from torch import nn

        class _Masked(TorchModelV2, nn.Module):
            def __init__(self, obs_space, action_space, num_outputs, model_config, name, hidden=32):
                TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
                nn.Module.__init__(self)
                size = obs_space.original_space["features"].shape[0]
                self.body = nn.Sequential(nn.Linear(size, hidden), nn.Tanh())
                self.logits = nn.Linear(hidden, num_outputs)
                self.value = nn.Linear(hidden, 1)
                self._features = None

            def forward(self, input_dict, state, seq_lens):
                obs = input_dict["obs"]
                self._features = self.body(obs["features"])
                mask = torch.clamp(torch.log(obs["action_mask"]), min=FLOAT_MIN)
                return self.logits(self._features) + mask, state

            def value_function(self):
                return self.value(self._features).reshape(-1)

        ModelCatalog.register_custom_model("compat_test_masked", _Masked)
        return "compat_test_masked"


DICT_OBS = gym.spaces.Dict(
    {"action_mask": gym.spaces.Box(0.0, 1.0, (3,), np.float32), "features": gym.spaces.Box(-1.0, 1.0, (5,), np.float32)}
)


def cases():
    return {
        "fcnet_discrete": (gym.spaces.Box(-1.0, 1.0, (4,), np.float32), gym.spaces.Discrete(2), {"fcnet_hiddens": [64, 64]}),
        "fcnet_separate_vf": (gym.spaces.Box(-1.0, 1.0, (4,), np.float32), gym.spaces.Discrete(3), {"fcnet_hiddens": [16], "vf_share_layers": False}),
        "diag_gaussian": (gym.spaces.Box(-1.0, 1.0, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (2,), np.float32), {"fcnet_hiddens": [16, 16]}),
        "multi_discrete": (gym.spaces.Box(-1.0, 1.0, (3,), np.float32), gym.spaces.MultiDiscrete([3, 2]), {"fcnet_hiddens": [16]}),
        "vision": (gym.spaces.Box(0.0, 1.0, (42, 42, 3), np.float32), gym.spaces.Discrete(4), {}),
        "dict_masked_custom": (DICT_OBS, gym.spaces.Discrete(3), "masked"),
    }


def sample_obs(space, n, seed):
    space.seed(seed)
    obs = [space.sample() for _ in range(n)]
    if space is DICT_OBS:
        for o in obs:
            o["action_mask"] = (np.random.default_rng(seed).uniform(size=3) > 0.3).astype(np.float32)
            o["action_mask"][0] = 1.0
    return obs


def build(case):
    obs_space, act_space, model = cases()[case]
    if model == "masked":
        model = {"custom_model": MaskedDictModel.register()}
    policy = legacy_policy(obs_space, act_space, model)
    module = ModelV2RLModule.wrap(policy.model, action_dist_class=policy.dist_class)
    return policy, module, obs_space


def stack(raw):
    if isinstance(raw[0], dict):
        return {k: np.stack([o[k] for o in raw]) for k in raw[0]}
    return np.stack(raw)


@pytest.mark.parametrize("case", sorted(cases()))
def test_wrapped_legacy_model_agrees_with_the_legacy_policy(case):
    policy, module, obs_space = build(case)
    raw = sample_obs(obs_space, 8, seed=1)
    actions, _, extra = policy.compute_actions(preprocessed(policy, raw), explore=False)
    out = module.forward_exploration({"obs": stack(raw)})
    np.testing.assert_allclose(out["action_dist_inputs"].numpy(), extra["action_dist_inputs"], atol=1e-6)
    np.testing.assert_allclose(out["vf_preds"].numpy(), extra["vf_preds"], atol=1e-6)
    # deterministic actions and logp of the legacy actions
    dist = module.get_inference_action_dist_cls().from_logits(out["action_dist_inputs"]).to_deterministic()
    np.testing.assert_allclose(np.asarray(dist.sample()), actions, atol=1e-6)
    legacy_logp = policy.compute_log_likelihoods(actions, preprocessed(policy, raw)).numpy()
    ours = module.get_exploration_action_dist_cls().from_logits(out["action_dist_inputs"]).logp(torch.as_tensor(actions))
    np.testing.assert_allclose(ours.numpy(), legacy_logp, atol=1e-5)


@pytest.mark.parametrize("case", sorted(cases()))
@pytest.mark.parametrize("explore", [False, True])
def test_adapter_policy_reproduces_the_legacy_policy_outputs(case, explore):
    policy, module, obs_space = build(case)
    adapter = RLModulePolicy(module)
    raw = sample_obs(obs_space, 6, seed=2)
    flat = preprocessed(policy, raw)
    torch.manual_seed(123)
    a_legacy, s_legacy, e_legacy = policy.compute_actions(flat, explore=explore)
    torch.manual_seed(123)
    a_ours, s_ours, e_ours = adapter.compute_actions(flat, explore=explore)  # legacy-preprocessed input
    assert a_ours.dtype == a_legacy.dtype and a_ours.shape == a_legacy.shape
    np.testing.assert_allclose(a_ours, a_legacy, atol=1e-6)
    assert s_ours == s_legacy == []
    assert sorted(e_ours) == sorted(e_legacy)
    for key in e_legacy:
        assert e_ours[key].dtype == e_legacy[key].dtype, key
        np.testing.assert_allclose(e_ours[key], e_legacy[key], atol=1e-5, err_msg=key)
    if not explore:
        assert not e_ours["action_logp"].any()  # logp 0 for deterministic actions
    # raw (structured) observations give the same deterministic result
    if not explore:
        np.testing.assert_allclose(adapter.compute_actions(stack(raw), explore=False)[0], a_legacy, atol=1e-6)


@pytest.mark.parametrize("case", ["fcnet_discrete", "diag_gaussian", "dict_masked_custom"])
def test_compute_single_action_matches_legacy(case):
    policy, module, obs_space = build(case)
    adapter = RLModulePolicy(module)
    raw = sample_obs(obs_space, 1, seed=3)[0]
    flat = preprocessed(policy, [raw])[0]
    a_legacy, s_legacy, e_legacy = policy.compute_single_action(flat, explore=False)
    a_ours, s_ours, e_ours = adapter.compute_single_action(flat, explore=False)
    np.testing.assert_allclose(a_ours, a_legacy, atol=1e-6)
    assert np.asarray(a_ours).dtype == np.asarray(a_legacy).dtype
    assert s_ours == s_legacy == []
    for key in e_legacy:
        np.testing.assert_allclose(e_ours[key], e_legacy[key], atol=1e-5, err_msg=key)
        assert np.shape(e_ours[key]) == np.shape(e_legacy[key])


def test_explore_none_follows_the_config_and_weights_round_trip(tmp_path):
    policy, module, obs_space = build("fcnet_discrete")
    adapter = RLModulePolicy(module, config={"explore": False})
    obs = np.stack(sample_obs(obs_space, 4, seed=4))
    greedy = adapter.compute_actions(obs)[0]
    np.testing.assert_array_equal(greedy, adapter.compute_actions(obs, explore=False)[0])
    assert adapter.observation_space == obs_space and adapter.action_space == gym.spaces.Discrete(2)
    assert not adapter.is_recurrent() and adapter.get_initial_state() == []
    weights = adapter.get_weights()
    assert all(k.startswith("model.") for k in weights)
    other = RLModulePolicy(build("fcnet_discrete")[1])
    for v in other.module.parameters():
        torch.nn.init.zeros_(v)
    other.set_state(adapter.get_state())
    np.testing.assert_array_equal(other.compute_actions(obs, explore=False)[0], greedy)
    path = adapter.export_checkpoint(str(tmp_path / "export"))
    assert (tmp_path / "export" / "rl_module_metadata.json").is_file() and path.endswith("export")


def test_recurrent_legacy_model_multi_step_rollout_with_carried_state():
    obs_space, act_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32), gym.spaces.Discrete(2)
    policy = legacy_policy(obs_space, act_space, {"fcnet_hiddens": [16], "use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 5})
    module = ModelV2RLModule.wrap(policy.model, action_dist_class=policy.dist_class)
    adapter = RLModulePolicy(module)
    assert module.is_stateful() and adapter.is_recurrent()
    legacy_state = [np.stack([s, s]) for s in policy.get_initial_state()]
    our_state = [np.stack([s, s]) for s in adapter.get_initial_state()]
    for step in range(4):
        obs = np.stack(sample_obs(obs_space, 2, seed=10 + step))
        a_l, legacy_state, e_l = policy.compute_actions(obs, state_batches=legacy_state, explore=False)
        a_o, our_state, e_o = adapter.compute_actions(obs, state_batches=our_state, explore=False)
        np.testing.assert_array_equal(a_o, a_l)
        for key in ("action_dist_inputs", "vf_preds"):
            np.testing.assert_allclose(e_o[key], e_l[key], atol=1e-5, err_msg=f"step {step} {key}")
        for s_o, s_l in zip(our_state, legacy_state):
            np.testing.assert_allclose(s_o, s_l, atol=1e-5)


def test_wrap_rejects_objects_that_are_not_torch_modelv2():
    with pytest.raises(TypeError, match="is it a ModelV2"):
        ModelV2RLModule.wrap(object())


@pytest.mark.parametrize("case", ["fcnet_discrete", "fcnet_separate_vf", "diag_gaussian", "multi_discrete"])
def test_adapter_over_a_ported_ppo_module_agrees_with_the_legacy_policy(case):
    from compat.port_weights import LEGACY_FCNET_TO_PPO, port_weights
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.algorithms.ppo import PPOConfig

    obs_space, act_space, model = cases()[case]
    policy = legacy_policy(obs_space, act_space, model)
    spec = PPOConfig().framework("torch").get_default_rl_module_spec()
    # The legacy policy's own model config (legacy PPO defaults vf_share_layers=False).
    legacy_model_config = dict(policy.config["model"])
    spec.update(
        SingleAgentRLModuleSpec(observation_space=obs_space, action_space=act_space, model_config_dict=legacy_model_config),
        override=False,
    )
    ours = spec.build()
    port_weights(policy.model, ours, mapping=LEGACY_FCNET_TO_PPO)
    adapter = RLModulePolicy(ours)
    obs = np.stack(sample_obs(obs_space, 6, seed=5))
    a_l, _, e_l = policy.compute_actions(obs, explore=False)
    a_o, _, e_o = adapter.compute_actions(obs, explore=False)
    np.testing.assert_allclose(a_o, a_l, atol=1e-6)
    np.testing.assert_allclose(e_o["action_dist_inputs"], e_l["action_dist_inputs"], atol=1e-5)
    # legacy reports values in every mode; the module's compute_values() supplies them
    np.testing.assert_allclose(e_o["vf_preds"], e_l["vf_preds"], atol=1e-5)
    torch.manual_seed(7)
    a_l, _, e_l = policy.compute_actions(obs, explore=True)
    torch.manual_seed(7)
    a_o, _, e_o = adapter.compute_actions(obs, explore=True)
    np.testing.assert_allclose(a_o, a_l, atol=1e-6)
    for key in ("action_dist_inputs", "vf_preds", "action_logp", "action_prob"):
        np.testing.assert_allclose(e_o[key], e_l[key], atol=1e-5, err_msg=key)


def _custom_policies():
    """Legacy PPO policies whose behaviour lives in overrides (built lazily: needs ray)."""
    from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
    from ray.rllib.models.torch.torch_action_dist import TorchCategorical

    class TemperaturePolicy(PPOTorchPolicy):
        """action_distribution_fn: logits / 2 (a temperature)."""

        def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
            logits, state = model(obs_batch, state_batches, kwargs.get("seq_lens"))
            return logits / 2.0, TorchCategorical, state

    class GreedySamplerPolicy(PPOTorchPolicy):
        """action_sampler_fn: argmax actions with a made-up logp, plus an extra output."""

        def action_sampler_fn(self, model, *, obs_batch, state_batches, **kwargs):
            logits, state = model(obs_batch, state_batches, kwargs.get("seq_lens"))
            actions = logits.argmax(-1)
            return actions, torch.full(actions.shape, -0.5), logits, state

        def extra_action_out(self, input_dict, state_batches, model, action_dist):
            return {"vf_preds": model.value_function(), "custom": torch.ones(len(input_dict["obs"]))}

    return {"action_distribution_fn": TemperaturePolicy, "action_sampler_fn": GreedySamplerPolicy}


@pytest.mark.parametrize("override", ["action_distribution_fn", "action_sampler_fn"])
@pytest.mark.parametrize("explore", [False, True])
def test_wrapped_legacy_policy_with_overrides_agrees_with_itself(override, explore):
    from ray.rllib.algorithms.ppo import PPOConfig

    from compat import LegacyPolicyRLModule

    obs_space, act_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32), gym.spaces.Discrete(3)
    config = (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
        .framework("torch")
        .training(model={"fcnet_hiddens": [16]})
        .to_dict()
    )
    policy = _custom_policies()[override](obs_space, act_space, config)
    module = LegacyPolicyRLModule.wrap(policy)
    adapter = RLModulePolicy(module)
    obs = np.stack(sample_obs(obs_space, 5, seed=6))
    torch.manual_seed(3)
    a_l, _, e_l = policy.compute_actions(obs, explore=explore)
    torch.manual_seed(3)
    a_o, _, e_o = adapter.compute_actions(obs, explore=explore)
    np.testing.assert_array_equal(a_o, a_l)
    assert sorted(e_o) == sorted(e_l)
    for key in e_l:
        np.testing.assert_allclose(e_o[key], e_l[key], atol=1e-6, err_msg=key)
    if override == "action_sampler_fn":
        assert (e_o["action_logp"] == -0.5).all() and (e_o["custom"] == 1).all()
    else:  # forward_train reproduces action_distribution_fn with gradients
        out = module.forward_train({"obs": torch.as_tensor(obs)})
        assert out["action_dist_inputs"].requires_grad
        np.testing.assert_allclose(out["action_dist_inputs"].detach().numpy(), e_l["action_dist_inputs"], atol=1e-6)


@pytest.mark.tf
def test_wrapping_a_tf_legacy_model_says_tf_is_not_supported():
    from ray.rllib.models.catalog import MODEL_DEFAULTS, ModelCatalog

    tf_model = ModelCatalog.get_model_v2(
        gym.spaces.Box(-1.0, 1.0, (4,), np.float32), gym.spaces.Discrete(2), 2, {**MODEL_DEFAULTS, "fcnet_hiddens": [8]}, framework="tf2"
    )
    with pytest.raises(TypeError, match="TF ModelV2s are not supported"):
        ModelV2RLModule.wrap(tf_model)


def test_recurrent_network_subclass_rollout_agrees_with_the_legacy_policy():
    from ray.rllib.models import ModelCatalog
    from ray.rllib.models.torch.recurrent_net import RecurrentNetwork
    from torch import nn

    class MyGRU(RecurrentNetwork, nn.Module):
        """A user-style RecurrentNetwork: forward_rnn, list state, value caching."""

        def __init__(self, obs_space, action_space, num_outputs, model_config, name):
            nn.Module.__init__(self)
            super().__init__(obs_space, action_space, num_outputs, model_config, name)
            self.embed = nn.Linear(obs_space.shape[0], 8)
            self.gru = nn.GRU(8, 6, batch_first=True)
            self.logits = nn.Linear(6, num_outputs)
            self.value = nn.Linear(6, 1)
            self._features = None

        def get_initial_state(self):
            return [torch.zeros(6)]

        def forward_rnn(self, inputs, state, seq_lens):
            out, h = self.gru(torch.tanh(self.embed(inputs)), state[0].unsqueeze(0))
            self._features = out
            return self.logits(out), [h.squeeze(0)]

        def value_function(self):
            return self.value(self._features).reshape(-1)

    ModelCatalog.register_custom_model("compat_test_gru", MyGRU)
    obs_space, act_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32), gym.spaces.Discrete(3)
    policy = legacy_policy(obs_space, act_space, {"custom_model": "compat_test_gru", "max_seq_len": 4})
    adapter = RLModulePolicy(ModelV2RLModule.wrap(policy.model, action_dist_class=policy.dist_class))
    legacy_state = [np.stack([s] * 3) for s in policy.get_initial_state()]
    our_state = [np.stack([s] * 3) for s in adapter.get_initial_state()]
    for step in range(5):
        obs = np.stack(sample_obs(obs_space, 3, seed=20 + step))
        torch.manual_seed(step)
        a_l, legacy_state, e_l = policy.compute_actions(obs, state_batches=legacy_state, explore=True)
        torch.manual_seed(step)
        a_o, our_state, e_o = adapter.compute_actions(obs, state_batches=our_state, explore=True)
        np.testing.assert_array_equal(a_o, a_l)
        for key in ("action_dist_inputs", "vf_preds", "action_logp"):
            np.testing.assert_allclose(e_o[key], e_l[key], atol=1e-5, err_msg=f"step {step} {key}")
        np.testing.assert_allclose(our_state[0], legacy_state[0], atol=1e-5)


def test_rlmodule_tf_loads_after_ray_switched_tf2_off():
    """ray imported before tensorflow disables TF 2 behaviour; rlmodule.tf switches it
    back on (more in tests/test_tf_import_order.py)."""
    import subprocess
    import sys

    check = "import tensorflow as tf\nassert tf.executing_eagerly() and tf.__internal__.tf2.enabled()"
    code = "import ray.rllib.algorithms.ppo\nimport rlmodule.tf\n" + check
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    ok = subprocess.run([sys.executable, "-c", "import rlmodule.tf\nimport ray.rllib.algorithms.ppo\n" + check])
    assert ok.returncode == 0
