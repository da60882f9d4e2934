"""Module checkpoints: round trips give identical outputs; metadata is JSON, weights are
safetensors / Keras .weights.h5 (never pickle); every broken checkpoint raises
CheckpointError naming the file or entry; saving over a checkpoint is atomic."""

from __future__ import annotations

import datetime
import json
import os
import pickle
import struct
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import rlmodule
from rlmodule import (
    MultiAgentRLModule,
    MultiAgentRLModuleSpec,
    RLModule,
    SingleAgentRLModuleSpec,
)
from rlmodule.checkpoint import METADATA_FILE, CheckpointError
from rlmodule.class_path import current_path
from rlmodule.marl_module import MultiAgentRLModuleConfig
from rlmodule.rl_module import load_module
from rlmodule.testing import DiscreteBCTorchModule
from rlmodule.torch import TorchRLModule

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(3)
SAFETENSORS = "module_state.safetensors"
H5 = "module_state.weights.h5"


# --- module-level classes (classes defined in functions cannot be checkpointed) --------------
class BCTorchRLModuleWithSharedGlobalEncoder(TorchRLModule):
    """The specification's sub-module: built from explicit arguments, no config."""

    def __init__(self, encoder: nn.Module, local_dim: int, hidden_dim: int, action_dim: int) -> None:
        super().__init__(config=None)
        self.encoder = encoder
        self.policy_head = nn.Sequential(
            nn.Linear(hidden_dim + local_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, action_dim)
        )

    def _forward_inference(self, batch):
        return self._common_forward(batch)

    def _forward_exploration(self, batch):
        return self._common_forward(batch)

    def _forward_train(self, batch):
        return self._common_forward(batch)

    def _common_forward(self, batch):
        obs = batch["obs"]
        enc = self.encoder(obs["global"])
        return {"action_dist_inputs": self.policy_head(torch.cat([enc, obs["local"]], dim=-1))}


