"""Advantages and value targets per Fragment (numpy, float64 inside, float32 out).

For one fragment of ``L`` steps with rewards ``r[t]``, value predictions ``V[t]`` and
``V[L] = bootstrap_value`` (0 when the fragment ended by termination):

* GAE (``use_gae=True``): ``delta[t] = r[t] + gamma * V[t+1] - V[t]``,
  ``A[t] = delta[t] + gamma * lambda_ * A[t+1]`` (``A[L] = 0``), value target ``A + V``.
* plain returns (``use_gae=False``): ``R[t] = r[t] + gamma * R[t+1]`` (``R[L] = V[L]``),
  advantage ``R - V`` (``R`` alone without a critic), value target ``R``.

Without a critic (``use_critic=False``) ``V`` and the bootstrap value count as 0.

All fragments are processed together: the discounted reverse sums run one loop over
time with numpy operations across fragments (fragments grouped by length so padding
stays below 2x the data).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from rlmodule.env_runners.fragment import Fragment


def discounted_reverse_cumsum(flat: np.ndarray, lengths: Sequence[int], discount: float) -> np.ndarray:
    """``y[t] = x[t] + discount * y[t+1]`` within each segment of ``flat``.

    :param flat: ``[N]`` values, the segments laid end to end.
    :param lengths: segment lengths (``sum(lengths) == N``).
    :return: ``[N]`` float64.
    """
    x = np.asarray(flat, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.empty_like(x)
    if x.size == 0:
        return out
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # Group segments whose lengths share a power of two: each group is a matrix with the
    # segments aligned at their *end*, so one backward loop over columns needs no resets.
    groups = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for g in np.unique(groups[lengths > 0]):
        idx = np.nonzero((groups == g) & (lengths > 0))[0]
        lens, starts = lengths[idx], offsets[idx]
        width = int(lens.max())
        col = np.arange(width)
        valid = col[None, :] >= (width - lens)[:, None]  # [S, width], end-aligned
        src = starts[:, None] + (col[None, :] - (width - lens)[:, None])  # flat index per cell
        mat = np.zeros((len(idx), width))
        mat[valid] = x[src[valid]]
        acc = np.zeros(len(idx))
        for t in range(width - 1, -1, -1):
            acc = mat[:, t] + discount * acc
            mat[:, t] = acc
        out[src[valid]] = mat[valid]
    return out


def compute_advantages(
    fragments: Sequence[Fragment],
    gamma: float,
    lambda_: float,
    use_gae: bool = True,
    use_critic: bool = True,
) -> Tuple[np.ndarray, np.ndarray]:
    """``(advantages [N], value_targets [N])`` float32 for the fragments laid end to end
    (``N = sum(len(f))``), in fragment order then time order. Not standardised."""
    lengths = np.array([len(f) for f in fragments], dtype=np.int64)
    n = int(lengths.sum())
    rewards = np.concatenate([np.asarray(f.rewards, np.float64).reshape(-1) for f in fragments]) if n else np.zeros(0)
    if use_critic:
        values = np.concatenate([np.asarray(f.vf_preds, np.float64).reshape(-1) for f in fragments]) if n else np.zeros(0)
        bootstrap = np.array([0.0 if f.terminated else float(f.bootstrap_value) for f in fragments])
    else:
        values, bootstrap = np.zeros(n), np.zeros(len(fragments))
    nonempty = lengths > 0
    ends = np.cumsum(lengths)[nonempty] - 1  # flat index of each fragment's last step
    next_values = np.empty(n)
    next_values[:-1] = values[1:]
    next_values[ends] = bootstrap[nonempty]
    if use_gae:
        deltas = rewards + gamma * next_values - values
        advantages = discounted_reverse_cumsum(deltas, lengths, gamma * lambda_)
        value_targets = advantages + values
    else:
        # R[t] = r[t] + gamma R[t+1] with R[L] = V[L]: fold the bootstrap into the last reward.
        last = np.zeros(n)
        last[ends] = gamma * bootstrap[nonempty]
        value_targets = discounted_reverse_cumsum(rewards + last, lengths, gamma)
        advantages = value_targets - values
    return advantages.astype(np.float32), value_targets.astype(np.float32)


def compute_gae(
    rewards: np.ndarray, vf_preds: np.ndarray, bootstrap_value: float, gamma: float, lambda_: float
) -> Tuple[np.ndarray, np.ndarray]:
    """GAE for a single fragment (``[L]`` arrays): ``(advantages [L], value_targets [L])``.
    ``bootstrap_value`` is V after the last step (pass 0 for a terminated episode)."""
    frag = Fragment(
        obs=None, actions=None, rewards=np.asarray(rewards), action_logp=None,
        action_dist_inputs=None, vf_preds=np.asarray(vf_preds), terminated=False,
        truncated=False, bootstrap_value=bootstrap_value,
    )
    return compute_advantages([frag], gamma, lambda_)


def standardize(x: np.ndarray) -> np.ndarray:
    """``(x - mean) / max(1e-4, std)`` as RLlib standardises advantages (float32)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    with np.errstate(invalid="ignore"):  # NaN data stays NaN; the loss check names it
        return ((x - x.mean()) / max(1e-4, float(x.std()))).astype(np.float32)
