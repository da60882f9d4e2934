"""The legacy space helpers the built-in models share: ``flatten_space`` (of
``ray.rllib.utils.spaces.space_utils``) and torch ``one_hot`` (of
``ray.rllib.utils.torch_utils``)."""

from __future__ import annotations

from typing import List

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Discrete, MultiDiscrete
from torch import nn


def flatten_space(space: gym.Space) -> List[gym.Space]:
    """Primitive sub-spaces, Tuples in order and Dicts by sorted key (legacy ``flatten_space``)."""
    if isinstance(space, gym.spaces.Tuple):
        return [s for sub in space.spaces for s in flatten_space(sub)]
    if isinstance(space, gym.spaces.Dict):
        return [s for k in sorted(space.spaces) for s in flatten_space(space[k])]
    return [space]


def one_hot(x: torch.Tensor, space: gym.Space) -> torch.Tensor:
    """Legacy ``torch_utils.one_hot``: int64 one-hot ``[B, n]`` (MultiDiscrete: concatenated)."""
    if isinstance(space, Discrete):
        return nn.functional.one_hot(x.long(), space.n)
    elif isinstance(space, MultiDiscrete):
        if isinstance(space.nvec[0], np.ndarray):
            nvec = np.ravel(space.nvec)
            x = x.reshape(x.shape[0], -1)
        else:
            nvec = space.nvec
        return torch.cat(
            [nn.functional.one_hot(x[:, i].long(), n) for i, n in enumerate(nvec)], dim=-1
        )
    raise ValueError("Unsupported space for `one_hot`: {}".format(space))
