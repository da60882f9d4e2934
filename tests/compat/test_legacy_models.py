"""compat.legacy_torch_models against RLlib 2.60's legacy torch models (the oracle).

Each model is built by ray's ``ModelCatalog.get_model_v2`` and by ours from the same
arguments and seed: same state_dict keys (in order), shapes and initial values; ray's
(perturbed) weights then load into ours with ``strict=True`` and outputs, values and
states agree on the same preprocessed observations.
"""

import contextlib
import copy
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict, Discrete, MultiDiscrete, Tuple

pytest.importorskip("ray.rllib")

from ray.rllib.models import preprocessors as ray_prep  # noqa: E402
from ray.rllib.models import utils as ray_utils  # noqa: E402
from ray.rllib.models.catalog import MODEL_DEFAULTS as RAY_MODEL_DEFAULTS  # noqa: E402
from ray.rllib.models.catalog import ModelCatalog  # noqa: E402
from ray.rllib.models.modelv2 import restore_original_dimensions as ray_restore  # noqa: E402
from ray.rllib.models.torch import misc as ray_misc  # noqa: E402
from ray.rllib.policy.rnn_sequencing import add_time_dimension as ray_add_time  # noqa: E402

from compat import legacy_torch_models as ltm  # noqa: E402
from rlmodule.tree import flatten  # noqa: E402

pytestmark = pytest.mark.legacy

ATOL = 1e-6
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _close(a, b):
    np.testing.assert_allclose(
        torch.as_tensor(a).detach().numpy(), torch.as_tensor(b).detach().numpy(), atol=ATOL, rtol=0
    )


def _assert_same_state_dict(theirs, ours, values=True):
    sd_t, sd_o = theirs.state_dict(), ours.state_dict()
    assert list(sd_t) == list(sd_o)
    assert [v.shape for v in sd_t.values()] == [v.shape for v in sd_o.values()]
    if values:
        for k in sd_t:
            assert torch.equal(sd_t[k], sd_o[k]), k


# ------------------------------------------------------------------------------ ray-free


def test_module_is_ray_free():
    for path in (ROOT / "compat" / "legacy_torch_models").glob("*.py"):
        src = path.read_text()
        assert "import ray" not in src and "from ray" not in src, path.name
    code = (
        "import sys, compat.legacy_torch_models as m, gymnasium as gym;"
        "m.get_model_v2(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2), 2,"
        " {'use_lstm': True}, 'x');"
        "assert not any(n == 'ray' or n.startswith('ray.') for n in sys.modules), 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# -------------------------------------------------------------------------------- layers


def test_normc_initializer():
    w_t, w_o = torch.empty(5, 7), torch.empty(5, 7)
    torch.manual_seed(3)
    ray_misc.normc_initializer(0.5)(w_t)
    torch.manual_seed(3)
    ltm.normc_initializer(0.5)(w_o)
    assert torch.equal(w_t, w_o)
    _close(w_o.norm(dim=1), torch.full((5,), 0.5))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"activation_fn": "relu", "bias_init": 0.3},
        {"activation_fn": "tanh", "initializer": ltm.normc_initializer(0.01)},
        {"use_bias": False, "activation_fn": "swish"},
    ],
)
def test_slim_fc(kwargs):
    ray_kwargs = dict(kwargs)
    if "initializer" in kwargs:
        ray_kwargs["initializer"] = ray_misc.normc_initializer(0.01)
    torch.manual_seed(0)
    theirs = ray_misc.SlimFC(6, 4, **ray_kwargs)
    torch.manual_seed(0)
    ours = ltm.SlimFC(6, 4, **kwargs)
    _assert_same_state_dict(theirs, ours)
    x = torch.randn(3, 6)
    _close(theirs(x), ours(x))


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((3, 8, [4, 4], 2, (1, 2, 1, 2)), {}),
        ((3, 8, 3, 1, None), {"activation_fn": None, "bias_init": 0.1}),
        ((3, 8, [1, 1], 1, (0, 0, 0, 0)), {"activation_fn": "elu", "initializer": None}),
    ],
)
def test_slim_conv2d(args, kwargs):
    torch.manual_seed(0)
    theirs = ray_misc.SlimConv2d(*args, **kwargs)
    torch.manual_seed(0)
    ours = ltm.SlimConv2d(*args, **kwargs)
    _assert_same_state_dict(theirs, ours)
    assert [type(m) for m in theirs._model] == [type(m) for m in ours._model]
    x = torch.randn(2, 3, 9, 9)
    _close(theirs(x), ours(x))


