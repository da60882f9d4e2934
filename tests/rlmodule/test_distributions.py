"""Tests for rlmodule.distribution and its torch / tf implementations."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
import torch
from torch.distributions import Categorical, Independent, Normal, kl_divergence

from rlmodule.distribution import Distribution, DistributionPartial, get_action_dist_cls
from rlmodule.tf import distributions as tfd
from rlmodule.torch import distributions as thd

B = 5
RTOL = 1e-5
ATOL = 1e-5
BOX3 = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)

# Spaces whose default distribution (get_action_dist_cls) is tested in both frameworks.
SUPPORTED_SPACES = {
    "discrete": gym.spaces.Discrete(4),
    "box1": gym.spaces.Box(-1.0, 1.0, (1,), np.float32),
    "box3": BOX3,
    "multidiscrete": gym.spaces.MultiDiscrete([2, 3, 4]),
    "multibinary": gym.spaces.MultiBinary(3),
    "tuple": gym.spaces.Tuple((gym.spaces.Discrete(2), BOX3)),
    "dict": gym.spaces.Dict({"move": BOX3, "pick": gym.spaces.Discrete(3)}),
    "nested": gym.spaces.Tuple(
        (
            gym.spaces.Dict({"a": gym.spaces.MultiBinary(2), "b": gym.spaces.Discrete(2)}),
            gym.spaces.Tuple((BOX3, gym.spaces.MultiDiscrete([3, 2]))),
        )
    ),
}

UNSUPPORTED_SPACES = [
    gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32),
    gym.spaces.Text(5),
    gym.spaces.Sequence(gym.spaces.Discrete(2)),
    gym.spaces.Graph(node_space=gym.spaces.Discrete(2), edge_space=None),
    gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Text(3))),
]


def _logits(dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(B, dim)).astype(np.float32)


def _map(fn, struct):
    if isinstance(struct, dict):
        return {k: _map(fn, v) for k, v in struct.items()}
    if isinstance(struct, (tuple, list)):
        return tuple(_map(fn, v) for v in struct)
    return fn(struct)


def _np(struct):
    return _map(lambda x: np.array(x.numpy() if hasattr(x, "numpy") else x), struct)


def _torch(struct):
    return _map(torch.as_tensor, struct)


def _tf(struct):
    return _map(tf.convert_to_tensor, struct)


def _dist_pair(name: str, kwargs: dict, dim: int, seed: int = 0):
    """The same torch and tf distribution built from the same random logits."""
    x = _logits(dim, seed)
    t = getattr(thd, "Torch" + name).from_logits(torch.from_numpy(x), **kwargs)
    f = getattr(tfd, "Tf" + name).from_logits(tf.constant(x), **kwargs)
    return t, f


# (class name suffix, from_logits kwargs, logits width, has entropy/kl)
EXPLICIT_CASES = [
    ("Categorical", {}, 2, True),
    ("Categorical", {}, 7, True),
    ("DiagGaussian", {}, 2, True),
    ("DiagGaussian", {}, 8, True),
    ("MultiCategorical", {"input_lens": [2, 3]}, 5, True),
    ("MultiCategorical", {"input_lens": [4, 1, 2]}, 7, True),
    ("Deterministic", {}, 3, True),
    ("SquashedGaussian", {}, 2, False),
    ("SquashedGaussian", {"low": [-2.0, 0.0, 1.0], "high": [3.0, 1.0, 5.0]}, 6, False),
]


# ---------------------------------------------------------------- torch <-> tf parity


@pytest.mark.tf
@pytest.mark.parametrize("name,kwargs,dim,closed_form", EXPLICIT_CASES)
def test_torch_tf_parity_explicit(name, kwargs, dim, closed_form):
    t, f = _dist_pair(name, kwargs, dim, seed=0)
    t_other, f_other = _dist_pair(name, kwargs, dim, seed=1)
    value = _np(t_other.sample())
    np.testing.assert_allclose(
        t.logp(_torch(value)).numpy(), f.logp(_tf(value)).numpy(), rtol=RTOL, atol=ATOL
    )
    own = _np(t.sample())
    np.testing.assert_allclose(
        t.logp(_torch(own)).numpy(), f.logp(_tf(own)).numpy(), rtol=RTOL, atol=ATOL
    )
    if closed_form:
        np.testing.assert_allclose(t.entropy().numpy(), f.entropy().numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(
            t.kl(t_other).numpy(), f.kl(f_other).numpy(), rtol=RTOL, atol=ATOL
        )
        assert t.entropy().shape == (B,) and tuple(f.entropy().shape) == (B,)
    else:
        for d, other in ((t, t_other), (f, f_other)):
            with pytest.raises(NotImplementedError, match=type(d).__name__):
                d.entropy()
            with pytest.raises(NotImplementedError, match=type(d).__name__):
                d.kl(other)


@pytest.mark.tf
@pytest.mark.parametrize("key", sorted(SUPPORTED_SPACES))
def test_torch_tf_parity_default_dists(key):
    space = SUPPORTED_SPACES[key]
    t_cls, f_cls = get_action_dist_cls(space, "torch"), get_action_dist_cls(space, "tf")
    dim = t_cls.required_input_dim(space)
    assert f_cls.required_input_dim(space) == dim
    x, y = _logits(dim, 0), _logits(dim, 1)
    t, f = t_cls.from_logits(torch.from_numpy(x)), f_cls.from_logits(tf.constant(x))
    t2, f2 = t_cls.from_logits(torch.from_numpy(y)), f_cls.from_logits(tf.constant(y))
    value = _np(t2.sample())
    np.testing.assert_allclose(
        t.logp(_torch(value)).numpy(), f.logp(_tf(value)).numpy(), rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(t.entropy().numpy(), f.entropy().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(t.kl(t2).numpy(), f.kl(f2).numpy(), rtol=RTOL, atol=ATOL)


# ------------------------------------------------------ torch vs torch.distributions


def test_torch_categorical_matches_reference():
    x, y = torch.from_numpy(_logits(4, 0)), torch.from_numpy(_logits(4, 1))
    d, other = thd.TorchCategorical.from_logits(x), thd.TorchCategorical.from_logits(y)
    ref, ref_other = Categorical(logits=x), Categorical(logits=y)
    value = torch.tensor([0, 1, 2, 3, 1])
    torch.testing.assert_close(d.logp(value), ref.log_prob(value))
    torch.testing.assert_close(d.entropy(), ref.entropy())
    torch.testing.assert_close(d.kl(other), kl_divergence(ref, ref_other))


def test_torch_diag_gaussian_matches_independent_normal():
    x, y = torch.from_numpy(_logits(6, 0)), torch.from_numpy(_logits(6, 1))
    d, other = thd.TorchDiagGaussian.from_logits(x), thd.TorchDiagGaussian.from_logits(y)
    ref = Independent(Normal(x[:, :3], x[:, 3:].exp()), 1)
    ref_other = Independent(Normal(y[:, :3], y[:, 3:].exp()), 1)
    value = torch.from_numpy(_logits(3, 2))
    torch.testing.assert_close(d.logp(value), ref.log_prob(value))
    torch.testing.assert_close(d.entropy(), ref.entropy())
    torch.testing.assert_close(d.kl(other), kl_divergence(ref, ref_other))
    torch.testing.assert_close(
        d.logp(value), Normal(x[:, :3], x[:, 3:].exp()).log_prob(value).sum(-1)
    )


def test_torch_multi_categorical_matches_sum_of_categoricals():
    x, y = torch.from_numpy(_logits(5, 0)), torch.from_numpy(_logits(5, 1))
    d = thd.TorchMultiCategorical.from_logits(x, input_lens=[2, 3])
    other = thd.TorchMultiCategorical.from_logits(y, input_lens=[2, 3])
    refs = [Categorical(logits=x[:, :2]), Categorical(logits=x[:, 2:])]
    refs_other = [Categorical(logits=y[:, :2]), Categorical(logits=y[:, 2:])]
    value = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0], [1, 2]])
    torch.testing.assert_close(
        d.logp(value), refs[0].log_prob(value[:, 0]) + refs[1].log_prob(value[:, 1])
    )
    torch.testing.assert_close(d.entropy(), refs[0].entropy() + refs[1].entropy())
    torch.testing.assert_close(
        d.kl(other), sum(kl_divergence(p, q) for p, q in zip(refs, refs_other))
    )


@pytest.mark.parametrize("low,high", [(-1.0, 1.0), ([-2.0, 0.0, 1.0], [3.0, 1.0, 5.0])])
def test_torch_squashed_gaussian_logp_matches_hand_computation(low, high):
    x = torch.from_numpy(_logits(6, 0)).double()
    d = thd.TorchSquashedGaussian.from_logits(x, low=low, high=high)
    lo, hi = torch.as_tensor(low, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)
    y = torch.from_numpy(np.random.default_rng(3).uniform(-0.95, 0.95, size=(B, 3)))
    value = (y + 1.0) / 2.0 * (hi - lo) + lo
    expected = (
        Normal(x[:, :3], x[:, 3:].exp()).log_prob(torch.atanh(y)).sum(-1)
        - torch.log(1.0 - y**2).sum(-1)
        - torch.log((hi - lo) / 2.0).expand(3).sum()
    )
    torch.testing.assert_close(d.logp(value), expected)


def test_torch_squashed_gaussian_density_integrates_to_one():
    loc_log_std = torch.tensor([[0.3, np.log(0.8)]], dtype=torch.float64)
    d = thd.TorchSquashedGaussian.from_logits(loc_log_std, low=-2.0, high=4.0)
    grid = torch.linspace(-2.0, 4.0, 200001, dtype=torch.float64)[1:-1]
    density = d.logp(grid[:, None]).exp()
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-4)


def test_squashed_gaussian_logp_is_finite_at_the_bounds():
    x = _logits(4, 0)
    bounds = np.array([[-1.0, 1.0]] * B, dtype=np.float32)
    t = thd.TorchSquashedGaussian.from_logits(torch.from_numpy(x))
    f = tfd.TfSquashedGaussian.from_logits(tf.constant(x))
    assert torch.isfinite(t.logp(torch.from_numpy(bounds))).all()
    assert np.isfinite(f.logp(tf.constant(bounds)).numpy()).all()


# ------------------------------------------------------------ samples and dtypes


def _check_sample(fw: str, sample, shape, kind: str):
    assert tuple(sample.shape) == shape
    if fw == "torch":
        assert sample.dtype == (torch.int64 if kind == "int" else torch.float32)
    else:
        assert sample.dtype == (tf.int64 if kind == "int" else tf.float32)


@pytest.mark.parametrize("fw", ["torch", pytest.param("tf", marks=pytest.mark.tf)])
def test_sample_shapes_and_dtypes(fw):
    mod, prefix, to_tensor = (
        (thd, "Torch", torch.from_numpy) if fw == "torch" else (tfd, "Tf", tf.constant)
    )
    cases = [
        ("Categorical", {}, 4, (), "int"),
        ("DiagGaussian", {}, 6, (3,), "float"),
        ("MultiCategorical", {"input_lens": [2, 3]}, 5, (2,), "int"),
        ("SquashedGaussian", {}, 6, (3,), "float"),
        ("Deterministic", {}, 3, (3,), "float"),
    ]
    for name, kwargs, dim, event, kind in cases:
        d = getattr(mod, prefix + name).from_logits(to_tensor(_logits(dim)), **kwargs)
        _check_sample(fw, d.sample(), (B, *event), kind)
        for sample_shape in [(4,), (2, 3)]:
            s = d.sample(sample_shape=sample_shape)
            _check_sample(fw, s, (*sample_shape, B, *event), kind)
            assert tuple(d.logp(s).shape) == (*sample_shape, B)
        if kind == "float":
            _check_sample(fw, d.rsample(sample_shape=(2,)), (2, B, *event), kind)
        else:
            with pytest.raises(NotImplementedError, match=prefix + name):
                d.rsample()


@pytest.mark.parametrize("fw", ["torch", pytest.param("tf", marks=pytest.mark.tf)])
def test_squashed_samples_stay_in_bounds(fw):
    low, high = np.array([-2.0, 0.0, 1.0], np.float32), np.array([3.0, 1.0, 5.0], np.float32)
    cls, to_tensor = (
        (thd.TorchSquashedGaussian, torch.from_numpy)
        if fw == "torch"
        else (tfd.TfSquashedGaussian, tf.constant)
    )
    d = cls.from_logits(to_tensor(3.0 * _logits(6)), low=low, high=high)
    s = _np(d.sample(sample_shape=(100,)))
    assert (s >= low).all() and (s <= high).all()
    assert np.isfinite(_np(d.logp(d.sample()))).all()


@pytest.mark.parametrize("fw", ["torch", pytest.param("tf", marks=pytest.mark.tf)])
def test_multi_distribution_samples_keep_structure(fw):
    space = SUPPORTED_SPACES["nested"]
    dist_cls = get_action_dist_cls(space, fw)
    to_tensor = torch.from_numpy if fw == "torch" else tf.constant
    d = dist_cls.from_logits(to_tensor(_logits(dist_cls.required_input_dim(space))))
    first, second = d.sample(sample_shape=(2,))
    assert set(first) == {"a", "b"}
    _check_sample(fw, first["a"], (2, B, 2), "int")
    _check_sample(fw, first["b"], (2, B), "int")
    _check_sample(fw, second[0], (2, B, 3), "float")
    _check_sample(fw, second[1], (2, B, 2), "int")
    assert tuple(d.logp(d.sample()).shape) == (B,)
    with pytest.raises(NotImplementedError):
        d.rsample()


def test_torch_rsample_is_differentiable():
    x = torch.from_numpy(_logits(6)).requires_grad_()
    for cls in (thd.TorchDiagGaussian, thd.TorchSquashedGaussian):
        x.grad = None
        cls.from_logits(x).rsample().sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        assert not cls.from_logits(x).sample().requires_grad


@pytest.mark.tf
def test_tf_rsample_is_differentiable():
    x = tf.Variable(_logits(6))
    for cls in (tfd.TfDiagGaussian, tfd.TfSquashedGaussian):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(cls.from_logits(x).rsample())
        assert tf.reduce_sum(tf.abs(tape.gradient(total, x))).numpy() > 0
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(cls.from_logits(x).sample())
        assert tape.gradient(total, x) is None


@pytest.mark.tf
def test_tf_distributions_work_inside_tf_function():
    x = tf.constant(_logits(6))

    @tf.function
    def stats(logits, value):
        gauss = tfd.TfDiagGaussian.from_logits(logits)
        squashed = tfd.TfSquashedGaussian.from_logits(logits)
        cat = tfd.TfCategorical.from_logits(logits)
        return (
            gauss.logp(value),
            gauss.entropy(),
            squashed.logp(value),
            cat.logp(cat.sample()),
            gauss.sample(sample_shape=(2,)),
        )

    value = tf.constant(np.clip(_logits(3, 1), -0.9, 0.9))
    g_logp, g_ent, s_logp, c_logp, sample = stats(x, value)
    eager_gauss = tfd.TfDiagGaussian.from_logits(x)
    np.testing.assert_allclose(g_logp.numpy(), eager_gauss.logp(value).numpy(), rtol=RTOL)
    np.testing.assert_allclose(g_ent.numpy(), eager_gauss.entropy().numpy(), rtol=RTOL)
    np.testing.assert_allclose(
        s_logp.numpy(), tfd.TfSquashedGaussian.from_logits(x).logp(value).numpy(), rtol=RTOL
    )
    assert c_logp.shape == (B,) and sample.shape == (2, B, 3)


def test_tf_categorical_alias():
    assert tfd.Categorical is tfd.TfCategorical


# ------------------------------------------------------------------- determinism


@pytest.mark.parametrize("fw", ["torch", pytest.param("tf", marks=pytest.mark.tf)])
def test_to_deterministic_returns_the_mode(fw):
    mod, prefix, to_tensor = (
        (thd, "Torch", torch.from_numpy) if fw == "torch" else (tfd, "Tf", tf.constant)
    )
    x = _logits(6)
    det = (
        lambda name, **kw: getattr(mod, prefix + name)
        .from_logits(to_tensor(x), **kw)
        .to_deterministic()
    )
    low, high = np.float32(-2.0), np.float32(4.0)
    expected = {
        "Categorical": x.argmax(-1),
        "DiagGaussian": x[:, :3],
        "SquashedGaussian": (np.tanh(x[:, :3]) + 1.0) / 2.0 * (high - low) + low,
        "MultiCategorical": np.stack([x[:, :2].argmax(-1), x[:, 2:].argmax(-1)], -1),
    }
    kwargs = {
        "SquashedGaussian": {"low": low, "high": high},
        "MultiCategorical": {"input_lens": [2, 4]},
    }
    for name, mode in expected.items():
        d = det(name, **kwargs.get(name, {}))
        assert type(d) is getattr(mod, prefix + "Deterministic")
        np.testing.assert_allclose(_np(d.sample()), mode, rtol=1e-6)
        np.testing.assert_array_equal(_np(d.logp(d.sample())), np.zeros(B))
        np.testing.assert_array_equal(_np(d.entropy()), np.zeros(B))
        assert tuple(d.sample(sample_shape=(3,)).shape) == (3, *mode.shape)
        assert d.to_deterministic() is d
    gauss = det("DiagGaussian")
    shifted = _np(gauss.sample())
    shifted[0, 1] += 1.0
    logp = _np(gauss.logp(to_tensor(shifted)))
    assert logp[0] == -np.inf and (logp[1:] == 0.0).all()


@pytest.mark.parametrize("fw", ["torch", pytest.param("tf", marks=pytest.mark.tf)])
def test_multi_distribution_to_deterministic_is_per_component(fw):
    space = SUPPORTED_SPACES["dict"]
    dist_cls = get_action_dist_cls(space, fw)
    to_tensor = torch.from_numpy if fw == "torch" else tf.constant
    x = _logits(dist_cls.required_input_dim(space))
    det = dist_cls.from_logits(to_tensor(x)).to_deterministic()
    assert type(det) is dist_cls.dist_cls
    mode = _np(det.sample())
    np.testing.assert_allclose(mode["move"], x[:, :3])
    np.testing.assert_array_equal(mode["pick"], x[:, 6:].argmax(-1))
    np.testing.assert_array_equal(_np(det.logp(det.sample())), np.zeros(B))


# ------------------------------------------------------------ required_input_dim


@pytest.mark.parametrize("fw", ["torch", pytest.param("tf", marks=pytest.mark.tf)])
def test_required_input_dim(fw):
    mod, prefix = (thd, "Torch") if fw == "torch" else (tfd, "Tf")
    cls = lambda name: getattr(mod, prefix + name)
    tuple_space = gym.spaces.Tuple((gym.spaces.Discrete(2), BOX3))
    dict_space = gym.spaces.Dict({"d": gym.spaces.Discrete(2), "b": BOX3})
    assert cls("Categorical").required_input_dim(gym.spaces.Discrete(3)) == 3
    assert cls("DiagGaussian").required_input_dim(gym.spaces.Box(-1, 1, (2,))) == 4
    assert cls("SquashedGaussian").required_input_dim(gym.spaces.Box(-1, 1, (2,))) == 4
    assert cls("Deterministic").required_input_dim(gym.spaces.Box(-1, 1, (2,))) == 2
    assert cls("MultiCategorical").required_input_dim(gym.spaces.MultiDiscrete([2, 3])) == 5
    assert cls("MultiCategorical").required_input_dim(gym.spaces.MultiBinary(4)) == 8
    assert cls("MultiDistribution").required_input_dim(tuple_space) == 2 + 6
    assert cls("MultiDistribution").required_input_dim(dict_space) == 2 + 6
    assert (
        cls("MultiDistribution").required_input_dim(
            tuple_space, child_distribution_cls_struct=(cls("Categorical"), cls("SquashedGaussian"))
        )
        == 2 + 6
    )
    assert cls("MultiDistribution").required_input_dim(None, input_lens={"x": 4, "y": 1}) == 5
    for space, expected in [
        (gym.spaces.Discrete(3), 3),
        (gym.spaces.Box(-1, 1, (2,)), 4),
        (gym.spaces.MultiDiscrete([2, 3]), 5),
        (tuple_space, 8),
        (dict_space, 8),
    ]:
        assert get_action_dist_cls(space, fw).required_input_dim(space) == expected
    with pytest.raises(ValueError, match="Discrete"):
        cls("Categorical").required_input_dim(BOX3)
    with pytest.raises(ValueError, match="Box"):
        cls("DiagGaussian").required_input_dim(gym.spaces.Discrete(2))


# ----------------------------------------------------------- get_action_dist_cls


@pytest.mark.parametrize(
    "fw",
    ["torch", pytest.param("tf", marks=pytest.mark.tf), pytest.param("tf2", marks=pytest.mark.tf)],
)
@pytest.mark.parametrize("key", sorted(SUPPORTED_SPACES))
def test_get_action_dist_cls_round_trip(fw, key):
    space = SUPPORTED_SPACES[key]
    mod, prefix, to_tensor = (
        (thd, "Torch", torch.from_numpy) if fw == "torch" else (tfd, "Tf", tf.constant)
    )
    dist_cls = get_action_dist_cls(space, fw)
    expected_cls = {
        "discrete": "Categorical",
        "box1": "DiagGaussian",
        "box3": "DiagGaussian",
        "multidiscrete": "MultiCategorical",
        "multibinary": "MultiCategorical",
        "tuple": "MultiDistribution",
        "dict": "MultiDistribution",
        "nested": "MultiDistribution",
    }[key]
    base_cls = dist_cls.dist_cls if isinstance(dist_cls, DistributionPartial) else dist_cls
    assert base_cls is getattr(mod, prefix + expected_cls)
    dist = dist_cls.from_logits(to_tensor(_logits(dist_cls.required_input_dim(space))))
    assert isinstance(dist, Distribution)
    action = _np(dist.sample())
    assert space.contains(_cast_to_space(space, action))
    logp = _np(dist.logp(_map(to_tensor, action)))
    assert logp.shape == (B,) and np.isfinite(logp).all()


def _cast_to_space(space, batched_action):
    """The first batch entry of ``batched_action`` in the space's own dtype."""
    if isinstance(space, gym.spaces.Dict):
        return {k: _cast_to_space(s, batched_action[k]) for k, s in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_cast_to_space(s, a) for s, a in zip(space.spaces, batched_action))
    if isinstance(space, gym.spaces.Discrete):
        return np.int64(batched_action[0])
    # Gaussian samples are unbounded: clip them for the Box containment check.
    if isinstance(space, gym.spaces.Box):
        return np.clip(batched_action[0], space.low, space.high).astype(space.dtype)
    return batched_action[0].astype(space.dtype)


