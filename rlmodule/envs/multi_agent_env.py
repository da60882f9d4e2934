"""MultiAgentEnv: the base class of multi-agent environments (RLlib 2.60's interface,
without Ray).

``reset(*, seed, options) -> (obs, infos)`` and ``step(action_dict) -> (obs, rewards,
terminateds, truncateds, infos)``, each a dict keyed by agent id; ``terminateds`` and
``truncateds`` also hold ``"__all__"`` (the episode is over). Only agents that get an
observation act next. Spaces per agent: ``observation_spaces`` / ``action_spaces``
dicts, read through :meth:`MultiAgentEnv.get_observation_space` /
:meth:`MultiAgentEnv.get_action_space` (which also accept the old way: a
``gym.spaces.Dict`` keyed by agent id in ``observation_space``). ``agents`` are the
agents currently in the episode, ``possible_agents`` every agent that may appear.

Environments of ray <= 2.2 (``step`` returning ``(obs, rewards, dones, infos)``,
``reset`` returning the observations only) are refused by the env runner with an error
that says how to convert them (see :func:`check_reset_result`, :func:`check_step_result`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

import gymnasium as gym

AgentID = Any
ALL = "__all__"
#: Where the error messages send users.
GUIDE = "MIGRATION.md#callbacks-and-multi-agent-environments"


class MultiAgentEnv(gym.Env):
    """An environment hosting several agents (dicts keyed by agent id everywhere).

    Subclasses set ``observation_spaces`` / ``action_spaces`` (agent id -> space) and
    ``possible_agents`` (``agents`` too when it changes during an episode) and implement
    ``reset`` and ``step``. ray 2.x's ``_agent_ids`` set is read as the agent list when
    ``agents`` is not set.
    """

    observation_spaces: Optional[Dict[AgentID, gym.Space]] = None
    action_spaces: Optional[Dict[AgentID, gym.Space]] = None
    observation_space: Optional[gym.Space] = None  # old way: one space, or a Dict keyed by agent id
    action_space: Optional[gym.Space] = None

    @property
    def agents(self) -> List[AgentID]:
        """The agents in the episode now (default: ray 2.x's ``_agent_ids``, sorted)."""
        agents = self.__dict__.get("_agents")
        return agents if agents else sorted(getattr(self, "_agent_ids", None) or (), key=str)

    @agents.setter
    def agents(self, value: List[AgentID]) -> None:
        self.__dict__["_agents"] = list(value)

    @property
    def possible_agents(self) -> List[AgentID]:
        """Every agent that may appear (default: ``agents``)."""
        possible = self.__dict__.get("_possible_agents")
        return possible if possible else list(self.agents)

    @possible_agents.setter
    def possible_agents(self, value: List[AgentID]) -> None:
        self.__dict__["_possible_agents"] = list(value)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> Tuple[dict, dict]:
        """``({agent_id: obs}, {agent_id: info})`` of the agents that act first."""
        raise NotImplementedError(f"{type(self).__name__}.reset()")

    def step(self, action_dict: Dict[AgentID, Any]) -> Tuple[dict, dict, dict, dict, dict]:
        """``(obs, rewards, terminateds, truncateds, infos)`` dicts; the flags hold
        ``"__all__"``."""
        raise NotImplementedError(f"{type(self).__name__}.step()")

    def get_observation_space(self, agent_id: AgentID) -> gym.Space:
        """``observation_spaces[agent_id]``, else ``observation_space[agent_id]`` for a
        Dict keyed by agent ids, else ``observation_space``."""
        return _agent_space(self.observation_spaces, self.observation_space, agent_id)

    def get_action_space(self, agent_id: AgentID) -> gym.Space:
        """As :meth:`get_observation_space`, for actions."""
        return _agent_space(self.action_spaces, self.action_space, agent_id)

    def get_agent_ids(self) -> Set[AgentID]:
        """The ray 2.x name for ``set(possible_agents)``."""
        return set(self.possible_agents)

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def max_num_agents(self) -> int:
        return len(self.possible_agents)

    def render(self) -> None:
        """Nothing by default."""


def _agent_space(spaces: Optional[Mapping[AgentID, gym.Space]], single: Optional[gym.Space], agent_id: AgentID) -> gym.Space:
    if spaces is not None:
        return spaces[agent_id]
    if isinstance(single, gym.spaces.Dict) and agent_id in single.spaces:
        return single[agent_id]
    return single


def check_reset_result(env: Any, result: Any) -> Tuple[dict, dict]:
    """``(obs, infos)`` from ``env.reset()``; a TypeError that says how to convert the
    env when it returned something else (ray <= 2.2 envs returned the obs dict only)."""
    if isinstance(result, tuple) and len(result) == 2 and all(isinstance(x, Mapping) for x in result):
        return result
    got = f"a {type(result).__name__}" + (f" of {len(result)} values" if isinstance(result, tuple) else "")
    raise TypeError(
        f"{type(env).__name__}.reset() returned {got}; a multi-agent env returns (obs, infos), two dicts "
        "keyed by agent id, and takes keyword arguments seed= and options= (ray <= 2.2 envs returned the "
        f"obs dict only: return `obs, {{}}`) - see {GUIDE}"
    )


def check_step_result(env: Any, result: Any) -> Tuple[dict, dict, dict, dict, dict]:
    """The 5 dicts of ``env.step()``; a TypeError naming the conversion when the env
    returned ray <= 2.2's ``(obs, rewards, dones, infos)``: whether a ``done`` meant
    termination or a time limit is the env's knowledge, so it is not guessed."""
    if isinstance(result, tuple) and len(result) == 5:
        return result
    if isinstance(result, tuple) and len(result) == 4:
        raise TypeError(
            f"{type(env).__name__}.step() returned 4 values (obs, rewards, dones, infos): the multi-agent env "
            "API of ray <= 2.2. Return (obs, rewards, terminateds, truncateds, infos): `terminateds` for "
            "episodes that really ended (V after them is 0), `truncateds` for time limits (the learner "
            f"bootstraps), both with an '__all__' entry - see {GUIDE}"
        )
    raise TypeError(
        f"{type(env).__name__}.step() returned {type(result).__name__}; expected the tuple (obs, rewards, "
        f"terminateds, truncateds, infos) of dicts keyed by agent id - see {GUIDE}"
    )
