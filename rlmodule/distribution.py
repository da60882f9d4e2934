"""Framework-agnostic action distributions (the RLModule ``Distribution`` API).

Shape conventions used throughout (``B`` is the batch dimension, ``S`` the
``sample_shape`` prefix):

* ``from_logits(logits)``: ``logits`` is ``[B, required_input_dim]``.
* ``sample()``/``rsample()``: ``[*S, B, *action_shape]``.
* ``logp(value)``, ``entropy()``, ``kl(other)``: ``[B]`` (``[*S, B]`` for a
  ``value`` carrying a sample prefix); diagonal and multi distributions sum over
  their action dimensions / components.

The framework-agnostic bases :class:`Categorical`, :class:`DiagGaussian`,
:class:`Deterministic`, :class:`MultiCategorical` and :class:`SquashedGaussian`
hold the parts that need no tensor library (``required_input_dim``, the
``NotImplementedError`` refusals, ...); ``rlmodule.torch.distributions`` and
``rlmodule.tf.distributions`` subclass them with the tensor math.

This module imports no framework: :func:`get_action_dist_cls` asks the framework's
backend (:func:`rlmodule.backend.backend`) for its subclass of each base
(``DISTRIBUTIONS``).
"""

from __future__ import annotations

import abc
import functools
import operator
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

import gymnasium as gym
import numpy as np

from rlmodule.backend import backend

__all__ = [
    "Categorical",
    "Deterministic",
    "DiagGaussian",
    "Distribution",
    "DistributionPartial",
    "MultiCategorical",
    "MultiDistribution",
    "SquashedGaussian",
    "get_action_dist_cls",
]

TensorType = Any
SampleShape = Tuple[int, ...]


class Distribution(abc.ABC):
    """An action distribution over a batch ``[B]`` of independent inputs."""

    @classmethod
    @abc.abstractmethod
    def from_logits(cls, logits: TensorType, **kwargs: Any) -> "Distribution":
        """Build the distribution from a model output.

        :param logits: ``[B, required_input_dim]`` float tensor.
        :param kwargs: class-specific construction arguments (e.g. ``input_lens``).
        """

    @abc.abstractmethod
    def sample(self, *, sample_shape: SampleShape = ()) -> TensorType:
        """Draw actions without gradients.

        :return: ``[*sample_shape, B, *action_shape]`` (a dict/tuple of such
            tensors for multi distributions).
        """

    @abc.abstractmethod
    def rsample(self, *, sample_shape: SampleShape = ()) -> TensorType:
        """Draw reparameterised actions (gradients flow into the inputs).

        :return: same shape as :meth:`sample`.
        :raises NotImplementedError: for distributions with no reparameterisation
            (e.g. categoricals).
        """

    @abc.abstractmethod
    def logp(self, value: TensorType) -> TensorType:
        """Log-likelihood of ``value`` (``[B, *action_shape]``); returns ``[B]``."""

    @abc.abstractmethod
    def entropy(self) -> TensorType:
        """Entropy of each batch entry; returns ``[B]``."""

    @abc.abstractmethod
    def kl(self, other: "Distribution") -> TensorType:
        """``KL(self || other)`` for a distribution of the same kind; returns ``[B]``."""

    @classmethod
    @abc.abstractmethod
    def required_input_dim(cls, space: gym.spaces.Space, **kwargs: Any) -> int:
        """Width of the ``logits`` that :meth:`from_logits` expects for ``space``."""

    @abc.abstractmethod
    def to_deterministic(self) -> "Distribution":
        """A deterministic distribution concentrated on this distribution's mode."""


def _box_input_dim(dist_cls: type, space: gym.spaces.Space, per_dim: int) -> int:
    """``per_dim * prod(space.shape)`` for a ``Box`` space; ``ValueError`` naming ``dist_cls``."""
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"{dist_cls.__name__} needs a Box space, got {space!r}")
    return per_dim * int(np.prod(space.shape))