class BCTorchMultiAgentModuleWithSharedEncoder(MultiAgentRLModule):
    """The specification's multi-agent module: setup() shares one encoder."""

    def __init__(self, config: MultiAgentRLModuleConfig) -> None:
        super().__init__(config)

    def setup(self):
        module_specs = self.config.modules
        module_spec = next(iter(module_specs.values()))
        global_dim = module_spec.observation_space["global"].shape[0]
        hidden_dim = module_spec.model_config_dict["fcnet_hiddens"][0]
        shared_encoder = nn.Sequential(
            nn.Linear(global_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self._rl_modules = {
            module_id: BCTorchRLModuleWithSharedGlobalEncoder(
                encoder=shared_encoder,
                local_dim=spec.observation_space["local"].shape[0],
                hidden_dim=hidden_dim,
                action_dim=spec.action_space.n,
            )
            for module_id, spec in module_specs.items()
        }


class TiedWeightsModule(TorchRLModule):
    """Two attributes point at one nn.Linear, and a parameter is shared between layers."""

    def setup(self) -> None:
        n = int(self.config.observation_space.shape[0])
        self.body = nn.Linear(n, n)
        self.body_alias = self.body  # the same nn.Linear under two names
        self.second = nn.Linear(n, n)
        self.second.weight = self.body.weight  # one Parameter in two layers
        self.head = nn.Linear(n, int(self.config.action_space.n))

    def _forward_train(self, batch):
        x = torch.relu(self.body_alias(batch["obs"]))
        return {"action_dist_inputs": self.head(self.second(x))}

    _forward_exploration = _forward_inference = _forward_train


class OtherTorchModule(TorchRLModule):
    def setup(self) -> None:
        self.lin = nn.Linear(4, 3)

    def _forward_train(self, batch):
        return {"action_dist_inputs": self.lin(batch["obs"])}

    _forward_exploration = _forward_inference = _forward_train


# --- helpers ----------------------------------------------------------------------------------
def _spec(module_class=DiscreteBCTorchModule, obs=OBS, act=ACT, hidden=8) -> SingleAgentRLModuleSpec:
    return SingleAgentRLModuleSpec(
        module_class=module_class,
        observation_space=obs,
        action_space=act,
        model_config_dict={"fcnet_hiddens": [hidden]},
    )


def _torch_obs(n=5, dim=4, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).uniform(-1, 1, (n, dim)).astype(np.float32))


def _logits(module, obs):
    return np.asarray(module.forward_inference({"obs": obs})["action_dist_inputs"])


def _read_meta(ckpt: Path) -> dict:
    return json.loads((Path(ckpt) / METADATA_FILE).read_text())


def _write_meta(ckpt: Path, meta: dict) -> None:
    (Path(ckpt) / METADATA_FILE).write_text(json.dumps(meta))


@pytest.fixture
def torch_ckpt(tmp_path):
    module = _spec().build()
    path = tmp_path / "ckpt"
    module.save_to_checkpoint(str(path))
    return module, path


def _assert_not_pickle(data: bytes) -> None:
    assert not data.startswith(b"PK")  # torch.save's zip container
    assert not (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def _assert_safetensors(file: Path, names) -> dict:
    data = file.read_bytes()
    _assert_not_pickle(data)
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    assert set(header) - {"__metadata__"} == set(names)
    return header


# --- round trips --------------------------------------------------------------------------------
def test_torch_single_agent_round_trip(torch_ckpt):
    module, path = torch_ckpt
    loaded = DiscreteBCTorchModule.from_checkpoint(str(path))
    assert type(loaded) is DiscreteBCTorchModule and loaded is not module
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(loaded, obs), _logits(module, obs))
    for k, v in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert loaded.config.observation_space == OBS
    assert loaded.config.action_space == ACT
    assert loaded.config.model_config_dict == {"fcnet_hiddens": [8]}
    # the generic loader and the base-class classmethod give the same module
    assert isinstance(RLModule.from_checkpoint(str(path)), DiscreteBCTorchModule)
    np.testing.assert_array_equal(_logits(load_module(path), obs), _logits(module, obs))


def test_round_trip_differs_from_a_fresh_module(torch_ckpt):
    module, path = torch_ckpt
    fresh = _spec().build()  # new random init
    obs = _torch_obs()
    assert not np.array_equal(_logits(fresh, obs), _logits(module, obs))
    loaded = DiscreteBCTorchModule.from_checkpoint(path)  # a Path works too
    np.testing.assert_array_equal(_logits(loaded, obs), _logits(module, obs))


def test_metadata_contents(torch_ckpt):
    module, path = torch_ckpt
    assert sorted(os.listdir(path)) == sorted([METADATA_FILE, SAFETENSORS])
    meta = _read_meta(path)
    assert meta["format_version"] == 1
    assert meta["module_class"] == "rlmodule.torch.bc_module:DiscreteBCTorchModule"
    assert meta["framework"] == "torch"
    assert meta["package_version"] == rlmodule.__version__
    created = datetime.datetime.fromisoformat(meta["created_utc"])
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 120
    spec = meta["spec"]
    assert spec["observation_space"] == {"type": "Box", "shape": [4], "dtype": "float32", "low": -1.0, "high": 1.0}
    assert spec["action_space"] == {"type": "Discrete", "n": 3, "start": 0}
    assert spec["model_config_dict"] == {"fcnet_hiddens": [8]}
    assert SingleAgentRLModuleSpec.from_dict(spec) == _spec()
    # strict JSON throughout
    json.dumps(meta, allow_nan=False)


def test_torch_weights_are_safetensors_not_pickle(torch_ckpt, monkeypatch):
    module, path = torch_ckpt
    header = _assert_safetensors(path / SAFETENSORS, module.state_dict().keys())
    assert header["policy.0.weight"]["shape"] == [8, 4]

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle used while loading a checkpoint")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    loaded = DiscreteBCTorchModule.from_checkpoint(str(path))
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(loaded, obs), _logits(module, obs))


