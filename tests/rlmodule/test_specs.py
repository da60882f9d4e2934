"""The I/O spec checker: every SpecType form, its error messages, and how forwards use it.

Error messages are asserted through a real module's forward, so they must name the
module class, the forward (``SpecModule.forward_train() input``), the key path and
what was expected vs. what was found.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from rlmodule import OneOf, SpecCheckError, TensorSpec
from rlmodule.specs import SpecChecker, TypeSpec
from rlmodule.torch import TorchRLModule

PHASES = ["train", "exploration", "inference"]


class Marker:
    """A type for ``{key: SomeType}`` specs."""


class SubMarker(Marker):
    pass


class SpecModule(TorchRLModule):
    """A tiny module whose six specs are instance attributes (set before the first forward).

    ``_forward_*`` return ``self.output`` if set, else ``{"action_dist_inputs": lin(ones)}``.
    """

    def setup(self) -> None:
        self.lin = nn.Linear(4, 2)
        self.in_spec = None
        self.out_spec = None
        self.output = None
        self.seen = []

    def _out(self, batch):
        self.seen.append(batch)
        if self.output is not None:
            return dict(self.output)
        return {"action_dist_inputs": self.lin(torch.ones(1, 4))}

    def _forward_train(self, batch, **kwargs):
        return self._out(batch)

    def _forward_exploration(self, batch, **kwargs):
        return self._out(batch)

    def _forward_inference(self, batch, **kwargs):
        return self._out(batch)

    def input_specs_train(self):
        return self.in_spec

    def input_specs_exploration(self):
        return self.in_spec

    def input_specs_inference(self):
        return self.in_spec

    def output_specs_train(self):
        return self.out_spec

    def output_specs_exploration(self):
        return self.out_spec

    def output_specs_inference(self):
        return self.out_spec


class DefaultSpecModule(TorchRLModule):
    """Keeps RLModule's default specs: input ``['obs']``, output OneOf the action keys."""

    output = None

    def _forward_train(self, batch, **kwargs):
        return dict(self.output)

    _forward_exploration = _forward_inference = _forward_train


