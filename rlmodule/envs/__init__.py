"""Example environments (the specification's ``MultiAgentCartPole``)."""

from rlmodule.envs.multi_agent_cartpole import MultiAgentCartPole

__all__ = ["MultiAgentCartPole"]
