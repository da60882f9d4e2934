"""Feed-forward model configs: MLP encoder/heads, CNN encoder, complex-input encoder,
activations and torch -> Keras weight transfer."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlmodule.model_config import MODEL_DEFAULTS
from rlmodule.backend import backend
from rlmodule.models.base import ENCODER_OUT
from rlmodule.models.cnn import CNNEncoderConfig, get_filter_config, same_padding
from rlmodule.models.complex_input import ComplexInputEncoderConfig
from rlmodule.models.mlp import FreeLogStdMLPHeadConfig, MLPEncoderConfig, MLPHeadConfig

TF = pytest.param("tf", marks=pytest.mark.tf)
FRAMEWORKS = ["torch", TF]


def _torch_obs(obs):
    if isinstance(obs, dict):
        return {k: _torch_obs(v) for k, v in obs.items()}
    if isinstance(obs, tuple):
        return tuple(_torch_obs(v) for v in obs)
    return torch.from_numpy(np.asarray(obs))


def _run(model, x, framework, encoder):
    if framework == "torch":
        x = _torch_obs(x)
        with torch.no_grad():
            out = model({"obs": x})[ENCODER_OUT] if encoder else model(x)
        return out.numpy()
    return np.asarray(model({"obs": x})[ENCODER_OUT] if encoder else model(x))


def _outputs(config, x, framework, encoder=True):
    """``config``'s torch output and, for tf, the Keras output after copying the weights."""
    torch.manual_seed(0)
    model = config.build("torch")
    out = _run(model, x, "torch", encoder)
    assert out.shape == x_batch_shape(x) + config.output_dims
    if framework == "torch":
        return out, out
    from rlmodule.models.weight_transfer import copy_torch_to_tf

    keras_model = config.build(framework)
    assert copy_torch_to_tf(model, keras_model) == len(keras_model.weights) > 0
    return out, _run(keras_model, x, framework, encoder)


def x_batch_shape(x):
    while isinstance(x, (dict, tuple)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return np.shape(x)[:1]


def _assert_parity(config, x, framework, encoder=True, rtol=0.0):
    ours, theirs = _outputs(config, x, framework, encoder)
    np.testing.assert_allclose(theirs, ours, rtol=rtol, atol=1e-5)
    return ours


RNG = np.random.default_rng(0)


# --- MLP ----------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mlp_encoder(framework):
    config = MLPEncoderConfig([5], [16, 8])
    assert config.output_dims == (8,) and config.hidden_layer_activation == "tanh"
    out = _assert_parity(config, RNG.normal(size=(4, 5)).astype(np.float32), framework)
    assert np.all(np.abs(out) <= 1.0)  # tanh on the last hidden layer


def test_mlp_encoder_without_hidden_layers_is_the_identity():
    config = MLPEncoderConfig(3, [])
    assert config.output_dims == (3,)
    obs = torch.tensor([[1, 2, 3]], dtype=torch.int64)
    out = config.build("torch")({"obs": obs})[ENCODER_OUT]
    assert out.dtype == torch.float32 and out.tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mlp_head(framework):
    config = MLPHeadConfig(8, hidden_layer_dims=[16], output_layer_dim=3, output_layer_activation="tanh")
    assert config.output_dims == (3,)
    _assert_parity(config, RNG.normal(size=(6, 8)).astype(np.float32), framework, encoder=False)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_free_log_std_head(framework):
    config = FreeLogStdMLPHeadConfig(4, hidden_layer_dims=[8], output_layer_dim=6)
    assert config.output_dims == (6,)
    torch.manual_seed(0)
    head = config.build("torch")
    x = torch.randn(5, 4)
    out = head(x)
    assert out.shape == (5, 6) and torch.equal(out[:, 3:], torch.zeros(5, 3))
    out.sum().backward()
    assert head.log_std.grad.tolist() == [5.0, 5.0, 5.0]
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([0.1, -0.2, 0.3]))
    if framework != "torch":
        from rlmodule.models.weight_transfer import copy_torch_to_tf

        keras_head = config.build(framework)
        assert keras_head.weights[0].path.endswith("log_std")
        assert copy_torch_to_tf(head, keras_head) == 5  # log_std, 2 kernels, 2 biases
        np.testing.assert_allclose(keras_head(x.numpy()), head(x).detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="must be even"):
        FreeLogStdMLPHeadConfig(4, output_layer_dim=5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mlp_initialisation_is_normc(framework):
    # Large enough that "mean well below std" holds by ~25 sigma, and seeded.
    torch.manual_seed(0)
    if framework != "torch":
        import keras

        keras.utils.set_random_seed(0)
    config = MLPHeadConfig(300, hidden_layer_dims=[200], output_layer_dim=100, output_init_std=0.5)
    model = config.build(framework)
    if framework == "torch":
        kernels = [layer.weight.detach().numpy().T for layer in model.net if isinstance(layer, torch.nn.Linear)]
        biases = [layer.bias.detach().numpy() for layer in model.net if isinstance(layer, torch.nn.Linear)]
    else:
        kernels, biases = [np.asarray(d.kernel) for d in model.net], [np.asarray(d.bias) for d in model.net]
    for kernel, std in zip(kernels, [1.0, 0.5]):  # kernel [in, out]: each unit's column has norm std
        np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), std, rtol=1e-5)
        assert abs(kernel.mean()) < 0.1 * kernel.std()
    assert all(not b.any() for b in biases)