def test_append_bias_layer():
    theirs, ours = ray_misc.AppendBiasLayer(3), ltm.AppendBiasLayer(3)
    _assert_same_state_dict(theirs, ours)
    with torch.no_grad():
        theirs.log_std.copy_(torch.tensor([0.1, -0.2, 0.3]))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(4, 2)
    _close(theirs(x), ours(x))


@pytest.mark.parametrize(
    "in_size,filt,stride",
    [
        ((84, 84), [8, 8], 4),
        ((21, 21), [4, 4], 2),
        ((11, 11), 11, 1),
        ((10, 7), (5, 3), (2, 3)),
        ((9, 9), 1, 3),
        ((5.0, 5.0), [1, 1], [1, 1]),
    ],
)
def test_same_padding(in_size, filt, stride):
    assert ltm.same_padding(in_size, filt, stride) == ray_misc.same_padding(in_size, filt, stride)


@pytest.mark.parametrize(
    "name", [None, "linear", "relu", "tanh", "elu", "swish", "silu", "ReLU", "Softmax", "softmax"]
)
def test_get_activation_fn(name):
    assert ltm.get_activation_fn(name) is ray_utils.get_activation_fn(name, framework="torch")


def test_get_activation_fn_unknown():
    with pytest.raises(ValueError, match="Unknown activation"):
        ltm.get_activation_fn("nope")


@pytest.mark.parametrize("shape", [(84, 84, 3), (42, 42, 1), (96, 96, 3), (64, 64, 4), (10, 10, 3)])
def test_get_filter_config(shape):
    assert ltm.get_filter_config(shape) == ray_utils.get_filter_config(shape)


@pytest.mark.parametrize("time_major", [False, True])
def test_add_time_dimension(time_major):
    x = torch.randn(12, 3, 2)
    seq_lens = torch.tensor([3, 1, 2])
    theirs = ray_add_time(x, seq_lens=seq_lens, framework="torch", time_major=time_major)
    ours = ltm.add_time_dimension(x, seq_lens=seq_lens, framework="torch", time_major=time_major)
    assert ours.shape == theirs.shape
    assert torch.equal(ours, theirs)
    ours_np = ltm.add_time_dimension(
        x.numpy(), seq_lens=seq_lens, framework="np", time_major=time_major
    )
    np.testing.assert_array_equal(ours_np, theirs.numpy())


@pytest.mark.parametrize("call", ["ray_0_8_positional_seq_lens", "ray_1_0_positional_max_seq_len", "max_seq_len_keyword"])
def test_add_time_dimension_takes_every_legacy_signature(call):
    """Legacy code calls it as ray 0.8 (``x, seq_lens, framework``), ray 1.0-1.3 (``x,
    max_seq_len, framework, time_major``) or ray >= 1.4 (``x, seq_lens=...``) defined it."""
    x = torch.randn(12, 3)
    expected = ray_add_time(x, seq_lens=torch.tensor([4, 4, 4]), framework="torch")
    ours = {
        "ray_0_8_positional_seq_lens": lambda: ltm.add_time_dimension(x, torch.tensor([4, 1, 2]), framework="torch"),
        "ray_1_0_positional_max_seq_len": lambda: ltm.add_time_dimension(x, 4, "torch", False),
        "max_seq_len_keyword": lambda: ltm.add_time_dimension(x, max_seq_len=4, framework="torch"),
    }[call]()
    assert torch.equal(ours, expected)
    with pytest.raises(TypeError, match="exactly one"):
        ltm.add_time_dimension(x, framework="torch")


def test_add_time_dimension_tf_matches_rllib_tf():
    """The TF branch a migrated TfRLModule calls equals RLlib's own TF branch (which has
    no time-major layout: ours refuses it too)."""
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(12, 3, 2)).astype(np.float32)
    seq_lens = tf.constant([3, 1, 2])
    theirs = ray_add_time(tf.constant(x), seq_lens=seq_lens, framework="tf")
    for framework in ("tf", "tf2"):
        ours = ltm.add_time_dimension(tf.constant(x), seq_lens=seq_lens, framework=framework)
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(NotImplementedError, match="time_major"):
        ltm.add_time_dimension(tf.constant(x), seq_lens=seq_lens, framework="tf", time_major=True)
    with pytest.raises(ValueError, match="framework must be"):
        ltm.add_time_dimension(x, seq_lens=seq_lens, framework="jax")


