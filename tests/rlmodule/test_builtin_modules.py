"""The built-in PPO / IMPALA / APPO modules: every cell of the specification's table,
both frameworks; torch-tf parity; recurrent stepping; checkpoints; bad configs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlmodule import MultiAgentRLModuleSpec, SingleAgentRLModuleSpec
from rlmodule.algorithms.appo import OLD_ACTION_DIST_INPUTS, APPOConfig
from rlmodule.algorithms.impala import ImpalaConfig
from rlmodule.algorithms.ppo import PPOCatalog, PPOConfig

ALGOS = {"ppo": PPOConfig, "impala": ImpalaConfig, "appo": APPOConfig}
FRAMEWORKS = ["torch", "tf2"]
B, T = 3, 4

BOX = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
IMAGE = gym.spaces.Box(0, 255, (42, 42, 3), np.uint8)
COMPLEX = gym.spaces.Dict(
    {
        "camera": gym.spaces.Box(0, 255, (42, 42, 3), np.uint8),
        "position": gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
        "mode": gym.spaces.Discrete(4),
        "flags": gym.spaces.MultiDiscrete([2, 3]),
    }
)
SMALL = {"fcnet_hiddens": [16, 16], "lstm_cell_size": 8}

# (observation space, action space, model config) per column of the table
CASES = {
    "fully_connected": (BOX, gym.spaces.Discrete(3), SMALL),
    "cnn": (IMAGE, gym.spaces.Discrete(3), SMALL),
    "lstm": (BOX, gym.spaces.Box(-1.0, 1.0, (2,), np.float32), {**SMALL, "use_lstm": True, "max_seq_len": T}),
    "complex": (COMPLEX, gym.spaces.MultiDiscrete([3, 2]), SMALL),
}


def spec_for(algo: str, framework: str, obs_space, act_space, model) -> SingleAgentRLModuleSpec:
    """The algorithm's default spec, filled as an algorithm config fills it."""
    spec = ALGOS[algo]().framework(framework).get_default_rl_module_spec()
    spec.update(
        SingleAgentRLModuleSpec(observation_space=obs_space, action_space=act_space, model_config_dict=model),
        override=False,
    )
    return spec


def as_framework(x, framework):
    if isinstance(x, dict):
        return {k: as_framework(v, framework) for k, v in x.items()}
    if framework == "torch":
        import torch

        return torch.as_tensor(np.asarray(x))
    import tensorflow as tf

    return tf.convert_to_tensor(np.asarray(x))


