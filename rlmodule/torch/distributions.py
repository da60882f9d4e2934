"""Torch action distributions implementing :class:`rlmodule.distribution.Distribution`.

``B`` is the batch dimension, ``S`` the ``sample_shape`` prefix, ``D`` the action
size of a 1-D Box space; see :mod:`rlmodule.distribution` for the shared shape
conventions.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Union

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal, kl_divergence

from rlmodule.distribution import Distribution, MultiDistribution, SampleShape

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


def _box_input_dim(dist_cls: type, space: gym.spaces.Space, per_dim: int) -> int:
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"{dist_cls.__name__} needs a Box space, got {space!r}")
    return per_dim * int(np.prod(space.shape))


class TorchCategorical(Distribution):
    """Categorical over ``n`` classes: ``logits`` ``[B, n]``, actions ``[B]`` int64."""

    def __init__(self, logits: torch.Tensor) -> None:
        """:param logits: ``[B, n]`` unnormalised log-probabilities."""
        self.logits = logits
        self._dist = Categorical(logits=logits)

    @classmethod
    def from_logits(cls, logits: torch.Tensor) -> "TorchCategorical":
        """:param logits: ``[B, n]``."""
        return cls(logits)

    def sample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        """``[*S, B]`` int64 class indices."""
        return self._dist.sample(torch.Size(sample_shape))

    def rsample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} cannot be reparameterised; use sample() instead"
        )

    def logp(self, value: torch.Tensor) -> torch.Tensor:
        """:param value: ``[B]`` class indices. :return: ``[B]``."""
        return self._dist.log_prob(value.long())

    def entropy(self) -> torch.Tensor:
        """``[B]``."""
        return self._dist.entropy()

    def kl(self, other: "TorchCategorical") -> torch.Tensor:
        """``[B]``."""
        return kl_divergence(self._dist, other._dist)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        """``space.n`` for a ``Discrete`` space."""
        if not isinstance(space, gym.spaces.Discrete):
            raise ValueError(f"{cls.__name__} needs a Discrete space, got {space!r}")
        return int(space.n)

    def to_deterministic(self) -> "TorchDeterministic":
        """Deterministic over the ``[B]`` argmax."""
        return TorchDeterministic(self.logits.argmax(dim=-1), event_ndim=0)


class TorchDiagGaussian(Distribution):
    """Diagonal Gaussian: ``loc``/``scale`` ``[B, D]``, actions ``[B, D]`` float."""

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor) -> None:
        """:param loc: ``[B, D]`` means. :param scale: ``[B, D]`` standard deviations."""
        self.loc = loc
        self.scale = scale
        self._dist = Normal(loc, scale)

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

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        """``2 * prod(space.shape)`` for a ``Box`` space."""
        return _box_input_dim(cls, space, per_dim=2)

    def to_deterministic(self) -> "TorchDeterministic":
        """Deterministic over the ``[B, D]`` mean."""
        return TorchDeterministic(self.loc, event_ndim=1)


class TorchDeterministic(Distribution):
    """All mass on ``loc`` (``[B, *event]``); ``logp`` is 0 there and ``-inf`` elsewhere."""

    def __init__(self, loc: torch.Tensor, event_ndim: Optional[int] = None) -> None:
        """:param loc: ``[B, *event]``.
        :param event_ndim: number of trailing action dims (default ``loc.ndim - 1``).
        """
        self.loc = loc
        self.event_ndim = loc.dim() - 1 if event_ndim is None else event_ndim

    @classmethod
    def from_logits(cls, logits: torch.Tensor) -> "TorchDeterministic":
        """:param logits: ``[B, D]``, used as the point mass itself."""
        return cls(logits)

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

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        """``prod(space.shape)`` (1 for ``Discrete``)."""
        return int(np.prod(space.shape))

    def to_deterministic(self) -> "TorchDeterministic":
        return self


class TorchMultiCategorical(Distribution):
    """Independent categoricals: logits ``[B, sum(input_lens)]``, actions ``[B, k]`` int64."""

    def __init__(self, categoricals: Sequence[TorchCategorical]) -> None:
        """:param categoricals: ``k`` categoricals, each with ``[B, n_i]`` logits."""
        self.categoricals: List[TorchCategorical] = list(categoricals)

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

    def rsample(self, *, sample_shape: SampleShape = ()) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} cannot be reparameterised; use sample() instead"
        )

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

    @classmethod
    def required_input_dim(
        cls, space: gym.spaces.Space, input_lens: Optional[Sequence[int]] = None
    ) -> int:
        """``sum(input_lens)``, else ``sum(nvec)`` (MultiDiscrete) / ``2 * n`` (MultiBinary)."""
        if input_lens is not None:
            return sum(int(n) for n in input_lens)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return int(np.sum(space.nvec))
        if isinstance(space, gym.spaces.MultiBinary):
            return 2 * int(np.prod(space.shape))
        raise ValueError(
            f"{cls.__name__} needs a MultiDiscrete or MultiBinary space, got {space!r}"
        )

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


class TorchSquashedGaussian(Distribution):
    """Diagonal Gaussian squashed by ``tanh`` and rescaled into ``[low, high]``.

    ``loc``/``scale`` and actions are ``[B, D]``. ``logp`` is the exact density of
    the squashed variable: ``Normal.log_prob(u) - log(1 - tanh(u)^2) -
    log((high - low) / 2)`` summed over ``D``, where ``u = atanh(y)`` and ``y`` is
    the action mapped back to ``[-1, 1]`` and clamped ``1e-6`` inside the bounds.
    Entropy and KL have no closed form and raise ``NotImplementedError``.
    """

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

    def entropy(self) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form entropy; estimate it as -logp(rsample())"
        )

    def kl(self, other: Distribution) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form KL divergence")

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space, **kwargs: object) -> int:
        """``2 * prod(space.shape)`` for a ``Box`` space (``low``/``high`` kwargs ignored)."""
        return _box_input_dim(cls, space, per_dim=2)

    def to_deterministic(self) -> TorchDeterministic:
        """Deterministic over ``tanh(loc)`` rescaled into ``[low, high]`` (``[B, D]``)."""
        return TorchDeterministic(self._squash(self.loc), event_ndim=1)