def test_multi_agent_torch_round_trip(tmp_path):
    marl = MultiAgentRLModuleSpec(
        module_specs={"m1": _spec(hidden=8), "m2": _spec(obs=gym.spaces.Box(-1, 1, (6,)), act=gym.spaces.Discrete(2), hidden=5)}
    ).build()
    path = tmp_path / "marl"
    marl.save_to_checkpoint(str(path))
    assert sorted(os.listdir(path / "modules")) == ["m1", "m2"]
    meta = _read_meta(path)
    assert meta["module_class"] == "rlmodule.rl_module:MultiAgentRLModule"
    assert meta["format_version"] == 1 and "created_utc" in meta and "package_version" in meta

    loaded = MultiAgentRLModule.from_checkpoint(str(path))
    assert type(loaded) is MultiAgentRLModule
    assert sorted(loaded.keys()) == ["m1", "m2"]
    batch = {"m1": {"obs": _torch_obs(3, 4)}, "m2": {"obs": _torch_obs(2, 6)}}
    want, got = marl.forward_inference(batch), loaded.forward_inference(batch)
    for mid in ("m1", "m2"):
        assert torch.equal(got[mid]["action_dist_inputs"], want[mid]["action_dist_inputs"])
    # each sub-module checkpoint is itself loadable
    m2 = DiscreteBCTorchModule.from_checkpoint(str(path / "modules" / "m2"))
    assert torch.equal(m2.forward_inference(batch["m2"])["action_dist_inputs"], want["m2"]["action_dist_inputs"])


def test_multi_agent_spec_load_state_path(tmp_path):
    specs = {"a": _spec(), "b": _spec(hidden=6)}
    marl = MultiAgentRLModuleSpec(module_specs=specs).build()
    marl.save_to_checkpoint(str(tmp_path / "c"))
    rebuilt = MultiAgentRLModuleSpec(module_specs=specs, load_state_path=str(tmp_path / "c")).build()
    obs = _torch_obs()
    for mid in ("a", "b"):
        np.testing.assert_array_equal(_logits(rebuilt[mid], obs), _logits(marl[mid], obs))


def test_as_multi_agent_round_trip(tmp_path):
    module = _spec().build()
    marl = module.as_multi_agent()
    marl.save_to_checkpoint(str(tmp_path / "c"))
    loaded = MultiAgentRLModule.from_checkpoint(str(tmp_path / "c"))
    assert list(loaded.keys()) == ["default_policy"]
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(loaded["default_policy"], obs), _logits(module, obs))


def test_shared_encoder_multi_agent_round_trip(tmp_path):
    dict_space = lambda local: gym.spaces.Dict(  # noqa: E731
        {"global": gym.spaces.Box(-1, 1, (2,)), "local": gym.spaces.Box(-1, 1, (local,))}
    )
    spec = MultiAgentRLModuleSpec(
        marl_module_class=BCTorchMultiAgentModuleWithSharedEncoder,
        module_specs={
            "local_2d": SingleAgentRLModuleSpec(
                observation_space=dict_space(2), action_space=gym.spaces.Discrete(2), model_config_dict={"fcnet_hiddens": [16]}
            ),
            "local_5d": SingleAgentRLModuleSpec(
                observation_space=dict_space(5), action_space=gym.spaces.Discrete(5), model_config_dict={"fcnet_hiddens": [16]}
            ),
        },
    )
    marl = spec.build()
    assert marl["local_2d"].encoder is marl["local_5d"].encoder
    path = tmp_path / "shared"
    marl.save_to_checkpoint(str(path))
    meta = _read_meta(path)
    assert meta["module_class"].endswith(":BCTorchMultiAgentModuleWithSharedEncoder")
    json.dumps(meta, allow_nan=False)

    loaded = BCTorchMultiAgentModuleWithSharedEncoder.from_checkpoint(str(path))
    assert type(loaded) is BCTorchMultiAgentModuleWithSharedEncoder
    assert loaded["local_2d"].encoder is loaded["local_5d"].encoder  # still one object
    rng = np.random.default_rng(1)
    batch = {
        mid: {"obs": {"global": torch.as_tensor(rng.uniform(-1, 1, (3, 2)), dtype=torch.float32),
                      "local": torch.as_tensor(rng.uniform(-1, 1, (3, d)), dtype=torch.float32)}}
        for mid, d in (("local_2d", 2), ("local_5d", 5))
    }
    want, got = marl.forward_inference(batch), loaded.forward_inference(batch)
    for mid in batch:
        assert torch.equal(got[mid]["action_dist_inputs"], want[mid]["action_dist_inputs"])
    # the shared encoder is trained once for both: a change through one shows in the other
    with torch.no_grad():
        loaded["local_2d"].encoder[0].bias.add_(1.0)
    assert torch.equal(loaded["local_5d"].encoder[0].bias, loaded["local_2d"].encoder[0].bias)


