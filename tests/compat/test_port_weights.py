"""compat.port_weights: pairing by mapping / name / order, legacy FCNet <-> PPO module
round trips against ray 2.60's ModelV2 (the oracle), and all-or-nothing errors."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
from typing import Dict

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from compat.port_weights import PortEntry, PortReport, WeightPortError, port_weights
from rlmodule import SingleAgentRLModuleSpec
from rlmodule.algorithms.ppo import PPOConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

# Legacy FullyConnectedNetwork registers ``_logits`` first, then ``_hidden_layers``,
# ``_value_branch_separate`` (vf_share_layers=False only) and ``_value_branch``; our PPO
# module registers ``encoder`` (actor, then critic), ``pi``, ``vf``. Plain order fails at
# position 0 (``_logits`` [A, 16] vs the first hidden layer [32, 4]); mapping the logits
# layer onto ``pi`` is all it takes, the rest then lines up in order:
#   _hidden_layers.{0,1}._model.0.*          -> encoder.actor_encoder.mlp.net.{0,2}.*
#   _value_branch_separate.{0,1}._model.0.*  -> encoder.critic_encoder.mlp.net.{0,2}.*
#   _value_branch._model.0.*                 -> vf.net.0.*
LEGACY_TO_OURS = {
    "pi.net.0.weight": "_logits._model.0.weight",
    "pi.net.0.bias": "_logits._model.0.bias",
}
OURS_TO_LEGACY = {legacy: ours for ours, legacy in LEGACY_TO_OURS.items()}


def snapshot(module: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_state(module: nn.Module, state: Dict[str, torch.Tensor]) -> None:
    now = module.state_dict()
    assert now.keys() == state.keys()
    for k in state:
        torch.testing.assert_close(now[k], state[k], rtol=0, atol=0)


def mlp(*sizes: int) -> nn.Sequential:
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


# --- identical names ------------------------------------------------------------------
def test_identical_names_with_buffers() -> None:
    def net() -> nn.Sequential:
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2))

    torch.manual_seed(0)
    src, dst = net(), net()
    src.train()
    src(torch.randn(16, 4))  # moves BatchNorm's running stats off their defaults
    src.eval(), dst.eval()
    x = torch.randn(5, 4)
    assert not torch.allclose(src(x), dst(x))

    report = port_weights(src, dst)
    torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)
    assert {e.how for e in report.entries} == {"name"}
    assert [e.target_name for e in report.entries] == list(dst.state_dict())
    assert "1.running_mean" in {e.target_name for e in report.entries}
    assert dst[1].num_batches_tracked.item() == 1


# --- legacy FullyConnectedNetwork <-> PPO module ----------------------------------------
def legacy_and_ours(action_space: gym.Space, vf_share: bool):
    from ray.rllib.models import catalog
    config = {**catalog.MODEL_DEFAULTS, "fcnet_hiddens": [32, 16], "vf_share_layers": vf_share}
    _, num_outputs = catalog.ModelCatalog.get_action_dist(action_space, config, framework="torch")

    def legacy() -> nn.Module:
        return catalog.ModelCatalog.get_model_v2(OBS, action_space, num_outputs, config, framework="torch")

    spec = PPOConfig().framework("torch").get_default_rl_module_spec()
    spec.update(
        SingleAgentRLModuleSpec(observation_space=OBS, action_space=action_space, model_config_dict=config),
        override=False,
    )
    return legacy, spec.build()


def legacy_outputs(model: nn.Module, x: torch.Tensor):
    with torch.no_grad():
        logits, _ = model({"obs": x})
        return logits, model.value_function()


def assert_parity(legacy: nn.Module, ours: nn.Module, x: torch.Tensor) -> None:
    logits, values = legacy_outputs(legacy, x)
    torch.testing.assert_close(ours.forward_inference({"obs": x})["action_dist_inputs"], logits, rtol=0, atol=1e-6)
    with torch.no_grad():
        vf_preds = ours.forward_train({"obs": x})["vf_preds"]
    torch.testing.assert_close(vf_preds, values, rtol=0, atol=1e-6)


@pytest.mark.legacy
@pytest.mark.parametrize("vf_share", [True, False])
@pytest.mark.parametrize(
    "action_space",
    [gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,), np.float32)],
    ids=["discrete", "box"],
)
def test_legacy_fcnet_round_trip(action_space: gym.Space, vf_share: bool) -> None:
    torch.manual_seed(1)
    make_legacy, ours = legacy_and_ours(action_space, vf_share)
    legacy = make_legacy()
    x = torch.randn(7, 4)
    logits, _ = legacy_outputs(legacy, x)
    assert not torch.allclose(ours.forward_inference({"obs": x})["action_dist_inputs"], logits)

    before = snapshot(ours)
    with pytest.raises(WeightPortError, match="position 0") as info:
        port_weights(legacy, ours)  # plain order: _logits comes first on the legacy side
    assert "_logits._model.0.weight" in str(info.value)
    assert_same_state(ours, before)

    report = port_weights(legacy, ours, LEGACY_TO_OURS)
    assert_parity(legacy, ours, x)
    assert [e.how for e in report.entries].count("mapping") == 2
    entries = {e.target_name: e for e in report.entries}
    assert entries["encoder.actor_encoder.mlp.net.0.weight"] == PortEntry(
        "encoder.actor_encoder.mlp.net.0.weight", "_hidden_layers.0._model.0.weight", (32, 4), "order"
    )
    assert entries["vf.net.0.weight"].source_name == "_value_branch._model.0.weight"
    if not vf_share:
        assert entries["encoder.critic_encoder.mlp.net.0.weight"].source_name == (
            "_value_branch_separate.0._model.0.weight"
        )

    fresh = make_legacy()
    assert not torch.allclose(legacy_outputs(fresh, x)[0], logits)
    back = port_weights(ours, fresh, OURS_TO_LEGACY)
    assert_parity(fresh, ours, x)
    assert len(back.entries) == len(report.entries)


@pytest.mark.legacy
def test_legacy_numpy_weights_port_into_ours() -> None:
    """A legacy policy's ``get_weights()`` (name -> numpy) is a valid source."""
    make_legacy, ours = legacy_and_ours(gym.spaces.Discrete(3), vf_share=False)
    legacy = make_legacy()
    weights = {k: v.cpu().detach().numpy() for k, v in legacy.state_dict().items()}
    port_weights(weights, ours, LEGACY_TO_OURS)
    assert_parity(legacy, ours, torch.randn(3, 4))


