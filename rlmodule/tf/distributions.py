"""TensorFlow action distributions implementing :class:`rlmodule.distribution.Distribution`.

Same formulas as :mod:`rlmodule.torch.distributions` (so float32 results agree),
written with plain TF ops (no tensorflow_probability), eager- and
``tf.function``-friendly. ``B`` is the batch dimension, ``S`` the
``sample_shape`` prefix, ``D`` the action size of a 1-D Box space. Each class
subclasses the framework-agnostic base of the same name in
:mod:`rlmodule.distribution` (``TfCategorical`` ->
``rlmodule.distribution.Categorical``, ...), which holds ``required_input_dim``
and the other tensor-free methods; this module holds only the tensor math.

``Categorical`` is an alias of :class:`TfCategorical`, standing in for the
``tf.distributions.Categorical`` that TF 2 no longer ships.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from rlmodule import distribution as base
from rlmodule.distribution import MultiDistribution, SampleShape

__all__ = [
    "Categorical",
    "TfCategorical",
    "TfDeterministic",
    "TfDiagGaussian",
    "TfMultiCategorical",
    "TfMultiDistribution",
    "TfSquashedGaussian",
]

# Squashed values are clamped this far inside (-1, 1) before atanh.
_BOUND_EPS = 1e-6
_LOG_2 = math.log(2.0)
_LOG_SQRT_2PI = math.log(math.sqrt(2.0 * math.pi))

Bound = Union[float, Sequence[float], np.ndarray, tf.Tensor]


def _with_prefix(sample_shape: SampleShape, shape: tf.Tensor) -> tf.Tensor:
    """``[*sample_shape, *shape]`` as an int32 shape tensor."""
    return tf.concat(
        [tf.constant(sample_shape, dtype=tf.int32, shape=[len(sample_shape)]), shape], 0
    )


def _normal_log_prob(value: tf.Tensor, loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Element-wise ``Normal(loc, scale).log_prob(value)``."""
    return -((value - loc) ** 2) / (2.0 * scale**2) - tf.math.log(scale) - _LOG_SQRT_2PI