class CountingModule(SpecModule):
    """Counts how often each spec method is called."""

    def setup(self) -> None:
        super().setup()
        self.calls = {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def input_specs_train(self):
        self._count("input_specs_train")
        return ["obs"]

    def input_specs_exploration(self):
        self._count("input_specs_exploration")
        return ["obs"]

    def input_specs_inference(self):
        self._count("input_specs_inference")
        return ["obs"]

    def output_specs_train(self):
        self._count("output_specs_train")
        return ["action_dist_inputs"]


class RaisingModule(SpecModule):
    """Its forwards raise after the input check passed."""

    def _out(self, batch):
        raise RuntimeError("boom inside the forward")


def _module(in_spec=None, out_spec=None, output=None) -> SpecModule:
    m = SpecModule()
    m.in_spec = in_spec
    m.out_spec = out_spec
    m.output = output
    return m


def _forward(module, phase, batch):
    return getattr(module, f"forward_{phase}")(batch)


def _err(module, phase, batch) -> str:
    with pytest.raises(SpecCheckError) as excinfo:
        _forward(module, phase, batch)
    return str(excinfo.value)


# --- list of keys -------------------------------------------------------------------------
@pytest.mark.parametrize("phase", PHASES)
def test_list_of_keys_passes_and_names_the_missing_key(phase):
    m = _module(in_spec=["obs", "actions"])
    batch = {"obs": torch.zeros(2, 4), "actions": torch.zeros(2)}
    out = _forward(m, phase, batch)
    assert "action_dist_inputs" in out
    assert m.seen[-1] is batch

    msg = _err(m, phase, {"obs": torch.zeros(2, 4), "rewards": torch.zeros(2)})
    assert f"SpecModule.forward_{phase}() input" in msg
    assert "missing key ['actions']" in msg
    assert "'obs'" in msg and "'rewards'" in msg  # the keys that were found
    assert len(m.seen) == 1  # the forward body did not run on the bad batch


def test_input_that_is_not_a_dict_is_rejected():
    m = _module(in_spec=["obs"])
    msg = _err(m, "train", [torch.zeros(2, 4)])
    assert "SpecModule.forward_train() input must be a dict" in msg
    assert "list" in msg


# --- nested key tuples ----------------------------------------------------------------------
def test_nested_key_tuples():
    m = _module(in_spec=[("obs", "global"), "action_mask"])
    good = {"obs": {"global": torch.zeros(2, 3), "local": torch.zeros(2, 1)}, "action_mask": torch.ones(2, 2)}
    _forward(m, "train", good)

    msg = _err(m, "train", {"obs": {"local": torch.zeros(2, 1)}, "action_mask": torch.ones(2, 2)})
    assert "SpecModule.forward_train() input" in msg
    assert "missing key ['obs']['global']" in msg
    assert "'local'" in msg  # keys found next to the missing one

    msg = _err(m, "inference", {"obs": {"global": torch.zeros(2, 3)}})
    assert "SpecModule.forward_inference() input is missing key ['action_mask']" in msg

    # 'obs' is a leaf tensor, so ('obs', 'global') cannot be found inside it; the checker
    # must not index the tensor with a str (torch warns and may interpret it).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for leaf in (torch.zeros(2, 3), np.zeros((2, 3)), "text"):
            msg = _err(m, "exploration", {"obs": leaf, "action_mask": torch.ones(2, 2)})
            assert "missing key ['obs']['global']" in msg


def test_spec_keys_must_be_str_or_str_tuples():
    m = _module(in_spec=[("obs", 3)])
    with pytest.raises(TypeError, match=r"\('obs', 3\)"):
        m.forward_train({"obs": torch.zeros(1)})


# --- TensorSpec -------------------------------------------------------------------------------
def test_tensor_spec_accepts_matching_torch_tensors():
    m = _module(in_spec={"obs": TensorSpec("b, h", h=10, framework="torch")})
    for b in (1, 7):
        _forward(m, "train", {"obs": torch.zeros(b, 10)})


def test_tensor_spec_wrong_rank():
    m = _module(in_spec={"obs": TensorSpec("b, h", h=10, framework="torch")})
    msg = _err(m, "train", {"obs": torch.zeros(2, 10, 1)})
    assert msg.startswith("SpecModule.forward_train() input['obs']:")
    assert "rank is 3, expected 2" in msg
    assert "(b, h=10)" in msg and "(2, 10, 1)" in msg


def test_tensor_spec_wrong_fixed_dim():
    m = _module(in_spec={"obs": TensorSpec("b, h", h=10, framework="torch")})
    msg = _err(m, "exploration", {"obs": torch.zeros(2, 9)})
    assert msg.startswith("SpecModule.forward_exploration() input['obs']:")
    assert "dimension 'h' is 9, expected 10" in msg
    assert "(2, 9)" in msg


def test_tensor_spec_integer_dims_are_fixed():
    m = _module(in_spec={"obs": TensorSpec("b, 3")})
    _forward(m, "train", {"obs": np.zeros((5, 3))})
    msg = _err(m, "train", {"obs": np.zeros((5, 4))})
    assert "dimension '3' is 4, expected 3" in msg


def test_tensor_spec_numpy_given_for_torch():
    m = _module(in_spec={"obs": TensorSpec("b, h", h=10, framework="torch")})
    msg = _err(m, "inference", {"obs": np.zeros((2, 10), np.float32)})
    assert msg.startswith("SpecModule.forward_inference() input['obs']:")
    assert "torch tensor" in msg and "ndarray" in msg


def test_tensor_spec_without_framework_accepts_any_shaped_value():
    m = _module(in_spec={"obs": TensorSpec("b, h", h=2)})
    _forward(m, "train", {"obs": np.zeros((3, 2))})
    _forward(m, "train", {"obs": torch.zeros(3, 2)})
    msg = _err(m, "train", {"obs": [[0.0, 0.0]]})
    assert "input['obs']" in msg and "list without a shape" in msg


def test_tensor_spec_numpy_framework_rejects_torch():
    m = _module(in_spec={"obs": TensorSpec("b", framework="np")})
    _forward(m, "train", {"obs": np.zeros(3)})
    msg = _err(m, "train", {"obs": torch.zeros(3)})
    assert "np tensor" in msg and "got Tensor" in msg


@pytest.mark.parametrize(
    "spec_dtype, want, good, bad, bad_name",
    [
        (torch.float32, "float32", torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64), "float64"),
        (torch.int64, "int64", torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3, dtype=torch.int32), "int32"),
        ("float32", "float32", np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float64), "float64"),
        (np.dtype("int64"), "int64", np.zeros((2, 3), np.int64), np.zeros((2, 3), np.int8), "int8"),
        # A numpy scalar type (not a dtype instance) must mean that dtype.
        (np.float32, "float32", np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float16), "float16"),
        (np.float32, "float32", torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64), "float64"),
    ],
)
def test_tensor_spec_dtype(spec_dtype, want, good, bad, bad_name):
    m = _module(in_spec={"obs": TensorSpec("b, d", d=3, dtype=spec_dtype)})
    _forward(m, "train", {"obs": good})
    msg = _err(m, "train", {"obs": bad})
    assert msg.startswith("SpecModule.forward_train() input['obs']:")
    assert f"expected dtype {want}, got {bad_name}" in msg