# --- mapping ------------------------------------------------------------------------------
def test_explicit_mapping_wins_over_names() -> None:
    torch.manual_seed(2)
    src, dst = mlp(4, 4, 4), mlp(4, 4, 4)
    report = port_weights(src, dst, {"0.weight": "2.weight", "2.weight": "0.weight"})
    torch.testing.assert_close(dst[0].weight, src[2].weight)
    torch.testing.assert_close(dst[2].weight, src[0].weight)
    torch.testing.assert_close(dst[0].bias, src[0].bias)
    how = {e.target_name: (e.source_name, e.how) for e in report.entries}
    assert how == {
        "0.weight": ("2.weight", "mapping"),
        "0.bias": ("0.bias", "name"),
        "2.weight": ("0.weight", "mapping"),
        "2.bias": ("2.bias", "name"),
    }


def test_mapping_to_missing_names_raises_naming_them() -> None:
    src, dst = mlp(4, 3), mlp(4, 3)
    before = snapshot(dst)
    with pytest.raises(WeightPortError) as info:
        port_weights(src, dst, {"0.weight": "no_such_source", "no_such_target": "0.bias"})
    message = str(info.value)
    assert "'no_such_source'" in message and "'no_such_target'" in message
    assert len(info.value.mapping_errors) == 2
    assert_same_state(dst, before)


