"""The TFModelV2 -> TfRLModule migration (``rlmigrate``'s ``models`` rule, TF path).

``fixtures/legacy/tf_models/keras_model.py`` holds two legacy TFModelV2s (a functional
Keras ``base_model`` with ``register_variables``; Keras layers kept as attributes and
read from ``obs_flat``); ``fixtures/migrated/tf_models/keras_model.py`` is what the codemod
emits. The migrated classes build from an ``SingleAgentRLModuleSpec`` holding the legacy
model config, run their three forwards, and - with the legacy Keras weights copied in -
compute what the legacy TFModelV2 of ray 2.60 computes on the same batch.

The legacy models are constructed directly, with the arguments a legacy policy passed
(``ModelCatalog.get_model_v2`` cannot build the ``register_variables`` one under Keras 3:
it puts Keras variables in a ``set``, which raises ``unhashable type: 'Variable'``).
"""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Dict, List, Tuple

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
from gymnasium.spaces import Box, Dict as DictSpace, Discrete, MultiBinary, MultiDiscrete, Tuple as TupleSpace

from tests.legacy_helpers import ray_preprocessed, stack_observations

from codemods.migrate import migrate_source
from codemods.rules import all_rules
from compat.migrated_model import legacy_input_dict
from rlmodule import SingleAgentRLModuleSpec
from rlmodule.tf import TfRLModule

pytestmark = pytest.mark.tf

MIGRATED = importlib.import_module("fixtures.migrated.tf_models.keras_model")


@dataclass(frozen=True)
class Case:
    """One migrated class, the spaces and legacy ``model`` dict it is built with, the Keras
    sub-models/layers (attribute names) that hold its weights, and ``perturb``:
    ``(attribute, weight index, output key)``: changing that weight must change that output."""

    model: str
    obs_space: gym.Space
    action_space: gym.Space
    model_config: Dict[str, Any]
    keras_attributes: Tuple[str, ...]
    perturbs: Tuple[Tuple[str, int, str], ...] = field(default=())


CASES = {
    "functional_base_model": Case(
        "MyKerasModel", Box(-1.0, 1.0, (4,), np.float32), Discrete(3),
        {"custom_model_config": {"hiddens": [32, 16]}}, ("base_model",),
        perturbs=(("base_model", 0, "action_dist_inputs"), ("base_model", 7, "vf_preds")),
    ),
    "layer_attributes_dict_obs": Case(
        "KerasLayersModel", DictSpace({"b": Discrete(3), "a": Box(-1.0, 1.0, (2, 2), np.float64)}),
        Box(-2.0, 2.0, (2,), np.float32), {"fcnet_hiddens": [16, 8]},
        ("hidden_layers", "logits_layer", "value_layer"),
        perturbs=(("logits_layer", 1, "action_dist_inputs"), ("value_layer", 0, "vf_preds")),
    ),
}


def build(case: Case) -> TfRLModule:
    spec = SingleAgentRLModuleSpec(
        module_class=getattr(MIGRATED, case.model), observation_space=case.obs_space,
        action_space=case.action_space, model_config_dict=copy.deepcopy(case.model_config),
    )
    return spec.build()


def samples(space: gym.Space, n: int, seed: int) -> List[Any]:
    space = copy.deepcopy(space)
    space.seed(seed)
    return [space.sample() for _ in range(n)]


def keras_objects(owner: Any, attribute: str) -> List[Any]:
    """The Keras models/layers behind ``owner.<attribute>`` (a list attribute: each one)."""
    value = getattr(owner, attribute)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def as_numpy(out: Dict[str, Any]) -> Dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in out.items()}


# --- the migrated classes on their own -----------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_migrated_class_builds_from_a_spec_and_its_forwards_have_the_right_shapes(name):
    case = CASES[name]
    module = build(case)
    assert isinstance(module, TfRLModule) and isinstance(module, tf.keras.Model)
    assert type(module).__name__ == case.model
    num_outputs = case.action_space.n if isinstance(case.action_space, Discrete) else 2 * case.action_space.shape[0]
    assert module.num_outputs == num_outputs
    batch = {"obs": stack_observations(samples(case.obs_space, 5, seed=0))}
    inference = module.forward_inference(batch)
    assert sorted(inference) == ["action_dist_inputs"]
    assert inference["action_dist_inputs"].shape == (5, num_outputs)
    for forward in (module.forward_exploration, module.forward_train):
        out = forward(batch)
        assert sorted(out) == ["action_dist_inputs", "vf_preds"]
        assert out["action_dist_inputs"].shape == (5, num_outputs) and out["action_dist_inputs"].dtype == tf.float32
        assert out["vf_preds"].shape == (5,) and out["vf_preds"].dtype == tf.float32
    dist = module.get_exploration_action_dist_cls().from_logits(out["action_dist_inputs"])
    assert dist.sample().shape[0] == 5
    # the same forward traced as a graph (the helpers use tf ops only)
    traced = tf.function(module.forward_exploration)(tf.nest.map_structure(tf.constant, batch))
    np.testing.assert_allclose(traced["action_dist_inputs"].numpy(), out["action_dist_inputs"].numpy(), rtol=1e-6, atol=1e-6)