# ------------------------------------------------------------------------- preprocessing

IMG10 = Box(0.0, 1.0, (10, 10, 3), np.float32)
DICT_SPACE = Dict(
    {
        "img": IMG10,
        "pos": Box(-1.0, 1.0, (3,), np.float32),
        "mode": Discrete(4),
        "flags": MultiDiscrete([2, 3]),
    }
)
TUPLE_SPACE = Tuple(
    (
        Box(-2.0, 2.0, (2, 3), np.float32),
        Discrete(3, start=1),
        IMG10,
        Dict({"b": Box(-1.0, 1.0, (1,), np.float32), "a": MultiDiscrete([[2, 2], [3, 1]])}),
    )
)
PREP_SPACES = [
    DICT_SPACE,
    TUPLE_SPACE,
    Discrete(5),
    MultiDiscrete([3, 2]),
    Box(0, 255, (128,), np.uint8),
    Box(-1.0, 1.0, (4, 2), np.float32),
    Dict({"ram": Box(0, 255, (128,), np.uint8), "x": Tuple((Discrete(2), Box(0, 1, (2,))))}),
]


def _seeded(space, seed):
    space = copy.deepcopy(space)
    space.seed(seed)
    return space


def _ray_flat(space, samples):
    prep = ray_prep.get_preprocessor(space)(space)
    return np.stack([prep.transform(s) for s in samples]).astype(np.float32)


@pytest.mark.parametrize("space", PREP_SPACES, ids=lambda s: type(s).__name__)
def test_flatten_space_obs_and_restore(space):
    samples = [_seeded(space, i).sample() for i in range(4)]
    theirs = ray_prep.get_preprocessor(space)(space)
    flat = np.stack([ltm.flatten_space_obs(space, s) for s in samples])
    np.testing.assert_array_equal(flat, np.stack([theirs.transform(s) for s in samples]))

    ours_space = ltm.preprocessed_obs_space(space)
    theirs_space = theirs.observation_space
    assert ours_space.shape == theirs_space.shape and ours_space.dtype == theirs_space.dtype
    assert getattr(ours_space, "original_space", None) is getattr(
        theirs_space, "original_space", None
    )

    flat = flat.astype(np.float32)
    for lib, conv in (("torch", torch.from_numpy), ("numpy", lambda a: a)):
        r_t = ray_restore(conv(flat), theirs_space, tensorlib=lib)
        r_o = ltm.restore_original_dimensions(conv(flat), ours_space, tensorlib=lib)
        assert type(r_o) is type(r_t)
        leaves_t, leaves_o = flatten(r_t, sort_keys=True, lists=True), flatten(r_o, sort_keys=True, lists=True)
        assert len(leaves_t) == len(leaves_o)
        for a, b in zip(leaves_t, leaves_o):
            assert a.shape == b.shape
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_restore_rejects_wrong_size():
    with pytest.raises(ValueError, match=r"Expected flattened obs shape of \[..., 312\]"):
        ltm.restore_original_dimensions(torch.zeros(2, 5), DICT_SPACE)


# -------------------------------------------------------------------------------- models

BOX4 = Box(-1.0, 1.0, (4,), np.float32)
ACT_BOX2 = Box(-1.0, 1.0, (2,), np.float32)
IMG84 = Box(0.0, 1.0, (84, 84, 3), np.float32)
IMG42 = Box(0.0, 1.0, (42, 42, 3), np.float32)
IMG16 = Box(0.0, 1.0, (16, 16, 3), np.float32)
CUSTOM_FILTERS = [[8, [4, 4], 2], [16, [3, 3], 2], [32, [4, 4], 1]]