# --- errors: one error listing everything, target untouched --------------------------------
def test_unmatched_tensors_listed_in_one_error() -> None:
    src = nn.ModuleDict({"a": nn.Linear(4, 8), "extra": nn.Linear(3, 5)})
    dst = nn.ModuleDict({"a": nn.Linear(4, 8), "b": nn.Linear(8, 2), "c": nn.Linear(2, 6), "d": nn.Linear(6, 1)})
    before = snapshot(dst)
    with pytest.raises(WeightPortError) as info:
        port_weights(src, dst)
    message = str(info.value)
    for name, shape in [("b.weight", "[2, 8]"), ("c.weight", "[6, 2]"), ("d.bias", "[1]")]:
        assert f"{name} {shape}" in message
    for name, shape in [("extra.weight", "[5, 3]"), ("extra.bias", "[5]")]:
        assert f"{name} {shape}" in message
    assert "target-only" in message and "source-only" in message
    assert "6 target vs 2 source" in message
    assert [n for n, _ in info.value.target_only] == ["b.weight", "b.bias", "c.weight", "c.bias", "d.weight", "d.bias"]
    assert [n for n, _ in info.value.source_only] == ["extra.weight", "extra.bias"]
    assert not re.search(r"^\s*a\.weight", message, re.M)  # paired by name, not a problem
    assert_same_state(dst, before)


def test_shape_conflicts_listed() -> None:
    src, dst = mlp(4, 8, 2), mlp(4, 6, 2)
    before = snapshot(dst)
    with pytest.raises(WeightPortError) as info:
        port_weights(src, dst)
    conflicts = {c[0]: c for c in info.value.conflicts}
    assert set(conflicts) == {"0.weight", "0.bias", "2.weight"}
    assert conflicts["0.weight"] == ("0.weight", (6, 4), "0.weight", (8, 4), "name")
    assert "0.weight [6, 4] <- 0.weight [8, 4]" in str(info.value)
    assert_same_state(dst, before)


def test_transposed_tensor_is_not_transposed() -> None:
    src = nn.ParameterDict({"w": nn.Parameter(torch.randn(3, 5))})
    dst = nn.ParameterDict({"v": nn.Parameter(torch.randn(5, 3))})
    before = snapshot(dst)
    with pytest.raises(WeightPortError, match="position 0"):
        port_weights(src, dst)
    with pytest.raises(WeightPortError, match="transpose"):
        port_weights(src, dst, {"v": "w"})
    assert_same_state(dst, before)


def test_ambiguous_order_raises() -> None:
    src = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    dst = nn.ModuleDict({"x": nn.Linear(8, 2), "y": nn.Linear(4, 8)})  # same count, other order
    before = snapshot(dst)
    with pytest.raises(WeightPortError, match="position 0") as info:
        port_weights(src, dst)
    assert "x.weight [2, 8]" in str(info.value) and "0.weight [8, 4]" in str(info.value)
    assert_same_state(dst, before)
    port_weights(src, dst, {"x.weight": "1.weight", "x.bias": "1.bias", "y.weight": "0.weight", "y.bias": "0.bias"})
    torch.testing.assert_close(dst["x"].weight, src[1].weight)


def test_target_unchanged_when_only_some_tensors_fail() -> None:
    """Every name pairs except one conflict: still nothing is written."""
    src, dst = mlp(4, 8, 3), mlp(4, 8, 2)
    before = snapshot(dst)
    with pytest.raises(WeightPortError) as info:
        port_weights(src, dst)
    assert [c[0] for c in info.value.conflicts] == ["2.weight", "2.bias"]
    assert_same_state(dst, before)