def test_tied_weights_round_trip(tmp_path):
    module = _spec(TiedWeightsModule).build()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.5)
    path = tmp_path / "tied"
    module.save_to_checkpoint(str(path))
    meta = _read_meta(path)
    assert set(meta["aliases"]) == {"body_alias.weight", "body_alias.bias", "second.weight"}
    header = _assert_safetensors(path / SAFETENSORS, ["body.weight", "body.bias", "second.bias", "head.weight", "head.bias"])
    assert "second.weight" not in header  # stored once

    loaded = TiedWeightsModule.from_checkpoint(str(path))
    assert loaded.body is loaded.body_alias
    assert loaded.second.weight is loaded.body.weight
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(loaded, obs), _logits(module, obs))
    with torch.no_grad():
        loaded.body.weight.mul_(2.0)
    assert torch.equal(loaded.second.weight, loaded.body.weight)


# --- tf ---------------------------------------------------------------------------------------
def _tf_module(hidden=8):
    from rlmodule.testing import DiscreteBCTfModule

    module = _spec(DiscreteBCTfModule, hidden=hidden).build()
    module.forward_inference({"obs": np.zeros((1, 4), np.float32)})  # Keras builds weights on call
    return module


@pytest.mark.tf
def test_tf_single_agent_round_trip(tmp_path, monkeypatch):
    from rlmodule.testing import DiscreteBCTfModule

    module = _tf_module()
    _tf_module()  # another instance, so Keras' layer counters advance
    path = tmp_path / "tf"
    module.save_to_checkpoint(str(path))
    assert sorted(os.listdir(path)) == sorted([METADATA_FILE, H5])
    data = (path / H5).read_bytes()
    assert data.startswith(b"\x89HDF\r\n\x1a\n")
    _assert_not_pickle(data)
    meta = _read_meta(path)
    assert meta["framework"] == "tf2"
    assert meta["module_class"] == "rlmodule.tf.bc_module:DiscreteBCTfModule"

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: (_ for _ in ()).throw(AssertionError("pickle")))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("pickle")))
    loaded = DiscreteBCTfModule.from_checkpoint(str(path))
    assert loaded is not module
    obs = np.random.default_rng(0).uniform(-1, 1, (5, 4)).astype(np.float32)
    np.testing.assert_array_equal(_logits(loaded, obs), _logits(module, obs))
    assert not np.array_equal(_logits(_tf_module(), obs), _logits(module, obs))


@pytest.mark.tf
def test_tf_shape_mismatch_is_a_checkpoint_error(tmp_path):
    module = _tf_module(hidden=8)
    path = tmp_path / "tf"
    module.save_to_checkpoint(str(path))
    meta = _read_meta(path)
    meta["spec"]["model_config_dict"]["fcnet_hiddens"] = [16]
    _write_meta(path, meta)
    with pytest.raises(CheckpointError) as excinfo:
        load_module(path)
    msg = str(excinfo.value)
    assert H5 in msg and "[4, 8]" in msg and "[4, 16]" in msg


@pytest.mark.tf
def test_mixed_torch_tf_multi_agent_round_trip(tmp_path):
    torch_module = _spec().build()
    tf_module = _tf_module()
    marl = MultiAgentRLModule()
    marl.add_module("torch_agent", torch_module)
    marl.add_module("tf_agent", tf_module)
    path = tmp_path / "mixed"
    marl.save_to_checkpoint(str(path))
    assert sorted(os.listdir(path / "modules" / "tf_agent")) == sorted([METADATA_FILE, H5])
    assert sorted(os.listdir(path / "modules" / "torch_agent")) == sorted([METADATA_FILE, SAFETENSORS])

    loaded = MultiAgentRLModule.from_checkpoint(str(path))
    assert loaded["torch_agent"].framework == "torch" and loaded["tf_agent"].framework == "tf2"
    obs = np.random.default_rng(2).uniform(-1, 1, (3, 4)).astype(np.float32)
    out = loaded.forward_inference({"torch_agent": {"obs": torch.as_tensor(obs)}, "tf_agent": {"obs": obs}})
    np.testing.assert_array_equal(np.asarray(out["torch_agent"]["action_dist_inputs"]), _logits(torch_module, torch.as_tensor(obs)))
    np.testing.assert_array_equal(np.asarray(out["tf_agent"]["action_dist_inputs"]), _logits(tf_module, obs))


