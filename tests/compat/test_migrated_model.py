"""compat.migrated_model (the helpers migrated model classes call) and compat.preprocessing
(the one legacy observation preprocessor), against RLlib 2.60 where it is the oracle."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Dict, List

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict as DictSpace, Discrete, MultiBinary, MultiDiscrete, Tuple as TupleSpace

from tests.legacy_helpers import ray_preprocessed, stack_observations

from compat.legacy_torch_models import flatten_space_obs
from compat.migrated_model import (
    legacy_seq_inputs,
    legacy_time_rows,
    FLOAT_MAX,
    FLOAT_MIN,
    legacy_input_dict,
    legacy_model_args,
    legacy_model_config,
    legacy_num_outputs,
    legacy_rnn_inputs,
    legacy_state_dict,
)
from compat.preprocessing import is_preprocessed, preprocess_obs, preprocessed_obs_space, restore_raw_obs
from rlmodule import SingleAgentRLModuleSpec
from rlmodule.model_config import MODEL_DEFAULTS
from rlmodule.tree import flatten
from rlmodule.torch import TorchRLModule

legacy = pytest.mark.legacy

RAM = Box(0, 255, (128,), np.uint8)
PREP_SPACES = {
    "box": Box(-1.0, 1.0, (4,), np.float32),
    "box_image": Box(0.0, 1.0, (6, 6, 3), np.float32),
    "atari_ram": RAM,
    "discrete": Discrete(5),
    "discrete_start": Discrete(4, start=-2),
    "multi_discrete": MultiDiscrete([3, 2]),
    "multi_discrete_start_2d": MultiDiscrete([[3, 2], [2, 4]], start=[[1, 0], [0, 5]]),
    "dict": DictSpace({"b": Discrete(3), "a": Box(-1.0, 1.0, (2, 2), np.float64)}),
    "tuple": TupleSpace((Discrete(2), Box(0, 10, (3,), np.int64), MultiBinary(2))),
    "nested": DictSpace({"ram": RAM, "x": TupleSpace((Discrete(2), DictSpace({"z": Box(-1, 1, (2,)), "y": Discrete(3)})))}),
}


def _samples(space: gym.Space, n: int, seed: int = 0) -> List[Any]:
    space = copy.deepcopy(space)
    space.seed(seed)
    return [space.sample() for _ in range(n)]


class Probe(TorchRLModule):
    """The smallest migrated class: binds the legacy constructor arguments in setup()."""

    def setup(self):
        self.args = legacy_model_args(self)

    def _forward_inference(self, batch):
        return self._forward_train(batch)

    def _forward_exploration(self, batch):
        return self._forward_train(batch)

    def _forward_train(self, batch):
        return {"action_dist_inputs": legacy_input_dict(self, batch)["obs_flat"]}


def _probe(obs_space: gym.Space, action_space: gym.Space = Discrete(2), model_config: Dict[str, Any] = None) -> Probe:
    spec = SingleAgentRLModuleSpec(Probe, obs_space, action_space, model_config_dict=model_config or {})
    return spec.build()


# --- the preprocessor -------------------------------------------------------------------
@legacy
@pytest.mark.parametrize("name", sorted(PREP_SPACES))
def test_preprocess_obs_matches_rays_get_preprocessor(name):
    space = PREP_SPACES[name]
    samples = _samples(space, 6)
    theirs = ray_preprocessed(space, samples)
    batched = preprocess_obs(stack_observations(samples), space)
    np.testing.assert_array_equal(batched.numpy(), theirs)
    assert batched.dtype == torch.from_numpy(theirs).dtype
    # a time axis, and one observation at a time (the per-sample numpy form)
    np.testing.assert_array_equal(preprocess_obs(stack_observations([stack_observations(samples)]), space, batch_dims=2)[0].numpy(), theirs)
    for sample, row in zip(samples, theirs):
        np.testing.assert_array_equal(flatten_space_obs(space, sample), row)


@legacy
@pytest.mark.parametrize("name", sorted(PREP_SPACES))
def test_preprocessed_obs_space_matches_ray(name):
    from ray.rllib.models.preprocessors import get_preprocessor

    space = PREP_SPACES[name]
    theirs = get_preprocessor(space)(space).observation_space
    ours = preprocessed_obs_space(space)
    assert ours == theirs and ours.dtype == theirs.dtype
    assert getattr(ours, "original_space", None) is getattr(theirs, "original_space", None)
    assert is_preprocessed(space) == hasattr(theirs, "original_space")


@legacy
def test_a_plain_dict_is_read_in_sorted_key_order_as_legacy_did():
    """Legacy sorted a plain dict's items and zipped them with the space's children; an
    OrderedDict observation kept its own order. Both agree for sorted spaces."""
    space = DictSpace(OrderedDict([("b", Box(-5.0, 5.0, (2,))), ("a", Box(-5.0, 5.0, (2,)))]))
    sample = {"b": np.array([1.0, 2.0], np.float32), "a": np.array([3.0, 4.0], np.float32)}
    results = []
    for obs in (sample, OrderedDict(sample)):
        theirs = ray_preprocessed(space, [obs])
        batch = type(obs)((key, value[None]) for key, value in obs.items())
        np.testing.assert_array_equal(preprocess_obs(batch, space).numpy(), theirs)
        np.testing.assert_array_equal(flatten_space_obs(space, obs), theirs[0])
        results.append(theirs[0].tolist())
    assert results == [[3.0, 4.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]]


@pytest.mark.parametrize("name", sorted(n for n in PREP_SPACES if n not in ("box", "box_image", "atari_ram")))
def test_restore_raw_obs_inverts_preprocess_obs(name):
    space = PREP_SPACES[name]
    raw = stack_observations(_samples(space, 5))
    flat = preprocess_obs(raw, space).numpy()
    restored = restore_raw_obs(flat, space)
    for ours, theirs in zip(flatten(restored, lists=True), flatten(raw, lists=True)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-7)  # float64 leaves went through float32
    np.testing.assert_array_equal(preprocess_obs(restored, space).numpy(), flat)


def test_unsupported_and_mismatched_observations_raise():
    with pytest.raises(NotImplementedError, match="Atari frames"):
        preprocess_obs(np.zeros((1, 210, 160, 3)), Box(0, 255, (210, 160, 3), np.uint8))
    with pytest.raises(NotImplementedError, match="Atari frames"):
        preprocessed_obs_space(TupleSpace((Box(0, 255, (210, 160, 3), np.uint8),)))
    with pytest.raises(ValueError, match="does not fit"):
        preprocess_obs((np.zeros((2, 1)), np.zeros((2, 5))), TupleSpace((Discrete(2), Box(-1, 1, (4,)))))


# --- constructor arguments -----------------------------------------------------------------
ACTION_SPACES = {
    "discrete": Discrete(4),
    "multi_discrete": MultiDiscrete([3, 2, 2]),
    "box": Box(-1.0, 1.0, (3,), np.float32),
    "int_box": Box(0, 4, (2,), np.int32),
    "tuple": TupleSpace((Discrete(2), Box(-1.0, 1.0, (2,), np.float32))),
    "dict": DictSpace({"a": Discrete(3), "b": TupleSpace((MultiDiscrete([2, 2]), Box(-1.0, 1.0, (1,), np.float32)))}),
}


@legacy
@pytest.mark.parametrize("name", sorted(ACTION_SPACES))
def test_legacy_num_outputs_matches_rays_get_action_dist(name):
    from ray.rllib.models.catalog import MODEL_DEFAULTS as RAY_MODEL_DEFAULTS, ModelCatalog

    space = ACTION_SPACES[name]
    _, theirs = ModelCatalog.get_action_dist(space, RAY_MODEL_DEFAULTS, framework="torch")
    assert legacy_num_outputs(space, legacy_model_config({})) == int(theirs)


def test_legacy_num_outputs_refuses_what_it_cannot_know():
    with pytest.raises(NotImplementedError, match="custom_action_dist 'my_dist'"):
        legacy_num_outputs(Discrete(2), {"custom_action_dist": "my_dist"})
    with pytest.raises(NotImplementedError, match="1-D Box"):
        legacy_num_outputs(Box(-1, 1, (2, 2)), {})
    with pytest.raises(NotImplementedError, match="no default action distribution"):
        legacy_num_outputs(MultiBinary(3), {})


@legacy
def test_legacy_model_config_is_what_a_legacy_algorithm_config_held():
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

    user = {"fcnet_hiddens": [8], "custom_options": {"a": 1}, "custom_model_config": {"b": [2]}, "my_key": 3}
    ours = legacy_model_config(user)
    assert ours == AlgorithmConfig().training(model=user).model
    assert ours["custom_options"] == {"a": 1} and ours["custom_model_config"] == {"b": [2]}
    ours["custom_model_config"]["b"].append(5)  # a deep copy: the user's dict is untouched
    assert user["custom_model_config"] == {"b": [2]} and MODEL_DEFAULTS["custom_model_config"] == {}


@legacy
@pytest.mark.parametrize("obs", ["box", "dict", "atari_ram"])
@pytest.mark.parametrize("action", ["discrete", "box", "tuple"])
def test_legacy_model_args_are_what_a_legacy_policy_passed_to_the_constructor(obs, action):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
    from ray.rllib.models.preprocessors import get_preprocessor
    from ray.rllib.models.torch.torch_modelv2 import TorchModelV2

    received = {}

    class Recorder(TorchModelV2, torch.nn.Module):
        def __init__(self, obs_space, action_space, num_outputs, model_config, name, **kwargs):
            TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
            torch.nn.Module.__init__(self)
            received.update(args=(obs_space, action_space, num_outputs, copy.deepcopy(model_config), name), kwargs=kwargs)
            self.out = torch.nn.Linear(int(np.prod(obs_space.shape)), num_outputs)

        def forward(self, input_dict, state, seq_lens):
            return self.out(input_dict["obs_flat"].float()), state

        def value_function(self):
            return torch.zeros(1)

    obs_space, action_space = PREP_SPACES[obs], ACTION_SPACES[action]
    # The class itself, not a registered name: the registry would pickle a copy of it.
    user = {"custom_model": Recorder, "custom_model_config": {"hidden": 7}}
    config = (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
        .framework("torch")
        .training(model=user)
        .to_dict()
    )
    PPOTorchPolicy(get_preprocessor(obs_space)(obs_space).observation_space, action_space, config)
    probe = _probe(obs_space, action_space, config["model"])
    t_obs, t_action, t_num, t_config, t_name = received["args"]
    ours = probe.args
    assert ours[0] == t_obs and getattr(ours[0], "original_space", None) == getattr(t_obs, "original_space", None)
    assert ours[1:] == (t_action, t_num, t_config, t_name)
    assert received["kwargs"] == ours[3]["custom_model_config"]  # custom kwargs live there
    assert (probe.obs_space, probe.action_space, probe.num_outputs, probe.model_config, probe.name) == ours


def test_legacy_model_args_refuses_the_disabled_preprocessor_api():
    with pytest.raises(NotImplementedError, match="_disable_preprocessor_api"):
        _probe(PREP_SPACES["box"], model_config={"_disable_preprocessor_api": True})


# --- inputs ------------------------------------------------------------------------------
def _ray_forward_inputs(space: gym.Space, samples: List[Any], recurrent: bool = False, state=None, seq_lens=None):
    """What a ray 2.60 legacy model's forward (forward_rnn if ``recurrent``) received when
    a legacy policy fed it ``samples`` (preprocessed, converted as the policy did)."""
    from ray.rllib.models.preprocessors import get_preprocessor
    from ray.rllib.models.torch.recurrent_net import RecurrentNetwork
    from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
    from ray.rllib.utils.torch_utils import convert_to_torch_tensor

    seen = {}

    class FeedForward(TorchModelV2, torch.nn.Module):
        def __init__(self, *args):
            torch.nn.Module.__init__(self)
            TorchModelV2.__init__(self, *args)

        def forward(self, input_dict, state, seq_lens):
            seen["inputs"] = input_dict
            return torch.zeros(len(input_dict["obs_flat"]), 2), state

    class Recurrent(RecurrentNetwork, torch.nn.Module):
        def __init__(self, *args):
            torch.nn.Module.__init__(self)
            RecurrentNetwork.__init__(self, *args)

        def forward_rnn(self, inputs, state, seq_lens):
            seen["inputs"] = (inputs, state, seq_lens)
            return torch.zeros(inputs.shape[:2] + (2,)), state

    obs_space = get_preprocessor(space)(space).observation_space
    model = (Recurrent if recurrent else FeedForward)(obs_space, Discrete(2), 2, {**MODEL_DEFAULTS}, "default_model")
    model({"obs": convert_to_torch_tensor(ray_preprocessed(space, samples)), "is_training": False}, state or [], seq_lens)
    return seen["inputs"]


@legacy
@pytest.mark.parametrize("name", ["box", "box_image", "atari_ram", "discrete_start", "dict", "tuple", "nested"])
def test_legacy_input_dict_is_what_legacy_forward_received(name):
    space = PREP_SPACES[name]
    samples = _samples(space, 5, seed=1)
    theirs = _ray_forward_inputs(space, samples)
    ours = legacy_input_dict(_probe(space), {"obs": stack_observations(samples)})
    assert sorted(ours) == ["is_training", "obs", "obs_flat"] and ours["is_training"] is False
    torch.testing.assert_close(ours["obs_flat"], theirs["obs_flat"], rtol=0, atol=0)

    def same_structure(a: Any, b: Any) -> None:
        assert type(a) is type(b)
        if isinstance(a, dict):
            assert list(a) == list(b)
        if isinstance(a, (dict, list)):
            for x, y in zip(a.values() if isinstance(a, dict) else a, b.values() if isinstance(b, dict) else b):
                same_structure(x, y)
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=0)

    same_structure(ours["obs"], theirs["obs"])
    assert legacy_input_dict(_probe(space), {"obs": stack_observations(samples)}, is_training=True)["is_training"] is True


def test_legacy_input_dict_casts_float64_boxes_as_the_legacy_policy_did():
    space = Box(-1.0, 1.0, (3,), np.float64)
    out = legacy_input_dict(_probe(space), {"obs": np.zeros((2, 3))})
    assert out["obs"].dtype == out["obs_flat"].dtype == torch.float32


@legacy
@pytest.mark.parametrize("name", ["box", "dict", "discrete"])
def test_legacy_rnn_inputs_are_what_forward_rnn_received(name):
    space = PREP_SPACES[name]
    b, t = 3, 4
    samples = _samples(space, b * t, seed=2)
    state = [torch.randn(b, 5), torch.randn(b, 6)]
    seq_lens = torch.tensor([4, 2, 1], dtype=torch.int32)
    theirs = _ray_forward_inputs(space, samples, recurrent=True, state=state, seq_lens=seq_lens)
    obs = stack_observations([stack_observations(samples[i * t : (i + 1) * t]) for i in range(b)])  # [B, T, ...]
    batch = {"obs": obs, "state_in": legacy_state_dict(state), "seq_lens": seq_lens}
    inputs, state_list, lens = legacy_rnn_inputs(_probe(space), batch)
    torch.testing.assert_close(inputs, theirs[0], rtol=0, atol=0)
    assert len(state_list) == 2 and all(a is b for a, b in zip(state_list, state))
    torch.testing.assert_close(lens, seq_lens)
    # without seq_lens every row is T steps long
    del batch["seq_lens"]
    torch.testing.assert_close(legacy_rnn_inputs(_probe(space), batch)[2], torch.full((b,), t, dtype=torch.int32))


@legacy
@pytest.mark.parametrize("name", ["box", "dict", "tuple", "nested"])
def test_legacy_seq_inputs_are_what_a_stateful_forward_received(name):
    """A stateful model's ``forward`` got ``B * T`` padded rows: ``obs`` restored to the
    space's structure (a Dict observation in the space's key order, as an ``OrderedDict``
    keeps it), ``obs_flat``, the state and ``seq_lens``, as legacy ``ModelV2.__call__``
    passed them."""
    space = PREP_SPACES[name]
    b, t = 3, 4
    samples = _samples(space, b * t, seed=3)
    state = [torch.randn(b, 5)]
    seq_lens = torch.tensor([4, 2, 1], dtype=torch.int32)
    theirs = _ray_forward_inputs(space, samples, state=state, seq_lens=seq_lens)
    obs = stack_observations([stack_observations(samples[i * t : (i + 1) * t]) for i in range(b)])  # [B, T, ...]
    batch = {"obs": obs, "state_in": legacy_state_dict(state), "seq_lens": seq_lens}
    input_dict, state_list, lens = legacy_seq_inputs(_probe(space), batch, is_training=True)
    torch.testing.assert_close(input_dict["obs_flat"], theirs["obs_flat"], rtol=0, atol=0)
    for ours, ray_leaf in zip(flatten(input_dict["obs"], lists=True), flatten(theirs["obs"], lists=True)):
        torch.testing.assert_close(ours, ray_leaf, rtol=0, atol=0)
    assert input_dict["is_training"] is True
    assert len(state_list) == 1 and state_list[0] is state[0]
    torch.testing.assert_close(lens, seq_lens)
    torch.testing.assert_close(legacy_time_rows(input_dict["obs_flat"], lens), input_dict["obs_flat"].reshape(b, t, -1))


def test_legacy_seq_inputs_keep_an_ordered_dict_observation_in_its_order():
    """Legacy preprocessing reads a plain dict in sorted key order and an OrderedDict in
    its own: laying ``[B, T]`` out as rows must not turn one into the other."""
    space = DictSpace(OrderedDict([("b", Box(-1.0, 1.0, (3,), np.float32)), ("a", Box(-1.0, 1.0, (1,), np.float32))]))
    obs = OrderedDict([("b", np.arange(18, dtype=np.float32).reshape(2, 3, 3)), ("a", -np.ones((2, 3, 1), np.float32))])
    input_dict, _, _ = legacy_seq_inputs(_probe(space), {"obs": obs})
    rows = OrderedDict((k, v.reshape(6, *v.shape[2:])) for k, v in obs.items())
    expected = legacy_input_dict(_probe(space), {"obs": rows})
    torch.testing.assert_close(input_dict["obs_flat"], expected["obs_flat"], rtol=0, atol=0)
    torch.testing.assert_close(input_dict["obs_flat"][:, 3], torch.full((6,), -1.0))  # "a" after "b"


def test_legacy_rnn_inputs_refuses_time_major_models():
    batch = {"obs": np.zeros((1, 1, 4), np.float32), "state_in": {}}
    with pytest.raises(NotImplementedError, match="_time_major"):
        legacy_rnn_inputs(_probe(PREP_SPACES["box"], model_config={"_time_major": True}), batch)


@legacy
def test_state_keys_are_those_of_the_compat_adapters():
    """``legacy_state_dict`` names states as ``ModelV2RLModule`` (and so RLModulePolicy) do."""
    from compat import ModelV2RLModule
    from compat.legacy_torch_models import FullyConnectedNetwork, lstm_wrapped

    space = PREP_SPACES["box"]
    model = lstm_wrapped(FullyConnectedNetwork)(space, Discrete(2), 2, {"use_lstm": True, "lstm_cell_size": 3}, "m")
    wrapped = ModelV2RLModule.wrap(model)
    initial = legacy_state_dict(model.get_initial_state())
    assert list(initial) == list(wrapped.get_initial_state()) == ["state_0", "state_1"]
    assert all(v.shape == (3,) for v in initial.values())


@legacy
def test_float_min_and_max_are_rays():
    from ray.rllib.utils import torch_utils

    assert (FLOAT_MIN, FLOAT_MAX) == (torch_utils.FLOAT_MIN, torch_utils.FLOAT_MAX)