def to_np(x):
    """numpy from a torch tensor (detached), a tf tensor or an array."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def shape(x):
    return tuple(to_np(x).shape)


def check_forwards(module, framework, stateful):
    """Run the three forwards on sampled observations; check keys and shapes."""
    batch = as_framework(module.sample_batch(B), framework)
    if stateful:  # sample_batch gives T=1; use T steps
        batch["obs"] = as_framework(np.repeat(to_np(batch["obs"]), T, axis=1), framework)
    lead = (B, T) if stateful else (B,)
    dist_dim = module.catalog.action_dist_input_dim(framework)
    for phase in ("inference", "exploration", "train"):
        out = getattr(module, f"forward_{phase}")(batch)
        assert shape(out["action_dist_inputs"]) == lead + (dist_dim,), phase
        if phase == "train" or (phase == "exploration" and stateful):
            assert shape(out["vf_preds"]) == lead, phase
        else:  # feed-forward acting runs the actor only
            assert "vf_preds" not in out, phase
        if stateful:
            state_in = batch["state_in"]
            assert {k: shape(v) for k, v in out["state_out"].items()} == {k: shape(v) for k, v in state_in.items()}
    assert shape(module.compute_values(batch)) == lead
    return out


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_cell_builds_and_runs_the_three_forwards(algo, case, framework):
    obs_space, act_space, model = CASES[case]
    module = spec_for(algo, framework, obs_space, act_space, model).build()
    assert module.is_stateful() == (case == "lstm")
    out = check_forwards(module, framework, stateful=case == "lstm")
    if algo == "appo":
        assert shape(out[OLD_ACTION_DIST_INPUTS]) == shape(out["action_dist_inputs"])
    # actions sampled from the outputs have the action space's shape
    dist = module.get_exploration_action_dist_cls().from_logits(out["action_dist_inputs"])
    actions = to_np(dist.sample())
    lead = (B, T) if case == "lstm" else (B,)
    assert actions.shape == lead + act_space.shape


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_independent_multi_agent_modules_with_different_spaces_and_configs(algo, framework):
    specs = {}
    for module_id, case in (("runner", "fully_connected"), ("watcher", "cnn"), ("planner", "complex")):
        obs_space, act_space, model = CASES[case]
        specs[module_id] = spec_for(algo, framework, obs_space, act_space, {**model, "fcnet_hiddens": [8 + len(module_id)]})
    marl = MultiAgentRLModuleSpec(module_specs=specs).build()
    batch = {mid: as_framework(marl[mid].sample_batch(2), framework) for mid in marl.keys()}
    out = marl.forward_exploration(batch)
    assert sorted(out) == ["planner", "runner", "watcher"]
    assert shape(out["runner"]["action_dist_inputs"]) == (2, 3)
    assert shape(out["planner"]["action_dist_inputs"]) == (2, 5)
    assert marl["runner"].catalog.model_config_dict["fcnet_hiddens"] == [14]


def _copy_weights(torch_module, tf_module):
    from rlmodule.models.weight_transfer import copy_torch_to_tf

    return copy_torch_to_tf(torch_module, tf_module)


@pytest.mark.tf
@pytest.mark.parametrize("case", sorted(CASES) + ["separate_vf", "free_log_std"])
@pytest.mark.parametrize("algo", ["ppo", "appo"])
def test_torch_and_tf_agree_after_copying_weights(algo, case):
    if case == "separate_vf":
        obs_space, act_space, model = BOX, gym.spaces.Discrete(3), {**SMALL, "vf_share_layers": False}
    elif case == "free_log_std":
        obs_space, act_space, model = BOX, gym.spaces.Box(-1, 1, (2,), np.float32), {**SMALL, "free_log_std": True}
    else:
        obs_space, act_space, model = CASES[case]
    torch_module = spec_for(algo, "torch", obs_space, act_space, model).build()
    tf_module = spec_for(algo, "tf2", obs_space, act_space, model).build()
    assert _copy_weights(torch_module, tf_module) > 0
    batch = torch_module.sample_batch(B)
    if case == "lstm":
        batch["obs"] = np.repeat(batch["obs"], T, axis=1)
    out_torch = torch_module.forward_train(as_framework(batch, "torch"))
    out_tf = tf_module.forward_train(as_framework(batch, "tf2"))
    keys = ["action_dist_inputs", "vf_preds"] + ([OLD_ACTION_DIST_INPUTS] if algo == "appo" else [])
    for key in keys:
        np.testing.assert_allclose(
            to_np(out_torch[key]), to_np(out_tf[key]), atol=1e-5, err_msg=key
        )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_recurrent_module_stepping_equals_one_sequence_pass(framework):
    obs_space, act_space, model = CASES["lstm"]
    module = spec_for("ppo", framework, obs_space, act_space, model).build()
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (B, T) + obs_space.shape).astype(np.float32)
    state0 = module.sample_batch(B)["state_in"]
    full = module.forward_train(as_framework({"obs": obs, "state_in": state0}, framework))
    state, logits, values = state0, [], []
    for t in range(T):
        step = module.forward_train(as_framework({"obs": obs[:, t : t + 1], "state_in": state}, framework))
        logits.append(to_np(step["action_dist_inputs"])[:, 0])
        values.append(to_np(step["vf_preds"])[:, 0])
        state = {k: to_np(v) for k, v in step["state_out"].items()}
    np.testing.assert_allclose(np.stack(logits, 1), to_np(full["action_dist_inputs"]), atol=1e-5)
    np.testing.assert_allclose(np.stack(values, 1), to_np(full["vf_preds"]), atol=1e-5)
    for k in state:
        np.testing.assert_allclose(state[k], to_np(full["state_out"][k]), atol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_recurrent_module_respects_seq_lens(framework):
    obs_space, act_space, model = CASES["lstm"]
    module = spec_for("ppo", framework, obs_space, act_space, model).build()
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, (B, T) + obs_space.shape).astype(np.float32)
    state0 = module.sample_batch(B)["state_in"]
    seq_lens = np.array([T, 2, 1], np.int64)
    masked = module.forward_train(as_framework({"obs": obs, "state_in": state0, "seq_lens": seq_lens}, framework))
    noisy = obs.copy()
    for b, n in enumerate(seq_lens):
        noisy[b, n:] = 99.0  # padding must not matter
    again = module.forward_train(as_framework({"obs": noisy, "state_in": state0, "seq_lens": seq_lens}, framework))
    for k in masked["state_out"]:
        np.testing.assert_allclose(to_np(masked["state_out"][k]), to_np(again["state_out"][k]), atol=1e-6)
    # the state after sequence b equals stepping exactly seq_lens[b] steps
    for b, n in enumerate(seq_lens):
        single = {k: v[b : b + 1] for k, v in state0.items()}
        step = module.forward_train(as_framework({"obs": obs[b : b + 1, :n], "state_in": single}, framework))
        for k in step["state_out"]:
            np.testing.assert_allclose(
                to_np(step["state_out"][k])[0], to_np(masked["state_out"][k])[b], atol=1e-5
            )


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("algo,case", [("ppo", c) for c in sorted(CASES)] + [("appo", "fully_connected"), ("appo", "lstm")])
def test_checkpoint_round_trip_for_each_module_kind(tmp_path, algo, case, framework):
    obs_space, act_space, model = CASES[case]
    module = spec_for(algo, framework, obs_space, act_space, model).build()
    batch = module.sample_batch(B)
    path = module.save_to_checkpoint(tmp_path / "ckpt")
    restored = type(module).from_checkpoint(path)
    before = module.forward_train(as_framework(batch, framework))
    after = restored.forward_train(as_framework(batch, framework))
    for key in ("action_dist_inputs", "vf_preds"):
        np.testing.assert_array_equal(to_np(before[key]), to_np(after[key]))


@pytest.mark.parametrize(
    "obs_space,act_space,model,match",
    [
        (IMAGE, gym.spaces.Discrete(2), {"conv_filters": [[16, [4, 4], 2]]}, r"conv_filters"),
        (BOX, gym.spaces.Discrete(2), {"use_lstm": True, "use_attention": True}, r"use_lstm.*use_attention"),
        (BOX, gym.spaces.Discrete(2), {"use_attention": True}, r"use_attention"),
        (gym.spaces.Text(5), gym.spaces.Discrete(2), {}, r"observation space Text"),
        (BOX, gym.spaces.Box(-1, 1, (2, 2)), {}, r"Box\(-1\.0, 1\.0, \(2, 2\)"),
        (BOX, gym.spaces.Discrete(2), {"free_log_std": True}, r"free_log_std.*Box action space"),
        (gym.spaces.Box(0, 1, (7, 7, 3)), gym.spaces.Discrete(2), {}, r"conv_filters"),
    ],
)
def test_bad_configs_raise_clear_errors(obs_space, act_space, model, match):
    with pytest.raises(ValueError, match=match):
        PPOCatalog(obs_space, act_space, model)


def test_model_config_of_wrong_type_names_the_key():
    with pytest.raises(TypeError, match=r"fcnet_hiddens"):
        PPOCatalog(BOX, gym.spaces.Discrete(2), {"fcnet_hiddens": 64})


def test_catalog_defaults_are_the_legacy_model_defaults():
    catalog = PPOCatalog(BOX, gym.spaces.Discrete(2), {})
    from ray.rllib.models.catalog import MODEL_DEFAULTS as LEGACY

    for key, value in catalog.model_config_dict.items():
        assert LEGACY.get(key, value) == value, key
    assert catalog.latent_dims == (256,)  # fcnet_hiddens [256, 256]


@pytest.mark.legacy
@pytest.mark.parametrize("vf_share_layers", [True, False])
def test_a_legacy_model_dict_means_the_same_network(vf_share_layers):
    """Parameter shapes of our PPO module equal the legacy FullyConnectedNetwork's."""
    from ray.rllib.models.catalog import ModelCatalog

    model_config = {"fcnet_hiddens": [32, 16], "vf_share_layers": vf_share_layers}
    legacy = ModelCatalog.get_model_v2(BOX, gym.spaces.Discrete(3), 3, model_config, framework="torch")
    ours = spec_for("ppo", "torch", BOX, gym.spaces.Discrete(3), model_config).build()
    legacy_shapes = sorted(tuple(p.shape) for p in legacy.parameters())
    our_shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert our_shapes == legacy_shapes