# --- failures: each a CheckpointError naming the file / entry -------------------------------------
def _load_error(path) -> str:
    with pytest.raises(CheckpointError) as excinfo:
        DiscreteBCTorchModule.from_checkpoint(str(path))
    return str(excinfo.value)


def test_missing_directory(tmp_path):
    msg = _load_error(tmp_path / "nope")
    assert str(tmp_path / "nope") in msg and "no such checkpoint directory" in msg


def test_missing_metadata_file(torch_ckpt):
    _, path = torch_ckpt
    (path / METADATA_FILE).unlink()
    msg = _load_error(path)
    assert METADATA_FILE in msg and "missing" in msg


def test_corrupt_json(torch_ckpt):
    _, path = torch_ckpt
    (path / METADATA_FILE).write_text('{"format_version": 1, "kind": ')
    msg = _load_error(path)
    assert METADATA_FILE in msg and "corrupt" in msg


def test_metadata_that_is_not_an_object(torch_ckpt):
    _, path = torch_ckpt
    (path / METADATA_FILE).write_text("[1, 2]")
    msg = _load_error(path)
    assert METADATA_FILE in msg and "not a JSON object" in msg


@pytest.mark.parametrize("key", ["format_version", "kind", "module_class", "spec"])
def test_metadata_missing_a_key(torch_ckpt, key):
    _, path = torch_ckpt
    meta = _read_meta(path)
    del meta[key]
    _write_meta(path, meta)
    msg = _load_error(path)
    assert METADATA_FILE in msg and repr(key) in msg and "missing" in msg


@pytest.mark.parametrize("version", [2, 999, "1", None])
def test_unknown_format_version(torch_ckpt, version):
    _, path = torch_ckpt
    meta = _read_meta(path)
    meta["format_version"] = version
    _write_meta(path, meta)
    msg = _load_error(path)
    assert METADATA_FILE in msg and f"format version {version!r}" in msg


def test_missing_weights_file(torch_ckpt):
    _, path = torch_ckpt
    (path / SAFETENSORS).unlink()
    msg = _load_error(path)
    assert SAFETENSORS in msg and "missing" in msg


@pytest.mark.parametrize("keep", [0.5, 0.95, 4])
def test_truncated_safetensors(torch_ckpt, keep):
    _, path = torch_ckpt
    file = path / SAFETENSORS
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[:keep])
    msg = _load_error(path)
    assert SAFETENSORS in msg and ("corrupt" in msg or "truncated" in msg)


def test_tensor_shape_mismatch(torch_ckpt):
    _, path = torch_ckpt
    meta = _read_meta(path)
    meta["spec"]["model_config_dict"]["fcnet_hiddens"] = [16]  # build a wider module
    _write_meta(path, meta)
    msg = _load_error(path)
    assert SAFETENSORS in msg
    assert "policy.0.weight" in msg and "[8, 4]" in msg and "[16, 4]" in msg


def test_missing_tensor(torch_ckpt):
    from safetensors.torch import load_file, save_file

    _, path = torch_ckpt
    tensors = load_file(str(path / SAFETENSORS))
    del tensors["policy.2.bias"]
    save_file(tensors, str(path / SAFETENSORS))
    msg = _load_error(path)
    assert SAFETENSORS in msg and "missing tensors" in msg and "policy.2.bias" in msg


def test_unexpected_tensor(torch_ckpt):
    from safetensors.torch import load_file, save_file

    _, path = torch_ckpt
    tensors = load_file(str(path / SAFETENSORS))
    tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, str(path / SAFETENSORS))
    msg = _load_error(path)
    assert "unexpected tensors" in msg and "extra.weight" in msg


def test_wrong_class_is_a_type_error_naming_both(torch_ckpt):
    _, path = torch_ckpt
    with pytest.raises(TypeError) as excinfo:
        OtherTorchModule.from_checkpoint(str(path))
    msg = str(excinfo.value)
    assert "DiscreteBCTorchModule" in msg and "OtherTorchModule" in msg
    with pytest.raises(TypeError, match="MultiAgentRLModule"):
        MultiAgentRLModule.from_checkpoint(str(path))