def test_tensor_spec_dtype_names_expected_dtype():
    m = _module(in_spec={"obs": TensorSpec("b", dtype=torch.float32)})
    msg = _err(m, "train", {"obs": torch.zeros(2, dtype=torch.float64)})
    assert "expected dtype float32, got float64" in msg
    m = _module(in_spec={"obs": TensorSpec("b", dtype=np.float32)})
    msg = _err(m, "train", {"obs": np.zeros(2, np.float64)})
    assert "expected dtype float32, got float64" in msg


def test_tensor_spec_repeated_free_dim():
    m = _module(in_spec={"obs": TensorSpec("b, b")})
    _forward(m, "train", {"obs": torch.zeros(3, 3)})
    msg = _err(m, "train", {"obs": torch.zeros(3, 4)})
    assert "input['obs']" in msg
    assert "dimension 'b' is 3 and 4, expected equal sizes" in msg


def test_tensor_spec_repeated_free_dim_across_ellipsis():
    spec = TensorSpec("b, ..., b")
    assert spec.validate(np.zeros((2, 5, 7, 2))) is None
    assert spec.validate(np.zeros((2, 2))) is None
    error = spec.validate(np.zeros((2, 5, 3)))
    assert error is not None and "'b'" in error and "2" in error and "3" in error


def test_tensor_spec_ellipsis():
    m = _module(in_spec={"obs": TensorSpec("b, ..., h", h=4)})
    for shape in [(2, 4), (2, 3, 4), (2, 3, 5, 4)]:
        _forward(m, "train", {"obs": torch.zeros(*shape)})
    msg = _err(m, "train", {"obs": torch.zeros(2, 3, 5)})
    assert "dimension 'h' is 5, expected 4" in msg
    assert "(b, ..., h=4)" in msg and "(2, 3, 5)" in msg
    msg = _err(m, "train", {"obs": torch.zeros(4)})
    assert "rank is 1, expected at least 2" in msg

    lead = TensorSpec("..., d", d=2)
    assert lead.validate(np.zeros(2)) is None
    assert lead.validate(np.zeros((1, 1, 1, 2))) is None
    assert "expected at least 1" in lead.validate(np.zeros(()))
    assert TensorSpec("...").validate(np.zeros((1, 2, 3))) is None
    assert TensorSpec("b, ...").validate(np.zeros(4)) is None


def test_tensor_spec_fixed_dim_after_ellipsis_uses_the_value():
    spec = TensorSpec("..., t, h", h=3, t=2)
    assert spec.validate(np.zeros((9, 2, 3))) is None
    assert "dimension 't' is 5, expected 2" in spec.validate(np.zeros((9, 5, 3)))


def test_tensor_spec_scalar_shape():
    spec = TensorSpec("")
    assert spec.validate(np.float32(1.0)) is None
    assert "rank is 1, expected 0" in spec.validate(np.zeros(1))


