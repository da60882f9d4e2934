"""Torch action distributions implementing :class:`rlmodule.distribution.Distribution`.

``B`` is the batch dimension, ``S`` the ``sample_shape`` prefix, ``D`` the action
size of a 1-D Box space; see :mod:`rlmodule.distribution` for the shared shape
conventions. Each class subclasses the framework-agnostic base of the same
name there (``TorchCategorical`` -> ``rlmodule.distribution.Categorical``, ...),
which holds ``required_input_dim`` and the other tensor-free methods; this
module holds only the tensor math.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal, kl_divergence

from rlmodule import distribution as base
from rlmodule.distribution import MultiDistribution, SampleShape

__all__ = [
    "TorchCategorical",
    "TorchDeterministic",
    "TorchDiagGaussian",
    "TorchMultiCategorical",
    "TorchMultiDistribution",
    "TorchSquashedGaussian",
]

# Squashed values are clamped this far inside (-1, 1) before atanh.
_BOUND_EPS = 1e-6
_LOG_2 = math.log(2.0)

Bound = Union[float, Sequence[float], np.ndarray, torch.Tensor]


class TorchCategorical(base.Categorical):
    """Torch :class:`~rlmodule.distribution.Categorical` (a ``torch.distributions.Categorical``)."""

    def __init__(self, logits: torch.Tensor) -> None:
        """:param logits: ``[B, n]`` unnormalised log-probabilities."""
        self.logits = logits
        self._torch_dist: Optional[Categorical] = None
        self._log_probs: Optional[torch.Tensor] = None

    @property
    def log_probs(self) -> torch.Tensor:
        """``[B, n]`` normalised log-probabilities (computed once, shared by sample and logp)."""
        if self._log_probs is None:
            self._log_probs = F.log_softmax(self.logits, dim=-1)
        return self._log_probs

    @property
    def _dist(self) -> Categorical:
        """The ``torch.distributions.Categorical``, built on first use (``to_deterministic``
        needs only the argmax) and without argument validation."""
        if self._torch_dist is None:
            self._torch_dist = Categorical(logits=self.logits, validate_args=False)
        return self._torch_dist

    def sample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``[*S, B]`` int64 class indices, drawn as ``torch.distributions.Categorical.sample``
        (``torch.multinomial``) draws them: the same values from the same RNG state."""
        probs = self.log_probs.exp()
        if not sample_shape:
            # multinomial's own algorithm for one draw, argmax(p / q) with q ~ Exp(1), without
            # its argument checks (four reductions, two syncs), which cost more than the
            # draw. A softmax can fail them only by NaN, which the sum carries.
            if math.isnan(probs.sum().item()):
                raise RuntimeError(f"{type(self).__name__}.sample(): the logits give NaN probabilities")
            return (probs / torch.empty_like(probs).exponential_()).argmax(dim=-1)
        shape = torch.Size(sample_shape)
        draws = torch.multinomial(probs.reshape(-1, probs.shape[-1]), max(shape.numel(), 1), True).T
        return draws.reshape(shape + self.logits.shape[:-1])

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """:param value: ``[*S, B]`` class indices. :return: ``[*S, B]``."""
        log_probs = self.log_probs
        index = value.long().unsqueeze(-1)
        if index.dim() != log_probs.dim() or index.shape[:-1] != log_probs.shape[:-1]:
            index, log_probs = torch.broadcast_tensors(index, log_probs)
            index = index[..., :1]
        return log_probs.gather(-1, index).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """``[B]``."""
        return self._dist.entropy()

    def kl(self, other: "TorchCategorical") -> torch.Tensor:
        """``[B]``."""
        return kl_divergence(self._dist, other._dist)

    def to_deterministic(self) -> "TorchDeterministic":
        """Deterministic over the ``[B]`` argmax."""
        return TorchDeterministic(self.logits.argmax(dim=-1), event_ndim=0)


