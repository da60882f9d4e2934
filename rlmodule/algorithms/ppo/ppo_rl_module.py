"""PPORLModule: actor-critic encoder, pi head (``action_dist_inputs``), vf head (``vf_preds``).

The forwards are written once for both frameworks; ``PPOTorchRLModule`` and
``PPOTfRLModule`` add the framework base (the torch one re-states the acting forwards
without nn.Module call dispatch). Outputs: inference ``action_dist_inputs``
(``[B, A]``, or ``[B, T, A]`` with ``state_out`` when recurrent); train also
``vf_preds`` (``[B]`` / ``[B, T]``). Exploration is inference's actor-only pass for
feed-forward modules (the env runner gets values from :meth:`PPORLModule.compute_values`,
one batched call per ``sample()``), and train's for recurrent ones (values need the
step's state).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from rlmodule.columns import Columns
from rlmodule.models.actor_critic_logic import encoder_batch
from rlmodule.models.base import ACTOR, CRITIC, ENCODER_OUT
from rlmodule.rl_module import RLModule
from rlmodule.specs import SpecType


class PPORLModule(RLModule):
    """The PPO module layout, built by the config's catalog (a PPOCatalog)."""

    def setup(self) -> None:
        if self.config is None or self.config.catalog_class is None:
            raise ValueError(
                f"{type(self).__name__} needs a catalog_class in its spec "
                "(e.g. SingleAgentRLModuleSpec(..., catalog_class=PPOCatalog))"
            )
        self.catalog = self.config.get_catalog()
        self.encoder = self.catalog.build_actor_critic_encoder(self.framework)
        self.pi = self.catalog.build_pi_head(self.framework)
        self.vf = self.catalog.build_vf_head(self.framework)
        self.action_dist_cls = self.catalog.get_action_dist_cls(self.framework)
        self._recurrent = bool(self.encoder.get_initial_state())

    # --- recurrent state -------------------------------------------------------------
    def get_initial_state(self) -> Dict[str, Any]:
        return self.encoder.get_initial_state()

    # --- specs ------------------------------------------------------------------------
    def output_specs_inference(self) -> SpecType:
        return [Columns.ACTION_DIST_INPUTS]

    def output_specs_exploration(self) -> SpecType:
        if self._recurrent:
            return [Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS]
        return [Columns.ACTION_DIST_INPUTS]

    def output_specs_train(self) -> SpecType:
        return [Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS]

    # --- forwards ---------------------------------------------------------------------
    def _forward_inference(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._head_outputs(self.encoder.forward_actor(encoder_batch(batch)), self.pi)

    def _forward_exploration(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        if self._recurrent:
            return self._forward_train(batch)
        return self._forward_inference(batch)

    def _forward_train(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return self._head_outputs(self.encoder(encoder_batch(batch)), self.pi, self.vf)

    def compute_values(self, batch: Mapping[str, Any]) -> Any:
        """``V(obs)``: ``[B]`` (``[B, T]`` from ``state_in`` when recurrent), the critic side
        only, as ``forward_train``'s ``vf_preds``. Gradients and train/eval mode follow
        the caller (the env runner calls it without autograd, in eval mode)."""
        encoded = self.encoder.forward_critic(encoder_batch(batch))
        return self.vf(encoded[ENCODER_OUT][CRITIC])[..., 0]

    @staticmethod
    def _head_outputs(encoded: Mapping[str, Any], pi: Any, vf: Any = None) -> Dict[str, Any]:
        """The heads on the encoder's output: ``action_dist_inputs`` ``[B, A]`` (``pi`` of
        the actor latent), ``vf_preds`` ``[B]`` if ``vf`` is given (of the critic latent,
        its last axis of size 1 dropped), and the encoder's ``state_out`` if it has one
        (``[B, T, ...]`` outputs when recurrent)."""
        latents = encoded[ENCODER_OUT]
        out = {Columns.ACTION_DIST_INPUTS: pi(latents[ACTOR])}
        if vf is not None:
            out[Columns.VF_PREDS] = vf(latents[CRITIC])[..., 0]
        if Columns.STATE_OUT in encoded:
            out[Columns.STATE_OUT] = encoded[Columns.STATE_OUT]
        return out
