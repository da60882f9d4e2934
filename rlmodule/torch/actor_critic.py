"""Torch actor-critic encoder (see :mod:`rlmodule.models.actor_critic`)."""

from typing import Any, Dict, Mapping, Optional, Tuple

from torch import nn

from rlmodule.models.actor_critic import ActorCriticEncoderConfig
from rlmodule.models.actor_critic_logic import (
    actor_critic_forward,
    actor_critic_initial_state,
    actor_forward,
    critic_forward,
)


class TorchActorCriticEncoder(nn.Module):
    """``actor_encoder`` (and ``critic_encoder`` unless shared)."""

    def __init__(self, actor: nn.Module, critic: Optional[nn.Module]) -> None:
        super().__init__()
        self.actor_encoder = actor
        self.critic_encoder = critic

    @classmethod
    def from_config(cls, config: ActorCriticEncoderConfig) -> "TorchActorCriticEncoder":
        """The base encoder built once (shared) or twice (actor and critic)."""
        actor = config.base_encoder_config.build("torch")
        critic = None if config.shared else config.base_encoder_config.build("torch")
        return cls(actor, critic)

    # Hot path: the sub-encoders' forward() directly (no nn.Module call dispatch), read
    # from ``_modules`` (no nn.Module.__getattr__; see TorchMLP.forward).
    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return actor_critic_forward(*self._forwards(), batch)

    def forward_actor(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The actor side only (see ``actor_forward``)."""
        return actor_forward(*self._forwards(), batch)

    def forward_critic(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The critic side only (see ``critic_forward``)."""
        return critic_forward(*self._forwards(), batch)

    def _forwards(self) -> Tuple[Any, Optional[Any]]:
        """``(actor forward, critic forward or None if shared)``."""
        modules = self._modules
        critic = modules.get("critic_encoder")  # not registered when None
        return modules["actor_encoder"].forward, None if critic is None else critic.forward

    def get_initial_state(self) -> Dict[str, Any]:
        return actor_critic_initial_state(self.actor_encoder, self.critic_encoder)
