"""RecurrentEncoderConfig and its torch / tf encoders."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlmodule.models.base import ENCODER_OUT, ModelConfig
from rlmodule.models.complex_input import ComplexInputEncoderConfig
from rlmodule.models.mlp import MLPEncoderConfig
from rlmodule.models.recurrent import RecurrentEncoderConfig
from rlmodule.tree import map_structure

OBS_DIM, HIDDEN, B, T = 3, 4, 3, 5
TF = pytest.param("tf2", marks=pytest.mark.tf)
FRAMEWORKS = ["torch", TF]
TYPES = ["lstm", "gru"]


def _mlp_tokenizer() -> MLPEncoderConfig:
    return MLPEncoderConfig(
        input_dims=(OBS_DIM,), hidden_layer_dims=[6], hidden_layer_activation="tanh"
    )


def _config(layer_type: str, num_layers: int = 1, tokenizer: Optional[ModelConfig] = None):
    return RecurrentEncoderConfig(
        input_dims=(OBS_DIM,),
        recurrent_layer_type=layer_type,
        hidden_dim=HIDDEN,
        num_layers=num_layers,
        tokenizer_config=tokenizer,
    )


def _batch(config: RecurrentEncoderConfig, obs: Any, seq_lens=None, seed: int = 1) -> Dict:
    """numpy batch with a random state_in ``[B, L, H]``."""
    rng = np.random.default_rng(seed)
    b = len(seq_lens) if seq_lens is not None else B
    shape = (b, config.num_layers, config.hidden_dim)
    batch = {
        "obs": obs,
        "state_in": {k: rng.normal(size=shape).astype(np.float32) for k in config.state_keys},
    }
    if seq_lens is not None:
        batch["seq_lens"] = np.asarray(seq_lens, dtype=np.int32)
    return batch


def _obs(b: int = B, t: int = T, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(b, t, OBS_DIM)).astype(np.float32)


def _run(encoder: Any, framework: str, batch: Dict) -> Dict[str, Any]:
    """Forward a numpy batch; returns numpy outputs."""
    if framework == "torch":
        with torch.no_grad():
            out = encoder(map_structure(torch.as_tensor, batch, lists=True))
        return map_structure(lambda x: x.numpy(), out, lists=True)
    import tensorflow as tf

    out = encoder(map_structure(tf.convert_to_tensor, batch, lists=True))
    return map_structure(lambda x: x.numpy(), out, lists=True)


def _slice_batch(batch: Dict, rows: slice, steps: slice) -> Dict:
    return {
        "obs": map_structure(lambda x: x[rows, steps], batch["obs"], lists=True),
        "state_in": {k: v[rows] for k, v in batch["state_in"].items()},
    }


# --- a parameter-free tokenizer for Dict observations ---------------------------------------


@dataclass
class _ConcatTokenizerConfig(ModelConfig):
    """``obs`` ``{"a": [N, 2], "b": ([N, 1], [N, 2, 2])}`` -> ``[N, 7]`` (flatten, concat)."""

    @property
    def output_dims(self) -> Tuple[int, ...]:
        return (7,)

    def build(self, framework: str) -> Any:
        if framework == "torch":

            class Concat(torch.nn.Module):
                def forward(self, batch):
                    o = batch["obs"]
                    leaves = [o["a"], o["b"][0], o["b"][1]]
                    return {ENCODER_OUT: torch.cat([x.flatten(1) for x in leaves], -1)}

            return Concat()
        import tensorflow as tf

        class TfConcat(tf.keras.layers.Layer):
            def call(self, batch):
                o = batch["obs"]
                leaves = [o["a"], o["b"][0], o["b"][1]]
                n = tf.shape(o["a"])[0]
                return {ENCODER_OUT: tf.concat([tf.reshape(x, [n, -1]) for x in leaves], -1)}

        return TfConcat()


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("layer_type", TYPES)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("tokenizer", [None, "mlp"])
def test_shapes(framework, layer_type, num_layers, tokenizer):
    config = _config(layer_type, num_layers, _mlp_tokenizer() if tokenizer else None)
    assert config.output_dims == (HIDDEN,)
    out = _run(config.build(framework), framework, _batch(config, _obs()))
    assert out[ENCODER_OUT].shape == (B, T, HIDDEN)
    assert set(out["state_out"]) == set(config.state_keys)
    for value in out["state_out"].values():
        assert value.shape == (B, num_layers, HIDDEN)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_nested_obs_through_a_dict_tokenizer(framework):
    config = RecurrentEncoderConfig(
        input_dims=(7,), hidden_dim=HIDDEN, tokenizer_config=_ConcatTokenizerConfig()
    )
    rng = np.random.default_rng(0)
    leaves = [rng.normal(size=(B, T) + s).astype(np.float32) for s in [(2,), (1,), (2, 2)]]
    nested = {"a": leaves[0], "b": (leaves[1], leaves[2])}
    flat = np.concatenate([x.reshape(B, T, -1) for x in leaves], -1)
    encoder = config.build(framework)
    out = _run(encoder, framework, _batch(config, nested))
    encoder.tokenizer = None  # the same RNN on pre-flattened features must agree
    expected = _run(encoder, framework, _batch(config, flat))
    np.testing.assert_allclose(out[ENCODER_OUT], expected[ENCODER_OUT], atol=1e-6)
    np.testing.assert_allclose(out["state_out"]["h"], expected["state_out"]["h"], atol=1e-6)


@pytest.mark.tf
@pytest.mark.parametrize("layer_type", TYPES)
def test_complex_input_tokenizer_torch_and_tf_agree(layer_type):
    space = gym.spaces.Dict(
        {
            "pos": gym.spaces.Box(-1.0, 1.0, (2,)),
            "pair": gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(0.0, 1.0, (2, 2)))),
        }
    )
    tokenizer = ComplexInputEncoderConfig.from_space(space, {"fcnet_hiddens": [5]})
    config = RecurrentEncoderConfig(
        input_dims=(),
        recurrent_layer_type=layer_type,
        hidden_dim=HIDDEN,
        tokenizer_config=tokenizer,
    )
    rng = np.random.default_rng(0)
    obs = {
        "pos": rng.uniform(-1.0, 1.0, (B, T, 2)).astype(np.float32),
        "pair": (
            rng.integers(0, 3, (B, T)),
            rng.uniform(0.0, 1.0, (B, T, 2, 2)).astype(np.float32),
        ),
    }
    batch = _batch(config, obs, seq_lens=[T, 3, 1])
    torch_encoder, tf_encoder = config.build("torch"), config.build("tf2")
    from rlmodule.models.weight_transfer import copy_torch_to_tf

    _run(tf_encoder, "tf2", batch)
    copy_torch_to_tf(torch_encoder, tf_encoder)
    torch_out, tf_out = _run(torch_encoder, "torch", batch), _run(tf_encoder, "tf2", batch)
    assert torch_out[ENCODER_OUT].shape == (B, T, HIDDEN)
    np.testing.assert_allclose(tf_out[ENCODER_OUT], torch_out[ENCODER_OUT], atol=1e-5)
    np.testing.assert_allclose(tf_out["state_out"]["h"], torch_out["state_out"]["h"], atol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("layer_type", TYPES)
def test_stepping_equals_one_pass(framework, layer_type):
    config = _config(layer_type, num_layers=2, tokenizer=_mlp_tokenizer())
    encoder = config.build(framework)
    batch = _batch(config, _obs())
    full = _run(encoder, framework, batch)
    state = batch["state_in"]
    for t in range(T):
        step = _run(encoder, framework, {"obs": batch["obs"][:, t : t + 1], "state_in": state})
        np.testing.assert_allclose(step[ENCODER_OUT][:, 0], full[ENCODER_OUT][:, t], atol=1e-5)
        state = step["state_out"]
    for key in config.state_keys:
        np.testing.assert_allclose(state[key], full["state_out"][key], atol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("layer_type", TYPES)
def test_seq_lens_masking(framework, layer_type):
    config = _config(layer_type, num_layers=2, tokenizer=_mlp_tokenizer())
    encoder = config.build(framework)
    seq_lens = [T, 2, 1]
    batch = _batch(config, _obs(), seq_lens)
    out = _run(encoder, framework, batch)
    for b, n in enumerate(seq_lens):
        exact = _run(encoder, framework, _slice_batch(batch, slice(b, b + 1), slice(0, n)))
        np.testing.assert_allclose(out[ENCODER_OUT][b, :n], exact[ENCODER_OUT][0], atol=1e-5)
        for key in config.state_keys:
            np.testing.assert_allclose(
                out["state_out"][key][b], exact["state_out"][key][0], atol=1e-5
            )
        assert np.all(out[ENCODER_OUT][b, n:] == 0.0)
    changed = dict(batch, obs=batch["obs"].copy())
    for b, n in enumerate(seq_lens):
        changed["obs"][b, n:] = 100.0
    again = _run(encoder, framework, changed)
    np.testing.assert_array_equal(again[ENCODER_OUT], out[ENCODER_OUT])
    for key in config.state_keys:
        np.testing.assert_array_equal(again["state_out"][key], out["state_out"][key])


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("layer_type", TYPES)
def test_zero_length_sequence_keeps_its_state(framework, layer_type):
    config = _config(layer_type, num_layers=2)
    batch = _batch(config, _obs(b=2), seq_lens=[T, 0])
    out = _run(config.build(framework), framework, batch)
    assert np.all(out[ENCODER_OUT][1] == 0.0)
    for key in config.state_keys:
        np.testing.assert_allclose(out["state_out"][key][1], batch["state_in"][key][1])


@pytest.mark.tf
@pytest.mark.parametrize("layer_type", TYPES)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_torch_and_tf_agree_after_weight_copy(layer_type, num_layers):
    config = _config(layer_type, num_layers, tokenizer=_mlp_tokenizer())
    torch_encoder, tf_encoder = config.build("torch"), config.build("tf2")
    batch = _batch(config, _obs(), seq_lens=[T, 2, 1])
    from rlmodule.models.weight_transfer import copy_torch_to_tf

    _run(tf_encoder, "tf2", batch)  # Keras creates weights on the first call
    copy_torch_to_tf(torch_encoder, tf_encoder)
    torch_out, tf_out = _run(torch_encoder, "torch", batch), _run(tf_encoder, "tf2", batch)
    np.testing.assert_allclose(tf_out[ENCODER_OUT], torch_out[ENCODER_OUT], atol=1e-5)
    for key in config.state_keys:
        np.testing.assert_allclose(
            tf_out["state_out"][key], torch_out["state_out"][key], atol=1e-5
        )


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("layer_type", TYPES)
def test_initial_state_has_no_batch_dim_and_is_zero(framework, layer_type):
    config = _config(layer_type, num_layers=2)
    state = map_structure(np.asarray, config.build(framework).get_initial_state(), lists=True)
    assert set(state) == set(config.state_keys)
    for value in state.values():
        assert value.shape == (2, HIDDEN)
        assert not value.any()


def test_bad_layer_type_raises():
    with pytest.raises(ValueError, match="'rnn'"):
        _config("rnn")


@pytest.mark.filterwarnings("ignore:.*unbuilt state:UserWarning")
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lstm_state_in_without_c_raises(framework):
    config = _config("lstm")
    batch = _batch(config, _obs())
    del batch["state_in"]["c"]
    with pytest.raises(ValueError, match="'c'"):
        _run(config.build(framework), framework, batch)


def test_config_module_imports_no_framework():
    code = (
        "import sys, rlmodule.models.recurrent; "
        "print([m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