@pytest.mark.parametrize(
    "shape, kwargs, culprit",
    [
        ("b, 1x", {}, "'1x'"),
        ("b,,h", {}, "''"),
        ("b, h-1", {}, "'h-1'"),
        ("..., ...", {}, "'...'"),
        ("b, h", {"x": 3}, "'x'"),
        ("b, h", {"h": -1}, "-1"),
        ("b, h", {"h": 2.5}, "2.5"),
        ("b, h", {"h": True}, "True"),
        ("b, h", {"framework": "jax"}, "'jax'"),
    ],
)
def test_bad_tensor_spec_raises_value_error_naming_the_culprit(shape, kwargs, culprit):
    with pytest.raises(ValueError) as excinfo:
        TensorSpec(shape, **kwargs)
    assert culprit in str(excinfo.value)
    assert repr(shape) in str(excinfo.value)


def test_tensor_spec_shape_must_be_a_string():
    with pytest.raises(TypeError, match=r"\['b', 'h'\]"):
        TensorSpec(["b", "h"])


def test_tensor_spec_alone_is_not_a_spec_type():
    m = _module(in_spec=TensorSpec("b"))
    with pytest.raises(TypeError, match=r"\{'obs'"):
        m.forward_train({"obs": torch.zeros(1)})


# --- {key: SomeType} ----------------------------------------------------------------------
def test_type_spec():
    m = _module(in_spec={"obs": torch.Tensor, "marker": Marker})
    _forward(m, "train", {"obs": torch.zeros(1), "marker": Marker()})
    _forward(m, "train", {"obs": torch.zeros(1), "marker": SubMarker()})  # subclasses pass
    msg = _err(m, "train", {"obs": torch.zeros(1), "marker": 3})
    assert msg.startswith("SpecModule.forward_train() input['marker']:")
    assert "expected an instance of Marker" in msg and "int" in msg


def test_type_spec_tuple_of_types():
    m = _module(in_spec={"x": (int, float)})
    _forward(m, "train", {"x": 1})
    _forward(m, "train", {"x": 1.5})
    msg = _err(m, "train", {"x": "1"})
    assert "int or float" in msg and "str" in msg
    assert TypeSpec(str).validate("a") is None


def test_invalid_leaf_spec_is_a_type_error_naming_the_path():
    m = _module(in_spec={"obs": {"global": 3}})
    with pytest.raises(TypeError, match=r"\['obs'\]\['global'\]"):
        m.forward_train({"obs": {"global": torch.zeros(1)}})


# --- nested dict specs ----------------------------------------------------------------------
def test_nested_dict_spec():
    spec = {
        "obs": {"global": TensorSpec("b, d", d=3, framework="torch"), "local": None},
        ("state_in", "h"): TensorSpec("b, c", c=2),
    }
    m = _module(in_spec=spec)
    good = {
        "obs": {"global": torch.zeros(2, 3), "local": "anything"},
        "state_in": {"h": torch.zeros(2, 2)},
    }
    _forward(m, "train", good)

    bad = {"obs": {"global": torch.zeros(2, 4), "local": 0}, "state_in": {"h": torch.zeros(2, 2)}}
    msg = _err(m, "train", bad)
    assert msg.startswith("SpecModule.forward_train() input['obs']['global']:")
    assert "dimension 'd' is 4, expected 3" in msg

    msg = _err(m, "train", {"obs": {"global": torch.zeros(2, 3)}, "state_in": {"h": torch.zeros(2, 2)}})
    assert "missing key ['obs']['local']" in msg

    msg = _err(m, "train", {"obs": {"global": torch.zeros(2, 3), "local": 0}, "state_in": {"h": torch.zeros(2, 5)}})
    assert "input['state_in']['h']" in msg and "dimension 'c' is 5, expected 2" in msg


def test_nested_dict_spec_accepts_a_nested_dict_batch_class():
    from rlmodule import NestedDict

    m = _module(in_spec={"obs": {"global": TensorSpec("b, d", d=3)}})
    _forward(m, "train", NestedDict({"obs": {"global": torch.zeros(1, 3)}}))
    msg = _err(m, "train", NestedDict({"obs": {"other": torch.zeros(1, 3)}}))
    assert "missing key ['obs']['global']" in msg and "'other'" in msg