def _ppo_torch_spec() -> SingleAgentRLModuleSpec:
    from rlmodule.algorithms.ppo import PPOCatalog, PPOTorchRLModule

    return SingleAgentRLModuleSpec(
        module_class=PPOTorchRLModule, observation_space=OBS, action_space=ACT,
        model_config_dict={"fcnet_hiddens": [8]}, catalog_class=PPOCatalog,
    )


@pytest.mark.parametrize(
    "make_spec, old_path",
    [
        (_spec, "rlmodule.testing.torch_bc_module:DiscreteBCTorchModule"),
        (_ppo_torch_spec, "rlmodule.algorithms.ppo.torch_ppo_rl_module:PPOTorchRLModule"),
    ],
)
def test_a_checkpoint_naming_a_moved_class_by_its_old_path_loads(tmp_path, make_spec, old_path):
    """Checkpoints written before the torch/tf modules moved into rlmodule/torch and
    rlmodule/tf name the old module paths (rlmodule.class_path.MOVED_CLASSES)."""
    module = make_spec().build()
    path = tmp_path / "ckpt"
    module.save_to_checkpoint(str(path))
    meta = _read_meta(path)
    assert current_path(old_path) == meta["module_class"] == meta["spec"]["module_class"]
    meta["module_class"] = meta["spec"]["module_class"] = old_path
    _write_meta(path, meta)
    obs = _torch_obs()
    loaded = type(module).from_checkpoint(str(path))
    assert type(loaded) is type(module)
    np.testing.assert_array_equal(_logits(loaded, obs), _logits(module, obs))
    again = make_spec()
    again.load_state_path = str(path)
    np.testing.assert_array_equal(_logits(again.build(), obs), _logits(module, obs))


def test_a_multi_agent_checkpoint_naming_the_old_marl_module_path_loads(tmp_path):
    marl = _spec().build().as_multi_agent()
    path = tmp_path / "marl"
    marl.save_to_checkpoint(str(path))
    meta = _read_meta(path)
    meta["module_class"] = "rlmodule.marl_module:MultiAgentRLModule"
    _write_meta(path, meta)
    loaded = MultiAgentRLModule.from_checkpoint(str(path))
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(loaded["default_policy"], obs), _logits(marl["default_policy"], obs))
    spec = MultiAgentRLModuleSpec(module_specs={"default_policy": _spec()}, load_state_path=str(path)).to_dict()
    spec["marl_module_class"] = "rlmodule.marl_module:MultiAgentRLModule"
    rebuilt = MultiAgentRLModuleSpec.from_dict(spec).build()
    np.testing.assert_array_equal(_logits(rebuilt["default_policy"], obs), _logits(marl["default_policy"], obs))


def test_load_state_path_with_another_observation_space(torch_ckpt):
    _, path = torch_ckpt
    spec = _spec(obs=gym.spaces.Box(-1.0, 1.0, (5,), np.float32))
    spec.load_state_path = str(path)
    with pytest.raises(CheckpointError) as excinfo:
        spec.build()
    msg = str(excinfo.value)
    assert "observation_space" in msg and METADATA_FILE in msg


def test_load_state_path_with_another_action_space(torch_ckpt):
    _, path = torch_ckpt
    spec = _spec(act=gym.spaces.Discrete(4))
    spec.load_state_path = str(path)
    with pytest.raises(CheckpointError, match="action_space"):
        spec.build()


def test_load_state_path_loads_matching_weights(torch_ckpt):
    module, path = torch_ckpt
    spec = _spec()
    spec.load_state_path = str(path)
    rebuilt = spec.build()
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(rebuilt, obs), _logits(module, obs))


def test_load_state_path_of_another_class(torch_ckpt):
    _, path = torch_ckpt
    spec = _spec(TiedWeightsModule)
    spec.load_state_path = str(path)
    with pytest.raises(CheckpointError) as excinfo:
        spec.build()
    assert "DiscreteBCTorchModule" in str(excinfo.value) and "TiedWeightsModule" in str(excinfo.value)


