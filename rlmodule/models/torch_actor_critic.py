"""Torch actor-critic encoder (see ``actor_critic``)."""

from typing import Any, Dict, Mapping, Optional

from torch import nn

from rlmodule.models.actor_critic_logic import actor_critic_forward, actor_critic_initial_state, actor_forward


class TorchActorCriticEncoder(nn.Module):
    """``actor_encoder`` (and ``critic_encoder`` unless shared)."""

    def __init__(self, actor: nn.Module, critic: Optional[nn.Module]) -> None:
        super().__init__()
        self.actor_encoder = actor
        self.critic_encoder = critic

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        # Sub-encoders' forward() directly: no per-call nn.Module dispatch (hot path).
        critic = None if self.critic_encoder is None else self.critic_encoder.forward
        return actor_critic_forward(self.actor_encoder.forward, critic, batch)

    def forward_actor(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The actor side only (see ``actor_forward``)."""
        critic = None if self.critic_encoder is None else self.critic_encoder.forward
        return actor_forward(self.actor_encoder.forward, critic, batch)

    def get_initial_state(self) -> Dict[str, Any]:
        return actor_critic_initial_state(self.actor_encoder, self.critic_encoder)