def _not_reparameterisable(dist: Distribution) -> NotImplementedError:
    """The error that :meth:`Distribution.rsample` raises for a discrete distribution."""
    return NotImplementedError(
        f"{type(dist).__name__} cannot be reparameterised; use sample() instead"
    )


class Categorical(Distribution):
    """Categorical over ``n`` classes: ``logits`` ``[B, n]``, actions ``[B]`` int64.

    Backends implement ``__init__(logits)`` (``[B, n]``), ``sample`` (``[*S, B]``),
    ``logp`` / ``entropy`` / ``kl`` (``[B]``) and ``to_deterministic`` (the
    ``[B]`` argmax).
    """

    @classmethod
    def from_logits(cls, logits: TensorType) -> "Categorical":
        """:param logits: ``[B, n]``."""
        return cls(logits)

    def rsample(self, *, sample_shape: SampleShape = ()) -> TensorType:
        """Not available: discrete draws have no reparameterisation.

        :raises NotImplementedError: always; use :meth:`sample` instead.
        """
        raise _not_reparameterisable(self)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        """``space.n`` for a ``Discrete`` space."""
        if not isinstance(space, gym.spaces.Discrete):
            raise ValueError(f"{cls.__name__} needs a Discrete space, got {space!r}")
        return int(space.n)


class DiagGaussian(Distribution):
    """Diagonal Gaussian: ``loc``/``scale`` ``[B, D]``, actions ``[B, D]`` float.

    ``from_logits`` takes ``[B, 2 * D]`` = ``concat(mean, log_std)``; ``logp``,
    ``entropy`` and ``kl`` sum over ``D`` and return ``[B]``. Backends implement
    everything but :meth:`required_input_dim`.
    """

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        """``2 * prod(space.shape)`` for a ``Box`` space."""
        return _box_input_dim(cls, space, per_dim=2)


class Deterministic(Distribution):
    """All mass on ``loc`` (``[B, *event]``); ``logp`` is 0 there and ``-inf`` elsewhere.

    Backends implement ``__init__(loc, event_ndim=None)``, ``sample`` /
    ``rsample`` (``loc`` broadcast to ``[*S, B, *event]``) and ``logp`` /
    ``entropy`` / ``kl`` (``[B]``).
    """

    @classmethod
    def from_logits(cls, logits: TensorType) -> "Deterministic":
        """:param logits: ``[B, D]``, used as the point mass itself."""
        return cls(logits)

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space) -> int:
        """``prod(space.shape)`` (1 for ``Discrete``)."""
        return int(np.prod(space.shape))

    def to_deterministic(self) -> "Deterministic":
        """``self``: a point mass is already deterministic."""
        return self


class MultiCategorical(Distribution):
    """Independent categoricals: logits ``[B, sum(input_lens)]``, actions ``[B, k]`` int64.

    ``logp``, ``entropy`` and ``kl`` sum over the ``k`` components and return
    ``[B]``. Backends implement ``from_logits(logits, input_lens)`` (splitting
    the logits into backend categoricals), ``sample`` (``[*S, B, k]``), ``logp``,
    ``entropy``, ``kl`` and ``to_deterministic`` (the ``[B, k]`` argmax).
    """

    def __init__(self, categoricals: Sequence[Categorical]) -> None:
        """:param categoricals: ``k`` categoricals, each with ``[B, n_i]`` logits."""
        self.categoricals: List[Categorical] = list(categoricals)

    def rsample(self, *, sample_shape: SampleShape = ()) -> TensorType:
        """Not available: discrete draws have no reparameterisation.

        :raises NotImplementedError: always; use :meth:`sample` instead.
        """
        raise _not_reparameterisable(self)

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


