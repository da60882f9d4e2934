"""Example environments: the specification's ``MultiAgentCartPole`` and the memory
task ``StatelessCartPole``."""

from rlmodule.envs.multi_agent_cartpole import MultiAgentCartPole
from rlmodule.envs.stateless_cartpole import StatelessCartPole

__all__ = ["MultiAgentCartPole", "StatelessCartPole"]
