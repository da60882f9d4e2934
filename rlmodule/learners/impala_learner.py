"""ImpalaLearner: the IMPALA loss (Espeholt et al. 2018) with V-trace targets.

V-trace needs time order, so every module (recurrent or not) trains on ``[B, T]`` rows:
fragments cut into pieces of ``T`` steps (``model["max_seq_len"]`` for recurrent
modules, the config's rollout fragment length otherwise), padded, with ``loss_mask``.
Minibatches are sets of rows. Per minibatch :meth:`ImpalaLearner.compute_loss` runs
``forward_train`` on the rows and computes V-trace from the *current* policy's
log-likelihoods and values, without gradient through the targets.

The value after a row's last valid step (``bootstrap_values``) is prepared once per
update in :meth:`ImpalaLearner.postprocess`: ``V(x_{t+1})`` of the next step for a row
cut inside a fragment, the fragment's ``bootstrap_value`` at its end (``V`` of its
``bootstrap_obs`` with the learner's weights at the start of the update, computed by
``fill_values``; 0 after a termination, whose discount is 0 as well).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from rlmodule.columns import Columns
from rlmodule.env_runners.fragment import Fragment
from rlmodule.learners.batch import LOSS_MASK
from rlmodule.learners.learner import Learner, Tensor
from rlmodule.learners.ppo_learner import explained_variance
from rlmodule.learners.schedules import Schedule
from rlmodule.learners.vtrace import vtrace
from rlmodule.rl_module import DEFAULT_MODULE_ID, RLModule
from rlmodule.tree import map_structure

DISCOUNTS = "discounts"  # [B, T] float32: gamma, 0.0 at a terminating step
BOOTSTRAP_VALUES = "bootstrap_values"  # [B, T] float32: V(x_{t+1}) (read at a row's last valid step)
VALID = "valid"  # [B, T] float32: 1.0 at valid steps, 0.0 at padding (loss_mask as a float)


class ImpalaLearner(Learner):
    """IMPALA for one module (torch or tf2, the backend follows ``module.framework``).

    Settings (``config``): ``gamma``, ``vtrace_clip_rho_threshold``,
    ``vtrace_clip_pg_rho_threshold``, ``vf_loss_coeff``, ``entropy_coeff`` (and
    optional ``entropy_coeff_schedule``), ``rollout_fragment_length`` (row length of
    feed-forward modules), plus the :class:`Learner` ones.

    Stats of :meth:`update`: ``total_loss``, ``policy_loss``, ``vf_loss``, ``entropy``,
    ``vf_explained_var``, ``mean_vtrace_target``, ``grad_norm``, ``curr_lr``,
    ``curr_entropy_coeff``, ``num_steps_trained``, ``num_minibatches``.
    """

    def __init__(self, module: RLModule, config: Any, module_id: str = DEFAULT_MODULE_ID) -> None:
        if not getattr(config, "vtrace", True):
            raise ValueError("IMPALA/APPO: vtrace=False is not supported (as in RLlib's new API stack); set vtrace=True")
        self.entropy_coeff_schedule = Schedule(
            config.entropy_coeff, getattr(config, "entropy_coeff_schedule", None), "entropy_coeff_schedule"
        )
        super().__init__(module, config, module_id)
        if not self.stateful:
            self.max_seq_len = _fragment_length(config)

    # --- data ------------------------------------------------------------------------------
    def own_fragments(self, fragments: Sequence[Fragment]) -> List[Fragment]:
        """This module's fragments; a feed-forward module's get an empty ``state_in`` (as
        shallow copies) so the batch is cut into ``[B, T]`` rows like a recurrent one's."""
        own = super().own_fragments(fragments)
        if self.stateful:
            return own
        return [f if f.state_in is not None else dataclasses.replace(f, state_in={}) for f in own]

    def postprocess(self, fragments: Sequence[Fragment]) -> Dict[str, np.ndarray]:
        """Flat ``[N]`` columns: ``rewards``, ``discounts`` (``gamma``; 0 at the last step
        of a terminated fragment), ``bootstrap_values`` (``V(x_{t+1})``: the next step's
        ``vf_preds`` inside a fragment, ``bootstrap_value`` at its end) and ``valid``."""
        gamma = float(self.config.gamma)
        rewards, discounts, bootstrap = [], [], []
        for f in fragments:
            n = len(f)
            rewards.append(np.asarray(f.rewards, np.float32).reshape(n))
            d = np.full(n, gamma, np.float32)
            if f.terminated and n:
                d[-1] = 0.0
            discounts.append(d)
            vf = np.asarray(f.vf_preds, np.float32).reshape(n)
            bootstrap.append(np.append(vf[1:], np.float32(0.0 if f.terminated else f.bootstrap_value)))
        n_total = sum(len(f) for f in fragments)
        return {
            Columns.REWARDS: np.concatenate(rewards),
            DISCOUNTS: np.concatenate(discounts),
            BOOTSTRAP_VALUES: np.concatenate(bootstrap).astype(np.float32),
            VALID: np.ones(n_total, np.float32),
        }

    def coefficients(self, timestep: int) -> Dict[str, float]:
        return {"entropy_coeff": self.entropy_coeff_schedule.value(timestep)}

    def minibatch_loss(self, ops: Any, inputs: Mapping[str, Any], targets: Mapping[str, Any], rows: Tensor, coeffs: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Gather ``rows``, run ``forward_train`` on them and return :meth:`compute_loss`'s
        terms on ``[b, T, ...]`` columns (V-trace runs along ``T``). A feed-forward module
        gets ``obs`` flattened to ``[b * T, ...]`` (its input spec has no time axis);
        its per-step outputs are split back to ``[b, T, ...]``."""
        take = lambda x: ops.gather(x, rows)  # noqa: E731
        targets = map_structure(take, dict(targets))
        if self.stateful:
            fwd_out = self.module.forward_train(map_structure(take, dict(inputs)))
        else:
            obs = map_structure(lambda x: ops.flatten_time(take(x)), inputs[Columns.OBS])
            flat_out = self.module.forward_train({Columns.OBS: obs})
            fwd_out = {k: ops.split_time(v, self.max_seq_len) for k, v in flat_out.items() if hasattr(v, "shape")}
        return self.compute_loss(ops, targets, fwd_out, coeffs)

    # --- the loss ---------------------------------------------------------------------------
    def compute_loss(self, ops: Any, batch: Mapping[str, Tensor], fwd_out: Mapping[str, Tensor], coeffs: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """IMPALA's loss on ``b`` rows of ``T`` steps (``[b, T]`` columns; means over the
        valid steps, where RLlib sums):

        ``L = -E[log pi(a_s|x_s) * A_s]                      (policy_loss)
             + vf_loss_coeff * 0.5 * E[(V(x_s) - v_s)^2]     (vf_loss)
             - entropy_coeff * E[H(pi(.|x_s))]               (entropy)``
        with ``v_s`` and ``A_s = rho_s (r_s + gamma v_{s+1} - V(x_s))`` from V-trace on
        the current policy and values (constants of the loss).
        """
        pi, logp, values = self.current_policy_and_values(ops, batch, fwd_out)
        vs, pg_advantages = self.vtrace_targets(ops, batch, ops.stop_gradient(logp), ops.stop_gradient(values))

        def mean(x: Tensor) -> Tensor:
            return ops.mean(x, batch[LOSS_MASK])

        policy_loss = -mean(logp * pg_advantages)
        vf_loss = 0.5 * mean(ops.square(values - vs))
        entropy = mean(pi.entropy())
        total_loss = policy_loss + self.config.vf_loss_coeff * vf_loss - coeffs["entropy_coeff"] * entropy
        return {
            "policy_loss": policy_loss,
            "vf_loss": vf_loss,
            "entropy": entropy,
            "total_loss": total_loss,
            "vf_explained_var": explained_variance(ops, vs, values, batch[LOSS_MASK]),
            "mean_vtrace_target": mean(vs),
        }

    # --- helpers the losses share -------------------------------------------------------
    def current_policy_and_values(self, ops: Any, batch: Mapping[str, Tensor], fwd_out: Mapping[str, Tensor]) -> Tuple[Any, Tensor, Tensor]:
        """``(pi, log pi(a|x) [b, T], V(x) [b, T])`` of the current weights."""
        for key in (Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS):
            if key not in fwd_out:
                raise KeyError(
                    f"module {self.module_id!r} ({type(self.module).__name__}): forward_train returned no "
                    f"{key!r} (keys: {sorted(fwd_out)}); IMPALA/APPO need action_dist_inputs [B, T, D] "
                    "and vf_preds [B, T]"
                )
        pi = self.module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        return pi, pi.logp(batch[Columns.ACTIONS]), fwd_out[Columns.VF_PREDS]

    def vtrace_targets(self, ops: Any, batch: Mapping[str, Tensor], target_logp: Tensor, values: Tensor) -> Tuple[Tensor, Tensor]:
        """V-trace ``(vs, pg_advantages)`` ``[b, T]`` of ``target_logp`` against the
        behaviour policy's ``action_logp`` (pass both without gradient)."""
        c = self.config
        return vtrace(
            ops,
            behaviour_logp=batch[Columns.ACTION_LOGP],
            target_logp=target_logp,
            rewards=batch[Columns.REWARDS],
            values=values,
            bootstrap_values=batch[BOOTSTRAP_VALUES],
            discounts=batch[DISCOUNTS],
            mask=batch[VALID],
            clip_rho_threshold=getattr(c, "vtrace_clip_rho_threshold", 1.0),
            clip_pg_rho_threshold=getattr(c, "vtrace_clip_pg_rho_threshold", 1.0),
        )


def _fragment_length(config: Any) -> int:
    """Row length ``T`` for feed-forward modules: the config's rollout fragment length."""
    get = getattr(config, "get_rollout_fragment_length", None)
    length = get() if get is not None else getattr(config, "rollout_fragment_length", None)
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"IMPALA/APPO: rollout_fragment_length must be an int >= 1 for the [B, T] rows, got {length!r}")
    return int(length)