@pytest.mark.parametrize("name", sorted(CASES))
def test_a_migrated_keras_module_round_trips_through_a_checkpoint(name, tmp_path):
    case = CASES[name]
    module = build(case)
    batch = {"obs": stack_observations(samples(case.obs_space, 4, seed=1))}
    before = as_numpy(module.forward_train(batch))
    module.save_to_checkpoint(str(tmp_path / "ckpt"))
    restored = type(module).from_checkpoint(str(tmp_path / "ckpt"))
    after = as_numpy(restored.forward_train(batch))
    assert sorted(after) == sorted(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])

def test_custom_model_config_and_model_config_defaults_reach_setup():
    functional = build(CASES["functional_base_model"])
    dense = [layer.units for layer in functional.base_model.layers if isinstance(layer, tf.keras.layers.Dense)]
    assert dense == [32, 16, 3, 1]  # hiddens from custom_model_config, then my_out and value_out
    default = build(Case("MyKerasModel", Box(-1.0, 1.0, (4,), np.float32), Discrete(3), {}, ("base_model",)))
    assert [layer.units for layer in default.base_model.layers if isinstance(layer, tf.keras.layers.Dense)] == [64, 3, 1]
    layers = build(Case("KerasLayersModel", Box(-1.0, 1.0, (3,), np.float32), Discrete(2), {}, ()))
    layers.forward_train({"obs": np.zeros((2, 3), np.float32)})
    assert [layer.units for layer in layers.hidden_layers] == [256, 256]  # legacy MODEL_DEFAULTS fcnet_hiddens
    assert [layer.activation.__name__ for layer in layers.hidden_layers] == ["tanh", "tanh"]


def test_the_weights_keep_the_legacy_layer_names():
    module = build(CASES["functional_base_model"])
    module.forward_train({"obs": np.zeros((1, 4), np.float32)})
    assert list(module.get_state()) == [
        "000/my_layer1/kernel", "001/my_layer1/bias", "002/my_layer2/kernel", "003/my_layer2/bias",
        "004/my_out/kernel", "005/my_out/bias", "006/value_out/kernel", "007/value_out/bias",
    ]


# --- against the legacy TFModelV2 (ray 2.60) -----------------------------------------------
def legacy_model(case: Case) -> Any:
    """The legacy fixture class, constructed with the arguments a legacy policy passed:
    ray's preprocessed observation space, the action distribution's input size, ray's
    MODEL_DEFAULTS updated with the user's dict, the custom_model_config as keywords."""
    from ray.rllib.models.catalog import MODEL_DEFAULTS, ModelCatalog
    from ray.rllib.models.preprocessors import get_preprocessor

    legacy = importlib.import_module("fixtures.legacy.tf_models.keras_model")
    config = copy.deepcopy(MODEL_DEFAULTS)
    config.update(copy.deepcopy(case.model_config))
    obs_space = get_preprocessor(case.obs_space)(case.obs_space).observation_space
    _, num_outputs = ModelCatalog.get_action_dist(case.action_space, config, framework="tf2")
    cls = getattr(legacy, case.model)
    # int(): ray returns a numpy integer for Box action spaces, which Keras 3 Dense rejects
    return cls(obs_space, case.action_space, int(num_outputs), config, "default_model", **config["custom_model_config"])


def legacy_outputs(model: Any, flat: np.ndarray) -> Dict[str, np.ndarray]:
    """``ModelV2.__call__`` on legacy-preprocessed observations (it restores the
    structure and builds obs_flat), then ``value_function()``."""
    logits, state = model({"obs": tf.constant(flat)}, [], None)
    assert state == []
    return {"action_dist_inputs": logits.numpy(), "vf_preds": model.value_function().numpy()}