def test_mlp_config_errors():
    with pytest.raises(ValueError, match="input_dims"):
        MLPEncoderConfig([2, 3], [4])
    with pytest.raises(ValueError, match="hidden_layer_dims"):
        MLPEncoderConfig(2, [4, 0])
    with pytest.raises(TypeError):
        MLPHeadConfig(4, [8], output_layer_dim=2)  # all but input_dims are keyword-only


# --- activations --------------------------------------------------------------------------
def test_activations():
    nn = torch.nn
    activation = backend("torch").activation
    assert activation("ReLU") is nn.ReLU and activation("tanh") is nn.Tanh
    assert activation("swish") is activation("silu") is nn.SiLU
    assert activation("elu") is nn.ELU
    assert activation(None) is activation("linear") is nn.Identity
    with pytest.raises(ValueError, match=r"'gelu'.*'elu'.*'linear'.*'relu'"):
        activation("gelu")
    with pytest.raises(ValueError, match="'gelu'"):
        MLPEncoderConfig(4, [8], "gelu")
    with pytest.raises(ValueError, match="'jax'"):
        backend("jax")
    with pytest.raises(ValueError, match="'jax'"):
        MLPEncoderConfig(4, [8]).build("jax")


@pytest.mark.tf
def test_tf_activations():
    import keras

    assert backend("tf").activation("swish") is keras.activations.silu
    assert backend("tf2").activation(None) is keras.activations.linear
    x = np.linspace(-3, 3, 13).astype(np.float32)
    for name in ["tanh", "relu", "swish", "elu", "linear"]:
        expected = backend("torch").activation(name)()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(backend("tf").activation(name)(x), expected, atol=1e-6)