# id -> (raw obs space, action space, num_outputs, config, our class)
CASES = {
    "fc_shared": (BOX4, Discrete(3), 3, {"fcnet_hiddens": [16, 8]}, ltm.FullyConnectedNetwork),
    "fc_separate": (
        BOX4, Discrete(3), 3,
        {"fcnet_hiddens": [16, 8], "vf_share_layers": False, "fcnet_activation": "relu"},
        ltm.FullyConnectedNetwork,
    ),
    "fc_free_log_std": (
        BOX4, ACT_BOX2, 4, {"fcnet_hiddens": [16], "free_log_std": True},
        ltm.FullyConnectedNetwork,
    ),
    "fc_post_fcnet": (
        BOX4, Discrete(3), 3,
        {"fcnet_hiddens": [16], "post_fcnet_hiddens": [8, 6], "vf_share_layers": False},
        ltm.FullyConnectedNetwork,
    ),
    "fc_no_final_linear": (
        BOX4, Discrete(3), 3, {"fcnet_hiddens": [16, 8], "no_final_linear": True},
        ltm.FullyConnectedNetwork,
    ),
    "fc_no_hiddens_separate": (
        BOX4, Discrete(3), 3, {"fcnet_hiddens": [], "vf_share_layers": False},
        ltm.FullyConnectedNetwork,
    ),
    "fc_no_outputs": (BOX4, Discrete(3), None, {"fcnet_hiddens": [16, 8]},
                      ltm.FullyConnectedNetwork),
    "fc_dict_obs": (
        Dict({"a": Discrete(3), "b": Box(-1.0, 1.0, (2,), np.float32)}), Discrete(2), 2,
        {"fcnet_hiddens": [8]}, ltm.FullyConnectedNetwork,
    ),
    "vision_84": (IMG84, Discrete(4), 4, {}, ltm.VisionNetwork),
    "vision_42_separate": (IMG42, Discrete(4), 4, {"vf_share_layers": False}, ltm.VisionNetwork),
    "vision_custom_post_fcnet": (
        IMG16, Discrete(5), 5,
        {"conv_filters": CUSTOM_FILTERS, "post_fcnet_hiddens": [32, 16],
         "conv_activation": "elu"},
        ltm.VisionNetwork,
    ),
    "vision_custom_post_fcnet_separate": (
        IMG16, Discrete(5), 5,
        {"conv_filters": CUSTOM_FILTERS, "post_fcnet_hiddens": [32, 16], "vf_share_layers": False},
        ltm.VisionNetwork,
    ),
    "vision_no_final_linear": (
        IMG16, Discrete(5), 5,
        {"conv_filters": CUSTOM_FILTERS, "no_final_linear": True},
        ltm.VisionNetwork,
    ),
    "vision_no_outputs": (IMG16, Discrete(5), None, {"conv_filters": CUSTOM_FILTERS},
                          ltm.VisionNetwork),
    "complex_dict": (
        DICT_SPACE, Discrete(3), 3,
        {"fcnet_hiddens": [16, 8], "post_fcnet_hiddens": [12]}, ltm.ComplexInputNetwork,
    ),
    "complex_tuple": (
        TUPLE_SPACE, ACT_BOX2, 4, {"fcnet_hiddens": [8], "conv_activation": "tanh"},
        ltm.ComplexInputNetwork,
    ),
    "complex_custom_filters": (
        Dict({"img": IMG16, "v": Box(-1.0, 1.0, (2,), np.float32)}), Discrete(3), 3,
        {"conv_filters": CUSTOM_FILTERS, "fcnet_hiddens": [8], "post_fcnet_hiddens": [6],
         "post_fcnet_activation": "tanh"},
        ltm.ComplexInputNetwork,
    ),
    "complex_no_outputs": (DICT_SPACE, Discrete(3), None, {"fcnet_hiddens": [8]},
                           ltm.ComplexInputNetwork),
    "lstm_fc": (
        BOX4, Discrete(3), 3,
        {"use_lstm": True, "fcnet_hiddens": [16], "lstm_cell_size": 8, "max_seq_len": 4},
        ltm.lstm_wrapped(ltm.FullyConnectedNetwork),
    ),
    "lstm_fc_prev_a_r_separate": (
        BOX4, Discrete(3), 3,
        {"use_lstm": True, "fcnet_hiddens": [16, 8], "lstm_cell_size": 6, "max_seq_len": 3,
         "lstm_use_prev_action": True, "lstm_use_prev_reward": True, "vf_share_layers": False},
        ltm.lstm_wrapped(ltm.FullyConnectedNetwork),
    ),
    "lstm_fc_time_major_box_action": (
        BOX4, ACT_BOX2, 4,
        {"use_lstm": True, "fcnet_hiddens": [16], "lstm_cell_size": 8, "max_seq_len": 3,
         "_time_major": True, "lstm_use_prev_action": True},
        ltm.lstm_wrapped(ltm.FullyConnectedNetwork),
    ),
    "lstm_fc_tuple_action": (
        BOX4, Tuple((Discrete(3), MultiDiscrete([2, 2]), ACT_BOX2)), 9,
        {"use_lstm": True, "fcnet_hiddens": [16], "lstm_cell_size": 8, "max_seq_len": 3,
         "lstm_use_prev_action": True, "_disable_action_flattening": True},
        ltm.lstm_wrapped(ltm.FullyConnectedNetwork),
    ),
    "lstm_complex": (
        DICT_SPACE, Discrete(3), 3,
        {"use_lstm": True, "fcnet_hiddens": [8], "lstm_cell_size": 8, "max_seq_len": 2},
        ltm.lstm_wrapped(ltm.ComplexInputNetwork),
    ),
}