class MyAwesomeCatalog(PPOCatalog):
    """The specification's custom-catalog example, with a real encoder config."""

    def get_actor_critic_encoder_config(self):
        from rlmodule.models.actor_critic import ActorCriticEncoderConfig
        from rlmodule.models.mlp import MLPEncoderConfig

        return ActorCriticEncoderConfig(
            base_encoder_config=MLPEncoderConfig(
                input_dims=self.observation_space.shape, hidden_layer_dims=[7], hidden_layer_activation="relu"
            ),
            shared=False,
        )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_custom_catalog_is_picked_up_through_the_spec(framework):
    spec = PPOConfig().framework(framework).get_default_rl_module_spec()
    spec.update(SingleAgentRLModuleSpec(catalog_class=MyAwesomeCatalog))
    spec.update(SingleAgentRLModuleSpec(observation_space=BOX, action_space=gym.spaces.Discrete(2)), override=False)
    module = spec.build()
    assert isinstance(module.catalog, MyAwesomeCatalog)
    out = module.forward_train(as_framework(module.sample_batch(2), framework))
    assert shape(out["vf_preds"]) == (2,)
    assert module.catalog.latent_dims == (256,) and module.catalog.actor_critic_encoder_config.output_dims == (7,)


def test_subclassing_the_torch_module_overrides_a_method():
    import torch

    from rlmodule.algorithms.ppo import PPOTorchRLModule

    class GreedyPPO(PPOTorchRLModule):
        def _forward_inference(self, batch):
            out = super()._forward_inference(batch)
            out["actions"] = torch.argmax(out["action_dist_inputs"], dim=-1)
            return out

    spec = spec_for("ppo", "torch", BOX, gym.spaces.Discrete(3), SMALL)
    spec.module_class = GreedyPPO
    module = spec.build()
    out = module.forward_inference({"obs": torch.zeros(2, 5)})
    assert torch.equal(out["actions"], out["action_dist_inputs"].argmax(-1))