class TorchDiagGaussian(base.DiagGaussian):
    """Torch :class:`~rlmodule.distribution.DiagGaussian` (wraps ``torch.distributions.Normal``)."""

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor) -> None:
        """:param loc: ``[B, D]`` means. :param scale: ``[B, D]`` standard deviations."""
        self.loc = loc
        self.scale = scale
        self._torch_dist: Optional[Normal] = None

    @property
    def _dist(self) -> Normal:
        """The ``torch.distributions.Normal``, built on first use, without validation."""
        if self._torch_dist is None:
            self._torch_dist = Normal(self.loc, self.scale, validate_args=False)
        return self._torch_dist

    @classmethod
    def from_logits(cls, logits: torch.Tensor) -> "TorchDiagGaussian":
        """:param logits: ``[B, 2 * D]`` = ``concat(mean, log_std)``."""
        loc, log_std = logits.chunk(2, dim=-1)
        return cls(loc, log_std.exp())

    def sample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``[*S, B, D]``."""
        return self._dist.sample(torch.Size(sample_shape))

    def rsample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``[*S, B, D]``, differentiable w.r.t. ``loc`` and ``scale``."""
        return self._dist.rsample(torch.Size(sample_shape))

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """:param value: ``[B, D]``. :return: ``[B]`` (summed over ``D``)."""
        return self._dist.log_prob(value).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        """``[B]`` (summed over ``D``)."""
        return self._dist.entropy().sum(dim=-1)

    def kl(self, other: "TorchDiagGaussian") -> torch.Tensor:
        """``[B]`` (summed over ``D``)."""
        return kl_divergence(self._dist, other._dist).sum(dim=-1)

    def to_deterministic(self) -> "TorchDeterministic":
        """Deterministic over the ``[B, D]`` mean."""
        return TorchDeterministic(self.loc, event_ndim=1)


class TorchDeterministic(base.Deterministic):
    """Torch :class:`~rlmodule.distribution.Deterministic` (a point mass on ``loc``)."""

    def __init__(self, loc: torch.Tensor, event_ndim: Optional[int] = None) -> None:
        """:param loc: ``[B, *event]``.
        :param event_ndim: number of trailing action dims (default ``loc.ndim - 1``).
        """
        self.loc = loc
        self.event_ndim = loc.dim() - 1 if event_ndim is None else event_ndim

    def _batch_shape(self) -> torch.Size:
        return self.loc.shape[: self.loc.dim() - self.event_ndim]

    def _all_equal(self, value: torch.Tensor) -> torch.Tensor:
        equal = value == self.loc
        return equal.flatten(-self.event_ndim).all(dim=-1) if self.event_ndim else equal

    def _float_dtype(self) -> torch.dtype:
        return self.loc.dtype if self.loc.is_floating_point() else torch.float32

    def sample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``loc`` broadcast to ``[*S, B, *event]`` (no gradient)."""
        return self.loc.detach().expand(*sample_shape, *self.loc.shape)

    def rsample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``loc`` broadcast to ``[*S, B, *event]`` (gradient flows into ``loc``)."""
        return self.loc.expand(*sample_shape, *self.loc.shape)

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """``[B]``: 0.0 where ``value == loc`` on every action dim, else ``-inf``."""
        zero = torch.zeros((), dtype=self._float_dtype(), device=self.loc.device)
        return torch.where(self._all_equal(value), zero, zero - math.inf)

    def entropy(self) -> torch.Tensor:
        """``[B]`` zeros."""
        return torch.zeros(self._batch_shape(), dtype=self._float_dtype(), device=self.loc.device)

    def kl(self, other: "TorchDeterministic") -> torch.Tensor:
        """``[B]``: 0.0 where both point masses coincide, else ``inf``."""
        zero = torch.zeros((), dtype=self._float_dtype(), device=self.loc.device)
        return torch.where(self._all_equal(other.loc), zero, zero + math.inf)


