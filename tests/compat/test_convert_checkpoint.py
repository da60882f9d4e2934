"""compat.convert_checkpoint: real ray 2.60 legacy Policy checkpoints (``export_checkpoint``)
and Algorithm-layout checkpoints into RLModule checkpoints; the reloaded module computes
what the legacy model computed. Errors name the path at fault and leave nothing behind."""

from __future__ import annotations

import importlib.util
import json
import pickle
import sys
from pathlib import Path
from typing import Any, Dict, Mapping

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.legacy_helpers import legacy_custom_model_policy, legacy_policy

from compat import ConversionReport, convert_checkpoint
from compat.convert_checkpoint import LegacyCheckpointError, LegacyPickleWarning
from compat.port_weights import LEGACY_FCNET_TO_PPO, WeightPortError
from rlmodule import SingleAgentRLModuleSpec
from rlmodule.algorithms.ppo import PPOConfig, PPOTorchRLModule

pytestmark = pytest.mark.legacy

CARTPOLE_OBS = gym.make("CartPole-v1").observation_space
CARTPOLE_ACT = gym.spaces.Discrete(2)
BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


# --- helpers ----------------------------------------------------------------------------
def ppo_module(policy: Any, obs_space: gym.Space = CARTPOLE_OBS, **model: Any) -> PPOTorchRLModule:
    """Our PPO module built from the legacy policy's model config (plus ``model``)."""
    spec = PPOConfig().framework("torch").get_default_rl_module_spec()
    spec.update(
        SingleAgentRLModuleSpec(
            observation_space=obs_space, action_space=policy.action_space,
            model_config_dict={**policy.config["model"], **model},
        ),
        override=False,
    )
    return spec.build()


def assert_same_outputs(legacy_model: Any, module: Any, obs_space: gym.Space) -> None:
    """``module``'s logits and values equal the legacy model's (atol 1e-6)."""
    torch.manual_seed(3)
    x = torch.randn(16, *obs_space.shape)
    with torch.no_grad():
        logits, _ = legacy_model({"obs": x})
        values = legacy_model.value_function()
        ours = module.forward_train({"obs": x})
    torch.testing.assert_close(module.forward_inference({"obs": x})["action_dist_inputs"], logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours["action_dist_inputs"], logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours["vf_preds"], values, rtol=0, atol=1e-6)


def algorithm_layout(directory: Path, policies: Mapping[str, Any]) -> Path:
    """An Algorithm checkpoint as ray 2.60's old-API-stack ``Algorithm.save_checkpoint``
    lays it out: ``policies/<id>/`` (each policy's ``export_checkpoint``),
    ``algorithm_state.pkl`` and ``rllib_checkpoint.json``."""
    import ray
    from ray.rllib.utils.checkpoints import CHECKPOINT_VERSION

    directory.mkdir(parents=True)
    state_file = directory / "algorithm_state.pkl"
    state_file.write_bytes(pickle.dumps({"checkpoint_version": CHECKPOINT_VERSION, "training_iteration": 0}))
    (directory / "rllib_checkpoint.json").write_text(json.dumps({
        "type": "Algorithm", "checkpoint_version": str(CHECKPOINT_VERSION), "format": "cloudpickle",
        "state_file": str(state_file), "policy_ids": list(policies),
        "ray_version": ray.__version__, "ray_commit": ray.__commit__,
    }))
    for pid, policy in policies.items():
        policy.export_checkpoint(str(directory / "policies" / pid))
    return directory


def listing(directory: Path) -> list:
    return sorted(p.name for p in directory.iterdir())


