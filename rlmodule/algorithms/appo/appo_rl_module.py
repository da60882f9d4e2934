"""APPORLModule: the PPO layout plus frozen target copies of encoder and pi head.

``forward_train`` also returns ``old_action_dist_inputs``: the target (old) policy's
distribution inputs for the same batch, computed without gradient.
``get_target_network_pairs()`` lists ``(target, source)`` pairs;
``sync_target_networks(tau)`` moves targets towards sources (``tau=1``: copy).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule
from rlmodule.columns import Columns
from rlmodule.models.actor_critic_logic import encoder_batch
from rlmodule.models.base import ACTOR, ENCODER_OUT
from rlmodule.specs import SpecType

OLD_ACTION_DIST_INPUTS = "old_action_dist_inputs"


class APPORLModule(PPORLModule):
    """PPO layout + ``old_encoder`` / ``old_pi`` target networks."""

    def setup(self) -> None:
        super().setup()
        self.old_encoder = self.catalog.build_actor_critic_encoder(self.framework)
        self.old_pi = self.catalog.build_pi_head(self.framework)

    def get_target_network_pairs(self) -> List[Tuple[Any, Any]]:
        return [(self.old_encoder, self.encoder), (self.old_pi, self.pi)]

    def output_specs_train(self) -> SpecType:
        return [Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS, OLD_ACTION_DIST_INPUTS]

    def _old_action_dist_inputs(self, batch: Mapping[str, Any]) -> Any:
        encoded = self.old_encoder(encoder_batch(batch))
        return self.old_pi(encoded[ENCODER_OUT][ACTOR])

    def _forward_train(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        out = super()._forward_train(batch)
        out[OLD_ACTION_DIST_INPUTS] = self._no_grad(self._old_action_dist_inputs, batch)
        return out

    def _no_grad(self, fn, batch: Mapping[str, Any]) -> Any:
        """``fn(batch)`` with no gradient to the target networks (framework-specific)."""
        raise NotImplementedError

    def sync_target_networks(self, tau: float = 1.0) -> None:
        """``target = tau * source + (1 - tau) * target`` for every pair."""
        raise NotImplementedError