# --- OneOf and output specs -------------------------------------------------------------------
def test_one_of_output_spec():
    spec = OneOf("action_dist_inputs", "actions")
    m = _module(out_spec=spec, output={"actions": torch.zeros(2)})
    _forward(m, "train", {})
    m.output = {"action_dist_inputs": torch.zeros(2, 2)}
    _forward(m, "exploration", {})
    m.output = {"vf_preds": torch.zeros(2)}
    msg = _err(m, "inference", {})
    assert msg.startswith("SpecModule.forward_inference() output has none of the keys")
    assert "['action_dist_inputs']" in msg and "['actions']" in msg
    assert "'vf_preds'" in msg


def test_one_of_nested_paths():
    m = _module(in_spec=OneOf(("obs", "a"), ("obs", "b")))
    _forward(m, "train", {"obs": {"b": 1}})
    msg = _err(m, "train", {"obs": {"c": 1}})
    assert "['obs']['a']" in msg and "['obs']['b']" in msg


def test_default_output_spec_is_one_of_the_action_keys():
    m = DefaultSpecModule()  # the base class's specs
    m.output = {"actions": torch.zeros(1)}
    assert "actions" in m.forward_train({"obs": torch.zeros(1)})
    m.output = {"foo": torch.zeros(1)}
    msg = _err(m, "train", {"obs": torch.zeros(1)})
    assert "SpecModule.forward_train() output has none of the keys" in msg
    assert "['action_dist_inputs']" in msg and "['action_dist']" in msg and "['actions']" in msg
    msg = _err(m, "train", {"state": torch.zeros(1)})
    assert "SpecModule.forward_train() input is missing key ['obs']" in msg


def test_output_tensor_spec_error_names_output():
    m = _module(out_spec={"action_dist_inputs": TensorSpec("b, n", n=3)})
    msg = _err(m, "train", {})
    assert msg.startswith("SpecModule.forward_train() output['action_dist_inputs']:")
    assert "dimension 'n' is 2, expected 3" in msg


def test_spec_check_error_is_a_value_error():
    assert issubclass(SpecCheckError, ValueError)


def test_spec_checker_direct_use_with_where():
    checker = SpecChecker({"a": TensorSpec("b", b=2)}, "Here.there() input")
    checker.check({"a": np.zeros(2)})
    with pytest.raises(SpecCheckError, match=re.escape("Here.there() input['a']: dimension 'b' is 3")):
        checker.check({"a": np.zeros(3)})
    SpecChecker(None, "x").check({})
    SpecChecker([], "x").check({})


# --- tf tensors -----------------------------------------------------------------------------
@pytest.mark.tf
def test_tf_tensor_spec_through_a_tf_module():
    import tensorflow as tf

    from rlmodule.tf import TfRLModule

    class TfSpecModule(TfRLModule):
        def input_specs_train(self):
            return {"obs": TensorSpec("b, h", h=3, framework="tf", dtype=tf.float32)}

        def output_specs_train(self):
            return ["out"]

        def _forward_train(self, batch):
            return {"out": batch["obs"] * 2.0}

        _forward_exploration = _forward_inference = _forward_train

    m = TfSpecModule()
    out = m.forward_train({"obs": tf.zeros((2, 3))})
    assert tuple(out["out"].shape) == (2, 3)
    out = m.forward_train({"obs": tf.Variable(tf.zeros((1, 3)))})

    with pytest.raises(SpecCheckError) as excinfo:
        m.forward_train({"obs": torch.zeros(2, 3)})
    msg = str(excinfo.value)
    assert msg.startswith("TfSpecModule.forward_train() input['obs']:")
    assert "tf tensor" in msg and "got Tensor" in msg

    with pytest.raises(SpecCheckError, match="got ndarray"):
        m.forward_train({"obs": np.zeros((2, 3), np.float32)})
    with pytest.raises(SpecCheckError, match="dimension 'h' is 4, expected 3"):
        m.forward_train({"obs": tf.zeros((2, 4))})
    with pytest.raises(SpecCheckError, match="expected dtype float32, got float64"):
        m.forward_train({"obs": tf.zeros((2, 3), dtype=tf.float64)})


