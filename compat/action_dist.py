"""Legacy action-distribution classes -> ours.

Built-in legacy torch distributions map to ours (same numerics): TorchCategorical,
TorchDiagGaussian, TorchDeterministic, TorchMultiCategorical (a ``functools.partial``
with ``input_lens``) and TorchMultiActionDistribution (a partial over a Tuple/Dict
space). Anything else - TorchSquashedGaussian, registered custom distributions - is
wrapped as it is by :class:`LegacyDistribution`, so its numerics stay the legacy ones.
Legacy classes are recognised by name: nothing here imports ray.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Optional

import gymnasium as gym
import torch

from rlmodule.distribution import Distribution, DistributionPartial, get_action_dist_cls
from rlmodule.torch import distributions as ours


def map_legacy_dist_class(legacy_cls: Any, action_space: gym.Space, model: Any = None,
                          model_config: Optional[Mapping[str, Any]] = None) -> Any:
    """Our distribution class (or partial) for ``legacy_cls`` on ``action_space``."""
    func = legacy_cls.func if isinstance(legacy_cls, functools.partial) else legacy_cls
    name = getattr(func, "__name__", "")
    simple = {
        "TorchCategorical": ours.TorchCategorical,
        "TorchDiagGaussian": ours.TorchDiagGaussian,
        "TorchDeterministic": ours.TorchDeterministic,
    }
    if name in simple and not isinstance(legacy_cls, functools.partial):
        return simple[name]
    if name == "TorchMultiCategorical":
        return DistributionPartial(ours.TorchMultiCategorical, input_lens=[int(n) for n in legacy_cls.keywords["input_lens"]])
    if name == "TorchMultiActionDistribution":
        children = legacy_cls.keywords.get("child_distributions", [])
        if all(getattr(c, "__name__", "") in simple or getattr(getattr(c, "func", None), "__name__", "") == "TorchMultiCategorical" for c in children):
            return get_action_dist_cls(action_space, "torch")
    return LegacyDistribution.partial(legacy_cls, model, model_config or {})


class LegacyDistribution(Distribution):
    """Our interface over a legacy ``ActionDistribution`` instance (``inputs [B, N]``)."""

    def __init__(self, legacy_dist: Any) -> None:
        self.legacy = legacy_dist

    @classmethod
    def partial(cls, legacy_cls: Any, model: Any, model_config: Mapping[str, Any]) -> "DistributionPartial":
        """A class-like object: ``from_logits(logits)`` builds ``legacy_cls(logits, model)``."""
        return _LegacyPartial(legacy_cls, model, model_config)

    @classmethod
    def from_logits(cls, logits: torch.Tensor, **kwargs: Any) -> "LegacyDistribution":
        raise TypeError("use LegacyDistribution.partial(legacy_cls, model, model_config).from_logits")

    def sample(self, *, sample_shape=()) -> Any:
        return self.legacy.sample()

    def rsample(self, *, sample_shape=()) -> Any:
        return self.legacy.sample()

    def logp(self, value: Any) -> torch.Tensor:
        return self.legacy.logp(value)

    def entropy(self) -> torch.Tensor:
        return self.legacy.entropy()

    def kl(self, other: "LegacyDistribution") -> torch.Tensor:
        return self.legacy.kl(other.legacy)

    @classmethod
    def required_input_dim(cls, space: gym.Space, **kwargs: Any) -> int:
        raise TypeError("use the partial's required_input_dim")

    def to_deterministic(self) -> "Distribution":
        return _LegacyDeterministic(self.legacy)


class _LegacyDeterministic(LegacyDistribution):
    """The legacy ``deterministic_sample()``; its logp is 0 (as legacy StochasticSampling)."""

    def sample(self, *, sample_shape=()) -> Any:
        return self.legacy.deterministic_sample()

    def logp(self, value: Any) -> torch.Tensor:
        return torch.zeros_like(self.legacy.sampled_action_logp())

    def to_deterministic(self) -> "Distribution":
        return self


class _LegacyPartial:
    """Class-like: ``from_logits`` and ``required_input_dim`` for a legacy class."""

    def __init__(self, legacy_cls: Any, model: Any, model_config: Mapping[str, Any]) -> None:
        self.dist_cls = legacy_cls
        self.model = model
        self.model_config = model_config

    def from_logits(self, logits: torch.Tensor) -> LegacyDistribution:
        return LegacyDistribution(self.dist_cls(logits, self.model))

    def required_input_dim(self, space: gym.Space, **kwargs: Any) -> int:
        return int(self.dist_cls.required_model_output_shape(space, self.model_config))

    def __repr__(self) -> str:
        return f"LegacyDistribution.partial({getattr(self.dist_cls, '__name__', self.dist_cls)})"
