"""Keras actor-critic encoder (see :mod:`rlmodule.models.actor_critic`)."""

from typing import Any, Dict, Mapping, Optional

import tensorflow as tf

from rlmodule.models.actor_critic import ActorCriticEncoderConfig
from rlmodule.models.actor_critic_logic import (
    actor_critic_forward,
    actor_critic_initial_state,
    actor_forward,
    critic_forward,
)


class TfActorCriticEncoder(tf.keras.layers.Layer):
    """``actor_encoder`` (and ``critic_encoder`` unless shared)."""

    def __init__(self, actor: tf.keras.layers.Layer, critic: Optional[tf.keras.layers.Layer]) -> None:
        super().__init__()
        self.actor_encoder = actor
        self.critic_encoder = critic

    @classmethod
    def from_config(cls, config: ActorCriticEncoderConfig) -> "TfActorCriticEncoder":
        """The base encoder built once (shared) or twice (actor and critic)."""
        actor = config.base_encoder_config.build("tf2")
        critic = None if config.shared else config.base_encoder_config.build("tf2")
        return cls(actor, critic)

    def call(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return actor_critic_forward(self.actor_encoder, self.critic_encoder, batch)

    def forward_actor(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The actor side only (see ``actor_forward``)."""
        return actor_forward(self.actor_encoder, self.critic_encoder, batch)

    def forward_critic(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The critic side only (see ``critic_forward``)."""
        return critic_forward(self.actor_encoder, self.critic_encoder, batch)

    def get_initial_state(self) -> Dict[str, Any]:
        return actor_critic_initial_state(self.actor_encoder, self.critic_encoder)