def copy_legacy_weights(case: Case, legacy: Any, module: TfRLModule) -> None:
    for attribute in case.keras_attributes:
        theirs, ours = keras_objects(legacy, attribute), keras_objects(module, attribute)
        assert len(theirs) == len(ours)
        for src, dst in zip(theirs, ours):
            assert [w.shape for w in src.get_weights()] == [w.shape for w in dst.get_weights()]
            dst.set_weights(src.get_weights())


def legacy_and_migrated(name: str) -> Tuple[Any, TfRLModule, np.ndarray, Any]:
    """Both sides with the same weights, a legacy-preprocessed batch and the raw one."""
    case = CASES[name]
    raw = samples(case.obs_space, 16, seed=1)
    flat = ray_preprocessed(case.obs_space, raw)
    legacy, module = legacy_model(case), build(case)
    legacy_outputs(legacy, flat)  # Keras builds layers on their first call
    module.forward_train({"obs": stack_observations(raw)})
    copy_legacy_weights(case, legacy, module)
    return legacy, module, flat, stack_observations(raw)


@pytest.mark.legacy
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_legacy_constructor_arguments_match(name):
    case = CASES[name]
    legacy, module = legacy_model(case), build(case)
    assert module.obs_space == legacy.obs_space and module.action_space == legacy.action_space
    assert module.num_outputs == legacy.num_outputs and module.name == legacy.name
    assert dict(module.model_config) == legacy.model_config


@pytest.mark.legacy
@pytest.mark.parametrize("name", sorted(CASES))
def test_with_the_legacy_weights_the_migrated_class_computes_what_the_legacy_tfmodelv2_computes(name):
    legacy, module, flat, raw = legacy_and_migrated(name)
    expected = legacy_outputs(legacy, flat)
    assert np.abs(expected["action_dist_inputs"]).max() > 1e-3 and np.abs(expected["vf_preds"]).max() > 1e-3
    for ours in (module.forward_exploration({"obs": raw}), module.forward_train({"obs": raw})):
        ours = as_numpy(ours)
        assert sorted(ours) == sorted(expected)
        for key in expected:
            assert ours[key].shape == expected[key].shape and ours[key].dtype == expected[key].dtype, key
            np.testing.assert_allclose(ours[key], expected[key], rtol=1e-6, atol=1e-6, err_msg=key)
    inference = as_numpy(module.forward_inference({"obs": raw}))
    np.testing.assert_allclose(inference["action_dist_inputs"], expected["action_dist_inputs"], rtol=1e-6, atol=1e-6)
    # legacy-preprocessed observations of a Box space are the raw ones
    if not isinstance(CASES[name].obs_space, (DictSpace, TupleSpace, Discrete)):
        np.testing.assert_allclose(as_numpy(module.forward_train({"obs": flat}))["vf_preds"], expected["vf_preds"], rtol=1e-6, atol=1e-6)


@pytest.mark.legacy
@pytest.mark.parametrize("name,perturb", [(n, p) for n in sorted(CASES) for p in CASES[n].perturbs])
def test_a_perturbed_weight_breaks_the_equivalence(name, perturb):
    attribute, index, key = perturb
    legacy, module, flat, raw = legacy_and_migrated(name)
    expected = legacy_outputs(legacy, flat)
    weights = [w for obj in keras_objects(module, attribute) for w in obj.weights]
    weights[index].assign(weights[index] + 0.05)
    ours = as_numpy(module.forward_train({"obs": raw}))
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(ours[key], expected[key], rtol=1e-6, atol=1e-6)


# --- legacy_input_dict for a TfRLModule ------------------------------------------------------
PREP_SPACES = {
    "box": Box(-1.0, 1.0, (4,), np.float32),
    "box_float64_image": Box(0.0, 1.0, (3, 3, 2), np.float64),
    "atari_ram": Box(0, 255, (128,), np.uint8),
    "discrete_start": Discrete(4, start=-2),
    "multi_discrete_2d": MultiDiscrete([[3, 2], [2, 4]], start=[[1, 0], [0, 5]]),
    "dict": DictSpace({"b": Discrete(3), "a": Box(-1.0, 1.0, (2, 2), np.float64)}),
    # unsorted keys: a plain dict observation is read in sorted key order (as legacy did)
    "dict_unsorted": DictSpace(OrderedDict([("b", Box(-5.0, 5.0, (2,), np.float32)), ("a", Box(-1.0, 1.0, (2,), np.float32))])),
    "tuple": TupleSpace((Discrete(2), Box(0, 10, (3,), np.int64), MultiBinary(2))),
    "nested": DictSpace({"x": TupleSpace((Discrete(2), DictSpace({"z": Box(-1, 1, (2,)), "y": Discrete(3)})))}),
}