@contextlib.contextmanager
def _int_lstm_input_size():
    """Legacy sizes its LSTM with a numpy int when prev actions are used, which
    torch 2.13's ``nn.LSTM`` rejects; cast it while ray builds its model."""
    lstm = torch.nn.LSTM
    torch.nn.LSTM = lambda input_size, *a, **kw: lstm(int(input_size), *a, **kw)
    try:
        yield
    finally:
        torch.nn.LSTM = lstm


LEGACY_VALUE_FUNCTION_BROKEN = {"vision_custom_post_fcnet"}


def _build_pair(case):
    space, action_space, num_outputs, config, our_cls = CASES[case]
    theirs_space = ray_prep.get_preprocessor(space)(space).observation_space
    ours_space = ltm.preprocessed_obs_space(space)
    torch.manual_seed(0)
    with _int_lstm_input_size():
        theirs = ModelCatalog.get_model_v2(
            theirs_space, action_space, num_outputs,
            {**copy.deepcopy(RAY_MODEL_DEFAULTS), **copy.deepcopy(config)}, framework="torch",
        )
    torch.manual_seed(0)
    ours = our_cls(ours_space, action_space, num_outputs, copy.deepcopy(config), "default_model")
    return space, theirs, ours


def _perturb(model):
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))


def _obs_batch(space, n, seed=0):
    samples = [_seeded(space, seed + i).sample() for i in range(n)]
    return torch.from_numpy(_ray_flat(space, samples))


def _prev_actions(action_space, n):
    samples = [_seeded(action_space, 50 + i).sample() for i in range(n)]
    if isinstance(action_space, Tuple):
        return tuple(torch.as_tensor(np.stack(c)) for c in zip(*samples))
    return torch.as_tensor(np.stack(samples))


@pytest.mark.parametrize("case", list(CASES))
def test_model_parity(case):
    space, theirs, ours = _build_pair(case)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.num_outputs == theirs.num_outputs
    assert ours.obs_space.shape == theirs.obs_space.shape
    assert ours.name == theirs.name
    # Same parameter names and order, and - same seed - the same initial weights.
    _assert_same_state_dict(theirs, ours)
    _perturb(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True)

    recurrent = bool(theirs.get_initial_state())
    if not recurrent:
        obs = _obs_batch(space, 5)
        out_t, state_t = theirs({"obs": obs.clone()}, [], None)
        out_o, state_o = ours({"obs": obs.clone()}, [], None)
        _close(out_t, out_o)
        assert state_t == state_o == []
        if case in LEGACY_VALUE_FUNCTION_BROKEN:
            # Legacy squeezes the flattened post-fc features as if they were [B, C, 1, 1].
            for model in (theirs, ours):
                with pytest.raises(IndexError, match="Dimension out of range"):
                    model.value_function()
        elif theirs.num_outputs == CASES[case][2]:  # num_outputs=None: no value head
            _close(theirs.value_function(), ours.value_function())
        return

    init_t, init_o = theirs.get_initial_state(), ours.get_initial_state()
    assert [s.shape for s in init_t] == [s.shape for s in init_o]
    seq_lens = torch.tensor([theirs.model_config["max_seq_len"], 1])
    batch, steps = len(seq_lens), int(seq_lens.max())
    state_t = [s.unsqueeze(0).repeat(batch, 1) for s in init_t]
    state_o = [s.unsqueeze(0).repeat(batch, 1) for s in init_o]
    action_space = CASES[case][1]
    for step in range(3):  # carry the state over three calls
        obs = _obs_batch(space, batch * steps, seed=10 * step)
        extra = {
            "prev_actions": _prev_actions(action_space, batch * steps),
            "prev_rewards": torch.linspace(-1.0, 1.0, batch * steps),
        }
        out_t, state_t = theirs({"obs": obs.clone(), **extra}, state_t, seq_lens)
        out_o, state_o = ours({"obs": obs.clone(), **extra}, state_o, seq_lens)
        assert out_o.shape == (batch * steps, CASES[case][2])
        _close(out_t, out_o)
        _close(theirs.value_function(), ours.value_function())
        assert len(state_t) == len(state_o) == 2
        for a, b in zip(state_t, state_o):
            _close(a, b)


