"""The public API: SingleAgentRLModuleSpec, MultiAgentRLModule, MultiAgentRLModuleSpec,
state round trips, and that importing the package loads no framework."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rlmodule import (
    DEFAULT_MODULE_ID,
    MultiAgentRLModule,
    MultiAgentRLModuleSpec,
    RLModule,
    SingleAgentRLModuleSpec,
    SpecCheckError,
    TensorSpec,
)
from rlmodule.testing import DiscreteBCTorchModule
from rlmodule.torch import TorchRLModule

ROOT = Path(__file__).resolve().parents[2]
OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(2)


class CountingTorchModule(TorchRLModule):
    """Counts its forwards; returns ``action_dist_inputs`` of shape [B, 2]."""

    def setup(self) -> None:
        self.lin = nn.Linear(4, 2)
        self.calls = []

    def _forward_train(self, batch):
        self.calls.append("train")
        return {"action_dist_inputs": self.lin(batch["obs"])}

    def _forward_exploration(self, batch):
        self.calls.append("exploration")
        return {"action_dist_inputs": self.lin(batch["obs"])}

    def _forward_inference(self, batch):
        self.calls.append("inference")
        return {"action_dist_inputs": self.lin(batch["obs"])}


class ObsShapeModule(CountingTorchModule):
    def input_specs_train(self):
        return {"obs": TensorSpec("b, d", d=4, framework="torch")}


class NotAModule:
    pass


def _spec(**kw) -> SingleAgentRLModuleSpec:
    base = dict(
        module_class=DiscreteBCTorchModule,
        observation_space=OBS,
        action_space=ACT,
        model_config_dict={"fcnet_hiddens": [8]},
    )
    base.update(kw)
    return SingleAgentRLModuleSpec(**base)


def _obs(n=3, dim=4, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).uniform(-1, 1, (n, dim)).astype(np.float32))


def _logits(module, obs):
    return module.forward_inference({"obs": obs})["action_dist_inputs"]


# --- SingleAgentRLModuleSpec.build ---------------------------------------------------------------
def test_build_makes_a_working_module():
    module = _spec().build()
    assert isinstance(module, DiscreteBCTorchModule)
    assert module.config.observation_space == OBS
    assert module.config.model_config_dict == {"fcnet_hiddens": [8]}
    assert tuple(_logits(module, _obs()).shape) == (3, 2)
    assert module.policy[0].out_features == 8


@pytest.mark.parametrize("field", ["module_class", "observation_space", "action_space"])
def test_build_names_the_missing_field(field):
    with pytest.raises(ValueError) as excinfo:
        _spec(**{field: None}).build()
    assert f"{field} is None" in str(excinfo.value)


@pytest.mark.parametrize("bad", [NotAModule, nn.Linear, "DiscreteBCTorchModule", DiscreteBCTorchModule(
    SingleAgentRLModuleSpec(observation_space=OBS, action_space=ACT, model_config_dict={"fcnet_hiddens": [2]}).get_rl_module_config()
)])
def test_build_rejects_a_non_rlmodule_class(bad):
    with pytest.raises(TypeError) as excinfo:
        _spec(module_class=bad).build()
    msg = str(excinfo.value)
    assert "module_class" in msg and "RLModule subclass" in msg


@pytest.mark.parametrize("field", ["observation_space", "action_space"])
@pytest.mark.parametrize("bad", [(4,), np.zeros(4), "Box(4)"])
def test_build_rejects_a_non_space(field, bad):
    with pytest.raises(TypeError) as excinfo:
        _spec(**{field: bad}).build()
    assert field in str(excinfo.value) and "gymnasium.Space" in str(excinfo.value)


@pytest.mark.parametrize(
    "config, key",
    [
        ({"fcnet_hiddens": "64"}, "fcnet_hiddens"),
        ({"fcnet_hiddens": [64.0]}, "fcnet_hiddens"),
        ({"fcnet_hiddens": [8], "use_lstm": 1}, "use_lstm"),
        ({"fcnet_hiddens": [8], "fcnet_activation": 3}, "fcnet_activation"),
        ({"fcnet_hiddens": [8], "max_seq_len": 0}, "max_seq_len"),
        ({"fcnet_hiddens": [8], "custom_model_config": []}, "custom_model_config"),
    ],
)
def test_model_config_of_the_wrong_type_names_the_key_at_build(config, key):
    with pytest.raises(TypeError) as excinfo:
        _spec(model_config_dict=config).build()
    assert f"model_config_dict[{key!r}]" in str(excinfo.value)


def test_model_config_must_be_a_dict():
    with pytest.raises(TypeError, match="model_config_dict must be a dict"):
        _spec(model_config_dict=[("fcnet_hiddens", [8])]).build()


def test_unknown_model_config_keys_are_allowed():
    module = _spec(model_config_dict={"fcnet_hiddens": [3], "my_custom_key": object()}).build()
    assert module.policy[0].out_features == 3


# --- update ----------------------------------------------------------------------------------
def test_update_override_true_takes_every_non_none_field():
    spec = _spec()
    other = SingleAgentRLModuleSpec(observation_space=gym.spaces.Box(-2, 2, (6,)), model_config_dict={"fcnet_hiddens": [3]})
    spec.update(other, override=True)
    assert spec.observation_space == gym.spaces.Box(-2, 2, (6,))
    assert spec.model_config_dict == {"fcnet_hiddens": [3]}
    assert spec.module_class is DiscreteBCTorchModule  # other's None does not erase
    assert spec.action_space == ACT


def test_update_override_false_fills_only_none_fields():
    spec = SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule, model_config_dict={"fcnet_hiddens": [8]})
    other = SingleAgentRLModuleSpec(
        module_class=CountingTorchModule, observation_space=OBS, action_space=ACT, model_config_dict={"fcnet_hiddens": [3]}
    )
    spec.update(other, override=False)
    assert spec.module_class is DiscreteBCTorchModule
    assert spec.model_config_dict == {"fcnet_hiddens": [8]}
    assert spec.observation_space == OBS and spec.action_space == ACT
    assert spec.build().policy[0].out_features == 8


def test_update_default_is_override():
    spec = _spec()
    spec.update(SingleAgentRLModuleSpec(action_space=gym.spaces.Discrete(7)))
    assert spec.action_space == gym.spaces.Discrete(7)


def test_update_rejects_other_types():
    with pytest.raises(TypeError, match="dict"):
        _spec().update({"action_space": ACT})


# --- to_dict / from_dict ----------------------------------------------------------------------
SPACES = {
    "box_inf": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
    "box_per_element": gym.spaces.Box(np.array([-1.0, -np.inf, 0.25]), np.array([1.0, 2.5, np.inf]), dtype=np.float64),
    "box_2d_per_element": gym.spaces.Box(
        np.array([[0.1, 0.2], [0.3, 0.4]], np.float32), np.array([[1, 2], [3, 4]], np.float32)
    ),
    "box_uint8": gym.spaces.Box(0, 255, (2, 2), np.uint8),
    "box_scalar": gym.spaces.Box(-1.0, 1.0, (), np.float32),
    "discrete": gym.spaces.Discrete(4),
    "discrete_start": gym.spaces.Discrete(5, start=-2),
    "multi_discrete": gym.spaces.MultiDiscrete([3, 4], start=[1, -1]),
    "multi_discrete_2d": gym.spaces.MultiDiscrete(np.array([[2, 3], [4, 5]])),
    "multi_binary": gym.spaces.MultiBinary(4),
    "multi_binary_2d": gym.spaces.MultiBinary([2, 3]),
    "nested": gym.spaces.Dict(
        {
            "b": gym.spaces.Discrete(2),
            "a": gym.spaces.Tuple(
                [gym.spaces.Box(-np.inf, 0.0, (2,)), gym.spaces.MultiBinary(3), gym.spaces.Dict({"z": gym.spaces.Discrete(3, start=1)})]
            ),
        }
    ),
}


def _same_space(a, b):
    assert type(a) is type(b)
    assert a == b
    if isinstance(a, gym.spaces.Box):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.low, b.low)
        np.testing.assert_array_equal(a.high, b.high)
    elif isinstance(a, gym.spaces.MultiDiscrete):
        np.testing.assert_array_equal(a.nvec, b.nvec)
        np.testing.assert_array_equal(a.start, b.start)
    elif isinstance(a, gym.spaces.Discrete):
        assert (a.n, a.start) == (b.n, b.start)
    elif isinstance(a, gym.spaces.Tuple):
        for x, y in zip(a.spaces, b.spaces):
            _same_space(x, y)
    elif isinstance(a, gym.spaces.Dict):
        assert a.spaces.keys() == b.spaces.keys()
        for k in a.spaces:
            _same_space(a[k], b[k])


@pytest.mark.parametrize("name", list(SPACES))
def test_to_dict_is_strict_json_and_round_trips(name):
    space = SPACES[name]
    spec = _spec(observation_space=space, action_space=space, model_config_dict={"fcnet_hiddens": [8], "nested": {"x": [1, 2.5, None, True, "s"]}})
    d = spec.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = SingleAgentRLModuleSpec.from_dict(json.loads(text))
    assert back == spec
    _same_space(back.observation_space, space)
    _same_space(back.action_space, space)
    assert back.module_class is DiscreteBCTorchModule
    assert back.model_config_dict == spec.model_config_dict


def test_to_dict_of_a_partial_spec():
    spec = SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule)
    d = json.loads(json.dumps(spec.to_dict(), allow_nan=False))
    assert d["observation_space"] is None and d["model_config_dict"] is None
    assert SingleAgentRLModuleSpec.from_dict(d) == spec
    assert SingleAgentRLModuleSpec.from_dict(SingleAgentRLModuleSpec().to_dict()) == SingleAgentRLModuleSpec()


def test_to_dict_keeps_load_state_path():
    spec = _spec(load_state_path="/some/where")
    assert SingleAgentRLModuleSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    "config, path",
    [
        ({"a": object()}, "model_config_dict['a']"),
        ({"a": {"b": [1, {1, 2}]}}, "model_config_dict['a']['b'][1]"),
        ({"a": np.float32(1.0)}, "model_config_dict['a']"),
        ({"a": {"b": float("nan")}}, "model_config_dict['a']['b']"),
        ({"a": [float("inf")]}, "model_config_dict['a'][0]"),
        ({"a": {3: 1}}, "model_config_dict['a']"),
    ],
)
def test_non_json_model_config_names_the_key_path(config, path):
    with pytest.raises(TypeError) as excinfo:
        _spec(model_config_dict=config).to_dict()
    assert path in str(excinfo.value)


def test_module_class_defined_in_a_function_cannot_be_serialized():
    class Local(CountingTorchModule):
        pass

    with pytest.raises(ValueError, match="module level"):
        _spec(module_class=Local).to_dict()


def test_from_dict_with_a_bad_class_path_names_it():
    d = _spec().to_dict()
    d["module_class"] = "no_such_pkg_abc:Thing"
    with pytest.raises(ValueError, match="no_such_pkg_abc"):
        SingleAgentRLModuleSpec.from_dict(d)


# --- as_multi_agent ---------------------------------------------------------------------------
def test_spec_as_multi_agent():
    spec = _spec()
    marl_spec = spec.as_multi_agent()
    assert isinstance(marl_spec, MultiAgentRLModuleSpec)
    assert marl_spec.module_specs == {DEFAULT_MODULE_ID: spec}
    marl = marl_spec.build()
    assert list(marl.keys()) == [DEFAULT_MODULE_ID]
    assert isinstance(marl[DEFAULT_MODULE_ID], DiscreteBCTorchModule)
    assert marl_spec.as_multi_agent() is marl_spec


def test_module_as_multi_agent():
    module = _spec().build()
    marl = module.as_multi_agent()
    assert isinstance(marl, MultiAgentRLModule)
    assert list(marl.keys()) == [DEFAULT_MODULE_ID] == ["default_policy"]
    assert marl[DEFAULT_MODULE_ID] is module
    assert marl.as_multi_agent() is marl
    obs = _obs()
    out = marl.forward_inference({DEFAULT_MODULE_ID: {"obs": obs}})
    assert torch.equal(out[DEFAULT_MODULE_ID]["action_dist_inputs"], _logits(module, obs))


# --- MultiAgentRLModule -----------------------------------------------------------------------
def _marl(*ids) -> MultiAgentRLModule:
    marl = MultiAgentRLModule()
    for mid in ids:
        marl.add_module(mid, CountingTorchModule())
    return marl


def test_add_module_and_duplicates():
    marl = _marl("a")
    first = marl["a"]
    replacement = CountingTorchModule()
    with pytest.raises(ValueError) as excinfo:
        marl.add_module("a", replacement)
    assert "'a'" in str(excinfo.value) and "override=True" in str(excinfo.value)
    assert marl["a"] is first
    marl.add_module("a", replacement, override=True)
    assert marl["a"] is replacement
    with pytest.raises(TypeError, match="expected an RLModule"):
        marl.add_module("b", nn.Linear(2, 2))
    assert "b" not in marl


def test_remove_module():
    marl = _marl("a", "b", "c")
    marl.remove_module("b")
    assert list(marl.keys()) == ["a", "c"]
    with pytest.raises(KeyError) as excinfo:
        marl.remove_module("zzz")
    msg = str(excinfo.value)
    assert "'zzz'" in msg and "['a', 'c']" in msg
    marl.remove_module("zzz", raise_err_if_not_found=False)
    assert list(marl.keys()) == ["a", "c"]


def test_dict_interface():
    marl = _marl("a", "b")
    assert list(marl.keys()) == ["a", "b"]
    assert "a" in marl and "x" not in marl
    assert len(marl) == 2
    assert list(marl) == ["a", "b"]
    assert [mid for mid, _ in marl.items()] == ["a", "b"]
    with pytest.raises(KeyError) as excinfo:
        marl["x"]
    assert "'x'" in str(excinfo.value) and "['a', 'b']" in str(excinfo.value)


def test_foreach_module():
    marl = _marl("a", "b")
    out = marl.foreach_module(lambda mid, m, suffix: (mid + suffix, type(m).__name__), suffix="!")
    assert out == [("a!", "CountingTorchModule"), ("b!", "CountingTorchModule")]
    assert marl.foreach_module(lambda mid, m: m is marl[mid]) == [True, True]


def test_forward_with_unknown_module_id():
    marl = _marl("a", "b")
    with pytest.raises(KeyError) as excinfo:
        marl.forward_train({"a": {"obs": _obs()}, "ghost": {"obs": _obs()}})
    msg = str(excinfo.value)
    assert "'ghost'" in msg and "forward_train" in msg and "['a', 'b']" in msg


@pytest.mark.parametrize("phase", ["train", "exploration", "inference"])
def test_forward_runs_only_modules_in_the_batch(phase):
    marl = _marl("a", "b", "c")
    out = getattr(marl, f"forward_{phase}")({"b": {"obs": _obs(2)}, "c": {"obs": _obs(5)}})
    assert sorted(out) == ["b", "c"]
    assert tuple(out["b"]["action_dist_inputs"].shape) == (2, 2)
    assert tuple(out["c"]["action_dist_inputs"].shape) == (5, 2)
    assert marl["a"].calls == []
    assert marl["b"].calls == [phase] and marl["c"].calls == [phase]
    assert getattr(marl, f"forward_{phase}")({}) == {}


def test_marl_forward_checks_each_sub_batch():
    marl = _marl("a")
    with pytest.raises(SpecCheckError, match=r"CountingTorchModule.forward_train\(\) input is missing key \['obs'\]"):
        marl.forward_train({"a": {"observations": _obs()}})
    with pytest.raises(SpecCheckError, match="must be a dict"):
        marl.forward_train([("a", {"obs": _obs()})])


def test_marl_get_and_set_state():
    src = MultiAgentRLModuleSpec(module_specs={"a": _spec(), "b": _spec()}).build()
    dst = MultiAgentRLModuleSpec(module_specs={"a": _spec(), "b": _spec()}).build()
    state = src.get_state()
    assert sorted(state) == ["a", "b"]
    assert sorted(src.get_state(["b"])) == ["b"]
    obs = _obs()
    assert not torch.equal(_logits(dst["a"], obs), _logits(src["a"], obs))
    dst.set_state(state)
    for mid in ("a", "b"):
        assert torch.equal(_logits(dst[mid], obs), _logits(src[mid], obs))
    with pytest.raises(KeyError, match="'zz'"):
        dst.set_state({"zz": state["a"]})


# --- MultiAgentRLModuleSpec ------------------------------------------------------------------
def test_marl_spec_with_a_dict():
    spec = MultiAgentRLModuleSpec(module_specs={"m1": _spec(), "m2": _spec(model_config_dict={"fcnet_hiddens": [3]})})
    marl = spec.build()
    assert type(marl) is MultiAgentRLModule
    assert sorted(marl.keys()) == ["m1", "m2"]
    assert marl["m2"].policy[0].out_features == 3
    assert marl.config.modules == spec.module_specs


def test_marl_spec_broadcast():
    single = _spec()
    spec = MultiAgentRLModuleSpec(module_specs=single)
    with pytest.raises(ValueError) as excinfo:
        spec.build()
    msg = str(excinfo.value)
    assert "single spec" in msg and "for_module_ids" in msg
    expanded = spec.for_module_ids(["p0", "p1"])
    assert spec.module_specs is single  # the original is left as is
    assert sorted(expanded.module_specs) == ["p0", "p1"]
    assert expanded.module_specs["p0"] == single and expanded.module_specs["p0"] is not single
    assert expanded.module_specs["p0"] is not expanded.module_specs["p1"]
    marl = expanded.build()
    assert sorted(marl.keys()) == ["p0", "p1"]
    assert marl["p0"] is not marl["p1"]
    # ids for an already expanded spec change nothing
    assert expanded.for_module_ids(["x"]).module_specs.keys() == {"p0", "p1"}


def test_marl_spec_build_one_module():
    spec = MultiAgentRLModuleSpec(module_specs={"m1": _spec(), "m2": _spec()})
    m1 = spec.build("m1")
    assert isinstance(m1, DiscreteBCTorchModule)
    with pytest.raises(KeyError) as excinfo:
        spec.build("m3")
    assert "'m3'" in str(excinfo.value) and "['m1', 'm2']" in str(excinfo.value)


def test_marl_spec_build_rejects_a_non_marl_class():
    spec = MultiAgentRLModuleSpec(marl_module_class=DiscreteBCTorchModule, module_specs={"m1": _spec()})
    with pytest.raises(TypeError, match="marl_module_class"):
        spec.build()


def test_add_modules_override_true_replaces():
    spec = MultiAgentRLModuleSpec(module_specs={"m1": _spec()})
    new = SingleAgentRLModuleSpec(module_class=CountingTorchModule)
    spec.add_modules({"m1": new, "m2": _spec()})
    assert spec.module_specs["m1"] is new
    assert spec.module_specs["m2"] == _spec()


def test_add_modules_override_false_fills_none_fields():
    spec = MultiAgentRLModuleSpec(module_specs={"m1": SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule)})
    spec.add_modules(
        {"m1": _spec(module_class=CountingTorchModule), "m2": _spec(model_config_dict={"fcnet_hiddens": [2]})},
        override=False,
    )
    assert spec.module_specs["m1"].module_class is DiscreteBCTorchModule
    assert spec.module_specs["m1"].observation_space == OBS
    assert spec.module_specs["m2"].model_config_dict == {"fcnet_hiddens": [2]}
    assert sorted(spec.build().keys()) == ["m1", "m2"]


def test_marl_spec_update():
    spec = MultiAgentRLModuleSpec(module_specs={"m1": SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule)})
    # a single-agent spec updates every module
    spec.update(SingleAgentRLModuleSpec(observation_space=OBS, action_space=ACT, model_config_dict={"fcnet_hiddens": [4]}))
    assert spec.module_specs["m1"] == _spec(model_config_dict={"fcnet_hiddens": [4]})
    # a multi-agent spec: new ids are added, existing ones only filled (override=False)
    spec.update(MultiAgentRLModuleSpec(module_specs={"m1": _spec(), "m2": _spec()}))
    assert spec.module_specs["m1"].model_config_dict == {"fcnet_hiddens": [4]}
    assert "m2" in spec.module_specs
    spec.update(MultiAgentRLModuleSpec(module_specs={"m1": _spec()}), override=True)
    assert spec.module_specs["m1"].model_config_dict == {"fcnet_hiddens": [8]}
    # a broadcast multi-agent spec updates every module
    spec.update(MultiAgentRLModuleSpec(module_specs=SingleAgentRLModuleSpec(action_space=gym.spaces.Discrete(9))), override=True)
    assert spec.module_specs["m1"].action_space == gym.spaces.Discrete(9)
    assert spec.module_specs["m2"].action_space == gym.spaces.Discrete(9)
    with pytest.raises(TypeError):
        spec.update({"m1": _spec()})


def test_marl_spec_round_trip():
    spec = MultiAgentRLModuleSpec(
        module_specs={"m1": _spec(observation_space=SPACES["nested"]), "m2": _spec(action_space=SPACES["multi_discrete"])},
        load_state_path="/tmp/x",
    )
    d = json.loads(json.dumps(spec.to_dict(), allow_nan=False))
    assert MultiAgentRLModuleSpec.from_dict(d) == spec
    broadcast = MultiAgentRLModuleSpec(module_specs=_spec())
    back = MultiAgentRLModuleSpec.from_dict(json.loads(json.dumps(broadcast.to_dict(), allow_nan=False)))
    assert back == broadcast
    assert isinstance(back.module_specs, SingleAgentRLModuleSpec)


def test_marl_spec_from_module():
    spec = MultiAgentRLModuleSpec(module_specs={"m1": _spec()})
    assert MultiAgentRLModuleSpec.from_module(spec.build()) == spec


def test_errors_from_a_sub_spec_name_the_module_id():
    spec = MultiAgentRLModuleSpec(module_specs={"m0": _spec(), "m1": _spec(action_space=None)})
    with pytest.raises(ValueError) as excinfo:
        spec.build()
    assert "module_specs['m1']" in str(excinfo.value) and "action_space is None" in str(excinfo.value)
    with pytest.raises(ValueError, match=r"module_specs\['m1'\].*action_space is None"):
        spec.build("m1")

    spec = MultiAgentRLModuleSpec(module_specs={"m1": _spec(model_config_dict={"fcnet_hiddens": "64"})})
    with pytest.raises(TypeError) as excinfo:
        spec.build()
    assert "module_specs['m1']" in str(excinfo.value) and "fcnet_hiddens" in str(excinfo.value)

    spec = MultiAgentRLModuleSpec(module_specs={"m1": _spec(model_config_dict={"x": object()})})
    with pytest.raises(TypeError) as excinfo:
        spec.to_dict()
    assert "module_specs['m1']" in str(excinfo.value) and "model_config_dict['x']" in str(excinfo.value)


# --- input checks through real modules ------------------------------------------------------------
@pytest.mark.parametrize("phase", ["train", "exploration", "inference"])
def test_batch_missing_obs(phase):
    module = _spec().build()
    with pytest.raises(SpecCheckError) as excinfo:
        getattr(module, f"forward_{phase}")({"observations": _obs()})
    msg = str(excinfo.value)
    assert f"DiscreteBCTorchModule.forward_{phase}() input" in msg and "['obs']" in msg
    assert "'observations'" in msg


def test_wrong_observation_shape_names_the_dim():
    module = ObsShapeModule()
    module.forward_train({"obs": _obs(3, 4)})
    with pytest.raises(SpecCheckError) as excinfo:
        module.forward_train({"obs": _obs(3, 5)})
    msg = str(excinfo.value)
    assert "ObsShapeModule.forward_train() input['obs']" in msg
    assert "dimension 'd' is 5, expected 4" in msg


# --- get_state / set_state -----------------------------------------------------------------------
def test_torch_get_set_state_round_trip():
    src, dst = _spec().build(), _spec().build()
    obs = _obs()
    assert not torch.equal(_logits(src, obs), _logits(dst, obs))
    state = src.get_state()
    assert set(state) == {"policy.0.weight", "policy.0.bias", "policy.2.weight", "policy.2.bias"}
    dst.set_state(state)
    assert torch.equal(_logits(src, obs), _logits(dst, obs))
    # numpy arrays are accepted too
    other = _spec().build()
    other.set_state({k: v.numpy() for k, v in state.items()})
    assert torch.equal(_logits(src, obs), _logits(other, obs))
    with pytest.raises(RuntimeError, match="policy.2.bias"):
        dst.set_state({k: v for k, v in state.items() if k != "policy.2.bias"})


def _tf_module(hidden=8):
    from rlmodule.testing import DiscreteBCTfModule

    module = _spec(module_class=DiscreteBCTfModule, model_config_dict={"fcnet_hiddens": [hidden]}).build()
    module.forward_inference({"obs": np.zeros((1, 4), np.float32)})
    return module


@pytest.mark.tf
def test_tf_get_set_state_round_trip():
    src = _tf_module()
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype(np.float32)
    state = src.get_state()
    assert len(state) == 4 and all(isinstance(v, np.ndarray) for v in state.values())
    before = np.asarray(_logits(src, obs))
    # perturb, then restore from the saved state
    src.set_state({k: v + 1.0 for k, v in state.items()})
    assert not np.array_equal(np.asarray(_logits(src, obs)), before)
    src.set_state(state)
    np.testing.assert_array_equal(np.asarray(_logits(src, obs)), before)
    # into another instance of the same module (Keras numbers its layers per process)
    dst = _tf_module()
    dst.set_state(state)
    np.testing.assert_array_equal(np.asarray(_logits(dst, obs)), before)
    # a wrong shape is refused before anything is assigned
    wide = _tf_module(hidden=16).get_state()
    with pytest.raises(ValueError, match="shape"):
        dst.set_state(wide)
    np.testing.assert_array_equal(np.asarray(_logits(dst, obs)), before)


@pytest.mark.tf
def test_tf_marl_get_set_state():
    from rlmodule.testing import DiscreteBCTfModule

    specs = {"a": _spec(module_class=DiscreteBCTfModule)}
    src, dst = MultiAgentRLModuleSpec(module_specs=specs).build(), MultiAgentRLModuleSpec(module_specs=specs).build()
    obs = np.zeros((2, 4), np.float32) + 0.3
    src.forward_inference({"a": {"obs": obs}})
    dst.forward_inference({"a": {"obs": obs}})
    dst.set_state(src.get_state())
    np.testing.assert_array_equal(
        np.asarray(dst.forward_inference({"a": {"obs": obs}})["a"]["action_dist_inputs"]),
        np.asarray(src.forward_inference({"a": {"obs": obs}})["a"]["action_dist_inputs"]),
    )


# --- imports ------------------------------------------------------------------------------------
def test_importing_the_package_loads_no_framework():
    code = (
        "import sys, rlmodule, rlmodule.testing; "
        "from rlmodule import SingleAgentRLModuleSpec, MultiAgentRLModuleSpec, NestedDict, TensorSpec; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_rl_module_is_abstract():
    with pytest.raises(TypeError):
        RLModule()


class DropoutTorchModule(TorchRLModule):
    """A Linear after dropout (p=0.5): only eval mode is deterministic."""

    def setup(self) -> None:
        self.drop, self.lin = nn.Dropout(0.5), nn.Linear(4, 2)

    def _forward_any(self, batch):
        return {"action_dist_inputs": self.lin(self.drop(batch["obs"])), "mode": self.training}

    _forward_inference = _forward_exploration = _forward_train = _forward_any


@pytest.mark.parametrize("forward", ["forward_exploration", "forward_inference"])
def test_acting_forwards_run_in_eval_mode_and_restore_the_mode(forward):
    module = DropoutTorchModule(None)
    obs = torch.ones(64, 4)
    for training in (True, False):
        module.train(training)
        out = getattr(module, forward)({"obs": obs})
        assert out["mode"] is False
        assert torch.equal(out["action_dist_inputs"], module.lin(obs).detach())
        assert module.training is training and module.drop.training is training


def test_forward_train_runs_in_train_mode():
    module = DropoutTorchModule(None).eval()
    out = module.forward_train({"obs": torch.ones(64, 4)})
    assert out["mode"] is True and module.drop.training
    assert out["action_dist_inputs"].requires_grad


class _FunctionalDropout(nn.Module):
    """A user layer that reads ``self.training`` itself."""

    def forward(self, x):
        return torch.nn.functional.dropout(x, 0.5, training=self.training)


class NestedDropoutTorchModule(TorchRLModule):
    def setup(self) -> None:
        self.body = nn.Sequential(nn.Linear(4, 4), _FunctionalDropout(), nn.Tanh())
        self.lin = nn.Linear(4, 2)

    def _forward_any(self, batch):
        return {"action_dist_inputs": self.lin(self.body(batch["obs"]))}

    _forward_inference = _forward_exploration = _forward_train = _forward_any


def test_acting_forwards_switch_user_layers_that_read_training():
    module = NestedDropoutTorchModule(None)
    obs = torch.ones(64, 4)
    first = module.forward_inference({"obs": obs})["action_dist_inputs"]
    assert torch.equal(first, module.forward_exploration({"obs": obs})["action_dist_inputs"])
    assert all(m.training for m in module.modules())  # restored
    assert not torch.equal(module.forward_train({"obs": obs})["action_dist_inputs"], first)