def test_non_strict_leaves_unpaired_and_reports_them() -> None:
    src = nn.ModuleDict({"a": nn.Linear(4, 8), "extra": nn.Linear(3, 5)})
    dst = nn.ModuleDict({"a": nn.Linear(4, 8), "b": nn.Linear(8, 2), "c": nn.Linear(2, 2)})
    b_before = dst["b"].weight.detach().clone()
    report = port_weights(src, dst, strict=False)
    torch.testing.assert_close(dst["a"].weight, src["a"].weight)
    torch.testing.assert_close(dst["b"].weight, b_before)
    assert [n for n, _ in report.target_only] == ["b.weight", "b.bias", "c.weight", "c.bias"]
    assert report.source_only == [("extra.weight", (5, 3)), ("extra.bias", (5,))]
    assert "left unchanged (target only): b.weight [2, 8]" in str(report)
    with pytest.raises(WeightPortError):  # shape conflicts raise even when not strict
        port_weights(mlp(4, 8), mlp(4, 6), strict=False)


# --- sources, dtypes, tied tensors ----------------------------------------------------------
def test_numpy_source_converted_to_target_dtype() -> None:
    dst = mlp(4, 3).double()
    rng = np.random.default_rng(0)
    weights = {"0.weight": rng.standard_normal((3, 4)).astype(np.float32), "0.bias": np.arange(3, dtype=np.int64)}
    weights["0.weight"].setflags(write=False)
    report = port_weights(weights, dst)
    assert dst[0].weight.dtype == torch.float64 and dst[0].weight.device.type == "cpu"
    np.testing.assert_array_equal(dst[0].weight.detach().numpy(), weights["0.weight"])
    np.testing.assert_array_equal(dst[0].bias.detach().numpy(), [0.0, 1.0, 2.0])
    assert isinstance(dst[0].weight, nn.Parameter) and dst[0].weight.requires_grad
    assert [e.how for e in report.entries] == ["name", "name"]
    with pytest.raises(TypeError, match="0.bias"):
        port_weights({"0.weight": weights["0.weight"], "0.bias": [0.0, 1.0, 2.0]}, dst)



def test_copies_are_independent_of_the_source() -> None:
    src, dst = mlp(4, 3), mlp(4, 3)
    port_weights(src, dst)
    with torch.no_grad():
        src[0].weight.add_(1.0)
    assert not torch.allclose(dst[0].weight, src[0].weight)