def test_get_action_dist_cls_multibinary_and_multidiscrete_lens():
    assert get_action_dist_cls(gym.spaces.MultiBinary(3), "torch").kwargs == {
        "input_lens": [2, 2, 2]
    }
    assert get_action_dist_cls(gym.spaces.MultiDiscrete([2, 5]), "torch").kwargs == {
        "input_lens": [2, 5]
    }


@pytest.mark.parametrize("space", UNSUPPORTED_SPACES, ids=lambda s: type(s).__name__)
def test_get_action_dist_cls_rejects_unsupported_spaces(space):
    with pytest.raises(ValueError) as info:
        get_action_dist_cls(space, "torch")
    message = str(info.value)
    assert "Supported spaces" in message and "Discrete" in message and "Box (1-D)" in message
    leaf = space.spaces[1] if isinstance(space, gym.spaces.Tuple) else space
    assert repr(leaf) in message


def test_get_action_dist_cls_rejects_unknown_framework():
    with pytest.raises(ValueError, match="jax"):
        get_action_dist_cls(gym.spaces.Discrete(2), "jax")


# ------------------------------------------------------------- MultiDistribution


@pytest.mark.parametrize("fw", ["torch", pytest.param("tf", marks=pytest.mark.tf)])
def test_multi_distribution_splits_logits_in_struct_order(fw):
    mod, prefix, to_tensor = (
        (thd, "Torch", torch.from_numpy) if fw == "torch" else (tfd, "Tf", tf.constant)
    )
    multi = getattr(mod, prefix + "MultiDistribution")
    cat, gauss = getattr(mod, prefix + "Categorical"), getattr(mod, prefix + "DiagGaussian")
    x = _logits(5)
    by_dict = multi.from_logits(
        to_tensor(x),
        child_distribution_cls_struct={"b": cat, "a": gauss},
        input_lens={"a": 2, "b": 3},
    )
    by_list = multi.from_logits(
        to_tensor(x), child_distribution_cls_struct={"b": cat, "a": gauss}, input_lens=[3, 2]
    )
    for d in (by_dict, by_list):
        np.testing.assert_array_equal(_np(d.children["b"].logits), x[:, :3])
        np.testing.assert_array_equal(_np(d.children["a"].loc), x[:, 3:4])
    action = {"a": to_tensor(x[:, :1]), "b": to_tensor(np.array([0, 1, 2, 0, 1]))}
    np.testing.assert_allclose(
        _np(by_dict.logp(action)),
        _np(by_dict.children["a"].logp(action["a"]) + by_dict.children["b"].logp(action["b"])),
        rtol=RTOL,
    )
    with pytest.raises(ValueError, match="input_lens"):
        multi.from_logits(to_tensor(x), child_distribution_cls_struct=(cat, gauss), input_lens=[5])
    pair = multi.from_logits(
        to_tensor(x), child_distribution_cls_struct=(cat, gauss), input_lens=[3, 2]
    )
    with pytest.raises(ValueError, match="components"):
        pair.logp((action["b"],))


# ------------------------------------------------------------------- import hygiene


def test_distribution_module_does_not_import_backends():
    code = (
        "import rlmodule.distribution, sys; "
        "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2]
    )