class TfCategorical(base.Categorical):
    """TF :class:`~rlmodule.distribution.Categorical` (softmax over ``logits``, plain TF ops)."""

    def __init__(self, logits: tf.Tensor) -> None:
        """:param logits: ``[B, n]`` unnormalised log-probabilities."""
        self.logits = tf.convert_to_tensor(logits)
        self.log_probs = self.logits - tf.reduce_logsumexp(self.logits, axis=-1, keepdims=True)
        self.probs = tf.nn.softmax(self.log_probs, axis=-1)

    def sample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``[*S, B]`` int64 class indices."""
        shape = tf.shape(self.log_probs)
        flat = tf.reshape(self.log_probs, [-1, shape[-1]])
        draws = tf.random.categorical(flat, num_samples=math.prod(sample_shape))
        return tf.reshape(tf.transpose(draws), _with_prefix(sample_shape, shape[:-1]))

    def logp(self, value: tf.Tensor) -> tf.Tensor:
        """:param value: ``[B]`` class indices. :return: ``[B]``."""
        depth = tf.shape(self.log_probs)[-1]
        picked = tf.one_hot(tf.cast(value, tf.int32), depth, on_value=True, off_value=False)
        return tf.reduce_sum(
            tf.where(picked, self.log_probs, tf.zeros_like(self.log_probs)), axis=-1
        )

    def entropy(self) -> tf.Tensor:
        """``[B]``."""
        log_probs = tf.maximum(self.log_probs, self.log_probs.dtype.min)
        return -tf.reduce_sum(log_probs * self.probs, axis=-1)

    def kl(self, other: "TfCategorical") -> tf.Tensor:
        """``[B]``."""
        terms = self.probs * (self.log_probs - other.log_probs)
        terms = tf.where(other.probs == 0.0, tf.fill(tf.shape(terms), math.inf), terms)
        terms = tf.where(self.probs == 0.0, tf.zeros_like(terms), terms)
        return tf.reduce_sum(terms, axis=-1)

    def to_deterministic(self) -> "TfDeterministic":
        """Deterministic over the ``[B]`` argmax."""
        return TfDeterministic(tf.argmax(self.logits, axis=-1), event_ndim=0)


class TfDiagGaussian(base.DiagGaussian):
    """TF :class:`~rlmodule.distribution.DiagGaussian` (closed-form Normal, plain TF ops)."""

    def __init__(self, loc: tf.Tensor, scale: tf.Tensor) -> None:
        """:param loc: ``[B, D]`` means. :param scale: ``[B, D]`` standard deviations."""
        self.loc = tf.convert_to_tensor(loc)
        self.scale = tf.convert_to_tensor(scale)

    @classmethod
    def from_logits(cls, logits: tf.Tensor) -> "TfDiagGaussian":
        """:param logits: ``[B, 2 * D]`` = ``concat(mean, log_std)``."""
        loc, log_std = tf.split(logits, 2, axis=-1)
        return cls(loc, tf.exp(log_std))

    def sample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``[*S, B, D]``."""
        return tf.stop_gradient(self.rsample(sample_shape=sample_shape))

    def rsample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``[*S, B, D]``, differentiable w.r.t. ``loc`` and ``scale``."""
        eps = tf.random.normal(_with_prefix(sample_shape, tf.shape(self.loc)), dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def logp(self, value: tf.Tensor) -> tf.Tensor:
        """:param value: ``[B, D]``. :return: ``[B]`` (summed over ``D``)."""
        return tf.reduce_sum(_normal_log_prob(value, self.loc, self.scale), axis=-1)

    def entropy(self) -> tf.Tensor:
        """``[B]`` (summed over ``D``)."""
        return tf.reduce_sum(0.5 + 0.5 * math.log(2.0 * math.pi) + tf.math.log(self.scale), axis=-1)

    def kl(self, other: "TfDiagGaussian") -> tf.Tensor:
        """``[B]`` (summed over ``D``)."""
        var_ratio = (self.scale / other.scale) ** 2
        t1 = ((self.loc - other.loc) / other.scale) ** 2
        return tf.reduce_sum(0.5 * (var_ratio + t1 - 1.0 - tf.math.log(var_ratio)), axis=-1)

    def to_deterministic(self) -> "TfDeterministic":
        """Deterministic over the ``[B, D]`` mean."""
        return TfDeterministic(self.loc, event_ndim=1)


class TfDeterministic(base.Deterministic):
    """TF :class:`~rlmodule.distribution.Deterministic` (a point mass on ``loc``)."""

    def __init__(self, loc: tf.Tensor, event_ndim: Optional[int] = None) -> None:
        """:param loc: ``[B, *event]``.
        :param event_ndim: number of trailing action dims (default ``rank(loc) - 1``).
        """
        self.loc = tf.convert_to_tensor(loc)
        self.event_ndim = self.loc.shape.rank - 1 if event_ndim is None else event_ndim

    def _all_equal(self, value: tf.Tensor) -> tf.Tensor:
        equal = tf.equal(tf.cast(value, self.loc.dtype), self.loc)
        if not self.event_ndim:
            return equal
        return tf.reduce_all(equal, axis=list(range(-self.event_ndim, 0)))

    def _float_dtype(self) -> tf.DType:
        return self.loc.dtype if self.loc.dtype.is_floating else tf.float32

    def sample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``loc`` broadcast to ``[*S, B, *event]`` (no gradient)."""
        return tf.stop_gradient(self.rsample(sample_shape=sample_shape))

    def rsample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``loc`` broadcast to ``[*S, B, *event]`` (gradient flows into ``loc``)."""
        return tf.broadcast_to(self.loc, _with_prefix(sample_shape, tf.shape(self.loc)))

    def logp(self, value: tf.Tensor) -> tf.Tensor:
        """``[B]``: 0.0 where ``value == loc`` on every action dim, else ``-inf``."""
        dtype = self._float_dtype()
        return tf.where(
            self._all_equal(value), tf.constant(0.0, dtype), tf.constant(-math.inf, dtype)
        )

    def entropy(self) -> tf.Tensor:
        """``[B]`` zeros."""
        rank = self.loc.shape.rank
        return tf.zeros(tf.shape(self.loc)[: rank - self.event_ndim], dtype=self._float_dtype())

    def kl(self, other: "TfDeterministic") -> tf.Tensor:
        """``[B]``: 0.0 where both point masses coincide, else ``inf``."""
        dtype = self._float_dtype()
        return tf.where(
            self._all_equal(other.loc), tf.constant(0.0, dtype), tf.constant(math.inf, dtype)
        )


class TfMultiCategorical(base.MultiCategorical):
    """TF :class:`~rlmodule.distribution.MultiCategorical` (``k`` :class:`TfCategorical`)."""

    categoricals: List[TfCategorical]

    @classmethod
    def from_logits(cls, logits: tf.Tensor, input_lens: Sequence[int]) -> "TfMultiCategorical":
        """:param logits: ``[B, sum(input_lens)]``. :param input_lens: ``[n_1, ..., n_k]``."""
        chunks = tf.split(logits, [int(n) for n in input_lens], axis=-1)
        return cls([TfCategorical(chunk) for chunk in chunks])

    def sample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``[*S, B, k]`` int64."""
        return tf.stack([c.sample(sample_shape=sample_shape) for c in self.categoricals], axis=-1)

    def logp(self, value: tf.Tensor) -> tf.Tensor:
        """:param value: ``[B, k]``. :return: ``[B]`` (summed over components)."""
        return tf.add_n([c.logp(value[..., i]) for i, c in enumerate(self.categoricals)])

    def entropy(self) -> tf.Tensor:
        """``[B]`` (summed over components)."""
        return tf.add_n([c.entropy() for c in self.categoricals])

    def kl(self, other: "TfMultiCategorical") -> tf.Tensor:
        """``[B]`` (summed pairwise KLs)."""
        return tf.add_n([c.kl(o) for c, o in zip(self.categoricals, other.categoricals)])

    def to_deterministic(self) -> TfDeterministic:
        """Deterministic over the ``[B, k]`` per-component argmax."""
        modes = [tf.argmax(c.logits, axis=-1) for c in self.categoricals]
        return TfDeterministic(tf.stack(modes, axis=-1), event_ndim=1)