def snapshot(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


# --- fixtures (built once: legacy policies take ~1 s each) ---------------------------------
@pytest.fixture(scope="module")
def ppo_policy() -> Any:
    return legacy_policy(CARTPOLE_OBS, CARTPOLE_ACT, {"fcnet_hiddens": [64, 64]})


@pytest.fixture(scope="module")
def policy_ckpt(ppo_policy: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("legacy") / "policy"
    ppo_policy.export_checkpoint(str(directory))
    return directory


@pytest.fixture(scope="module")
def algo_ckpt(ppo_policy: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two policies: ``p0`` (fcnet [64, 64]) and ``p1`` (fcnet [32], other weights)."""
    small = legacy_policy(CARTPOLE_OBS, CARTPOLE_ACT, {"fcnet_hiddens": [32]})
    return algorithm_layout(tmp_path_factory.mktemp("legacy") / "algo", {"p0": ppo_policy, "p1": small})


# --- Policy checkpoints -----------------------------------------------------------------
def test_policy_checkpoint_into_the_ppo_module(ppo_policy: Any, tmp_path: Path) -> None:
    legacy_dir = tmp_path / "legacy"
    ppo_policy.export_checkpoint(str(legacy_dir))
    module = ppo_module(ppo_policy)
    out = tmp_path / "out" / "module"

    report = convert_checkpoint(legacy_dir, module, out, mapping=LEGACY_FCNET_TO_PPO)

    assert isinstance(report, ConversionReport)
    assert (report.kind, report.policy_id, report.out_dir) == ("policy", None, str(out))
    assert report.source == str(legacy_dir)
    assert Path(report.state_file) == legacy_dir / "policy_state.pkl"
    assert len(report.port.entries) == len(ppo_policy.model.state_dict()) == 12
    assert [e.how for e in report.port.entries].count("mapping") == 2
    assert json.loads(json.dumps(report.to_dict()))["port"]["entries"][0]["target"] == report.port.entries[0].target_name
    assert str(legacy_dir) in str(report) and "_logits._model.0.weight" in str(report)
    assert listing(out.parent) == ["module"]  # no temporary directory left beside it

    reloaded = PPOTorchRLModule.from_checkpoint(str(out))
    assert_same_outputs(ppo_policy.model, reloaded, CARTPOLE_OBS)


def test_custom_model_with_identical_names(tmp_path: Path) -> None:
    legacy_cls = importlib.import_module("fixtures.legacy.models.value_caching").ValueCachingModel
    migrated_cls = importlib.import_module("fixtures.migrated.models.value_caching").ValueCachingModel
    policy = legacy_custom_model_policy(
        "convert_checkpoint_value_caching", legacy_cls, BOX4, gym.spaces.Discrete(3),
        {"custom_model_config": {"hiddens": [32, 16]}},
    )
    policy.export_checkpoint(str(tmp_path / "legacy"))
    module = SingleAgentRLModuleSpec(
        module_class=migrated_cls, observation_space=BOX4, action_space=gym.spaces.Discrete(3),
        model_config_dict=dict(policy.config["model"]),
    ).build()

    report = convert_checkpoint(tmp_path / "legacy", module, tmp_path / "out")

    assert {e.how for e in report.port.entries} == {"name"}
    assert [e.target_name for e in report.port.entries] == list(policy.model.state_dict())
    reloaded = migrated_cls.from_checkpoint(str(tmp_path / "out"))
    assert_same_outputs(policy.model, reloaded, BOX4)


def test_state_that_references_removed_legacy_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After migration the custom policy class is gone; ray cannot restore the policy,
    but its weights still convert."""
    from ray.rllib.policy.policy import Policy

    code = tmp_path / "code"
    code.mkdir()
    (code / "gone_legacy_policy.py").write_text(
        "from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy\n"
        "class GonePolicy(PPOTorchPolicy):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(code))
    gone_cls = importlib.import_module("gone_legacy_policy").GonePolicy
    policy = legacy_policy(CARTPOLE_OBS, CARTPOLE_ACT, {"fcnet_hiddens": [16]}, policy_cls=gone_cls)
    policy.export_checkpoint(str(tmp_path / "legacy"))
    monkeypatch.delitem(sys.modules, "gone_legacy_policy")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(code)])
    (code / "gone_legacy_policy.py").unlink()
    with pytest.raises(ModuleNotFoundError, match="gone_legacy_policy"):
        Policy.from_checkpoint(str(tmp_path / "legacy"))

    report = convert_checkpoint(tmp_path / "legacy", ppo_module(policy), tmp_path / "out", mapping=LEGACY_FCNET_TO_PPO)
    assert_same_outputs(policy.model, PPOTorchRLModule.from_checkpoint(report.out_dir), CARTPOLE_OBS)


# --- Algorithm checkpoints --------------------------------------------------------------
def test_ray_reads_the_algorithm_layout(algo_ckpt: Path) -> None:
    from ray.rllib.policy.policy import Policy

    restored = Policy.from_checkpoint(str(algo_ckpt))
    assert sorted(restored) == ["p0", "p1"]
    assert [w.shape for w in restored["p1"].get_weights().values()][0] == (2, 32)


def test_algorithm_checkpoint_by_policy_id(algo_ckpt: Path, tmp_path: Path) -> None:
    from ray.rllib.policy.policy import Policy

    p1 = Policy.from_checkpoint(str(algo_ckpt / "policies" / "p1"))
    module = ppo_module(p1)
    before = snapshot(module)
    with pytest.raises(WeightPortError):  # p0's [64, 64] network does not fit
        convert_checkpoint(algo_ckpt, module, tmp_path / "wrong", policy_id="p0", mapping=LEGACY_FCNET_TO_PPO)
    assert not (tmp_path / "wrong").exists()
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())

    report = convert_checkpoint(algo_ckpt, module, tmp_path / "out", policy_id="p1", mapping=LEGACY_FCNET_TO_PPO)

    assert (report.kind, report.policy_id) == ("algorithm", "p1")
    assert Path(report.state_file) == algo_ckpt / "policies" / "p1" / "policy_state.pkl"
    assert "policy 'p1'" in str(report)
    assert_same_outputs(p1.model, PPOTorchRLModule.from_checkpoint(report.out_dir), CARTPOLE_OBS)


def test_algorithm_checkpoint_policy_selection_errors(algo_ckpt: Path, ppo_policy: Any, tmp_path: Path) -> None:
    module = ppo_module(ppo_policy)
    with pytest.raises(LegacyCheckpointError, match=r"several policies; pass policy_id= one of \['p0', 'p1'\]"):
        convert_checkpoint(algo_ckpt, module, tmp_path / "out", mapping=LEGACY_FCNET_TO_PPO)
    with pytest.raises(LegacyCheckpointError, match=r"no policy 'p2'; available policy ids: \['p0', 'p1'\]"):
        convert_checkpoint(algo_ckpt, module, tmp_path / "out", policy_id="p2", mapping=LEGACY_FCNET_TO_PPO)
    with pytest.raises(LegacyCheckpointError, match="is a Policy checkpoint"):
        convert_checkpoint(algo_ckpt / "policies" / "p0", module, tmp_path / "out", policy_id="p0")
    assert listing(tmp_path) == []


def test_single_policy_algorithm_checkpoint_needs_no_id(ppo_policy: Any, tmp_path: Path) -> None:
    algo = algorithm_layout(tmp_path / "algo", {"default_policy": ppo_policy})
    report = convert_checkpoint(algo, ppo_module(ppo_policy), tmp_path / "out", mapping=LEGACY_FCNET_TO_PPO)
    assert (report.kind, report.policy_id) == ("algorithm", "default_policy")


# --- errors -----------------------------------------------------------------------------
def test_not_a_checkpoint(ppo_policy: Any, tmp_path: Path) -> None:
    module = ppo_module(ppo_policy)
    missing = tmp_path / "missing"
    with pytest.raises(LegacyCheckpointError, match=f"{missing}: does not exist"):
        convert_checkpoint(missing, module, tmp_path / "out")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(LegacyCheckpointError, match="notes.txt: is not a directory"):
        convert_checkpoint(tmp_path / "notes.txt", module, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LegacyCheckpointError, match=rf"{tmp_path / 'empty'}: not a legacy RLlib checkpoint: no policy_state"):
        convert_checkpoint(tmp_path / "empty", module, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_algorithm_checkpoint_without_policies(ppo_policy: Any, tmp_path: Path) -> None:
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_RL_MODULE

    algo = tmp_path / "algo"
    (algo / COMPONENT_LEARNER_GROUP / COMPONENT_LEARNER / COMPONENT_RL_MODULE / "default_policy").mkdir(parents=True)
    (algo / "algorithm_state.pkl").write_bytes(pickle.dumps({}))
    with pytest.raises(LegacyCheckpointError, match=r"without policies/<policy_id>/ .*new API stack .*\['default_policy'\]"):
        convert_checkpoint(algo, ppo_module(ppo_policy), tmp_path / "out")


def test_policy_dir_without_state_file(ppo_policy: Any, tmp_path: Path) -> None:
    broken = tmp_path / "algo"
    algorithm_layout(broken, {"p0": ppo_policy})
    (broken / "policies" / "p0" / "policy_state.pkl").unlink()
    with pytest.raises(LegacyCheckpointError, match=rf"{broken / 'policies' / 'p0'}: not a legacy RLlib checkpoint"):
        convert_checkpoint(broken, ppo_module(ppo_policy), tmp_path / "out")


def test_state_without_weights(ppo_policy: Any, tmp_path: Path) -> None:
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "policy_state.pkl").write_bytes(pickle.dumps({"global_timestep": 0}))
    with pytest.raises(LegacyCheckpointError, match="policy_state.pkl: the policy state has no 'weights'"):
        convert_checkpoint(tmp_path / "legacy", ppo_module(ppo_policy), tmp_path / "out")


def test_msgpack_state_is_read_with_rays_msgpack(ppo_policy: Any, tmp_path: Path) -> None:
    """``export_checkpoint(checkpoint_format="msgpack")`` needs msgpack_numpy, which
    ray[rllib] does not install; without it ray's own loader says what to install."""
    if importlib.util.find_spec("msgpack_numpy") is not None:
        pytest.skip("msgpack_numpy is installed")
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "policy_state.msgpck").write_bytes(b"\x80")
    with pytest.raises(ImportError, match="pip install msgpack msgpack_numpy"):
        convert_checkpoint(tmp_path / "legacy", ppo_module(ppo_policy), tmp_path / "out")


