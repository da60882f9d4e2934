"""DiscreteBC modules of the specification: an MLP from observations to action logits.

Outputs ``action_dist_inputs`` (logits ``[B, n_actions]``); the action distribution is
Categorical. The first entry of ``fcnet_hiddens`` is the hidden size.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from rlmodule.columns import Columns
from rlmodule.rl_module import RLModule
from rlmodule.specs import SpecType


class DiscreteBCModuleBase(RLModule):
    """Shared spec and distribution methods of the torch and tf BC modules."""

    def _default_output_specs(self) -> SpecType:
        return [Columns.ACTION_DIST_INPUTS]

    def _forward_inference(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._forward_train(batch)

    def _forward_exploration(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._forward_train(batch)

    def _forward_train(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self.policy(batch[Columns.OBS])}

    def _sizes(self):
        """(obs_dim, hidden_dim, n_actions) as Python ints (Keras 3 rejects numpy ints)."""
        return (
            int(self.config.observation_space.shape[0]),
            int(self.config.model_config_dict["fcnet_hiddens"][0]),
            int(self.config.action_space.n),
        )