@pytest.mark.tf
def test_torch_spec_rejects_tf_tensors():
    import tensorflow as tf

    m = _module(in_spec={"obs": TensorSpec("b, h", h=10, framework="torch")})
    msg = _err(m, "train", {"obs": tf.zeros((2, 10))})
    assert "expected a torch tensor" in msg and "EagerTensor" in msg


# --- canonicalisation and check_specs ---------------------------------------------------------
def test_specs_are_canonicalised_once_per_instance():
    m = CountingModule()
    for _ in range(20):
        m.forward_train({"obs": torch.zeros(1)})
        m.forward_exploration({"obs": torch.zeros(1)})
        m.forward_inference({"obs": torch.zeros(1)})
    assert m.calls == {
        "input_specs_train": 1,
        "input_specs_exploration": 1,
        "input_specs_inference": 1,
        "output_specs_train": 1,
    }
    # ... and they are still enforced after compilation
    with pytest.raises(SpecCheckError, match=r"CountingModule.forward_exploration\(\) input is missing key \['obs'\]"):
        m.forward_exploration({})
    # a second instance compiles its own specs
    m2 = CountingModule()
    m2.forward_train({"obs": torch.zeros(1)})
    assert m2.calls["input_specs_train"] == 1
    assert m.calls["input_specs_train"] == 1


def test_check_specs_false_disables_checking():
    m = CountingModule()
    m.check_specs = False
    batch = {"not_obs": 1}
    out = m.forward_train(batch)
    assert "action_dist_inputs" in out
    assert m.seen[-1] is batch
    m.output = {"nothing": 1}
    assert m.forward_inference({}) == {"nothing": 1}
    assert m.calls == {}  # specs were not even built

    m.check_specs = True
    with pytest.raises(SpecCheckError):
        m.forward_train(batch)


def test_check_specs_false_on_the_class():
    class Unchecked(SpecModule):
        check_specs = False

    m = Unchecked()
    m.in_spec = ["obs"]
    m.forward_train({})  # no error


# --- torch grad mode -------------------------------------------------------------------------
def test_torch_grad_modes():
    m = _module(in_spec=["obs"])
    batch = {"obs": torch.zeros(1, 4)}
    assert m.forward_train(batch)["action_dist_inputs"].requires_grad
    assert not m.forward_exploration(batch)["action_dist_inputs"].requires_grad
    assert not m.forward_inference(batch)["action_dist_inputs"].requires_grad
    assert m(batch)["action_dist_inputs"].requires_grad  # module(batch) is forward_train
    assert torch.is_grad_enabled()


def test_torch_exploration_without_spec_check_still_has_no_grad():
    m = _module(in_spec=["obs"])
    m.check_specs = False
    assert not m.forward_exploration({})["action_dist_inputs"].requires_grad
    assert not m.forward_inference({})["action_dist_inputs"].requires_grad
    assert m.forward_train({})["action_dist_inputs"].requires_grad
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("phase", ["exploration", "inference"])
def test_grad_mode_is_restored_when_the_forward_raises(phase):
    m = RaisingModule()
    m.in_spec = ["obs"]
    with pytest.raises(RuntimeError, match="boom"):
        _forward(m, phase, {"obs": torch.zeros(1)})
    assert torch.is_grad_enabled()
    with pytest.raises(SpecCheckError):
        _forward(m, phase, {})  # raises in the input check
    assert torch.is_grad_enabled()

    with torch.no_grad():
        with pytest.raises(RuntimeError):
            _forward(m, phase, {"obs": torch.zeros(1)})
        assert not torch.is_grad_enabled()  # the caller's mode is restored, not forced on
    assert torch.is_grad_enabled()


def test_forward_train_follows_the_callers_grad_mode():
    m = _module()
    with torch.no_grad():
        assert not m.forward_train({})["action_dist_inputs"].requires_grad
        assert not m.forward_exploration({})["action_dist_inputs"].requires_grad
        assert not torch.is_grad_enabled()