class TfMultiDistribution(MultiDistribution):
    """TF :class:`~rlmodule.distribution.MultiDistribution` (dict/tuple of children)."""

    framework = "tf"

    @staticmethod
    def _split(logits: tf.Tensor, sizes: List[int]) -> List[tf.Tensor]:
        return tf.split(logits, sizes, axis=-1)


class TfSquashedGaussian(base.SquashedGaussian):
    """TF :class:`~rlmodule.distribution.SquashedGaussian` (tanh of a Normal, plain TF ops)."""

    def __init__(
        self, loc: tf.Tensor, scale: tf.Tensor, low: Bound = -1.0, high: Bound = 1.0
    ) -> None:
        """:param loc: ``[B, D]``. :param scale: ``[B, D]``.
        :param low: scalar or ``[D]`` lower bound. :param high: scalar or ``[D]`` upper bound.
        """
        self.loc = tf.convert_to_tensor(loc)
        self.scale = tf.convert_to_tensor(scale)
        self.low = tf.cast(low, self.loc.dtype)
        self.high = tf.cast(high, self.loc.dtype)

    @classmethod
    def from_logits(
        cls, logits: tf.Tensor, low: Bound = -1.0, high: Bound = 1.0
    ) -> "TfSquashedGaussian":
        """:param logits: ``[B, 2 * D]`` = ``concat(mean, log_std)`` of the pre-tanh Gaussian."""
        loc, log_std = tf.split(logits, 2, axis=-1)
        return cls(loc, tf.exp(log_std), low=low, high=high)

    def _squash(self, u: tf.Tensor) -> tf.Tensor:
        y = (tf.tanh(u) + 1.0) / 2.0 * (self.high - self.low) + self.low
        return tf.minimum(tf.maximum(y, self.low), self.high)

    def _unsquash(self, value: tf.Tensor) -> tf.Tensor:
        y = (value - self.low) / (self.high - self.low) * 2.0 - 1.0
        return tf.math.atanh(tf.clip_by_value(y, -1.0 + _BOUND_EPS, 1.0 - _BOUND_EPS))

    def sample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``[*S, B, D]`` in ``[low, high]``."""
        return tf.stop_gradient(self.rsample(sample_shape=sample_shape))

    def rsample(self, *, sample_shape: SampleShape = ()) -> tf.Tensor:
        """``[*S, B, D]`` in ``[low, high]``, differentiable w.r.t. ``loc``/``scale``."""
        eps = tf.random.normal(_with_prefix(sample_shape, tf.shape(self.loc)), dtype=self.loc.dtype)
        return self._squash(self.loc + eps * self.scale)

    def logp(self, value: tf.Tensor) -> tf.Tensor:
        """:param value: ``[B, D]`` in ``[low, high]``. :return: ``[B]``."""
        u = self._unsquash(value)
        # log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)), stable for large |u|.
        log_det_tanh = 2.0 * (_LOG_2 - u - tf.nn.softplus(-2.0 * u))
        log_det_rescale = tf.math.log((self.high - self.low) / 2.0)
        return tf.reduce_sum(
            _normal_log_prob(u, self.loc, self.scale) - log_det_tanh - log_det_rescale, axis=-1
        )

    def to_deterministic(self) -> TfDeterministic:
        """Deterministic over ``tanh(loc)`` rescaled into ``[low, high]`` (``[B, D]``)."""
        return TfDeterministic(self._squash(self.loc), event_ndim=1)


Categorical = TfCategorical
