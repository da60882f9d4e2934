"""Actor-critic encoder: one encoder shared by policy and value function, or two.

Built encoders take the module's batch (``obs``, and for recurrent base encoders
``state_in`` / ``seq_lens``) and return ``{"encoder_out": {"actor": [B, (T,) D],
"critic": [B, (T,) D]}}`` plus ``state_out``. With separate recurrent encoders the
state is nested per side: ``{"actor": {...}, "critic": {...}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from rlmodule.models.base import ModelConfig


@dataclass
class ActorCriticEncoderConfig(ModelConfig):
    """``base_encoder_config`` built once (``shared=True``, legacy
    ``vf_share_layers``) or twice (separate actor and critic encoders)."""

    base_encoder_config: ModelConfig
    shared: bool = True

    @property
    def output_dims(self) -> Tuple[int, ...]:
        return self.base_encoder_config.output_dims
