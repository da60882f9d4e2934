"""PPOLearner: the PPO loss (Schulman et al. 2017) with RLlib 2.x's options.

Read :meth:`PPOLearner.compute_loss` top to bottom: it is the whole algorithm. The
rest is bookkeeping: GAE in :meth:`PPOLearner.postprocess`, the entropy schedule and
KL coefficient in :meth:`PPOLearner.coefficients`, the KL adaptation in
:meth:`PPOLearner.after_update`.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence

import numpy as np

from rlmodule.columns import Columns
from rlmodule.env_runners.fragment import Fragment
from rlmodule.learners.batch import ADVANTAGES, LOSS_MASK, VALUE_TARGETS
from rlmodule.learners.gae import compute_advantages, standardize
from rlmodule.learners.learner import Learner, Tensor
from rlmodule.learners.schedules import Schedule
from rlmodule.rl_module import DEFAULT_MODULE_ID, RLModule

# RLlib's explained_variance adds this to Var[y].
_SMALL_NUMBER = 1e-6


class PPOLearner(Learner):
    """PPO for one module (torch or tf2, the backend follows ``module.framework``).

    Settings (``config``): ``gamma``, ``lambda_``, ``use_gae``, ``use_critic``,
    ``clip_param``, ``vf_clip_param``, ``vf_loss_coeff``, ``entropy_coeff`` (and
    ``entropy_coeff_schedule``), ``kl_coeff``, ``kl_target``, ``use_kl_loss`` (default
    True), plus the :class:`Learner` ones.

    Stats of :meth:`update`: ``total_loss``, ``policy_loss``, ``vf_loss`` (clipped, as
    optimised), ``vf_loss_unclipped``, ``vf_explained_var``, ``entropy``,
    ``mean_kl_loss``, ``grad_norm`` (before clipping), ``curr_lr``,
    ``curr_entropy_coeff``, ``curr_kl_coeff`` (after adaptation), ``num_steps_trained``,
    ``num_minibatches``.
    """

    def __init__(self, module: RLModule, config: Any, module_id: str = DEFAULT_MODULE_ID) -> None:
        self.use_critic = bool(getattr(config, "use_critic", True))
        self.use_gae = bool(getattr(config, "use_gae", True))
        self.use_kl_loss = bool(getattr(config, "use_kl_loss", True))
        if self.use_gae and not self.use_critic:
            raise ValueError("PPO: use_gae=True needs use_critic=True (GAE needs a value function); set use_gae=False")
        self.kl_coeff = float(config.kl_coeff)
        self.entropy_coeff_schedule = Schedule(
            config.entropy_coeff, getattr(config, "entropy_coeff_schedule", None), "entropy_coeff_schedule"
        )
        super().__init__(module, config, module_id)

    # --- data ------------------------------------------------------------------------------
    def postprocess(self, fragments: Sequence[Fragment]) -> Dict[str, np.ndarray]:
        """GAE (or discounted returns) per fragment; advantages standardised over the update."""
        c = self.config
        advantages, value_targets = compute_advantages(
            fragments, c.gamma, c.lambda_, use_gae=self.use_gae, use_critic=self.use_critic
        )
        return {ADVANTAGES: standardize(advantages), VALUE_TARGETS: value_targets}

    def coefficients(self, timestep: int) -> Dict[str, float]:
        return {
            "entropy_coeff": self.entropy_coeff_schedule.value(timestep),
            "kl_coeff": self.kl_coeff,
        }

    # --- the loss ---------------------------------------------------------------------------
    def compute_loss(self, ops: Any, batch: Mapping[str, Tensor], fwd_out: Mapping[str, Tensor], coeffs: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """PPO's loss on one minibatch of ``n`` steps (``[n]`` columns; ``loss_mask``
        ``[n]`` marks valid steps of recurrent batches and every mean below skips the rest).

        ``L = -E[min(r A, clip(r, 1-eps, 1+eps) A)]                   (policy_loss)
             + vf_loss_coeff * E[min((V - V_target)^2, vf_clip_param)]  (vf_loss)
             - entropy_coeff * E[H(pi)]                                  (entropy)
             + kl_coeff * E[KL(pi_old || pi)]                            (mean_kl_loss)``
        with ``r = pi(a|s) / pi_old(a|s)``.
        """
        c = self.config
        mask = batch.get(LOSS_MASK)

        def mean(x: Tensor) -> Tensor:
            return ops.mean(x, mask)

        pi = self.action_distribution(ops, fwd_out)
        advantages = batch[ADVANTAGES]

        # Clipped surrogate objective.
        logp = pi.logp(batch[Columns.ACTIONS])
        logp_ratio = ops.exp(logp - batch[Columns.ACTION_LOGP])
        surrogate = ops.minimum(
            advantages * logp_ratio,
            advantages * ops.clip(logp_ratio, 1.0 - c.clip_param, 1.0 + c.clip_param),
        )
        policy_loss = -mean(surrogate)

        # Value function loss: the squared error clamped at vf_clip_param (RLlib 2.x).
        if self.use_critic:
            if Columns.VF_PREDS not in fwd_out:
                raise KeyError(
                    f"module {self.module_id!r} ({type(self.module).__name__}): forward_train returned no "
                    f"{Columns.VF_PREDS!r} (keys: {sorted(fwd_out)}); PPO's critic needs it. Return value "
                    "predictions, or train without a critic: .training(use_critic=False, use_gae=False)"
                )
            values = fwd_out[Columns.VF_PREDS]
            vf_error = ops.square(values - batch[VALUE_TARGETS])
            vf_error_clipped = vf_error if c.vf_clip_param is None else ops.clip(vf_error, 0.0, c.vf_clip_param)
            vf_loss = mean(vf_error_clipped)
            vf_loss_unclipped = mean(vf_error)
            vf_explained_var = explained_variance(ops, batch[VALUE_TARGETS], values, mask)
        else:
            vf_loss = vf_loss_unclipped = vf_explained_var = ops.zeros_like(policy_loss)

        # Entropy bonus.
        entropy = mean(self._entropy(pi, logp))

        # KL(pi_old || pi), penalised with the adaptive coefficient.
        if self.use_kl_loss:
            mean_kl_loss = mean(self._kl(ops, pi, batch, logp_ratio))
        else:
            mean_kl_loss = ops.zeros_like(policy_loss)

        total_loss = policy_loss + c.vf_loss_coeff * vf_loss - coeffs["entropy_coeff"] * entropy
        if self.use_kl_loss:
            total_loss = total_loss + coeffs["kl_coeff"] * mean_kl_loss
        return {
            "policy_loss": policy_loss,
            "vf_loss": vf_loss,
            "entropy": entropy,
            "mean_kl_loss": mean_kl_loss,
            "total_loss": total_loss,
            "vf_loss_unclipped": ops.stop_gradient(vf_loss_unclipped),
            "vf_explained_var": vf_explained_var,
        }

    def _entropy(self, pi: Any, logp: Tensor) -> Tensor:
        """``H(pi)`` per step; ``-log pi(a)`` (a sample estimate) where there is no closed form."""
        try:
            return pi.entropy()
        except NotImplementedError:
            return -logp

    def _kl(self, ops: Any, pi: Any, batch: Mapping[str, Tensor], logp_ratio: Tensor) -> Tensor:
        """``KL(pi_old || pi)`` per step: exact from the acting ``action_dist_inputs``, else
        the unbiased estimate ``(r - 1) - log r`` on the taken actions."""
        pi_old = self.behaviour_distribution(batch, pi)
        if pi_old is not None:
            try:
                return pi_old.kl(pi)
            except NotImplementedError:  # e.g. SquashedGaussian: no closed form
                pass
        return (logp_ratio - 1.0) - ops.log(logp_ratio)

    # --- KL adaptation ---------------------------------------------------------------------
    def after_update(self, stats: Dict[str, float]) -> None:
        """RLlib's rule: ``kl_coeff *= 1.5`` if the mean KL > 2 * kl_target, ``*= 0.5`` if
        < 0.5 * kl_target (mean over the last epoch's minibatches); a NaN KL leaves it."""
        if self.use_kl_loss:
            self.kl_coeff = adapt_kl_coeff(self.kl_coeff, stats.get("mean_kl_loss", float("nan")), self.config.kl_target)
        stats["curr_kl_coeff"] = self.kl_coeff

    def _extra_state(self) -> Dict[str, Any]:
        return {"kl_coeff": float(self.kl_coeff)}

    def _set_extra_state(self, state: Mapping[str, Any]) -> None:
        if "kl_coeff" in state:
            self.kl_coeff = float(state["kl_coeff"])


def adapt_kl_coeff(kl_coeff: float, kl: float, kl_target: float) -> float:
    """RLlib's rule: ``* 1.5`` if ``kl > 2 * kl_target``, ``* 0.5`` if ``kl < 0.5 *
    kl_target``, else unchanged (also for a NaN ``kl``)."""
    if kl > 2.0 * kl_target:
        return kl_coeff * 1.5
    if kl < 0.5 * kl_target:
        return kl_coeff * 0.5
    return kl_coeff


def explained_variance(ops: Any, targets: Tensor, predictions: Tensor, mask: Any = None) -> Tensor:
    """``max(-1, 1 - Var[y - V] / (Var[y] + 1e-6))`` over the valid steps (no gradient)."""
    y, v = ops.stop_gradient(targets), ops.stop_gradient(predictions)
    ev = 1.0 - ops.var(y - v, mask) / (ops.var(y, mask) + _SMALL_NUMBER)
    return ops.maximum(ev, -1.0)
