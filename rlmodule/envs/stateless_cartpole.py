"""StatelessCartPole: CartPole-v1 whose observation hides the velocities.

The observation is ``[cart position, pole angle]`` (float32, shape ``[2]``); the agent
must infer the velocities from the history, so a recurrent module (``use_lstm``) is
needed to balance the pole well. The same task as RLlib's ``StatelessCartPole`` example.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import gymnasium as gym
import numpy as np

_VISIBLE = [0, 2]  # cart position, pole angle (velocities at 1 and 3 are hidden)


class StatelessCartPole(gym.Wrapper):
    """``env_config`` is passed to ``gym.make("CartPole-v1", **env_config)``."""

    def __init__(self, env_config: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(gym.make("CartPole-v1", **(env_config or {})))
        high = self.env.observation_space.high[_VISIBLE]
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)

    def reset(self, **kwargs: Any) -> Tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        return obs[_VISIBLE], info

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs[_VISIBLE], reward, terminated, truncated, info
