"""Elementwise comparison of the two sides' per-step outputs: the largest absolute and
relative errors and where the pair is furthest from ``|legacy - candidate| <= atol +
rtol * |legacy|``."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from compat.parity.observations import as_numpy, leaves
from compat.parity.report import QuantityResult
from rlmodule.tree import flatten


def _stack_steps(per_step: Sequence[Any]) -> List[np.ndarray]:
    """Per-step structures of ``[N, ...]`` -> leaves ``[N, T, ...]`` (float64)."""
    per_leaf = [leaves(x) for x in per_step]
    return [np.stack([as_numpy(l[i]).astype(np.float64) for l in per_leaf], axis=1) for i in range(len(per_leaf[0]))]


def compare(
    legacy: Sequence[Any], candidate: Sequence[Any], atol: float, rtol: float, what: str = ""
) -> QuantityResult:
    """Compare per-step structures (each a list over steps of ``[N, ...]`` leaves)."""
    a_leaves, b_leaves = _stack_steps(legacy), _stack_steps(candidate)
    if len(a_leaves) != len(b_leaves) or any(a.shape != b.shape for a, b in zip(a_leaves, b_leaves)):
        shapes = lambda ls: [list(x.shape[:1]) + list(x.shape[2:]) for x in ls]  # noqa: E731
        return QuantityResult(
            math.inf, math.inf, None, False,
            f"{what + ': ' if what else ''}shapes differ: legacy {shapes(a_leaves)} vs candidate {shapes(b_leaves)}",
        )
    n, t = a_leaves[0].shape[:2]
    abs_nt = np.zeros((n, t))
    rel_nt = np.zeros((n, t))
    viol_nt = np.zeros((n, t))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for a, b in zip(a_leaves, b_leaves):
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            diff = np.where(same, 0.0, np.abs(a - b))
            diff = np.where(np.isnan(diff), np.inf, diff)
            denom = np.maximum(np.abs(a), np.abs(b))
            rel = np.where(diff == 0, 0.0, diff / denom)
            rel = np.where(np.isnan(rel), np.inf, rel)
            allowed = atol + rtol * np.abs(a)
            viol = np.where(diff == 0, 0.0, diff / allowed)
            viol = np.where(np.isnan(viol), np.inf, viol)
            red = lambda x: x.reshape(n, t, -1).max(axis=-1) if x.size else np.zeros((n, t))  # noqa: E731
            abs_nt = np.maximum(abs_nt, red(diff))
            rel_nt = np.maximum(rel_nt, red(rel))
            viol_nt = np.maximum(viol_nt, red(viol))
    viol_flat, abs_flat = viol_nt.ravel(), abs_nt.ravel()
    ties = np.flatnonzero(viol_flat == viol_flat.max())  # the worst violation; then the largest error
    worst_n, worst_t = divmod(int(ties[np.argmax(abs_flat[ties])]), t)
    ok = bool(np.all(viol_nt <= 1.0))
    return QuantityResult(
        max_abs=float(abs_nt.max()),
        max_rel=float(rel_nt.max()),
        worst_index=int(worst_n),
        ok=ok,
        note=what,
        worst_step=int(worst_t) if t > 1 else None,
        per_step_max_abs=[float(v) for v in abs_nt.max(axis=0)] if t > 1 else None,
    )


def merge(parts: Dict[str, QuantityResult], what: str) -> QuantityResult:
    """One result for several compared parts (the worst part decides)."""
    compared = {k: q for k, q in parts.items() if not q.skipped}
    if not compared:
        return QuantityResult.skip(f"{what}: nothing to compare")
    bad = [k for k, q in compared.items() if not q.ok]
    worst_key = max(compared, key=lambda k: (not compared[k].ok, compared[k].max_abs))
    worst = compared[worst_key]
    steps = [q.per_step_max_abs for q in compared.values() if q.per_step_max_abs]
    notes = "; ".join(f"{k}: {q.note}" for k, q in compared.items() if q.note and not q.ok)
    note = (f"{what} disagrees on {', '.join(bad)}" + (f" ({notes})" if notes else "")) if bad else (
        f"{what}: compared {', '.join(compared)}"
    )
    return QuantityResult(
        max_abs=max(q.max_abs for q in compared.values()),
        max_rel=max(q.max_rel for q in compared.values()),
        worst_index=worst.worst_index,
        ok=not bad,
        note=note,
        worst_step=worst.worst_step,
        per_step_max_abs=[max(v) for v in zip(*steps)] if steps else None,
    )


def state_rows(state: Any) -> torch.Tensor:
    """A state (dict/list of ``[N, ...]``) as ``[N, S]``: leaves flattened in order."""
    # leaves in insertion order: state layouts keep their own order (h before c)
    parts = [torch.as_tensor(as_numpy(x)) if not isinstance(x, torch.Tensor) else x for x in flatten(state, lists=True)]
    return torch.cat([x.reshape(x.shape[0], -1).double().cpu() for x in parts], dim=-1)


# --------------------------------------------------------------------------------------