def _fake_module(space: gym.Space, framework: str) -> Any:
    return SimpleNamespace(framework=framework, config=SimpleNamespace(observation_space=space))


def _leaves(x: Any) -> List[Any]:
    if isinstance(x, dict):
        return [("key", k) for k in x] + [leaf for v in x.values() for leaf in _leaves(v)]
    if isinstance(x, (list, tuple)):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]


@pytest.mark.parametrize("name", sorted(PREP_SPACES))
def test_the_tf_input_dict_equals_the_torch_one(name):
    """The torch helper is checked against ray's preprocessor (tests/test_migrated_model.py);
    the tf one must give the same values, dtypes and structure."""
    space = PREP_SPACES[name]
    batch = {"obs": stack_observations(samples(space, 6, seed=3))}
    theirs = legacy_input_dict(_fake_module(space, "torch"), batch, is_training=True)
    ours = legacy_input_dict(_fake_module(space, "tf2"), batch, is_training=True)
    assert ours["is_training"] is True
    assert isinstance(ours["obs_flat"], tf.Tensor)
    np.testing.assert_array_equal(ours["obs_flat"].numpy(), theirs["obs_flat"].numpy())
    assert ours["obs_flat"].dtype.name == str(theirs["obs_flat"].dtype).replace("torch.", "")
    assert isinstance(ours["obs"], (dict, list)) == isinstance(theirs["obs"], (dict, list))
    if isinstance(theirs["obs"], (dict, list)):
        assert type(ours["obs"]) is type(theirs["obs"])  # OrderedDict / list, as legacy
    for a, b in zip(_leaves(ours["obs"]), _leaves(theirs["obs"]), strict=True):
        if isinstance(a, tuple):
            assert a == b
        else:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            assert a.dtype.name == str(b.dtype).replace("torch.", "")


def test_the_tf_input_dict_traces_with_an_unknown_batch_size():
    space = PREP_SPACES["dict"]
    module = _fake_module(space, "tf2")
    signature = {"a": tf.TensorSpec([None, 2, 2], tf.float64), "b": tf.TensorSpec([None], tf.int64)}
    fn = tf.function(lambda obs: legacy_input_dict(module, {"obs": obs})["obs_flat"], input_signature=[signature])
    raw = stack_observations(samples(space, 4, seed=5))
    expected = legacy_input_dict(_fake_module(space, "torch"), {"obs": raw})["obs_flat"].numpy()
    np.testing.assert_array_equal(fn({"a": tf.constant(raw["a"]), "b": tf.constant(raw["b"])}).numpy(), expected)


def test_importing_the_helpers_does_not_import_tensorflow():
    code = "import sys, compat.migrated_model; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# --- the codemod's TF path beyond the fixtures --------------------------------------------------
def _migrated(source: str) -> str:
    result = migrate_source(source.encode(), "m.py", all_rules())
    assert result.status == "changed", result.error
    return result.new_bytes.decode()


def test_a_keras_model_base_beside_tfmodelv2_goes_with_its_init_call():
    out = _migrated(
        "import tensorflow as tf\n"
        "from ray.rllib.models.tf import TFModelV2\n\n"
        "class M(TFModelV2, tf.keras.Model):\n"
        "    def __init__(self, obs_space, action_space, num_outputs, model_config, name):\n"
        "        TFModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)\n"
        "        tf.keras.Model.__init__(self)\n"
        "        self.dense = tf.keras.layers.Dense(num_outputs)\n\n"
        "    def forward(self, input_dict, state, seq_lens):\n"
        "        return self.dense(input_dict['obs']), state\n"
    )
    assert "class M(TfRLModule):" in out and "from rlmodule.tf import TfRLModule" in out
    assert "__init__" not in out.replace("# was __init__", "") and "def _model_forward(self" in out
    assert "ray" not in out


def test_a_register_variables_line_that_empties_a_block_leaves_pass():
    out = _migrated(
        "from ray.rllib.models.tf.tf_modelv2 import TFModelV2\n\n"
        "class M(TFModelV2):\n"
        "    def forward(self, input_dict, state, seq_lens):\n"
        "        if not self._done:\n"
        "            self.register_variables(self.base.variables)\n"
        "        return self.base(input_dict['obs']), state\n"
    )
    assert "register_variables" not in out and "if not self._done:\n            pass\n" in out