@pytest.mark.parametrize("case", ["fc_separate", "vision_42_separate", "complex_tuple", "lstm_fc"])
def test_get_model_v2_picks_legacy_class(case):
    space, action_space, num_outputs, config, our_cls = CASES[case]
    model = ltm.get_model_v2(ltm.preprocessed_obs_space(space), action_space, num_outputs, config)
    assert type(model).__name__ == our_cls.__name__
    if config.get("use_lstm"):
        assert type(model) is our_cls  # lstm_wrapped is cached per class
        assert type(model).__mro__[1:3] == (ltm.LSTMWrapper, ltm.RecurrentNetwork)


def test_call_returns_input_state_and_reads_state_in():
    _, theirs, ours = _build_pair("fc_shared")
    obs = _obs_batch(BOX4, 2)
    state = [torch.ones(2, 3)]
    assert ours({"obs": obs}, state, None)[1] is state
    _, state_t = theirs({"obs": obs, "state_in_0": state[0]})
    _, state_o = ours({"obs": obs, "state_in_0": state[0]})
    assert len(state_o) == len(state_t) == 1 and state_o[0] is state[0]
    assert ours.last_output() is not None


def test_complex_input_raw_int_obs_without_preprocessor():
    """``_disable_preprocessor_api``: the obs dict arrives unflattened; ints get one-hot'd."""
    config = {"fcnet_hiddens": [8], "_disable_preprocessor_api": True}
    torch.manual_seed(0)
    theirs = ModelCatalog.get_model_v2(
        DICT_SPACE, Discrete(3), 3, {**copy.deepcopy(RAY_MODEL_DEFAULTS), **config},
        framework="torch",
    )
    torch.manual_seed(0)
    ours = ltm.ComplexInputNetwork(DICT_SPACE, Discrete(3), 3, config, "default_model")
    _assert_same_state_dict(theirs, ours)
    samples = [_seeded(DICT_SPACE, i).sample() for i in range(3)]
    obs = {k: torch.as_tensor(np.stack([s[k] for s in samples])) for k in DICT_SPACE.spaces}
    assert obs["mode"].dtype == torch.int64
    _close(theirs({"obs": dict(obs)})[0], ours({"obs": dict(obs)})[0])
    _close(theirs.value_function(), ours.value_function())


def _custom_model_cls(base, fc_cls):
    """RLlib's classic custom model nesting the built-in FC net (examples/custom_model)."""

    class Custom(base, torch.nn.Module):
        def __init__(self, obs_space, action_space, num_outputs, model_config, name):
            base.__init__(self, obs_space, action_space, num_outputs, model_config, name)
            torch.nn.Module.__init__(self)
            self.torch_sub_model = fc_cls(obs_space, action_space, num_outputs, model_config, name)
            self.scale = torch.nn.Parameter(torch.tensor(2.0))

        def forward(self, input_dict, state, seq_lens):
            out, _ = self.torch_sub_model({"obs": input_dict["obs_flat"]}, state, seq_lens)
            return out * self.scale, []

        def value_function(self):
            return self.torch_sub_model.value_function()

    return Custom


def test_nested_custom_model():
    from ray.rllib.models.torch.fcnet import FullyConnectedNetwork as RayFC
    from ray.rllib.models.torch.torch_modelv2 import TorchModelV2 as RayTorchModelV2

    config = {**copy.deepcopy(RAY_MODEL_DEFAULTS), "fcnet_hiddens": [8], "vf_share_layers": False}
    theirs = _custom_model_cls(RayTorchModelV2, RayFC)(BOX4, Discrete(2), 2, config, "m")
    ours = _custom_model_cls(ltm.TorchModelV2, ltm.FullyConnectedNetwork)(
        BOX4, Discrete(2), 2, copy.deepcopy(config), "m"
    )
    _assert_same_state_dict(theirs, ours, values=False)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    obs = _obs_batch(BOX4, 3)
    _close(theirs({"obs": obs})[0], ours({"obs": obs})[0])
    _close(theirs.value_function(), ours.value_function())
