"""APPOLearner: V-trace targets with PPO's clipped surrogate and a target (old) policy.

The module (``APPORLModule``) keeps frozen copies of its encoder and pi head, the
*target* network; ``forward_train`` returns their ``old_action_dist_inputs``. V-trace
evaluates the target policy against the behaviour policy; the surrogate's ratio is
``pi / mu`` corrected by ``clip(mu / pi_old, 0, 2)`` (RLlib's APPO). Every
``target_network_update_freq`` updates the target moves to the current weights
(``sync_target_networks(tau)``).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from rlmodule.algorithms.appo.appo_rl_module import OLD_ACTION_DIST_INPUTS
from rlmodule.columns import Columns
from rlmodule.learners.batch import LOSS_MASK
from rlmodule.learners.impala_learner import ImpalaLearner
from rlmodule.learners.learner import Tensor
from rlmodule.learners.ppo_learner import adapt_kl_coeff, explained_variance
from rlmodule.rl_module import DEFAULT_MODULE_ID, RLModule

# RLlib's APPO clips the behaviour/target importance ratio at 2.
_MAX_IS_RATIO = 2.0


class APPOLearner(ImpalaLearner):
    """APPO for one module with target networks (an ``APPORLModule``).

    Settings (``config``): the :class:`ImpalaLearner` ones plus ``clip_param``,
    ``use_kl_loss``, ``kl_coeff``, ``kl_target``, ``target_network_update_freq``
    (updates between target syncs), ``tau`` (1.0: copy).

    Stats of :meth:`update`: the IMPALA ones plus ``mean_kl_loss`` (``KL(pi_old || pi)``),
    ``curr_kl_coeff`` (after adaptation) and ``target_network_synced`` (1.0 when this
    update ended with a sync).
    """

    def __init__(self, module: RLModule, config: Any, module_id: str = DEFAULT_MODULE_ID) -> None:
        super().__init__(module, config, module_id)
        if not hasattr(self.module, "sync_target_networks"):
            raise TypeError(
                f"module {module_id!r} ({type(self.module).__name__}) has no sync_target_networks(tau); "
                "APPO trains modules with target networks (APPOTorchRLModule / APPOTfRLModule)"
            )
        self.use_kl_loss = bool(config.use_kl_loss)
        self.kl_coeff = float(config.kl_coeff)
        self.target_network_update_freq = int(config.target_network_update_freq)
        if self.target_network_update_freq < 1:
            raise ValueError(f"target_network_update_freq must be >= 1, got {config.target_network_update_freq!r}")
        self.updates_since_target_sync = 0

    def coefficients(self, timestep: int) -> Dict[str, float]:
        return {**super().coefficients(timestep), "kl_coeff": self.kl_coeff}

    def compute_loss(self, ops: Any, batch: Mapping[str, Tensor], fwd_out: Mapping[str, Tensor], coeffs: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """APPO's loss on ``b`` rows of ``T`` steps (means over the valid steps):

        ``L = -E[min(r A, clip(r, 1-eps, 1+eps) A)]                  (policy_loss)
             + vf_loss_coeff * 0.5 * E[(V(x_s) - v_s)^2]             (vf_loss)
             - entropy_coeff * E[H(pi)]                               (entropy)
             + kl_coeff * E[KL(pi_old || pi)]  if use_kl_loss         (mean_kl_loss)``
        with ``v_s``, ``A`` from V-trace of the target policy ``pi_old`` and
        ``r = clip(mu / pi_old, 0, 2) * pi / mu`` on the taken actions.
        """
        c = self.config
        if OLD_ACTION_DIST_INPUTS not in fwd_out:
            raise KeyError(
                f"module {self.module_id!r} ({type(self.module).__name__}): forward_train returned no "
                f"{OLD_ACTION_DIST_INPUTS!r} (keys: {sorted(fwd_out)}); APPO needs the target policy's inputs"
            )
        pi, logp, values = self.current_policy_and_values(ops, batch, fwd_out)
        pi_old = self.module.get_train_action_dist_cls().from_logits(ops.stop_gradient(fwd_out[OLD_ACTION_DIST_INPUTS]))
        old_logp = pi_old.logp(batch[Columns.ACTIONS])
        behaviour_logp = batch[Columns.ACTION_LOGP]
        vs, pg_advantages = self.vtrace_targets(ops, batch, old_logp, ops.stop_gradient(values))

        def mean(x: Tensor) -> Tensor:
            return ops.mean(x, batch[LOSS_MASK])

        # Clipped surrogate on the behaviour data, corrected towards the target policy.
        is_ratio = ops.clip(ops.exp(behaviour_logp - old_logp), 0.0, _MAX_IS_RATIO)
        logp_ratio = is_ratio * ops.exp(logp - behaviour_logp)
        surrogate = ops.minimum(
            pg_advantages * logp_ratio,
            pg_advantages * ops.clip(logp_ratio, 1.0 - c.clip_param, 1.0 + c.clip_param),
        )
        policy_loss = -mean(surrogate)
        vf_loss = 0.5 * mean(ops.square(values - vs))
        entropy = mean(pi.entropy())
        mean_kl_loss = mean(pi_old.kl(pi))
        total_loss = policy_loss + c.vf_loss_coeff * vf_loss - coeffs["entropy_coeff"] * entropy
        if self.use_kl_loss:
            total_loss = total_loss + coeffs["kl_coeff"] * mean_kl_loss
        return {
            "policy_loss": policy_loss,
            "vf_loss": vf_loss,
            "entropy": entropy,
            "mean_kl_loss": mean_kl_loss,
            "total_loss": total_loss,
            "vf_explained_var": explained_variance(ops, vs, values, batch[LOSS_MASK]),
            "mean_vtrace_target": mean(vs),
        }

    def after_update(self, stats: Dict[str, float]) -> None:
        """Adapt ``kl_coeff`` (PPO's rule, when ``use_kl_loss``), then sync the target
        network every ``target_network_update_freq`` updates."""
        if self.use_kl_loss:
            self.kl_coeff = adapt_kl_coeff(self.kl_coeff, stats.get("mean_kl_loss", float("nan")), self.config.kl_target)
        stats["curr_kl_coeff"] = self.kl_coeff
        self.updates_since_target_sync += 1
        synced = self.updates_since_target_sync >= self.target_network_update_freq
        if synced:
            self.module.sync_target_networks(float(getattr(self.config, "tau", 1.0)))
            self.updates_since_target_sync = 0
        stats["target_network_synced"] = float(synced)

    def _extra_state(self) -> Dict[str, Any]:
        return {"kl_coeff": float(self.kl_coeff), "updates_since_target_sync": int(self.updates_since_target_sync)}

    def _set_extra_state(self, state: Mapping[str, Any]) -> None:
        self.kl_coeff = float(state.get("kl_coeff", self.kl_coeff))
        self.updates_since_target_sync = int(state.get("updates_since_target_sync", 0))
