"""compat.parity.check and ``rlmigrate parity`` against real RLlib 2.60 legacy policies.

Legacy PPOTorchPolicy objects are built standalone as in tests/test_compat_adapters.py;
the candidate is the legacy model wrapped as an RLModule, or our PPO module with the
legacy FullyConnectedNetwork's weights ported into it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.legacy_helpers import legacy_policy

from compat import ModelV2RLModule, RLModulePolicy
from compat.parity import ParityReport, check
from rlmigrate.cli import main
from rlmodule.spaces import space_from_dict

pytestmark = pytest.mark.legacy

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ALL_QUANTITIES = [
    "action_dist_inputs", "vf_preds", "deterministic_actions", "logp", "sampled_actions", "legacy.compute_actions",
]
def ported_ppo_module(policy, obs_space, act_space):
    from compat.port_weights import LEGACY_FCNET_TO_PPO, port_weights
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.algorithms.ppo import PPOConfig

    spec = PPOConfig().framework("torch").get_default_rl_module_spec()
    spec.update(
        SingleAgentRLModuleSpec(
            observation_space=obs_space, action_space=act_space, model_config_dict=dict(policy.config["model"])
        ),
        override=False,
    )
    module = spec.build()
    port_weights(policy.model, module, mapping=LEGACY_FCNET_TO_PPO)
    return module


@pytest.fixture(scope="module")
def discrete_policy():
    return legacy_policy(BOX4, gym.spaces.Discrete(3), {"fcnet_hiddens": [32, 32]})


def test_legacy_policy_agrees_with_its_wrapped_model_and_the_ported_ppo_module(discrete_policy):
    wrapped = ModelV2RLModule.wrap(discrete_policy.model, action_dist_class=discrete_policy.dist_class)
    report = check(discrete_policy, wrapped)
    assert report.ok and bool(report), report.summary()
    assert list(report.quantities) == ALL_QUANTITIES
    assert report.num_observations == 256 and report.steps == 1

    adapter = RLModulePolicy(ported_ppo_module(discrete_policy, BOX4, gym.spaces.Discrete(3)))
    report = check(discrete_policy, adapter, seed=3)
    assert report.ok, report.summary()
    assert list(report.quantities) == ALL_QUANTITIES
    assert all(not q.skipped for q in report.quantities.values())
    assert report.quantities["action_dist_inputs"].max_abs < 1e-5
    sampled = report.quantities["sampled_actions"]
    assert sampled.statistic <= sampled.threshold and sampled.max_rel <= 1.0
    text = report.summary()
    assert text.startswith("PARITY OK") and "RLModulePolicy over PPOTorchRLModule" in text
    assert all(f"PASS {name}" in text for name in ALL_QUANTITIES)


@pytest.mark.parametrize(
    "parameter, diverged",
    [("pi.net.0.bias", "action_dist_inputs"), ("vf.net.0.bias", "vf_preds")],
)
def test_a_perturbed_weight_fails_and_the_summary_names_the_quantity(discrete_policy, parameter, diverged):
    module = ported_ppo_module(discrete_policy, BOX4, gym.spaces.Discrete(3))
    with torch.no_grad():
        module.get_parameter(parameter)[0] += 0.1
    report = check(discrete_policy, RLModulePolicy(module))
    assert not report.ok and not bool(report)
    assert report.failed[0] == diverged
    q = report.quantities[diverged]
    assert not q.ok and q.max_abs == pytest.approx(0.1, abs=1e-4)
    first_line = report.summary().splitlines()[0]
    assert first_line.startswith(f"PARITY FAILED: {diverged}")
    lines = [ln.strip() for ln in report.summary().splitlines()[4:]]
    assert lines[0].startswith(f"FAIL {diverged}")  # failing quantities are listed first
    if diverged == "vf_preds":  # the value head alone: nothing else moves
        assert report.failed == ["vf_preds"]
    else:
        assert report.quantities["vf_preds"].ok and report.quantities["legacy.compute_actions"].ok


def test_continuous_policy_passes_the_sampled_actions_check():
    act_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    build = lambda: legacy_policy(gym.spaces.Box(-1.0, 1.0, (3,), np.float32), act_space, {"fcnet_hiddens": [16]})  # noqa: E731
    policy = build()
    report = check(policy, policy.model)
    assert report.ok, report.summary()
    sampled = report.quantities["sampled_actions"]
    assert sampled.ok and not sampled.skipped and 0 < sampled.statistic <= sampled.threshold
    assert "continuous" in sampled.note
    # A wider candidate distribution (log-std + 0.3, i.e. std x 1.35) is caught statistically.
    wide = build().model  # the same seed: the same weights
    with torch.no_grad():
        wide._logits._model[0].bias[2:] += 0.3
    report = check(policy, wide)
    assert not report.quantities["sampled_actions"].ok
    assert report.failed[0] == "action_dist_inputs"


def test_lstm_policy_rollout_with_carried_state():
    obs_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    model = {"fcnet_hiddens": [16], "use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 5}
    policy = legacy_policy(obs_space, gym.spaces.Discrete(2), model)
    twin = legacy_policy(obs_space, gym.spaces.Discrete(2), model)  # the same seed: the same weights
    wrapped = ModelV2RLModule.wrap(policy.model, action_dist_class=policy.dist_class)
    report = check(policy, wrapped, steps=4, num_samples=64)
    assert report.ok, report.summary()
    assert report.steps == 4 and "state_out" in report.quantities
    assert report.quantities["action_dist_inputs"].per_step_max_abs == [0.0] * 4
    assert "state_out" in report.quantities["legacy.compute_actions"].note

    # A perturbed recurrent weight shows up in the carried state.
    assert check(policy, twin, steps=4, num_samples=64).ok
    with torch.no_grad():
        twin.model.lstm.weight_hh_l0[0, 0] += 0.5
    report = check(policy, twin, steps=4, num_samples=64)
    assert not report.quantities["state_out"].ok
    assert report.quantities["state_out"].worst_step is not None


def test_given_observations_are_used_verbatim(discrete_policy):
    module = ported_ppo_module(discrete_policy, BOX4, gym.spaces.Discrete(3))
    with torch.no_grad():  # the actor sees feature 0 differently: only rows with x0 != 0 diverge
        module.get_parameter("encoder.actor_encoder.mlp.net.0.weight")[:, 0] += 0.1
    obs = np.random.default_rng(0).uniform(-1, 1, (7, 4)).astype(np.float32)
    obs[:, 0] = 0.0
    obs[5, 0] = 0.9
    report = check(discrete_policy, module, observations=obs)
    assert report.num_observations == 7
    q = report.quantities["action_dist_inputs"]
    assert not q.ok and q.worst_index == 5
    assert report.quantities["vf_preds"].ok  # the critic has its own encoder
    # float64 observations are cast to the space's dtype, not rejected
    assert check(discrete_policy, discrete_policy.model, observations=obs.astype(np.float64)).ok


def test_report_json_round_trip(discrete_policy, tmp_path):
    module = ported_ppo_module(discrete_policy, BOX4, gym.spaces.Discrete(3))
    with torch.no_grad():
        module.get_parameter("pi.net.0.bias")[1] += 0.5
    report = check(discrete_policy, module, num_samples=32)
    text = report.to_json()
    data = json.loads(text)
    assert data["ok"] is False and data["failed"] == report.failed
    assert set(data["quantities"]) == set(report.quantities)
    for q in data["quantities"].values():
        assert {"max_abs", "max_rel", "worst_index", "ok", "note"} <= set(q)
    again = ParityReport.from_json(text)
    assert again == report and again.summary() == report.summary()
    assert ParityReport.from_dict(report.to_dict()) == report


def test_mismatched_spaces_and_unsupported_sides_raise(discrete_policy):
    other = legacy_policy(BOX4, gym.spaces.Discrete(2), {"fcnet_hiddens": [8]})
    with pytest.raises(ValueError, match="action spaces differ"):
        check(discrete_policy, other.model)
    with pytest.raises(TypeError, match="candidate is a str"):
        check(discrete_policy, "not a model")
    with pytest.raises(TypeError, match="legacy is a int"):
        check(3, discrete_policy)
    with pytest.raises(ValueError, match="do not match the observation space"):
        check(discrete_policy, discrete_policy.model, observations=np.zeros((4, 5), np.float32))


# --- rlmigrate parity ------------------------------------------------------------------
FIXTURES = "tests.compat.parity_fixtures.models"
OBS_JSON = json.dumps({"type": "Box", "shape": [4], "dtype": "float32", "low": -1.0, "high": 1.0})
ACT_JSON = json.dumps({"type": "Discrete", "n": 3})


@pytest.fixture()
def cli_args(tmp_path):
    config = tmp_path / "model_config.json"
    config.write_text(json.dumps({"fcnet_hiddens": [16]}))
    action_space = tmp_path / "action_space.json"
    action_space.write_text(ACT_JSON)

    def args(legacy="TwoLayerModel", candidate="TwoLayerRLModule", *extra, model_config=str(config)):
        return [
            "parity", "--legacy", f"{FIXTURES}:{legacy}", "--candidate", f"{FIXTURES}:{candidate}",
            "--observation-space", OBS_JSON, "--action-space", str(action_space),
            "--model-config", model_config, "--num-samples", "64", *extra,
        ]

    return args


def test_cli_exit_0_for_a_migrated_rlmodule_candidate(cli_args, tmp_path, capsys):
    # an RLModule candidate, built with SingleAgentRLModuleSpec, weights ported by name
    out = tmp_path / "report.json"
    assert main(cli_args("TwoLayerModel", "TwoLayerRLModule", "--json", str(out))) == 0
    printed = capsys.readouterr().out
    assert "ported 6 tensors" in printed and "(6 by name)" in printed and "PARITY OK" in printed
    assert "candidate: TwoLayerRLModule (RLModule)" in printed
    report = ParityReport.from_json(out.read_text())
    assert report.ok and report.num_observations == 64
    # built right after torch.manual_seed(--seed) in the same layer order: the same init
    assert main(cli_args("TwoLayerModel", "TwoLayerRLModule", "--weights-from", "none")) == 0


def test_cli_exit_1_for_a_candidate_with_a_perturbed_init_or_forward(cli_args, capsys):
    assert main(cli_args("TwoLayerModel", "PerturbedInitRLModule", "--weights-from", "none")) == 1
    assert capsys.readouterr().out.startswith("PARITY FAILED: action_dist_inputs")
    # porting the legacy weights overwrites the perturbation
    assert main(cli_args("TwoLayerModel", "PerturbedInitRLModule")) == 0
    assert "PARITY OK" in capsys.readouterr().out
    # a bug in the migrated forward survives porting
    assert main(cli_args("TwoLayerModel", "PerturbedForwardRLModule")) == 1
    printed = capsys.readouterr().out
    assert "ported 6 tensors" in printed and "PARITY FAILED: action_dist_inputs" in printed
    assert "max_abs=0.1" in printed


def test_cli_exit_2_for_a_candidate_that_is_not_an_rlmodule(cli_args, tmp_path, capsys):
    out = tmp_path / "report.json"
    # a legacy ModelV2 candidate (before: built like the legacy side and compared, PARITY OK)
    assert main(cli_args("TwoLayerModel", "WithUnusedHeadModel", "--json", str(out))) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not out.exists()  # nothing built, nothing compared
    err = captured.err
    assert err.startswith(f"rlmigrate parity: error: --candidate {FIXTURES}:WithUnusedHeadModel: ")
    assert "WithUnusedHeadModel is not an RLModule (a subclass of rlmodule's RLModule" in err
    assert "a legacy ModelV2 (ray.rllib.models.torch.torch_modelv2.TorchModelV2) and a torch.nn.Module" in err
    assert "Run `rlmigrate migrate` on its file first" in err and "point --candidate at the migrated class" in err
    # a torch module that is neither
    assert main(cli_args("TwoLayerModel", "PlainTorchModel")) == 2
    err = capsys.readouterr().err
    assert "PlainTorchModel is not an RLModule" in err and "it is a torch.nn.Module." in err
    assert "ModelV2" not in err.split("it is ")[1].split(".")[0]
    # the very class given as --legacy
    assert main(cli_args("TwoLayerModel", "TwoLayerModel")) == 2
    err = capsys.readouterr().err
    assert f"--candidate {FIXTURES}:TwoLayerModel: it is the very class given as --legacy" in err
    assert "proves nothing" in err


def test_cli_exit_2_for_the_unmigrated_copy_a_crashed_codemod_leaves(cli_args, tmp_path, monkeypatch, capsys):
    """--out-dir after a codemod error holds the legacy file unchanged: another class
    object with the same name and code, which used to pass."""
    legacy_file = Path(__file__).resolve().parents[2] / "fixtures" / "legacy" / "models" / "value_caching.py"
    (tmp_path / "migrated_copy").mkdir()
    (tmp_path / "migrated_copy" / "value_caching.py").write_text(legacy_file.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    args = cli_args()
    args[2], args[4] = "fixtures.legacy.models.value_caching:ValueCachingModel", "migrated_copy.value_caching:ValueCachingModel"
    args[args.index("--action-space") + 1] = '{"type": "Discrete", "n": 2}'
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "PARITY" not in captured.out
    assert "--candidate migrated_copy.value_caching:ValueCachingModel: ValueCachingModel is not an RLModule" in captured.err
    assert "a legacy ModelV2 (ray.rllib.models.torch.torch_modelv2.TorchModelV2)" in captured.err
    # the real migration passes
    args[4] = "fixtures.migrated.models.value_caching:ValueCachingModel"
    assert main(args) == 0
    assert "PARITY OK" in capsys.readouterr().out


def _help_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["parity", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    return text, [json.loads(m) for m in re.findall(r"--observation-space '(\{.*?\})' ", text)]


def test_cli_help_shows_dict_and_tuple_spaces_and_they_work(cli_args, tmp_path, capsys):
    text, spaces = _help_examples(capsys)
    words = " ".join(text.split())
    assert "a candidate that is not an RLModule" in words and "run `rlmigrate migrate` first" in words
    assert [s["type"] for s in spaces] == ["Box", "Dict", "Tuple"]
    dict_space, tuple_space = spaces[1], spaces[2]
    # The Dict example is the action-masking fixture's space: its migration passes.
    args = cli_args()
    args[2], args[4] = (f"fixtures.{side}.models.masked_actions:MaskedActionsModel" for side in ("legacy", "migrated"))
    args[args.index("--observation-space") + 1] = json.dumps(dict_space)
    args[args.index("--action-space") + 1] = '{"type": "Discrete", "n": 4}'
    assert main(args) == 0, capsys.readouterr().err
    assert "PARITY OK" in capsys.readouterr().out
    # The Tuple example: a legacy model on obs_flat (Box + one-hot Discrete) against an
    # RLModule flattening the raw tuple itself.
    assert isinstance(space_from_dict(tuple_space), gym.spaces.Tuple)
    args = cli_args("TwoLayerModel", "FlatObsRLModule")
    args[args.index("--observation-space") + 1] = json.dumps(tuple_space)
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "ported 6 tensors" in printed and "PARITY OK" in printed

    # The description's nested examples (MultiBinary, Discrete, MultiDiscrete entries),
    # given in a file as in the epilog's last example.
    described = [json.loads(d) for d in re.findall(r"^  '(\{.*\})'$", text, re.M)]
    assert [d["type"] for d in described] == ["Box", "Discrete", "Dict", "Tuple"]
    for i, space in enumerate(described[2:]):
        path = tmp_path / f"obs_space_{i}.json"
        path.write_text(json.dumps(space))
        args = cli_args("TwoLayerModel", "FlatObsRLModule")
        args[args.index("--observation-space") + 1] = str(path)
        assert main(args) == 0, capsys.readouterr().err
        assert "PARITY OK" in capsys.readouterr().out


def test_cli_ignore_skips_legacy_tensors_the_candidate_does_not_use(cli_args, capsys):
    assert main(cli_args("WithUnusedHeadModel", "TwoLayerRLModule")) == 2
    assert "unused_head" in capsys.readouterr().err
    assert main(cli_args("WithUnusedHeadModel", "TwoLayerRLModule", "--ignore", "unused_head.*")) == 0
    printed = capsys.readouterr().out
    assert "ignored 2: unused_head.weight, unused_head.bias" in printed and "PARITY OK" in printed


def test_cli_exit_2_for_usage_errors(cli_args, tmp_path, capsys):
    assert main(cli_args("NoSuchModel", "TwoLayerRLModule")) == 2
    err = capsys.readouterr().err
    assert "--legacy" in err and "NoSuchModel" in err
    assert main(cli_args("TwoLayerModel", "TwoLayerRLModule", model_config=str(tmp_path / "missing.json"))) == 2
    err = capsys.readouterr().err
    assert "--model-config" in err and "missing.json" in err
    bad = cli_args()
    bad[bad.index("--observation-space") + 1] = "{not json"
    assert main(bad) == 2
    assert "--observation-space: invalid JSON" in capsys.readouterr().err
    for path in ("no_such_module_xyz:Model", "not-a-class-path"):
        bad = cli_args()
        bad[bad.index("--candidate") + 1] = path
        assert main(bad) == 2
        assert "--candidate" in capsys.readouterr().err


def test_atari_ram_observations_are_preprocessed_for_the_legacy_policy():
    """A (128,) Box is Atari RAM to legacy RLlib: (x - 128) / 128 before the model."""
    ram = gym.spaces.Box(0, 255, (128,), np.uint8)
    policy = legacy_policy(ram, gym.spaces.Discrete(3), {"fcnet_hiddens": [16]})
    module = ModelV2RLModule.wrap(policy.model, action_dist_class=policy.dist_class)
    report = check(policy, module, num_samples=32)
    assert report.ok, report.summary()


def test_cli_passes_custom_model_config_to_the_legacy_constructor(cli_args, tmp_path, capsys):
    """As ModelCatalog.get_model_v2: custom_model_config entries are constructor keywords."""
    config = tmp_path / "custom.json"
    config.write_text(json.dumps({"custom_model_config": {"hiddens": [32, 32]}}))
    legacy, migrated = "fixtures.legacy.models.value_caching", "fixtures.migrated.models.value_caching"
    args = cli_args(model_config=str(config))
    args[2], args[4] = f"{legacy}:ValueCachingModel", f"{migrated}:ValueCachingModel"
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "ported 8 tensors" in printed and "PARITY OK" in printed  # before: a [32, 4] <- [64, 4] conflict