class Tied(nn.Module):
    """``embed.weight`` and ``out.weight`` are one Parameter ([6, 4])."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(6, 4)
        self.out = nn.Linear(4, 6)
        self.out.weight = self.embed.weight


def test_tied_target_tensors_count_once() -> None:
    torch.manual_seed(3)
    src, dst = Tied(), Tied()
    report = port_weights(src, dst)
    assert [e.target_name for e in report.entries] == ["embed.weight", "out.bias"]
    torch.testing.assert_close(dst.out.weight, src.embed.weight)
    assert dst.out.weight is dst.embed.weight

    # by order: a source with the one [6, 4] tensor and a [6] bias, other names
    weights = {"w": torch.randn(6, 4), "b": torch.randn(6)}
    report = port_weights(weights, dst)
    assert [(e.target_name, e.source_name, e.how) for e in report.entries] == [
        ("embed.weight", "w", "order"),
        ("out.bias", "b", "order"),
    ]
    torch.testing.assert_close(dst.out.weight, weights["w"])


# --- report ---------------------------------------------------------------------------------
def test_report_contents_str_and_dict() -> None:
    src = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    dst = nn.ModuleDict({"hidden": nn.Linear(4, 8), "out": nn.Linear(8, 2)})
    report = port_weights(src, dst, {"out.bias": "1.bias"})
    assert isinstance(report, PortReport)
    assert report.entries == [
        ("hidden.weight", "0.weight", (8, 4), "order"),
        ("hidden.bias", "0.bias", (8,), "order"),
        ("out.weight", "1.weight", (2, 8), "order"),
        ("out.bias", "1.bias", (2,), "mapping"),
    ]
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["target", "shape", "how", "source"]
    assert re.search(r"^hidden\.weight\s+\[8, 4\]\s+order\s+0\.weight$", text, re.M)
    assert re.search(r"^out\.bias\s+\[2\]\s+mapping\s+1\.bias$", text, re.M)
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["entries"][0] == {"target": "hidden.weight", "source": "0.weight", "shape": [8, 4], "how": "order"}
    assert data["target_only"] == [] and data["source_only"] == []


# --- no ray ---------------------------------------------------------------------------------
def test_module_does_not_import_ray() -> None:
    source = (ROOT / "compat" / "port_weights.py").read_text()
    assert not re.search(r"^\s*(import ray|from ray)\b", source, re.M)
    assert "import ray" not in source and "from ray" not in source
    code = "import sys, compat.port_weights; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- the 1x1 conv <-> Linear reshape rule -----------------------------------------------------
@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((3, 6, 1, 1), (3, 6), True),
        ((3, 6), (3, 6, 1, 1), True),
        ((3, 6, 1, 1), (6, 3), False),  # a transpose, not a reshape
        ((3, 6, 2, 2), (3, 6), False),
        ((3, 6, 1), (3, 6), False),
        ((1, 1, 3, 6), (3, 6), False),
        ((3, 6), (3, 6), False),
    ],
)
def test_reshapeable_is_exactly_1x1_conv_kernel_vs_linear_weight(a, b, expected) -> None:
    from compat.port_weights import reshapeable

    assert reshapeable(a, b) is expected


def test_1x1_conv_and_linear_pair_by_order_or_mapping_with_a_reshape() -> None:
    torch.manual_seed(4)
    conv = nn.Sequential(nn.Conv2d(6, 3, 1))
    x = torch.randn(5, 6)
    linear = nn.Sequential(nn.Identity(), nn.Linear(6, 3))  # names 1.*: no name pairs
    report = port_weights(conv, linear)
    torch.testing.assert_close(linear(x), conv(x[:, :, None, None])[:, :, 0, 0])
    assert [e.how for e in report.entries] == ["order+reshape", "order"]

    head = nn.ModuleDict({"head": nn.Linear(6, 3)})
    report = port_weights(conv, head, {"head.weight": "0.weight", "head.bias": "0.bias"})
    torch.testing.assert_close(head["head"](x), linear(x), rtol=0, atol=0)
    assert report.entries[0] == PortEntry("head.weight", "0.weight", (3, 6), "mapping+reshape")
    assert re.search(r"^head\.weight\s+\[3, 6\]\s+mapping\+reshape\s+0\.weight$", str(report), re.M)
    assert report.to_dict()["entries"][0]["how"] == "mapping+reshape"

    back = nn.ModuleDict({"c": nn.Conv2d(6, 3, 1)})  # and the other way round
    assert [e.how for e in port_weights(head, back).entries] == ["order+reshape", "order"]
    torch.testing.assert_close(back["c"].weight, conv[0].weight, rtol=0, atol=0)


def test_reshape_is_never_done_for_name_pairs_or_other_shapes() -> None:
    src, dst = nn.ModuleDict({"a": nn.Conv2d(6, 3, 1)}), nn.ModuleDict({"a": nn.Linear(6, 3)})
    before = snapshot(dst)
    with pytest.raises(WeightPortError) as info:
        port_weights(src, dst)
    assert info.value.conflicts == [("a.weight", (3, 6), "a.weight", (3, 6, 1, 1), "name")]
    assert "reshape is done only for mapping or order pairs" in str(info.value)
    with pytest.raises(WeightPortError, match="position 0"):
        port_weights(nn.Sequential(nn.Conv2d(6, 3, 2)), nn.ModuleDict({"b": nn.Linear(6, 3)}))
    with pytest.raises(WeightPortError, match="position 0"):
        port_weights(nn.Sequential(nn.Conv1d(6, 3, 1)), nn.ModuleDict({"b": nn.Linear(6, 3)}))
    assert_same_state(dst, before)


# --- ignore: source tensors left out on purpose ------------------------------------------------
def test_ignored_source_tensors_take_no_part_and_are_reported() -> None:
    torch.manual_seed(5)
    src = nn.ModuleDict({"body": nn.Linear(4, 8), "unused": nn.Linear(4, 8), "head": nn.Linear(8, 2)})
    dst = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    before = snapshot(dst)
    with pytest.raises(WeightPortError) as info:  # silent dropping is never an option
        port_weights(src, dst)
    assert "4 target vs 6 source" in str(info.value) and "pass ignore=[pattern]" in str(info.value)
    assert_same_state(dst, before)

    report = port_weights(src, dst, ignore=["unused.*", "matches_nothing"])
    assert [(e.target_name, e.source_name, e.how) for e in report.entries] == [
        ("0.weight", "body.weight", "order"), ("0.bias", "body.bias", "order"),
        ("1.weight", "head.weight", "order"), ("1.bias", "head.bias", "order"),
    ]
    assert report.ignored == [("unused.weight", (8, 4)), ("unused.bias", (8,))]
    assert "ignored (source): unused.weight [8, 4]" in str(report)
    assert report.to_dict()["ignored"] == [{"name": "unused.weight", "shape": [8, 4]}, {"name": "unused.bias", "shape": [8]}]
    torch.testing.assert_close(dst[1].weight, src["head"].weight, rtol=0, atol=0)


def test_an_ignored_source_is_not_paired_by_name_nor_mapped() -> None:
    src, dst = mlp(4, 3), mlp(4, 3)
    before = snapshot(dst)
    with pytest.raises(WeightPortError) as info:
        port_weights(src, dst, ignore="0.bias")
    assert info.value.target_only == [("0.bias", (3,))] and info.value.source_only == []
    with pytest.raises(WeightPortError, match="'0.bias' .*is ignored"):
        port_weights(src, dst, {"0.bias": "0.bias"}, ignore="0.bias")
    assert_same_state(dst, before)


@pytest.mark.legacy
@pytest.mark.parametrize("vf_share", [True, False])
def test_legacy_visionnet_round_trip(vf_share: bool) -> None:
    """Legacy VisionNetwork -> our PPO module -> a fresh VisionNetwork, through the
    1x1 logits (and separate value) convs; outputs agree at each end."""
    from ray.rllib.models import catalog

    from compat.port_weights import LEGACY_VISIONNET_TO_PPO

    image = gym.spaces.Box(0.0, 1.0, (16, 16, 3), np.float32)
    filters = [[8, [4, 4], 2], [16, [3, 3], 2], [32, [4, 4], 1]]
    config = {**catalog.MODEL_DEFAULTS, "conv_filters": filters, "vf_share_layers": vf_share}
    torch.manual_seed(6)

    def legacy() -> nn.Module:
        return catalog.ModelCatalog.get_model_v2(image, gym.spaces.Discrete(3), 3, config, framework="torch")

    spec = PPOConfig().framework("torch").get_default_rl_module_spec()
    spec.update(
        SingleAgentRLModuleSpec(observation_space=image, action_space=gym.spaces.Discrete(3), model_config_dict=config),
        override=False,
    )
    source, ours, fresh = legacy(), spec.build(), legacy()
    x = torch.rand(4, 16, 16, 3)
    report = port_weights(source, ours, LEGACY_VISIONNET_TO_PPO)
    assert_parity(source, ours, x)
    assert sum(e.how.endswith("+reshape") for e in report.entries) == (1 if vf_share else 2)
    port_weights(ours, fresh, {s: t for t, s in LEGACY_VISIONNET_TO_PPO.items()})
    assert_parity(fresh, ours, x)