# --- CNN ----------------------------------------------------------------------------------
CNN_CASES = {
    "84x84x3 default": (CNNEncoderConfig((84, 84, 3), get_filter_config((84, 84, 3))), (256,)),
    "42x42x4 default": (CNNEncoderConfig((42, 42, 4), get_filter_config((42, 42, 4)), "elu"), (256,)),
    # 11 -> 4 (same, stride 3 > kernel 1: legacy's padding is -1, it crops) -> 1; W: 13 -> 13 -> 1
    "custom 1x1": (CNNEncoderConfig((11, 13, 2), [[4, [1, 3], [3, 1]], [6, [4, 13], 1]], "tanh"), (6,)),
    "flatten 64x64": (
        CNNEncoderConfig((64, 64, 3), get_filter_config((64, 64, 3)), flatten_non_1x1=True),
        (3 * 3 * 128,),
    ),
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", sorted(CNN_CASES))
def test_cnn_encoder(case, framework):
    config, output_dims = CNN_CASES[case]
    assert config.output_dims == output_dims
    obs = RNG.uniform(0, 1, (3,) + tuple(config.input_dims)).astype(np.float32)
    _assert_parity(config, obs, framework, rtol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cnn_encoder_casts_uint8_without_rescaling(framework):
    config = CNNEncoderConfig((10, 10, 3), get_filter_config((10, 10)))
    obs = RNG.integers(0, 256, (2, 10, 10, 3), dtype=np.uint8)
    ours, theirs = _outputs(config, obs, framework)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-4)
    torch.manual_seed(0)
    as_float = _run(config.build("torch"), obs.astype(np.float32), "torch", encoder=True)
    np.testing.assert_array_equal(ours, as_float)


def test_cnn_encoder_keeps_leading_dims():
    config = CNNEncoderConfig((10, 10, 1), [[4, 3, 2], [5, 5, 1]])
    out = config.build("torch")({"obs": torch.zeros(2, 3, 10, 10, 1)})[ENCODER_OUT]
    assert out.shape == (2, 3, 5)


def test_same_padding_equals_legacy():
    from ray.rllib.models.torch.misc import same_padding as legacy_same_padding

    for size in [(1, 2), (7, 10), (11, 11), (21, 84)]:
        for kernel in [(1, 1), (3, 4), (8, 8), (5, 2)]:
            for stride in [(1, 1), (2, 3), (4, 4), (3, 1)]:
                assert same_padding(size, kernel, stride) == legacy_same_padding(size, kernel, stride)


@pytest.mark.tf
def test_keras_same_padding_equals_ours_where_not_negative():
    import keras
    import tensorflow as tf

    from rlmodule.tf.models import _pad

    for size, kernel, stride in [(84, 8, 4), (21, 4, 2), (11, 3, 1), (10, 5, 2), (9, 4, 3)]:
        padding, _ = same_padding((size, size + 1), (kernel, kernel), (stride, stride))
        assert min(padding) >= 0
        conv = keras.layers.Conv2D(2, kernel, stride, padding="same")
        x = tf.random.normal((1, size, size + 1, 3))
        same = conv(x)
        conv.padding = "valid"
        np.testing.assert_allclose(conv(_pad(x, padding)), same, atol=1e-5)


@pytest.mark.legacy
def test_cnn_matches_legacy_vision_network():
    from ray.rllib.models.torch.visionnet import VisionNetwork

    space = gym.spaces.Box(0.0, 1.0, (84, 84, 3), np.float32)
    legacy = VisionNetwork(space, gym.spaces.Discrete(2), None, dict(MODEL_DEFAULTS), "legacy")
    legacy_convs = [m for m in legacy._convs.modules() if isinstance(m, torch.nn.Conv2d)]
    legacy_pads = [m.padding for m in legacy._convs.modules() if isinstance(m, torch.nn.ZeroPad2d)]
    config = CNNEncoderConfig(space.shape, get_filter_config(space.shape))
    ours = config.build("torch")
    assert len(ours.cnn.convs) == len(legacy_convs) == 3
    assert ours.cnn.paddings[:2] == legacy_pads and ours.cnn.paddings[2] == (0, 0, 0, 0)
    for mine, theirs in zip(ours.cnn.convs, legacy_convs):
        assert (mine.in_channels, mine.out_channels, mine.kernel_size, mine.stride, mine.padding) == (
            theirs.in_channels, theirs.out_channels, theirs.kernel_size, theirs.stride, theirs.padding
        )
        with torch.no_grad():
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    obs = torch.from_numpy(RNG.uniform(0, 1, (4, 84, 84, 3)).astype(np.float32))
    with torch.no_grad():
        expected, _ = legacy.forward({"obs": obs}, [], None)
        assert torch.equal(ours({"obs": obs})[ENCODER_OUT], expected)


def test_non_1x1_filters_raise():
    filters = get_filter_config((64, 64, 3))
    with pytest.raises(ValueError) as excinfo:
        CNNEncoderConfig((64, 64, 3), filters)
    msg = str(excinfo.value)
    assert "`conv_filters` [[16, [4, 4], 2]," in msg and "64x64x3 image to 3x3x128, not 1x1" in msg
    assert "[128, [8, 8], 1]" in msg and "post_fcnet_hiddens" in msg
    assert CNNEncoderConfig((64, 64, 3), filters[:3] + [[128, [8, 8], 1]]).output_dims == (128,)
    with pytest.raises(ValueError, match=r"kernel \[11, 11\] is larger than the 5x5 map"):
        CNNEncoderConfig((20, 20, 1), [[4, 4, 4], [8, 11, 1]])
    with pytest.raises(ValueError, match="conv_filters"):
        CNNEncoderConfig((20, 20, 1), [[4, 4]])


@pytest.mark.legacy
def test_get_filter_config_equals_legacy():
    from ray.rllib.models.utils import get_filter_config as legacy

    for shape in [(96, 96, 3), (84, 84, 4), (64, 64, 3), (42, 42, 1), (10, 10, 3), (3, 84, 84), (84, 84)]:
        assert get_filter_config(shape) == legacy(shape)
    for shape in [(210, 160, 3), (50, 50, 3)]:
        with pytest.raises(ValueError) as expected:
            legacy(shape)
        with pytest.raises(ValueError) as ours:
            get_filter_config(shape)
        assert str(ours.value) == str(expected.value)


# --- complex input ------------------------------------------------------------------------
DICT_SPACE = gym.spaces.Dict(
    {
        "vector": gym.spaces.Box(-1.0, 1.0, (2, 3), np.float32),
        "image": gym.spaces.Box(0, 255, (10, 10, 3), np.uint8),
        "discrete": gym.spaces.Discrete(4, start=1),
        "multi": gym.spaces.MultiDiscrete([3, 2]),
    }
)
TUPLE_SPACE = gym.spaces.Tuple(
    [
        gym.spaces.Discrete(2),
        gym.spaces.Tuple([gym.spaces.MultiBinary(3), gym.spaces.Dict({"b": gym.spaces.Box(-1, 1, (2,))})]),
    ]
)


def _batch(space, n):
    samples = [space.sample() for _ in range(n)]

    def stack(items):
        if isinstance(items[0], dict):
            return {k: stack([x[k] for x in items]) for k in items[0]}
        if isinstance(items[0], tuple):
            return tuple(stack([x[i] for x in items]) for i in range(len(items[0])))
        return np.stack(items)

    return stack(samples)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("space", [DICT_SPACE, TUPLE_SPACE], ids=["dict", "tuple"])
def test_complex_input_encoder(space, framework):
    DICT_SPACE.seed(0), TUPLE_SPACE.seed(0)
    config = ComplexInputEncoderConfig.from_space(space, {"fcnet_hiddens": [8], "conv_filters": None})
    _assert_parity(config, _batch(space, 5), framework, rtol=1e-5)


def test_complex_input_components_and_order():
    config = ComplexInputEncoderConfig.from_space(DICT_SPACE, {"fcnet_hiddens": [8, 7]})
    # sorted keys; the 10x10 image uses the default filters (32 channels); vectors -> MLP [8, 7]
    assert [c.path for c in config.components] == [("discrete",), ("image",), ("multi",), ("vector",)]
    assert [c.net.output_dims for c in config.components] == [(7,), (32,), (7,), (7,)]
    assert [c.net.input_dims for c in config.components if not c.is_image] == [(4,), (5,), (6,)]
    assert config.output_dims == (7 + 32 + 7 + 7,)
    nested = ComplexInputEncoderConfig.from_space(TUPLE_SPACE, {"fcnet_hiddens": []})
    assert [c.path for c in nested.components] == [(0,), (1, 0), (1, 1, "b")]
    assert nested.output_dims == (2 + 3 + 2,)


def test_complex_input_one_hots_without_mlp():
    space = gym.spaces.Dict({"b": gym.spaces.MultiDiscrete([3, 2]), "a": gym.spaces.Discrete(4, start=1)})
    encoder = ComplexInputEncoderConfig.from_space(space, {"fcnet_hiddens": []}).build("torch")
    obs = {"a": torch.tensor([1, 4]), "b": torch.tensor([[2, 0], [0, 1]])}
    out = encoder({"obs": obs})[ENCODER_OUT]
    assert out.tolist() == [[1, 0, 0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0, 1]]


def test_complex_input_non_1x1_image_is_flattened_as_legacy():
    space = gym.spaces.Dict({"img": gym.spaces.Box(0, 1, (64, 64, 3))})
    assert ComplexInputEncoderConfig.from_space(space, {}).output_dims == (3 * 3 * 128,)


def test_complex_input_unsupported_component():
    space = gym.spaces.Dict({"a": gym.spaces.Tuple([gym.spaces.Discrete(2), gym.spaces.Text(5)])})
    with pytest.raises(ValueError, match=r"obs\['a'\]\[1\] is Text\("):
        ComplexInputEncoderConfig.from_space(space, {})


# --- weight transfer ----------------------------------------------------------------------
@pytest.mark.tf
def test_keras_walk_order_is_weights_order():
    config = ComplexInputEncoderConfig.from_space(TUPLE_SPACE, {"fcnet_hiddens": [4]})
    head = FreeLogStdMLPHeadConfig(3, hidden_layer_dims=[4], output_layer_dim=2)
    for model in [config.build("tf"), head.build("tf")]:
        walked = [v for leaf in backend("tf").weight_leaves(model) for v in leaf.tensors]
        assert [id(v) for v in walked] == [id(v) for v in model.weights]


@pytest.mark.tf
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_copy_recurrent_layers(kind):
    import keras

    from rlmodule.models.weight_transfer import copy_torch_to_tf

    class Stack(keras.layers.Layer):
        def __init__(self, layers):
            super().__init__()
            self.rnns = layers

        def call(self, x):
            for layer in self.rnns:
                x = layer(x)
            return x

    torch.manual_seed(0)
    for num_layers in [1, 2]:
        rnn = getattr(torch.nn, kind)(3, 5, num_layers=num_layers, batch_first=True)
        with torch.no_grad():
            for p in rnn.parameters():
                p.uniform_(-0.5, 0.5)  # non-zero biases in both bias vectors
        keras_rnn = Stack([getattr(keras.layers, kind)(5, return_sequences=True) for _ in range(num_layers)])
        x = RNG.normal(size=(2, 4, 3)).astype(np.float32)
        keras_rnn(x)
        assert copy_torch_to_tf(rnn, keras_rnn) == 3 * num_layers
        expected, _ = rnn(torch.from_numpy(x))
        np.testing.assert_allclose(keras_rnn(x), expected.detach().numpy(), atol=1e-5)

    if kind == "GRU":
        legacy_gru = keras.layers.GRU(5, reset_after=False)
        legacy_gru.build((None, None, 3))
        with pytest.raises(ValueError, match="reset_after=True"):
            copy_torch_to_tf(torch.nn.GRU(3, 5), legacy_gru)


@pytest.mark.tf
def test_copy_mismatches_raise_naming_both_layers():
    from rlmodule.models.weight_transfer import copy_torch_to_tf

    torch_mlp = MLPEncoderConfig(4, [8, 6]).build("torch")
    keras_mlp = MLPEncoderConfig(4, [8, 5]).build("tf")
    before = [np.asarray(v).copy() for v in keras_mlp.weights]
    with pytest.raises(ValueError, match=r"torch mlp\.net\.2 \(Linear.*\(8, 6\).*Keras .*dense.*\(8, 5\)"):
        copy_torch_to_tf(torch_mlp, keras_mlp)
    assert all(np.array_equal(b, np.asarray(v)) for b, v in zip(before, keras_mlp.weights))
    with pytest.raises(ValueError, match=r"torch has 2 layers with weights, Keras 1: mlp\.net\.2 .* after .*dense"):
        copy_torch_to_tf(torch_mlp, MLPEncoderConfig(4, [8]).build("tf"))
    cnn = CNNEncoderConfig((10, 10, 1), [[2, 10, 1]])
    with pytest.raises(ValueError, match=r"\[dense.*\[conv2d"):
        copy_torch_to_tf(MLPEncoderConfig(4, [2]).build("torch"), cnn.build("tf"))


def test_config_modules_import_no_framework():
    code = (
        "import sys, rlmodule.models.mlp, rlmodule.models.cnn, rlmodule.models.complex_input, "
        "rlmodule.models.activations; print(sorted({'torch', 'tensorflow', 'keras'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cnn_rejects_other_image_shapes(framework):
    encoder = CNNEncoderConfig((10, 12, 3), [[4, [10, 12], 1]]).build(framework)
    obs = np.zeros((2, 12, 10, 3), np.float32)  # same size, H and W swapped
    with pytest.raises(ValueError, match=r"NHWC images \[\.\.\., 10, 12, 3\], got shape \[2, 12, 10, 3\]"):
        encoder({"obs": torch.from_numpy(obs) if framework == "torch" else obs})
