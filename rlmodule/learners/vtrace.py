"""V-trace (Espeholt et al. 2018, "IMPALA", section 4.1), batch-major ``[B, T]``.

Each row ``b`` is one time-ordered piece of a trajectory: steps ``0 .. seq_len-1`` are
valid (``mask`` 1.0), the rest padding (``mask`` 0.0). With

* ``rho_t = pi(a_t|x_t) / mu(a_t|x_t)`` (target over behaviour policy),
* ``c_t = min(1, rho_t)``, ``rho_bar_t = min(clip_rho_threshold, rho_t)``,
* ``V(x_{t+1})``: ``values[t+1]`` inside the row, ``bootstrap_values[t]`` at the row's
  last valid step (the value of the state after it; its ``discount`` is 0 when the
  episode terminated there, so the bootstrap then drops out),
* ``delta_t = rho_bar_t * (r_t + gamma_t * V(x_{t+1}) - V(x_t))``,

the targets are ``v_s = V(x_s) + delta_s + gamma_s * c_s * (v_{s+1} - V(x_{s+1}))``
(with ``v_{s+1} - V(x_{s+1}) = 0`` after the row's last valid step) and the policy
gradient advantages ``A_s = min(clip_pg_rho_threshold, rho_s) * (r_s + gamma_s *
v_{s+1} - V(x_s))``. On-policy (``rho = 1``) ``v_s`` is the n-step return bootstrapped at
the row's end (TD(lambda=1)).

The function is written against an ops shim (``ops.exp``, ``ops.clip``,
``ops.stack_time``: the learners' ``TorchOps`` / ``TfOps``, or :class:`NumpyOps`) and loops over the static time axis ``T``; callers
pass values without gradient (the targets are constants of the loss).
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

Tensor = Any


def vtrace(
    ops: Any,
    behaviour_logp: Tensor,
    target_logp: Tensor,
    rewards: Tensor,
    values: Tensor,
    bootstrap_values: Tensor,
    discounts: Tensor,
    mask: Tensor,
    clip_rho_threshold: Optional[float] = 1.0,
    clip_pg_rho_threshold: Optional[float] = 1.0,
) -> Tuple[Tensor, Tensor]:
    """V-trace targets and policy-gradient advantages; every argument is ``[B, T]`` float.

    :param behaviour_logp: ``log mu(a_t|x_t)``, the acting policy's log-likelihood.
    :param target_logp: ``log pi(a_t|x_t)``, the policy being evaluated.
    :param rewards: ``r_t``.
    :param values: ``V(x_t)``.
    :param bootstrap_values: ``V(x_{t+1})`` where step ``t+1`` is not in the row (read at
        each row's last valid step only).
    :param discounts: ``gamma_t``: ``gamma``, or 0.0 where the episode terminated at ``t``.
    :param mask: 1.0 at valid steps, 0.0 at padding.
    :param clip_rho_threshold: ``rho_bar`` (``None``: no clipping).
    :param clip_pg_rho_threshold: the clip of the advantages' ``rho`` (``None``: none).
    :return: ``(vs, pg_advantages)``, both ``[B, T]`` (0 at padding).
    """
    horizon = values.shape[1]
    if horizon is None:
        raise ValueError("vtrace(): the time axis (dim 1) of values must have a static length")
    for name, x in (("behaviour_logp", behaviour_logp), ("target_logp", target_logp), ("rewards", rewards),
                    ("bootstrap_values", bootstrap_values), ("discounts", discounts), ("mask", mask)):
        if tuple(x.shape)[1:] != tuple(values.shape)[1:] or len(x.shape) != 2:
            raise ValueError(f"vtrace(): {name} has shape {tuple(x.shape)}, values {tuple(values.shape)}; both must be [B, T]")
    rhos = ops.exp(target_logp - behaviour_logp)
    clipped_rhos = _clip_above(ops, rhos, clip_rho_threshold)
    clipped_pg_rhos = _clip_above(ops, rhos, clip_pg_rho_threshold)
    cs = ops.clip(rhos, 0.0, 1.0)

    # V(x_{t+1}) per step: the next value inside the row, the bootstrap value at its end.
    next_values: List[Tensor] = []
    for t in range(horizon):
        if t + 1 < horizon:
            following = mask[:, t + 1]
            next_values.append(following * values[:, t + 1] + (1.0 - following) * bootstrap_values[:, t])
        else:
            next_values.append(bootstrap_values[:, t])

    # Backward recursion on vs_t - V(x_t); it is 0 beyond the row's last valid step.
    vs_minus_v: List[Tensor] = [None] * horizon  # type: ignore[list-item]
    acc = 0.0 * values[:, 0]
    for t in range(horizon - 1, -1, -1):
        delta = clipped_rhos[:, t] * (rewards[:, t] + discounts[:, t] * next_values[t] - values[:, t])
        acc = mask[:, t] * (delta + discounts[:, t] * cs[:, t] * acc)
        vs_minus_v[t] = acc
    vs = values + ops.stack_time(vs_minus_v)

    # v_{t+1}: vs inside the row, the bootstrap value at its end.
    vs_next = []
    for t in range(horizon):
        if t + 1 < horizon:
            vs_next.append(next_values[t] + mask[:, t + 1] * vs_minus_v[t + 1])
        else:
            vs_next.append(next_values[t])
    pg_advantages = mask * clipped_pg_rhos * (rewards + discounts * ops.stack_time(vs_next) - values)
    return vs, pg_advantages


def _clip_above(ops: Any, x: Tensor, threshold: Optional[float]) -> Tensor:
    return x if threshold is None else ops.clip(x, 0.0, float(threshold))


class NumpyOps:
    """The ops :func:`vtrace` needs, in numpy (for targets computed outside a loss)."""

    exp = staticmethod(np.exp)

    @staticmethod
    def clip(x: np.ndarray, low: float, high: float) -> np.ndarray:
        return np.clip(x, low, high)

    @staticmethod
    def stack_time(columns: List[np.ndarray]) -> np.ndarray:
        """``T`` arrays ``[B]`` -> ``[B, T]``."""
        return np.stack(columns, axis=1)