@pytest.mark.parametrize(
    "class_path, culprit",
    [
        ("no_such_package_xyz.models:Net", "no_such_package_xyz"),
        ("rlmodule.torch.bc_module:NoSuchClass", "NoSuchClass"),
        ("not a class path", "not a class path"),
        ("rlmodule.rl_module:DEFAULT_MODULE_ID", "DEFAULT_MODULE_ID"),
        ("rlmodule.rl_module:RLModuleConfig", "not an RLModule"),
    ],
)
def test_module_class_that_does_not_import(torch_ckpt, class_path, culprit):
    _, path = torch_ckpt
    meta = _read_meta(path)
    meta["module_class"] = class_path
    _write_meta(path, meta)
    msg = _load_error(path)
    assert METADATA_FILE in msg and culprit in msg


def test_spec_class_that_does_not_import(torch_ckpt):
    _, path = torch_ckpt
    meta = _read_meta(path)
    meta["spec"]["module_class"] = "no_such_package_xyz:Net"
    _write_meta(path, meta)
    msg = _load_error(path)
    assert METADATA_FILE in msg and "no_such_package_xyz" in msg


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


# --- atomic saves ------------------------------------------------------------------------------
def _snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_failed_save_keeps_the_old_checkpoint(torch_ckpt, monkeypatch):
    import rlmodule.checkpoint as ckpt_mod

    module, path = torch_ckpt
    before = _snapshot(path)
    other = _spec().build()

    def broken_writer(*args, **kwargs):
        raise OSError("disk full while writing weights")

    monkeypatch.setattr(ckpt_mod, "write_weights", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        other.save_to_checkpoint(str(path))
    assert _snapshot(path) == before
    assert os.listdir(path.parent) == ["ckpt"]  # no staging or backup directories left
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(DiscreteBCTorchModule.from_checkpoint(str(path)), obs), _logits(module, obs))


def test_failed_save_midway_through_a_multi_agent_checkpoint(tmp_path, monkeypatch):
    import rlmodule.checkpoint as ckpt_mod

    marl = MultiAgentRLModuleSpec(module_specs={"a": _spec(), "b": _spec()}).build()
    path = tmp_path / "marl"
    marl.save_to_checkpoint(str(path))
    before = _snapshot(path)
    real = ckpt_mod.write_weights
    calls = []

    def fail_on_second(module, directory):
        calls.append(directory)
        if len(calls) == 2:
            raise RuntimeError("crash after the first module was written")
        return real(module, directory)

    monkeypatch.setattr(ckpt_mod, "write_weights", fail_on_second)
    with pytest.raises(RuntimeError, match="crash"):
        MultiAgentRLModuleSpec(module_specs={"a": _spec(), "b": _spec()}).build().save_to_checkpoint(str(path))
    assert len(calls) == 2
    assert _snapshot(path) == before
    assert os.listdir(tmp_path) == ["marl"]


def test_failed_final_rename_restores_the_old_checkpoint(torch_ckpt, monkeypatch):
    import rlmodule.checkpoint as ckpt_mod

    _, path = torch_ckpt
    before = _snapshot(path)
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if Path(dst) == path and not Path(src).name.startswith(".ckpt.rlm-backup"):
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        _spec().build().save_to_checkpoint(str(path))
    monkeypatch.setattr(ckpt_mod.os, "replace", real_replace)
    assert len(calls) >= 2
    assert _snapshot(path) == before
    assert os.listdir(path.parent) == ["ckpt"]


def test_successful_save_over_an_existing_checkpoint(torch_ckpt):
    _, path = torch_ckpt
    newer = _spec().build()
    newer.save_to_checkpoint(str(path))
    assert os.listdir(path.parent) == ["ckpt"]
    obs = _torch_obs()
    np.testing.assert_array_equal(_logits(DiscreteBCTorchModule.from_checkpoint(str(path)), obs), _logits(newer, obs))


def test_save_returns_the_directory_and_creates_parents(tmp_path):
    module = _spec().build()
    out = module.save_to_checkpoint(str(tmp_path / "a" / "b" / "ckpt"))
    assert Path(out) == (tmp_path / "a" / "b" / "ckpt").absolute()
    assert (Path(out) / METADATA_FILE).is_file()