class SquashedGaussian(Distribution):
    """Diagonal Gaussian squashed by ``tanh`` and rescaled into ``[low, high]``.

    ``loc``/``scale`` and actions are ``[B, D]``. ``logp`` is the exact density of
    the squashed variable: ``Normal.log_prob(u) - log(1 - tanh(u)^2) -
    log((high - low) / 2)`` summed over ``D``, where ``u = atanh(y)`` and ``y`` is
    the action mapped back to ``[-1, 1]`` and clamped ``1e-6`` inside the bounds.
    Entropy and KL have no closed form and raise ``NotImplementedError``.

    Backends implement ``__init__(loc, scale, low=-1.0, high=1.0)``,
    ``from_logits(logits, low=-1.0, high=1.0)`` (``[B, 2 * D]``), ``sample`` /
    ``rsample`` (``[*S, B, D]``), ``logp`` (``[B]``) and ``to_deterministic``.
    """

    def entropy(self) -> TensorType:
        """Not available in closed form.

        :raises NotImplementedError: always; estimate it as ``-logp(rsample())``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form entropy; estimate it as -logp(rsample())"
        )

    def kl(self, other: Distribution) -> TensorType:
        """Not available in closed form.

        :raises NotImplementedError: always.
        """
        raise NotImplementedError(f"{type(self).__name__} has no closed-form KL divergence")

    @classmethod
    def required_input_dim(cls, space: gym.spaces.Space, **kwargs: object) -> int:
        """``2 * prod(space.shape)`` for a ``Box`` space (``low``/``high`` kwargs ignored)."""
        return _box_input_dim(cls, space, per_dim=2)


class DistributionPartial:
    """A distribution class with some ``from_logits`` keyword arguments bound.

    Example::

        partial = DistributionPartial(TorchMultiCategorical, input_lens=[2, 3])
        dist = partial.from_logits(logits)          # logits: [B, 5]
        partial.required_input_dim(MultiDiscrete([2, 3]))  # -> 5
    """

    def __init__(self, dist_cls: Type[Distribution], **kwargs: Any) -> None:
        self.dist_cls = dist_cls
        self.kwargs = kwargs

    def from_logits(self, logits: TensorType) -> Distribution:
        """``dist_cls.from_logits(logits, **bound_kwargs)``; ``logits`` is ``[B, D]``."""
        return self.dist_cls.from_logits(logits, **self.kwargs)

    def required_input_dim(self, space: gym.spaces.Space, **kwargs: Any) -> int:
        """``dist_cls.required_input_dim`` with the bound kwargs (call kwargs win)."""
        return self.dist_cls.required_input_dim(space, **{**self.kwargs, **kwargs})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"DistributionPartial({self.dist_cls.__name__}, {args})"


DistributionClass = Union[Type[Distribution], DistributionPartial]
ChildStruct = Union[Mapping[str, Any], Sequence[Any]]


class MultiDistribution(Distribution):
    """Independent product of child distributions arranged in a dict or a tuple.

    Actions are the same structure as the children: a dict of per-child actions
    for a dict of children, a tuple for a tuple/list. ``logp`` and ``entropy``
    sum over children (each child already returns ``[B]``); ``kl`` is pairwise.

    Framework subclasses set :attr:`framework` and implement :meth:`_split`.
    """

    framework: ClassVar[str]

    def __init__(self, child_distribution_struct: ChildStruct) -> None:
        """:param child_distribution_struct: dict or tuple/list of ``Distribution``."""
        if isinstance(child_distribution_struct, Mapping):
            self._children: Union[Dict[str, Distribution], Tuple[Distribution, ...]] = dict(
                child_distribution_struct
            )
        elif isinstance(child_distribution_struct, (tuple, list)):
            self._children = tuple(child_distribution_struct)
        else:
            raise TypeError(
                f"{type(self).__name__} needs a dict or tuple of child distributions, "
                f"got {type(child_distribution_struct).__name__}"
            )

    @property
    def children(self) -> Union[Dict[str, Distribution], Tuple[Distribution, ...]]:
        """The child distributions (dict or tuple)."""
        return self._children

    @staticmethod
    @abc.abstractmethod
    def _split(logits: TensorType, sizes: List[int]) -> List[TensorType]:
        """Split ``[B, sum(sizes)]`` logits into ``[B, size_i]`` chunks."""

    @classmethod
    def from_logits(
        cls,
        logits: TensorType,
        child_distribution_cls_struct: ChildStruct,
        input_lens: Union[ChildStruct, Sequence[int]],
    ) -> "MultiDistribution":
        """Split ``logits`` (``[B, sum(input_lens)]``) among the child classes.

        :param child_distribution_cls_struct: dict or tuple/list of distribution
            classes or :class:`DistributionPartial` objects.
        :param input_lens: the logits width of each child, either in the same
            structure (dict with the same keys) or as a flat list in the
            iteration order of ``child_distribution_cls_struct``.
        """
        keys, classes = _items(child_distribution_cls_struct)
        sizes = _sizes(input_lens, keys)
        if len(sizes) != len(classes):
            raise ValueError(f"{cls.__name__}: {len(sizes)} input_lens for {len(classes)} children")
        chunks = cls._split(logits, sizes)
        children = [child.from_logits(chunk) for child, chunk in zip(classes, chunks)]
        return cls(dict(zip(keys, children)) if keys is not None else tuple(children))

    @classmethod
    def required_input_dim(
        cls,
        space: gym.spaces.Space,
        child_distribution_cls_struct: Optional[ChildStruct] = None,
        input_lens: Union[ChildStruct, Sequence[int], None] = None,
    ) -> int:
        """``sum(input_lens)``, else the sum of the children's required dims for ``space``.

        Without ``child_distribution_cls_struct`` the default classes of
        :func:`get_action_dist_cls` are used for the sub-spaces.
        """
        if input_lens is not None:
            return sum(_sizes(input_lens, None))
        if not isinstance(space, (gym.spaces.Tuple, gym.spaces.Dict)):
            raise ValueError(f"{cls.__name__} needs a Tuple or Dict space, got {space!r}")
        if child_distribution_cls_struct is None:
            return get_action_dist_cls(space, cls.framework).required_input_dim(space)
        keys, classes = _items(child_distribution_cls_struct)
        subspaces = [space[k] for k in keys] if keys is not None else list(space)
        return sum(c.required_input_dim(s) for c, s in zip(classes, subspaces))

    def _map(self, fn: Any) -> Union[Dict[str, Any], Tuple[Any, ...]]:
        if isinstance(self._children, dict):
            return {k: fn(d) for k, d in self._children.items()}
        return tuple(fn(d) for d in self._children)

    def _leaves(self) -> List[Distribution]:
        return (
            list(self._children.values())
            if isinstance(self._children, dict)
            else list(self._children)
        )

    def _pair(self, struct: Any) -> List[Any]:
        """Per-child entries of ``struct`` (a dict/tuple shaped like the children)."""
        if isinstance(self._children, dict):
            return [struct[k] for k in self._children]
        entries = list(struct)
        if len(entries) != len(self._children):
            raise ValueError(
                f"{type(self).__name__}: expected {len(self._children)} components, "
                f"got {len(entries)}"
            )
        return entries

    def sample(self, *, sample_shape: SampleShape = ()) -> Any:
        """A dict/tuple of per-child ``[*sample_shape, B, ...]`` actions."""
        return self._map(lambda d: d.sample(sample_shape=sample_shape))

    def rsample(self, *, sample_shape: SampleShape = ()) -> Any:
        """Reparameterised :meth:`sample`; fails if any child cannot ``rsample``."""
        return self._map(lambda d: d.rsample(sample_shape=sample_shape))

    def logp(self, value: Any) -> TensorType:
        """Sum of child ``logp``; ``value`` is a dict/tuple of actions; returns ``[B]``."""
        return _total(d.logp(v) for d, v in zip(self._leaves(), self._pair(value)))

    def entropy(self) -> TensorType:
        """Sum of child entropies; returns ``[B]``."""
        return _total(d.entropy() for d in self._leaves())

    def kl(self, other: "MultiDistribution") -> TensorType:
        """Sum of pairwise child KLs against ``other`` of the same structure; ``[B]``."""
        return _total(d.kl(o) for d, o in zip(self._leaves(), self._pair(other.children)))

    def to_deterministic(self) -> "MultiDistribution":
        """The same structure with each child replaced by its deterministic mode."""
        return type(self)(self._map(lambda d: d.to_deterministic()))


def _items(struct: ChildStruct) -> Tuple[Optional[List[str]], List[Any]]:
    """``(keys or None, values)`` of a dict or tuple/list structure."""
    if isinstance(struct, Mapping):
        return list(struct), list(struct.values())
    if isinstance(struct, (tuple, list)):
        return None, list(struct)
    raise TypeError(f"expected a dict, tuple or list, got {type(struct).__name__}")


def _sizes(input_lens: Union[ChildStruct, Sequence[int]], keys: Optional[List[str]]) -> List[int]:
    """``input_lens`` as a flat list of ints in ``keys`` order (or sequence order)."""
    if isinstance(input_lens, Mapping):
        order = keys if keys is not None else list(input_lens)
        return [int(input_lens[k]) for k in order]
    return [int(n) for n in input_lens]


def _total(terms: Any) -> TensorType:
    return functools.reduce(operator.add, terms)


_SUPPORTED = (
    "Discrete, Box (1-D), MultiDiscrete (1-D), MultiBinary (1-D), "
    "and Tuple/Dict spaces made of these"
)


def get_action_dist_cls(space: gym.spaces.Space, framework: str) -> DistributionClass:
    """The default distribution class (or :class:`DistributionPartial`) for ``space``.

    * ``Discrete`` -> Categorical
    * ``Box`` with a 1-D shape -> DiagGaussian
    * ``MultiDiscrete`` (1-D) -> MultiCategorical with ``input_lens = nvec``
    * ``MultiBinary(n)`` -> MultiCategorical with ``input_lens = [2] * n``
    * ``Tuple`` / ``Dict`` -> MultiDistribution built recursively from the children

    :param framework: ``"torch"``, ``"tf"`` or ``"tf2"``.
    :raises ValueError: for any other framework, or any other space (naming it and the
        supported spaces).
    """
    classes: Mapping[type, Type[Distribution]] = backend(framework).DISTRIBUTIONS
    if isinstance(space, gym.spaces.Discrete):
        return classes[Categorical]
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return classes[DiagGaussian]
    if isinstance(space, gym.spaces.MultiDiscrete) and len(space.shape) == 1:
        return DistributionPartial(classes[MultiCategorical], input_lens=[int(n) for n in space.nvec])
    if isinstance(space, gym.spaces.MultiBinary) and len(space.shape) == 1:
        return DistributionPartial(classes[MultiCategorical], input_lens=[2] * int(space.shape[0]))
    if isinstance(space, (gym.spaces.Tuple, gym.spaces.Dict)):
        if isinstance(space, gym.spaces.Dict):
            children: ChildStruct = {
                k: get_action_dist_cls(s, framework) for k, s in space.spaces.items()
            }
            lens: ChildStruct = {k: c.required_input_dim(space[k]) for k, c in children.items()}
        else:
            children = tuple(get_action_dist_cls(s, framework) for s in space.spaces)
            lens = [c.required_input_dim(s) for c, s in zip(children, space.spaces)]
        return DistributionPartial(
            classes[MultiDistribution], child_distribution_cls_struct=children, input_lens=lens
        )
    raise ValueError(f"Unsupported action space {space!r}. Supported spaces: {_SUPPORTED}.")
