"""Recurrent TF models migrated to TfRLModules, against ray 2.60 (the oracle).

``fixtures/legacy/tf_models/recurrent.py`` holds three legacy models: the Keras
functional LSTM behind ``RecurrentNetwork`` (``KerasLSTMNetwork``), Keras layers kept as
attributes of a ``RecurrentNetwork`` (``LSTMLayersNetwork``), and a ``TFModelV2`` that
carries a GRU state through its own ``forward`` (``GRUStateModel``);
``fixtures/migrated/tf_models/recurrent.py`` is what ``rlmigrate migrate`` emits.

The legacy side is ray 2.60's: ``ModelCatalog.get_model_v2`` builds the model and
``ModelV2.__call__`` / ``RecurrentNetwork.forward`` run it on legacy rows (one step per
row with ``seq_lens`` of 1 in a rollout, ``[B * T]`` padded rows for training). Under
Keras 3 the first two legacy classes cannot run as written (``tf.sequence_mask`` on a
functional-model ``Input`` raises; ``LSTM(...)(inputs=...)`` is refused), so the legacy
classes are taken from the legacy file after the codemod's ``keras_functional`` rule
alone: the tests below check that it changes exactly those lines (``GRUStateModel`` runs
as written) and that the rewritten functional model computes what the raw op computes
eagerly on the same layers.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib
import types
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Tuple

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
import torch
from gymnasium.spaces import Box, Dict as DictSpace, Discrete, Tuple as TupleSpace

from tests.legacy_helpers import ray_preprocessed, stack_observations

from codemods.migrate import migrate_source
from codemods.rules import select_rules
from compat.migrated_model import legacy_rnn_inputs, legacy_seq_inputs, legacy_state_dict, state_key
from rlmodule import SingleAgentRLModuleSpec
from rlmodule.tree import map_structure
from rlmodule.tf import TfRLModule

pytestmark = pytest.mark.tf

LEGACY_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "legacy" / "tf_models" / "recurrent.py"
MIGRATED = importlib.import_module("fixtures.migrated.tf_models.recurrent")
TOL = 1e-5


@dataclass(frozen=True)
class Case:
    """A fixture class, the spaces and legacy ``model`` dict it is built with, the Keras
    models/layers (attributes) holding its weights, and ``perturbs``: ``(weight path
    suffix, quantities)``: shifting that weight must make exactly those quantities
    diverge in a rollout."""

    model: str
    obs_space: gym.Space
    action_space: gym.Space
    model_config: Dict[str, Any]
    keras_attributes: Tuple[str, ...]
    perturbs: Tuple[Tuple[str, Tuple[str, ...]], ...]


ALL = ("action_dist_inputs", "vf_preds", "state_out")
CASES = {
    "KerasLSTMNetwork": Case(
        "KerasLSTMNetwork", Box(-1.0, 1.0, (5,), np.float32), Discrete(3),
        {"custom_model_config": {"hiddens_size": 16, "cell_size": 8}}, ("rnn_model",),
        perturbs=(("lstm/lstm_cell/recurrent_kernel", ALL), ("values/bias", ("vf_preds",))),
    ),
    "LSTMLayersNetwork": Case(
        "LSTMLayersNetwork", DictSpace({"pos": Box(-2.0, 2.0, (3,), np.float32), "flag": Discrete(2)}),
        Box(-1.0, 1.0, (2,), np.float32), {"fcnet_hiddens": [12], "lstm_cell_size": 6},
        ("encoder", "lstm", "logits_layer", "value_layer"),
        perturbs=(("lstm/lstm_cell/recurrent_kernel", ALL), ("value/kernel", ("vf_preds",))),
    ),
    "GRUStateModel": Case(
        "GRUStateModel", TupleSpace((Discrete(3), Box(-1.0, 1.0, (2,), np.float32))), Discrete(4),
        {"custom_model_config": {"cell_size": 7}}, ("embed", "gru", "pi", "vf"),
        perturbs=(("gru/gru_cell/recurrent_kernel", ALL), ("pi/bias", ("action_dist_inputs",))),
    ),
}


# --- the legacy side -------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def keras3_legacy_source() -> bytes:
    """The legacy fixture after the ``keras_functional`` rule alone (still ray classes)."""
    data = LEGACY_FILE.read_bytes()
    return migrate_source(data, str(LEGACY_FILE), select_rules(["keras_functional"])).new_bytes


def exec_module(source: bytes, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, str(LEGACY_FILE), "exec"), module.__dict__)
    return module


@functools.lru_cache(maxsize=None)
def legacy_classes() -> types.ModuleType:
    return exec_module(keras3_legacy_source(), "legacy_tf_recurrent_keras3")


def legacy_model(case: Case) -> Any:
    """The legacy model as a legacy TF policy got it: ``ModelCatalog.get_model_v2`` with
    ray's preprocessed observation space, the action distribution's input size and the
    user's ``model`` dict over ray's MODEL_DEFAULTS (``custom_model`` registered)."""
    from ray.rllib.models.catalog import MODEL_DEFAULTS, ModelCatalog
    from ray.rllib.models.preprocessors import get_preprocessor

    registered = f"tf_recurrent_{case.model}"
    ModelCatalog.register_custom_model(registered, getattr(legacy_classes(), case.model))
    config = copy.deepcopy(MODEL_DEFAULTS)
    config.update({**copy.deepcopy(case.model_config), "custom_model": registered})
    obs_space = get_preprocessor(case.obs_space)(case.obs_space).observation_space
    _, num_outputs = ModelCatalog.get_action_dist(case.action_space, config, framework="tf2")
    return ModelCatalog.get_model_v2(obs_space, case.action_space, int(num_outputs), config, framework="tf2")


def legacy_step(model: Any, flat: np.ndarray, state: List[np.ndarray], seq_lens: np.ndarray):
    """``ModelV2.__call__`` on legacy rows: (logits, values, new state) as numpy."""
    logits, new_state = model(
        {"obs": tf.constant(flat)}, [tf.constant(s) for s in state], tf.constant(seq_lens, tf.int32)
    )
    return logits.numpy(), model.value_function().numpy(), [np.asarray(s) for s in new_state]


# --- the migrated side -----------------------------------------------------------------------
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


def with_time(raw: List[Any], b: int, t: int) -> Any:
    """``b * t`` raw observations (sequence by sequence) -> one ``[B, T, ...]`` batch."""
    return map_structure(lambda a: a.reshape(b, t, *a.shape[1:]), stack_observations(raw))


def numpy_state(state: Dict[str, Any]) -> Dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in state.items()}


def keras_objects(owner: Any, case: Case) -> List[Any]:
    return [getattr(owner, attribute) for attribute in case.keras_attributes]


def paired(name: str) -> Tuple[Any, TfRLModule]:
    """Both sides, built (one forward each), the legacy weights copied into the module."""
    case = CASES[name]
    legacy, module = legacy_model(case), build(case)
    b = 2
    raw = samples(case.obs_space, b, seed=0)
    legacy_step(legacy, ray_preprocessed(case.obs_space, raw), initial_rows(legacy.get_initial_state(), b), np.ones(b))
    module.forward_train({"obs": with_time(raw, b, 1), "state_in": initial_rows(module.get_initial_state(), b)})
    theirs, ours = keras_objects(legacy, case), keras_objects(module, case)
    assert sum(len(o.weights) for o in ours) == len(module.weights)  # every weight is copied
    for src, dst in zip(theirs, ours):
        assert [w.shape for w in src.get_weights()] == [w.shape for w in dst.get_weights()]
        dst.set_weights(src.get_weights())
    return legacy, module


def initial_rows(initial: Any, b: int) -> Any:
    """An initial state (legacy list or module dict, no batch dim) repeated ``b`` times."""
    if isinstance(initial, dict):
        return {k: np.repeat(np.asarray(v)[None], b, axis=0) for k, v in initial.items()}
    return [np.repeat(np.asarray(s)[None], b, axis=0) for s in initial]


# --- the comparisons -------------------------------------------------------------------------
def _record(diffs: Dict[str, float], key: str, ours: Any, theirs: Any) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (key, ours.shape, theirs.shape, ours.dtype, theirs.dtype)
    diffs[key] = max(diffs.get(key, 0.0), float(np.max(np.abs(ours - theirs))))


def rollout_diffs(case: Case, legacy: Any, module: TfRLModule, steps: int = 10, b: int = 3) -> Dict[str, float]:
    """Max abs differences over a rollout carrying state: legacy rows with seq_lens 1
    against forward_inference / forward_exploration on ``[B, 1, ...]``."""
    diffs: Dict[str, float] = {}
    legacy_state = initial_rows(legacy.get_initial_state(), b)
    our_state = numpy_state(initial_rows(module.get_initial_state(), b))
    assert len(our_state) == len(legacy_state)
    for i, s in enumerate(legacy_state):
        _record(diffs, "initial_state", our_state[state_key(i)], s)
    for step in range(steps):
        raw = samples(case.obs_space, b, seed=100 + step)
        logits, values, new_state = legacy_step(legacy, ray_preprocessed(case.obs_space, raw), legacy_state, np.ones(b))
        assert np.abs(logits).max() > 1e-3 and np.abs(values).max() > 1e-3
        batch = {"obs": with_time(raw, b, 1), "state_in": our_state}
        inference = module.forward_inference(batch)
        exploration = module.forward_exploration(batch)
        assert sorted(inference) == ["action_dist_inputs", "state_out"]
        assert sorted(exploration) == ["action_dist_inputs", "state_out", "vf_preds"]
        for out in (inference, exploration):
            _record(diffs, "action_dist_inputs", np.asarray(out["action_dist_inputs"])[:, 0], logits)
            assert sorted(out["state_out"]) == [state_key(i) for i in range(len(new_state))]
            for i, s in enumerate(new_state):
                _record(diffs, "state_out", out["state_out"][state_key(i)], s)
        _record(diffs, "vf_preds", np.asarray(exploration["vf_preds"])[:, 0], values)
        legacy_state, our_state = new_state, numpy_state(exploration["state_out"])
    return diffs


SEQ_LENS = np.array([5, 3, 1], np.int32)


def train_batch(case: Case, legacy: Any, seed: int = 7) -> Tuple[Dict[str, Any], np.ndarray, List[np.ndarray]]:
    """``[B, T]`` sequences (lengths 5, 3, 1; the steps past a length are padding) with a
    random state_in; and the same as legacy padded rows ``[B * T, F]`` with the state list."""
    b, t = len(SEQ_LENS), int(SEQ_LENS.max())
    raw = samples(case.obs_space, b * t, seed=seed)
    rng = np.random.default_rng(seed)
    state = [rng.normal(size=(b, *np.shape(s))).astype(np.float32) for s in legacy.get_initial_state()]
    batch = {
        "obs": with_time(raw, b, t),
        "state_in": {state_key(i): s for i, s in enumerate(state)},
        "seq_lens": SEQ_LENS,
    }
    return batch, ray_preprocessed(case.obs_space, raw), state


def train_diffs(case: Case, legacy: Any, module: TfRLModule) -> Dict[str, float]:
    """forward_train on ``[B, T]`` sequences against the legacy model on the padded rows."""
    batch, flat, state = train_batch(case, legacy)
    b, t = len(SEQ_LENS), int(SEQ_LENS.max())
    logits, values, new_state = legacy_step(legacy, flat, state, SEQ_LENS)
    out = module.forward_train(batch)
    assert sorted(out) == ["action_dist_inputs", "state_out", "vf_preds"]
    diffs: Dict[str, float] = {}
    _record(diffs, "action_dist_inputs", out["action_dist_inputs"], logits.reshape(b, t, -1))
    _record(diffs, "vf_preds", out["vf_preds"], values.reshape(b, t))
    for i, s in enumerate(new_state):
        _record(diffs, "state_out", out["state_out"][state_key(i)], s)
    return diffs


def diverged(diffs: Dict[str, float], tol: float = TOL) -> List[str]:
    return sorted(key for key, value in diffs.items() if not value <= tol)


# --- the legacy classes under Keras 3 --------------------------------------------------------
@pytest.mark.legacy
def test_the_legacy_classes_do_not_run_under_keras3_as_written():
    """Why the oracle runs the legacy file after the keras_functional rule."""
    raw = exec_module(LEGACY_FILE.read_bytes(), "legacy_tf_recurrent_as_written")
    args = (Box(-1.0, 1.0, (5,), np.float32), Discrete(3), 3, {"lstm_cell_size": 4, "fcnet_hiddens": [8]}, "m")
    with pytest.raises(ValueError, match="KerasTensor cannot be used as input to a TensorFlow function"):
        raw.KerasLSTMNetwork(*args)
    layers = raw.LSTMLayersNetwork(*args)
    with pytest.raises(TypeError, match="sequences"):
        layers.forward_rnn(tf.zeros([1, 1, 5]), [tf.zeros([1, 4]), tf.zeros([1, 4])], tf.ones([1], tf.int32))


def test_the_keras_functional_rule_changes_only_the_keras3_lines_of_the_legacy_file():
    before = LEGACY_FILE.read_text().splitlines()
    after = keras3_legacy_source().decode().splitlines()
    changed = [f"{line[0]} {line[2:].strip()}" for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ")]
    assert sorted(changed) == sorted([
        "- inputs=dense1,",
        "- mask=tf.sequence_mask(seq_in),",
        "+ dense1,",
        "+ mask=tf.keras.layers.Lambda(lambda t: tf.sequence_mask(t), autocast=False)(seq_in),",
        "- self._features, h, c = self.lstm(inputs=x, mask=mask, initial_state=state)",
        "+ self._features, h, c = self.lstm(x, mask=mask, initial_state=state)",
    ])


def test_the_rewritten_functional_model_computes_what_the_raw_mask_computes_eagerly():
    """The Lambda-wrapped ``tf.sequence_mask`` inside the functional model is the raw op:
    the same layers called eagerly with ``mask=tf.sequence_mask(seq_lens)`` give the same
    outputs, padded steps and final states included (and without the mask they differ)."""
    module = build(CASES["KerasLSTMNetwork"])
    rng = np.random.default_rng(3)
    inputs = tf.constant(rng.normal(size=(3, 5, 5)).astype(np.float32))
    seq_lens = tf.constant(SEQ_LENS)
    h0, c0 = (tf.constant(rng.normal(size=(3, 8)).astype(np.float32)) for _ in range(2))
    functional = [x.numpy() for x in module.rnn_model([inputs, seq_lens, h0, c0])]
    layer = module.rnn_model.get_layer

    def eager(mask):
        out, h, c = layer("lstm")(layer("dense1")(inputs), mask=mask, initial_state=[h0, c0])
        return [layer("logits")(out).numpy(), layer("values")(out).numpy(), h.numpy(), c.numpy()]

    for ours, theirs in zip(functional, eager(tf.sequence_mask(seq_lens)), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    unmasked = eager(None)
    assert np.abs(functional[2] - unmasked[2]).max() > 1e-3  # the mask matters for the final state


# --- against the legacy models (ray 2.60) ----------------------------------------------------
@pytest.mark.legacy
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_legacy_constructor_arguments_match(name):
    case = CASES[name]
    legacy, module = legacy_model(case), build(case)
    assert module.obs_space == legacy.obs_space and module.action_space == legacy.action_space
    assert module.num_outputs == legacy.num_outputs and module.name == legacy.name
    assert {k: v for k, v in legacy.model_config.items() if k != "custom_model"} == {
        k: v for k, v in module.model_config.items() if k != "custom_model"
    }


@pytest.mark.legacy
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_rollout_carrying_state_matches_the_legacy_model_step_by_step(name):
    case = CASES[name]
    legacy, module = paired(name)
    diffs = rollout_diffs(case, legacy, module)
    assert sorted(diffs) == ["action_dist_inputs", "initial_state", "state_out", "vf_preds"]
    assert not diverged(diffs), diffs


@pytest.mark.legacy
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_train_on_sequences_matches_the_legacy_padded_rows(name):
    case = CASES[name]
    legacy, module = paired(name)
    diffs = train_diffs(case, legacy, module)
    assert not diverged(diffs), diffs
    # the same forward traced as a graph with unknown batch and time sizes
    batch, _, _ = train_batch(case, legacy)
    signature = {
        "obs": map_structure(lambda a: tf.TensorSpec([None, None, *a.shape[2:]], tf.as_dtype(a.dtype)), batch["obs"]),
        "state_in": {k: tf.TensorSpec([None, *v.shape[1:]], tf.float32) for k, v in batch["state_in"].items()},
        "seq_lens": tf.TensorSpec([None], tf.int32),
    }
    traced = tf.function(module.forward_train, input_signature=[signature])(tf.nest.map_structure(tf.constant, batch))
    eager = module.forward_train(batch)
    for key in ("action_dist_inputs", "vf_preds"):
        np.testing.assert_allclose(traced[key].numpy(), eager[key].numpy(), rtol=1e-6, atol=1e-6, err_msg=key)
    for key in eager["state_out"]:
        np.testing.assert_allclose(traced["state_out"][key].numpy(), eager["state_out"][key].numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.legacy
@pytest.mark.parametrize("name,perturb", [(n, p) for n in sorted(CASES) for p in CASES[n].perturbs])
def test_a_perturbed_weight_makes_the_comparison_fail(name, perturb):
    suffix, quantities = perturb
    case = CASES[name]
    legacy, module = paired(name)
    [weight] = [w for w in module.weights if w.path.endswith(suffix)]
    weight.assign(weight + 0.05)
    assert diverged(rollout_diffs(case, legacy, module)) == sorted(quantities)
    assert diverged(train_diffs(case, legacy, module)) == sorted(quantities)


# --- the tf helpers against the torch ones ---------------------------------------------------
HELPER_SPACES = {
    "box": Box(-1.0, 1.0, (4,), np.float32),
    "box_image_float64": Box(0.0, 1.0, (2, 3, 2), np.float64),
    "discrete": Discrete(3, start=1),
    "dict": DictSpace({"b": Discrete(3), "a": Box(-1.0, 1.0, (2, 2), np.float64)}),
    "tuple": TupleSpace((Discrete(2), Box(0, 10, (3,), np.int64))),
}


def _fake(space: gym.Space, framework: str) -> Any:
    return SimpleNamespace(framework=framework, config=SimpleNamespace(observation_space=space), model_config={})


def _sequence_batch(space: gym.Space, b: int = 3, t: int = 4, state_kind: str = "numpy") -> Dict[str, Any]:
    rng = np.random.default_rng(5)
    state = [rng.normal(size=(b, 5)).astype(np.float32), rng.normal(size=(b, 2)).astype(np.float32)]
    if state_kind == "torch":
        state = [torch.as_tensor(s) for s in state]
    elif state_kind == "tf":
        state = [tf.constant(s) for s in state]
    return {
        "obs": with_time(samples(space, b * t, seed=4), b, t),
        "state_in": {state_key(i): s for i, s in enumerate(state)},
        "seq_lens": np.array([4, 2, 1], np.int32),
    }


@pytest.mark.parametrize("state_kind", ["numpy", "torch", "tf"])
@pytest.mark.parametrize("name", sorted(HELPER_SPACES))
def test_the_tf_rnn_inputs_equal_the_torch_ones(name, state_kind):
    space = HELPER_SPACES[name]
    batch = _sequence_batch(space, state_kind=state_kind)
    theirs = legacy_rnn_inputs(_fake(space, "torch"), batch)
    ours = legacy_rnn_inputs(_fake(space, "tf2"), batch)
    assert all(isinstance(x, tf.Tensor) for x in [ours[0], *ours[1], ours[2]])
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
    assert ours[0].dtype == tf.float32 and theirs[0].dtype == torch.float32
    for a, b in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.dtype == tf.float32
    np.testing.assert_array_equal(ours[2].numpy(), theirs[2].numpy())
    assert ours[2].dtype == tf.int32
    del batch["seq_lens"]  # every row T steps long
    np.testing.assert_array_equal(legacy_rnn_inputs(_fake(space, "tf2"), batch)[2].numpy(), [4, 4, 4])


@pytest.mark.parametrize("name", sorted(HELPER_SPACES))
def test_the_tf_seq_inputs_equal_the_torch_ones(name):
    space = HELPER_SPACES[name]
    batch = _sequence_batch(space)
    theirs = legacy_seq_inputs(_fake(space, "torch"), batch, is_training=True)
    ours = legacy_seq_inputs(_fake(space, "tf2"), batch, is_training=True)
    assert ours[0]["is_training"] is True and isinstance(ours[0]["obs_flat"], tf.Tensor)
    np.testing.assert_array_equal(ours[0]["obs_flat"].numpy(), theirs[0]["obs_flat"].numpy())
    ours_leaves, theirs_leaves = tf.nest.flatten(ours[0]["obs"]), tf.nest.flatten(
        map_structure(lambda x: x.numpy(), theirs[0]["obs"]) if not isinstance(theirs[0]["obs"], list)
        else [x.numpy() for x in theirs[0]["obs"]]
    )
    for a, b in zip(ours_leaves, theirs_leaves, strict=True):
        np.testing.assert_array_equal(a.numpy(), b)
    for a, b in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(ours[2].numpy(), theirs[2].numpy())


def test_the_tf_rnn_inputs_trace_with_unknown_batch_and_time_sizes():
    space = HELPER_SPACES["dict"]
    module = _fake(space, "tf2")
    signature = {
        "obs": {"a": tf.TensorSpec([None, None, 2, 2], tf.float64), "b": tf.TensorSpec([None, None], tf.int64)},
        "state_in": {"state_0": tf.TensorSpec([None, 5], tf.float32)},
    }
    traced = tf.function(lambda batch: legacy_rnn_inputs(module, batch), input_signature=[signature])
    graph_inputs = traced.get_concrete_function().structured_outputs[0]
    assert graph_inputs.shape.as_list() == [None, None, 7]  # the feature size stays static
    batch = _sequence_batch(space)
    batch = {"obs": batch["obs"], "state_in": {"state_0": batch["state_in"]["state_0"]}}
    inputs, state, seq_lens = traced(tf.nest.map_structure(tf.constant, batch))
    np.testing.assert_array_equal(inputs.numpy(), legacy_rnn_inputs(_fake(space, "torch"), batch)[0].numpy())
    np.testing.assert_array_equal(seq_lens.numpy(), [4, 4, 4])


def test_legacy_state_dict_follows_the_tensors_framework():
    zeros = np.zeros(3, np.float32)
    as_tf = legacy_state_dict([tf.zeros([3]), zeros])  # any tf tensor: all tf
    assert list(as_tf) == ["state_0", "state_1"] and all(isinstance(v, tf.Tensor) for v in as_tf.values())
    assert all(isinstance(v, torch.Tensor) for v in legacy_state_dict([zeros, torch.zeros(2)]).values())
    assert all(isinstance(v, torch.Tensor) for v in legacy_state_dict([zeros, [0.0, 1.0]]).values())  # as before
    forced = legacy_state_dict([zeros, torch.ones(2)], framework="tf2")
    assert all(isinstance(v, tf.Tensor) for v in forced.values())
    np.testing.assert_array_equal(forced["state_1"].numpy(), [1.0, 1.0])
    assert all(isinstance(v, torch.Tensor) for v in legacy_state_dict([tf.zeros([2])], framework="torch").values())
    assert legacy_state_dict([]) == {}
    with pytest.raises(ValueError, match="framework"):
        legacy_state_dict([zeros], framework="jax")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_migrated_recurrent_module_round_trips_through_a_checkpoint(name, tmp_path):
    """``from_checkpoint`` builds the module with a sample batch carrying the initial
    state (numpy initial states come back from ``get_initial_state`` as torch tensors;
    the tf helpers take them)."""
    case = CASES[name]
    module = build(case)
    assert module.is_stateful()
    batch = {"obs": with_time(samples(case.obs_space, 6, seed=2), 2, 3), "state_in": initial_rows(module.get_initial_state(), 2)}
    before = module.forward_train(batch)
    module.save_to_checkpoint(str(tmp_path / "ckpt"))
    restored = type(module).from_checkpoint(str(tmp_path / "ckpt"))
    after = restored.forward_train(batch)
    for key in ("action_dist_inputs", "vf_preds"):
        np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(before[key]))
    for key in before["state_out"]:
        np.testing.assert_array_equal(np.asarray(after["state_out"][key]), np.asarray(before["state_out"][key]))
