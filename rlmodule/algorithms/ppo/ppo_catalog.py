"""PPOCatalog: the actor-critic encoder, the policy head and the value head."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import gymnasium as gym

from rlmodule.catalog import Catalog
from rlmodule.models.actor_critic import ActorCriticEncoderConfig
from rlmodule.models.base import ModelConfig
from rlmodule.models.mlp import FreeLogStdMLPHeadConfig, MLPHeadConfig


class PPOCatalog(Catalog):
    """Catalog of PPO-layout modules (also IMPALA's and APPO's).

    - encoder: :meth:`get_actor_critic_encoder_config` (shared when
      ``vf_share_layers``); override it to plug in your own encoder;
    - pi head: ``post_fcnet_hiddens`` then ``action_dist_inputs`` (``[.., 2D]`` with a
      free log-std when ``free_log_std``);
    - vf head: ``post_fcnet_hiddens`` then one value.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        model_config_dict: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(observation_space, action_space, model_config_dict)
        self.actor_critic_encoder_config = self.get_actor_critic_encoder_config()
        if not isinstance(self.actor_critic_encoder_config, ModelConfig):
            raise TypeError(
                f"{type(self).__name__}.get_actor_critic_encoder_config() must return a model "
                f"config (e.g. ActorCriticEncoderConfig), got {self.actor_critic_encoder_config!r}"
            )
        config = self.model_config_dict
        latent = tuple(self.actor_critic_encoder_config.output_dims)
        head_kwargs = dict(
            input_dims=latent,
            hidden_layer_dims=list(config["post_fcnet_hiddens"]),
            hidden_layer_activation=config["post_fcnet_activation"] or "linear",
        )
        if config["free_log_std"]:
            if not isinstance(action_space, gym.spaces.Box):
                raise ValueError(
                    f"model_config_dict['free_log_std']=True needs a Box action space, got {action_space!r}"
                )
            self.pi_head_config: ModelConfig = FreeLogStdMLPHeadConfig(
                output_layer_dim=self.action_dist_input_dim("torch"), **head_kwargs
            )
        else:
            self.pi_head_config = MLPHeadConfig(
                output_layer_dim=self.action_dist_input_dim("torch"), **head_kwargs
            )
        self.vf_head_config: ModelConfig = MLPHeadConfig(output_layer_dim=1, **head_kwargs)

    def get_actor_critic_encoder_config(self) -> ModelConfig:
        """The encoder of policy and value function (override to customise)."""
        return ActorCriticEncoderConfig(
            base_encoder_config=self.encoder_config,
            shared=bool(self.model_config_dict["vf_share_layers"]),
        )

    def build_actor_critic_encoder(self, framework: str) -> Any:
        return self.actor_critic_encoder_config.build(framework)

    def build_pi_head(self, framework: str) -> Any:
        return self.pi_head_config.build(framework)

    def build_vf_head(self, framework: str) -> Any:
        return self.vf_head_config.build(framework)