class TorchMultiCategorical(base.MultiCategorical):
    """Torch :class:`~rlmodule.distribution.MultiCategorical` (``k`` :class:`TorchCategorical`)."""

    categoricals: List[TorchCategorical]

    @classmethod
    def from_logits(
        cls, logits: torch.Tensor, input_lens: Sequence[int]
    ) -> "TorchMultiCategorical":
        """:param logits: ``[B, sum(input_lens)]``. :param input_lens: ``[n_1, ..., n_k]``."""
        chunks = torch.split(logits, [int(n) for n in input_lens], dim=-1)
        return cls([TorchCategorical(chunk) for chunk in chunks])

    def sample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``[*S, B, k]`` int64."""
        return torch.stack([c.sample(sample_shape=sample_shape) for c in self.categoricals], dim=-1)

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """:param value: ``[B, k]``. :return: ``[B]`` (summed over components)."""
        parts = [c.logp(v) for c, v in zip(self.categoricals, value.unbind(dim=-1))]
        return torch.stack(parts, dim=-1).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        """``[B]`` (summed over components)."""
        return torch.stack([c.entropy() for c in self.categoricals], dim=-1).sum(dim=-1)

    def kl(self, other: "TorchMultiCategorical") -> torch.Tensor:
        """``[B]`` (summed pairwise KLs)."""
        parts = [c.kl(o) for c, o in zip(self.categoricals, other.categoricals)]
        return torch.stack(parts, dim=-1).sum(dim=-1)

    def to_deterministic(self) -> TorchDeterministic:
        """Deterministic over the ``[B, k]`` per-component argmax."""
        modes = [c.logits.argmax(dim=-1) for c in self.categoricals]
        return TorchDeterministic(torch.stack(modes, dim=-1), event_ndim=1)


class TorchMultiDistribution(MultiDistribution):
    """Torch :class:`~rlmodule.distribution.MultiDistribution` (dict/tuple of children)."""

    framework = "torch"

    @staticmethod
    def _split(logits: torch.Tensor, sizes: List[int]) -> List[torch.Tensor]:
        return list(torch.split(logits, sizes, dim=-1))


class TorchSquashedGaussian(base.SquashedGaussian):
    """Torch :class:`~rlmodule.distribution.SquashedGaussian` (tanh of a torch ``Normal``)."""

    def __init__(
        self, loc: torch.Tensor, scale: torch.Tensor, low: Bound = -1.0, high: Bound = 1.0
    ) -> None:
        """:param loc: ``[B, D]``. :param scale: ``[B, D]``.
        :param low: scalar or ``[D]`` lower bound. :param high: scalar or ``[D]`` upper bound.
        """
        self.loc = loc
        self.scale = scale
        self.low = torch.as_tensor(low, dtype=loc.dtype, device=loc.device)
        self.high = torch.as_tensor(high, dtype=loc.dtype, device=loc.device)
        self._normal = Normal(loc, scale)

    @classmethod
    def from_logits(
        cls, logits: torch.Tensor, low: Bound = -1.0, high: Bound = 1.0
    ) -> "TorchSquashedGaussian":
        """:param logits: ``[B, 2 * D]`` = ``concat(mean, log_std)`` of the pre-tanh Gaussian."""
        loc, log_std = logits.chunk(2, dim=-1)
        return cls(loc, log_std.exp(), low=low, high=high)

    def _squash(self, u: torch.Tensor) -> torch.Tensor:
        y = (torch.tanh(u) + 1.0) / 2.0 * (self.high - self.low) + self.low
        return torch.minimum(torch.maximum(y, self.low), self.high)

    def _unsquash(self, value: torch.Tensor) -> torch.Tensor:
        y = (value - self.low) / (self.high - self.low) * 2.0 - 1.0
        return torch.atanh(y.clamp(-1.0 + _BOUND_EPS, 1.0 - _BOUND_EPS))

    def sample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``[*S, B, D]`` in ``[low, high]``."""
        return self._squash(self._normal.sample(torch.Size(sample_shape)))

    def rsample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``[*S, B, D]`` in ``[low, high]``, differentiable w.r.t. ``loc``/``scale``."""
        return self._squash(self._normal.rsample(torch.Size(sample_shape)))

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """:param value: ``[B, D]`` in ``[low, high]``. :return: ``[B]``."""
        u = self._unsquash(value)
        # log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)), stable for large |u|.
        log_det_tanh = 2.0 * (_LOG_2 - u - F.softplus(-2.0 * u))
        log_det_rescale = torch.log((self.high - self.low) / 2.0)
        return (self._normal.log_prob(u) - log_det_tanh - log_det_rescale).sum(dim=-1)

    def to_deterministic(self) -> TorchDeterministic:
        """Deterministic over ``tanh(loc)`` rescaled into ``[low, high]`` (``[B, D]``)."""
        return TorchDeterministic(self._squash(self.loc), event_ndim=1)