def test_shape_mismatch_writes_nothing(policy_ckpt: Path, ppo_policy: Any, tmp_path: Path) -> None:
    module = ppo_module(ppo_policy, fcnet_hiddens=[32, 32])
    before = snapshot(module)
    with pytest.raises(WeightPortError) as info:
        convert_checkpoint(policy_ckpt, module, tmp_path / "out", mapping=LEGACY_FCNET_TO_PPO)
    message = str(info.value)
    assert "pi.net.0.weight [2, 32] <- _logits._model.0.weight [2, 64]" in message
    assert "encoder.actor_encoder.mlp.net.0.weight [32, 4]" in message  # every tensor is listed
    assert listing(tmp_path) == []
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())


def test_existing_out_dir(policy_ckpt: Path, ppo_policy: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    module = ppo_module(ppo_policy)
    with pytest.raises(FileExistsError, match=f"{out}: out_dir exists and is not empty; pass overwrite=True"):
        convert_checkpoint(policy_ckpt, module, out, mapping=LEGACY_FCNET_TO_PPO)
    assert listing(out) == ["keep.txt"]
    with pytest.raises(FileExistsError, match="would replace the legacy checkpoint"):
        convert_checkpoint(policy_ckpt, module, policy_ckpt.parent, mapping=LEGACY_FCNET_TO_PPO, overwrite=True)

    with pytest.raises(FileExistsError, match=r"is not an RLModule checkpoint .*keep.txt"):  # not ours to delete
        convert_checkpoint(policy_ckpt, module, out, mapping=LEGACY_FCNET_TO_PPO, overwrite=True)
    assert listing(out) == ["keep.txt"]
    (out / "keep.txt").unlink()
    convert_checkpoint(policy_ckpt, module, out, mapping=LEGACY_FCNET_TO_PPO)
    convert_checkpoint(policy_ckpt, module, out, mapping=LEGACY_FCNET_TO_PPO, overwrite=True)  # an earlier one
    assert "rl_module_metadata.json" in listing(out)
    assert listing(tmp_path) == ["out"]
    empty = tmp_path / "empty"
    empty.mkdir()
    convert_checkpoint(policy_ckpt, module, empty, mapping=LEGACY_FCNET_TO_PPO)  # an empty dir is fine
    assert "rl_module_metadata.json" in listing(empty)


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pickle_calling_os_system_is_refused_and_runs_nothing(policy_ckpt: Path, ppo_policy: Any,
                                                                         tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "rllib_checkpoint.json").write_text((policy_ckpt / "rllib_checkpoint.json").read_text())
    marker = tmp_path / "pwned"
    (legacy / "policy_state.pkl").write_bytes(pickle.dumps({"weights": {}, "spec": _RunsACommand(marker)}))
    with pytest.raises(LegacyCheckpointError, match=r"policy_state.pkl: the pickle names posix.system.*restricted=False"):
        convert_checkpoint(legacy, ppo_module(ppo_policy), tmp_path / "out", mapping=LEGACY_FCNET_TO_PPO)
    assert not marker.exists()
    assert listing(tmp_path) == ["legacy"]


def test_unrestricted_unpickling_warns_that_it_runs_code(policy_ckpt: Path, ppo_policy: Any, tmp_path: Path) -> None:
    with pytest.warns(LegacyPickleWarning, match="runs any code it names"):
        convert_checkpoint(policy_ckpt, ppo_module(ppo_policy), tmp_path / "out", mapping=LEGACY_FCNET_TO_PPO,
                           restricted=False)
    assert "rl_module_metadata.json" in listing(tmp_path / "out")


def test_missing_ray_says_how_to_install(policy_ckpt: Path, ppo_policy: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    module = ppo_module(ppo_policy)
    monkeypatch.setitem(sys.modules, "ray.rllib.utils.checkpoints", None)
    with pytest.raises(ImportError, match=r'pip install "rlmodule-migrate\[legacy\]"'):
        convert_checkpoint(policy_ckpt, module, tmp_path / "out", mapping=LEGACY_FCNET_TO_PPO)
    assert listing(tmp_path) == []
