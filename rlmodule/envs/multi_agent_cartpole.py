"""MultiAgentCartPole: ``num_agents`` independent CartPole-v1 copies, one per agent.

The multi-agent env API is RLlib's: ``reset()`` -> ``({agent_id: obs}, {agent_id: info})``;
``step({agent_id: action})`` -> obs, rewards, terminateds, truncateds, infos dicts, the
last two with an ``"__all__"`` entry. An agent whose episode ended stops appearing.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import gymnasium as gym

from rlmodule.envs.multi_agent_env import MultiAgentEnv


class MultiAgentCartPole(MultiAgentEnv):
    """``env_config = {"num_agents": N}`` (default 1); agent ids are ``0 .. N-1``."""

    def __init__(self, config: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        config = dict(config or {})
        num_agents = config.pop("num_agents", 1)
        if not isinstance(num_agents, int) or num_agents < 1:
            raise ValueError(f"MultiAgentCartPole: env_config['num_agents'] must be an int >= 1, got {num_agents!r}")
        self.envs = [gym.make("CartPole-v1") for _ in range(num_agents)]
        self.agents = list(range(num_agents))
        self.possible_agents = list(self.agents)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.observation_spaces = {i: self.observation_space for i in self.agents}
        self.action_spaces = {i: self.action_space for i in self.agents}
        self._done = set()

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> Tuple[dict, dict]:
        self._done = set()
        obs, infos = {}, {}
        for i, env in enumerate(self.envs):
            obs[i], infos[i] = env.reset(seed=None if seed is None else seed + i, options=options)
        return obs, infos

    def step(self, action_dict: Dict[int, Any]):
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        for i, action in action_dict.items():
            if i in self._done:
                raise ValueError(f"MultiAgentCartPole.step(): agent {i} is done; it must not act")
            obs[i], rewards[i], terminateds[i], truncateds[i], infos[i] = self.envs[i].step(action)
            if terminateds[i] or truncateds[i]:
                self._done.add(i)
        all_done = len(self._done) == len(self.envs)
        terminateds["__all__"] = all_done and all(
            terminateds.get(i, True) for i in self.agents
        )
        truncateds["__all__"] = all_done and not terminateds["__all__"]
        return obs, rewards, terminateds, truncateds, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()
