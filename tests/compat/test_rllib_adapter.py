"""compat.rllib without a Ray cluster: the adapter is an RLlib 2.60 TorchRLModule whose
outputs equal those of an independently built module of ours holding the same weights;
specs, pickling, the TF refusal, and the weights both ways (RLlib checkpoint format)."""

from __future__ import annotations

import pickle

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
import torch

from rlmodule import MultiAgentRLModule, MultiAgentRLModuleSpec, RLModule, SingleAgentRLModuleSpec
from rlmodule.algorithms.appo import APPOConfig
from rlmodule.algorithms.ppo import PPOConfig
from tests.compat.test_runtime_imports import loaded_after, within

legacy = pytest.mark.legacy
pytest.importorskip("ray.rllib")

from ray.rllib.core.rl_module.apis import TargetNetworkAPI, ValueFunctionAPI  # noqa: E402
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule, MultiRLModuleSpec  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModule as RLlibModule, RLModuleSpec  # noqa: E402
from ray.rllib.core.rl_module.torch import TorchRLModule as RLlibTorchRLModule  # noqa: E402

from compat.rllib import (  # noqa: E402
    RLlibAdapter,
    RLlibTargetAdapter,
    adapter_model_config,
    export_rllib_checkpoint,
    import_rllib_module,
    to_rllib_spec,
)
from compat.rllib.checkpoints import PREFIX  # noqa: E402

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
IMAGE = gym.spaces.Box(0.0, 1.0, (10, 10, 3), np.float32)
TWO = gym.spaces.Discrete(2)
CNN_CONFIG = {"conv_filters": [[4, [3, 3], 2], [8, [5, 5], 1]], "fcnet_hiddens": [8]}
LSTM_CONFIG = {"fcnet_hiddens": [8], "use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 4}


def ppo_spec(obs_space=BOX4, model_config_dict=None, config=PPOConfig) -> SingleAgentRLModuleSpec:
    """The catalog's default PPO (or APPO) torch module spec, small."""
    spec = config().framework("torch").get_default_rl_module_spec()
    spec.observation_space, spec.action_space = obs_space, TWO
    spec.model_config_dict = dict(model_config_dict or {"fcnet_hiddens": [8]})
    return spec


def migrated_spec() -> SingleAgentRLModuleSpec:
    from fixtures.migrated.models.value_caching import ValueCachingModel

    return SingleAgentRLModuleSpec(
        module_class=ValueCachingModel, observation_space=BOX4, action_space=TWO,
        model_config_dict={"custom_model_config": {"hiddens": [8]}},
    )


CASES = {
    "fc": lambda: ppo_spec(),
    "lstm": lambda: ppo_spec(model_config_dict=LSTM_CONFIG),
    "cnn": lambda: ppo_spec(IMAGE, CNN_CONFIG),
    "migrated_value_caching": migrated_spec,
    "appo": lambda: ppo_spec(config=APPOConfig),
}


def batch_for(module: RLModule, size: int = 5, seed: int = 0):
    """Sampled observations (time axis of 3 and ``state_in`` for recurrent modules) as torch."""
    rng = np.random.default_rng(seed)
    space = module.config.observation_space
    shape = (size, 3) if module.is_stateful() else (size,)
    low, high = max(float(space.low.min()), -1.0), min(float(space.high.max()), 1.0)
    obs = rng.uniform(low, high, shape + space.shape).astype(np.float32)
    batch = {"obs": torch.as_tensor(obs)}
    if module.is_stateful():
        batch["state_in"] = {
            k: torch.as_tensor(rng.normal(size=(size, *v.shape)).astype(np.float32))
            for k, v in module.get_initial_state().items()
        }
    return batch


def assert_same(a, b):
    """Equal nested dicts / tensors, exactly."""
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for k in a:
            assert_same(a[k], b[k])
    else:
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- layering and specs --------------------------------------------------------------------
def test_importing_compat_rllib_loads_no_ray():
    loaded = loaded_after("import compat, compat.rllib\nfrom compat.rllib import adapter_model_config")
    assert not within(loaded, ("ray",))
    assert "compat.rllib.adapter" not in loaded


def test_adapter_model_config_records_our_class_by_path_and_our_config_verbatim():
    default = PPOConfig().get_default_rl_module_spec()
    config = adapter_model_config(default.module_class, {"fcnet_hiddens": [64]}, catalog_class=default.catalog_class)
    assert config == {
        "rlmodule_class": "rlmodule.torch.ppo_rl_module:PPOTorchRLModule",
        "rlmodule_catalog_class": "rlmodule.algorithms.ppo.ppo_catalog:PPOCatalog",
        "rlmodule_model_config_dict": {"fcnet_hiddens": [64]},
        "rlmodule_load_state_path": None,
        "max_seq_len": 20,
    }
    assert adapter_model_config(migrated_spec().module_class, {"max_seq_len": 7})["max_seq_len"] == 7
    assert adapter_model_config(migrated_spec().module_class, None, max_seq_len=3, vf_share_layers=False)[
        "max_seq_len"] == 3


def test_the_ppo_modules_need_their_catalog():
    with pytest.raises(ValueError, match=r"adapter_model_config\(APPOTorchRLModule\): catalog_class is None"):
        adapter_model_config(APPOConfig().get_default_rl_module_spec().module_class)


def test_a_tf_module_gets_an_error_naming_the_framework():
    tf_class = PPOConfig().framework("tf2").get_default_rl_module_spec().module_class
    with pytest.raises(TypeError, match=r"PPOTfRLModule is a 'tf2' module; RLlib 2.60's new API stack trains torch"):
        adapter_model_config(tf_class)
    with pytest.raises(TypeError, match="torch modules only"):
        to_rllib_spec(SingleAgentRLModuleSpec(module_class=tf_class, observation_space=BOX4, action_space=TWO))


def test_adapter_model_config_without_our_class_is_refused_by_the_adapter():
    with pytest.raises(ValueError, match="model_config has no 'rlmodule_class' key"):
        RLModuleSpec(module_class=RLlibAdapter, observation_space=BOX4, action_space=TWO,
                     model_config={"fcnet_hiddens": [8]}).build()


@legacy
def test_to_rllib_spec_single_multi_and_class_forms():
    spec = to_rllib_spec(ppo_spec())
    assert isinstance(spec, RLModuleSpec) and spec.module_class is RLlibAdapter
    assert spec.model_config["rlmodule_catalog_class"] == "rlmodule.algorithms.ppo.ppo_catalog:PPOCatalog"
    assert to_rllib_spec(ppo_spec(config=APPOConfig)).module_class is RLlibTargetAdapter
    from_class = to_rllib_spec(migrated_spec().module_class, observation_space=BOX4, action_space=TWO,
                               model_config_dict={"custom_model_config": {"hiddens": [8]}}, inference_only=True)
    assert from_class.inference_only and from_class.model_config["rlmodule_class"] == (
        "fixtures.migrated.models.value_caching:ValueCachingModel")
    multi = to_rllib_spec(MultiAgentRLModuleSpec(module_specs={"p0": ppo_spec(), "p1": migrated_spec()}))
    assert isinstance(multi, MultiRLModuleSpec) and sorted(multi.rl_module_specs) == ["p0", "p1"]
    built = multi.build()
    assert isinstance(built, MultiRLModule) and isinstance(built["p1"].inner, migrated_spec().module_class)
    with pytest.raises(ValueError, match="for_module_ids"):
        to_rllib_spec(MultiAgentRLModuleSpec(module_specs=ppo_spec()))


def test_the_adapter_class_and_spec_pickle_by_reference():
    assert b"compat.rllib.adapter" in pickle.dumps(RLlibAdapter)
    spec = to_rllib_spec(ppo_spec())
    restored = cloudpickle.loads(cloudpickle.dumps(spec))
    assert restored.module_class is RLlibAdapter
    assert isinstance(restored.build().inner, ppo_spec().module_class)


# --- outputs: the adapter vs an independently built module of ours with its weights ---------
@legacy
@pytest.mark.parametrize("case", sorted(CASES))
def test_adapter_outputs_equal_ours_for_the_same_weights(case):
    torch.manual_seed(0)
    adapter = to_rllib_spec(CASES[case]()).build()
    assert isinstance(adapter, RLlibTorchRLModule) and isinstance(adapter, ValueFunctionAPI)
    torch.manual_seed(1)
    ours = CASES[case]().build()
    name, tensor = next(iter(ours.state_dict().items()))
    assert not torch.equal(tensor, adapter.state_dict()[PREFIX + name])  # independent before loading
    import_rllib_module(adapter.get_state(), ours)
    batch = batch_for(ours)
    for phase in ("inference", "exploration", "train"):
        assert_same(getattr(adapter, f"forward_{phase}")(dict(batch)), getattr(ours, f"forward_{phase}")(dict(batch)))
    theirs_values = adapter.compute_values(dict(batch))
    mine = ours.compute_values(dict(batch)) if hasattr(ours, "compute_values") else ours.forward_train(dict(batch))["vf_preds"]
    assert theirs_values.shape == batch["obs"].shape[: 2 if ours.is_stateful() else 1]
    assert_same(theirs_values, mine)
    for phase in ("train", "exploration", "inference"):
        method = f"get_{phase}_action_dist_cls"
        assert getattr(adapter, method)() is getattr(ours, method)()
    assert_same(adapter.get_initial_state(), ours.get_initial_state())
    assert adapter.is_stateful() == ours.is_stateful()


@legacy
def test_the_target_adapter_reverses_our_pair_order_and_runs_the_target_policy():
    adapter = to_rllib_spec(ppo_spec(config=APPOConfig)).build()
    assert isinstance(adapter, TargetNetworkAPI)
    inner = adapter.inner
    assert adapter.get_target_network_pairs() == [(inner.encoder, inner.old_encoder), (inner.pi, inner.old_pi)]
    with torch.no_grad():
        for p in inner.pi.parameters():
            p.add_(1.0)
    batch = batch_for(inner)
    target = adapter.forward_target(dict(batch))["target_network_action_dist_inputs"]
    assert_same(target, inner.forward_train(dict(batch))["old_action_dist_inputs"])
    assert not torch.equal(target, inner.forward_inference(dict(batch))["action_dist_inputs"])
    adapter.make_target_networks()  # RLlib's learner: targets start as the main nets
    for main, tgt in adapter.get_target_network_pairs():
        assert_same(dict(main.state_dict()), dict(tgt.state_dict()))


@legacy
def test_inference_only_adapters_act_but_do_not_train():
    spec = to_rllib_spec(ppo_spec(), inference_only=True)
    adapter = spec.build()
    batch = batch_for(adapter.inner)
    assert "action_dist_inputs" in adapter.forward_exploration(dict(batch))
    with pytest.raises(RuntimeError, match="inference_only"):
        adapter.forward_train(dict(batch))


# --- weights both ways ----------------------------------------------------------------------
@legacy
@pytest.mark.parametrize("case", ["fc", "lstm"])
def test_our_module_exports_to_an_rllib_checkpoint_and_comes_back_exactly(case, tmp_path):
    torch.manual_seed(2)
    ours = CASES[case]().build()
    export_rllib_checkpoint(ours, tmp_path / "rllib")
    rllib_module = RLlibModule.from_checkpoint((tmp_path / "rllib").as_posix())
    assert isinstance(rllib_module, RLlibAdapter)
    back = import_rllib_module(rllib_module)
    assert type(back) is type(ours) and back is not ours
    assert_same(dict(back.state_dict()), dict(ours.state_dict()))
    batch = batch_for(ours)
    assert_same(rllib_module.forward_inference(dict(batch)), ours.forward_inference(dict(batch)))
    back.save_to_checkpoint(str(tmp_path / "ours"))  # our format: JSON + safetensors
    assert_same(dict(RLModule.from_checkpoint(str(tmp_path / "ours")).state_dict()), dict(ours.state_dict()))


@legacy
def test_a_multi_agent_module_round_trips_through_rllib_checkpoints(tmp_path):
    torch.manual_seed(3)
    ours = MultiAgentRLModuleSpec(module_specs={"p0": ppo_spec(), "p1": migrated_spec()}).build()
    export_rllib_checkpoint(ours, tmp_path)
    rllib_module = RLlibModule.from_checkpoint(tmp_path.as_posix())
    assert isinstance(rllib_module, MultiRLModule)
    back = import_rllib_module(rllib_module)
    assert isinstance(back, MultiAgentRLModule) and sorted(back.keys()) == ["p0", "p1"]
    for mid in ("p0", "p1"):
        assert_same(dict(back[mid].state_dict()), dict(ours[mid].state_dict()))


@legacy
def test_an_export_replaces_only_an_rllib_checkpoint_and_never_a_users_files(tmp_path):
    """The export saves through our staging swap: over its own previous export it
    replaces it; into a directory holding other files it refuses and changes nothing."""
    first, second = CASES["fc"]().build(), CASES["fc"]().build()
    export_rllib_checkpoint(first, tmp_path / "ckpt")
    export_rllib_checkpoint(second, tmp_path / "ckpt")
    back = import_rllib_module(tmp_path / "ckpt", trust_pickle=True)
    assert_same(dict(back.state_dict()), dict(second.state_dict()))
    project = tmp_path / "project"
    project.mkdir()
    (project / "metadata.json").write_text("users' own")
    with pytest.raises(FileExistsError, match="is not an RLlib module checkpoint"):
        export_rllib_checkpoint(first, project)
    assert sorted(p.name for p in project.iterdir()) == ["metadata.json"]
    assert (project / "metadata.json").read_text() == "users' own"
    (tmp_path / "ckpt" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"also holds \['notes.txt'\]"):
        export_rllib_checkpoint(first, tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "notes.txt").read_text() == "mine"


@legacy
def test_reading_an_rllib_checkpoint_directory_needs_trust_because_it_pickles(tmp_path):
    ours = CASES["fc"]().build()
    export_rllib_checkpoint(ours, tmp_path)
    assert (tmp_path / "module_state.pkl").is_file() and (tmp_path / "class_and_ctor_args.pkl").is_file()
    with pytest.raises(ValueError, match=r"this loader does not unpickle.*trust_pickle=True"):
        import_rllib_module(tmp_path)
    assert_same(dict(import_rllib_module(tmp_path, trust_pickle=True).state_dict()), dict(ours.state_dict()))


def test_a_state_dict_needs_our_module_and_the_adapter_prefix():
    ours = CASES["fc"]().build()
    with pytest.raises(ValueError, match="pass module="):
        import_rllib_module({"inner.x": np.zeros(1)})
    with pytest.raises(KeyError, match=r"\['encoder.x'\] are not under the adapter's 'inner.' prefix"):
        import_rllib_module({"encoder.x": np.zeros(1)}, ours)
