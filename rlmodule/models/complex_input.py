"""An encoder for Dict/Tuple (nested allowed) observation spaces, as legacy ``ComplexInputNetwork``.

Each leaf ("component") of the space gets its own network, in the space's order
(Dict keys sorted, as legacy's ``flatten_space``):

* an image ``Box`` (3 dims, ``[H, W, C]``) -> a :class:`CNNEncoderConfig` with
  ``conv_filters`` (or :func:`get_filter_config` of its shape) and ``conv_activation``;
  its final map is flattened even when it is not 1x1, as legacy does here;
* ``Discrete`` -> one-hot; ``MultiDiscrete`` -> the one-hots of its entries, concatenated
  (``start`` is subtracted; values are cast to int64 first);
* ``MultiBinary`` and any other ``Box`` -> cast to float and flattened;

and every non-image component's vector then goes through its own MLP
(:class:`MLPEncoderConfig` with ``fcnet_hiddens`` / ``fcnet_activation``; one MLP per
component, as legacy, whose one-hot components go through such an MLP too). The
component outputs are concatenated: ``encoder_out [B, sum of their sizes]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence, Tuple, Union

import gymnasium as gym
import numpy as np

from rlmodule.model_config import MODEL_DEFAULTS, validate_model_config
from rlmodule.models.base import ModelConfig
from rlmodule.models.cnn import CNNEncoderConfig, get_filter_config
from rlmodule.models.mlp import MLPEncoderConfig

KeyPath = Tuple[Union[str, int], ...]


def format_path(path: KeyPath) -> str:
    """``("a", 0)`` -> ``obs['a'][0]``."""
    return "obs" + "".join(f"[{key!r}]" for key in path)


def value_at(obs: Any, path: KeyPath) -> Any:
    """``obs[path[0]][path[1]]...``: a component's value in a (nested) observation."""
    for key in path:
        obs = obs[key]
    return obs


@dataclass(frozen=True)
class InputComponent:
    """One leaf of the observation, ``obs`` at ``path``, with values ``[B, *shape]``.

    With ``one_hot_sizes`` its ``len(one_hot_sizes)`` entries (``prod(shape)`` of them)
    become one-hot vectors of those sizes (after subtracting ``one_hot_starts``);
    without, it is cast to float (and, unless ``net`` is a CNN, flattened). ``net`` maps
    the result to ``[B, net.output_dims[0]]``.
    """

    path: KeyPath
    shape: Tuple[int, ...]
    net: Union[CNNEncoderConfig, MLPEncoderConfig]
    one_hot_sizes: Tuple[int, ...] = ()
    one_hot_starts: Tuple[int, ...] = ()

    @property
    def is_image(self) -> bool:
        return isinstance(self.net, CNNEncoderConfig)


@dataclass
class ComplexInputEncoderConfig(ModelConfig):
    """``obs`` (a dict/tuple of tensors ``[B, ...]`` matching the space) ->
    ``encoder_out [B, sum of the components' output sizes]``. Make it with
    :meth:`from_space`."""

    components: Sequence[InputComponent]

    def __post_init__(self) -> None:
        self.components = tuple(self.components)
        if not self.components:
            raise ValueError("ComplexInputEncoderConfig needs at least one component")

    @classmethod
    def from_space(
        cls, obs_space: gym.Space, model_config: Optional[Mapping[str, Any]] = None
    ) -> "ComplexInputEncoderConfig":
        """The components of ``obs_space`` from a legacy ``model`` dict (defaults:
        ``MODEL_DEFAULTS``). Raises ValueError naming the key path of an unsupported
        component (Text, Graph, Sequence, ...)."""
        config = {**MODEL_DEFAULTS, **(model_config or {})}
        validate_model_config(config, "model_config")
        return cls(tuple(_component(path, space, config) for path, space in _leaves(obs_space, ())))

    @property
    def output_dims(self) -> Tuple[int]:
        return (sum(c.net.output_dims[0] for c in self.components),)


def _leaves(space: gym.Space, path: KeyPath) -> Iterator[Tuple[KeyPath, gym.Space]]:
    if isinstance(space, gym.spaces.Dict):
        for key in sorted(space.spaces):
            yield from _leaves(space.spaces[key], path + (key,))
    elif isinstance(space, gym.spaces.Tuple):
        for i, sub in enumerate(space.spaces):
            yield from _leaves(sub, path + (i,))
    else:
        yield path, space


def _component(path: KeyPath, space: gym.Space, config: Mapping[str, Any]) -> InputComponent:
    shape = tuple(space.shape or ())
    if isinstance(space, gym.spaces.Box) and len(shape) == 3:
        cnn = CNNEncoderConfig(
            shape,
            config["conv_filters"] or get_filter_config(shape),
            config["conv_activation"],
            flatten_non_1x1=True,
        )
        return InputComponent(path, shape, cnn)
    if isinstance(space, gym.spaces.Discrete):
        sizes, starts = (int(space.n),), (int(space.start),)
    elif isinstance(space, gym.spaces.MultiDiscrete):
        sizes = tuple(int(n) for n in np.ravel(space.nvec))
        starts = tuple(int(s) for s in np.ravel(space.start))
    elif isinstance(space, (gym.spaces.Box, gym.spaces.MultiBinary)):
        sizes, starts = (), ()
    else:
        raise ValueError(
            f"ComplexInputEncoderConfig: the observation component at {format_path(path)} is "
            f"{space!r}, which is not supported; components must be Box, Discrete, "
            "MultiDiscrete or MultiBinary (inside Dict/Tuple spaces)"
        )
    size = sum(sizes) if sizes else math.prod(shape)
    mlp = MLPEncoderConfig((size,), config["fcnet_hiddens"], config["fcnet_activation"])
    return InputComponent(path, shape, mlp, sizes, starts)
