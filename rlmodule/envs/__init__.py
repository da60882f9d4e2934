"""Environments: the :class:`MultiAgentEnv` base class (RLlib 2.60's multi-agent env
interface), the specification's ``MultiAgentCartPole`` and the memory task
``StatelessCartPole``."""

from rlmodule.envs.multi_agent_cartpole import MultiAgentCartPole
from rlmodule.envs.multi_agent_env import MultiAgentEnv
from rlmodule.envs.stateless_cartpole import StatelessCartPole

__all__ = ["MultiAgentCartPole", "MultiAgentEnv", "StatelessCartPole"]