def test_configs_return_framework_specific_default_specs():
    from rlmodule.algorithms.appo import APPOTfRLModule, APPOTorchRLModule
    from rlmodule.algorithms.ppo import PPOTfRLModule, PPOTorchRLModule

    assert PPOConfig().framework("torch").get_default_rl_module_spec().module_class is PPOTorchRLModule
    assert PPOConfig().framework("tf2").get_default_rl_module_spec().module_class is PPOTfRLModule
    assert ImpalaConfig().framework("tf").get_default_rl_module_spec().module_class is PPOTfRLModule
    assert APPOConfig().framework("torch").get_default_rl_module_spec().module_class is APPOTorchRLModule
    assert APPOConfig().get_default_rl_module_spec().catalog_class is PPOCatalog
    assert APPOConfig().framework("tf2").get_default_rl_module_spec().module_class is APPOTfRLModule
    config = PPOConfig().training(model={"fcnet_hiddens": [8]}, lr=1e-3).rl_module(
        rl_module_spec=SingleAgentRLModuleSpec(catalog_class=MyAwesomeCatalog)
    )
    assert config.lr == 1e-3 and config.model["fcnet_hiddens"] == [8]
    with pytest.raises(TypeError, match="unknown setting 'lrr'"):
        PPOConfig().training(lrr=1.0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_appo_targets_are_frozen_copies_that_sync(framework):
    module = spec_for("appo", framework, BOX, gym.spaces.Discrete(3), SMALL).build()
    batch = as_framework(module.sample_batch(B), framework)
    out = module.forward_train(batch)
    np.testing.assert_allclose(to_np(out["action_dist_inputs"]), to_np(out[OLD_ACTION_DIST_INPUTS]), atol=1e-6)
    pairs = module.get_target_network_pairs()
    assert len(pairs) == 2
    # move the online pi head; targets stay until synced
    if framework == "torch":
        import torch

        with torch.no_grad():
            for p in module.pi.parameters():
                p.add_(0.5)
        assert all(not p.requires_grad for target, _ in pairs for p in target.parameters())
    else:
        for v in module.pi.weights:
            v.assign(v + 0.5)
        assert all(not target.trainable for target, _ in pairs)
    moved = module.forward_train(batch)
    assert not np.allclose(to_np(moved["action_dist_inputs"]), to_np(moved[OLD_ACTION_DIST_INPUTS]))
    module.sync_target_networks(tau=1.0)
    synced = module.forward_train(batch)
    np.testing.assert_allclose(
        to_np(synced["action_dist_inputs"]), to_np(synced[OLD_ACTION_DIST_INPUTS]), atol=1e-6
    )
