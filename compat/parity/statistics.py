"""The ``sampled_actions`` quantity of a parity check: a two-sample test of action draws.

``k = action_samples`` draws per observation (and step) are
taken from each side, both from one torch stream seeded with ``seed`` (so the two
samples are independent and the result is reproducible). Its false-failure
probability - the chance that two identical distributions fail it - is at most
``alpha`` (default 1e-6), split evenly between the discrete and the continuous parts of
the action space when both exist:

* discrete components (integer actions; each dimension of a MultiDiscrete /
  MultiBinary on its own), a third of the budget for each of three tests over the
  ``M`` cells (observation x component): (1) per cell, the total-variation distance
  ``TV`` of the two empirical distributions; with ``n`` categories ``E[TV] <=
  sqrt((n-1)/(2k))`` and by McDiarmid's inequality ``P(TV >= E[TV] + t) <= exp(-k t^2)``,
  so a cell fails above ``sqrt((n-1)/(2k)) + sqrt(ln(3M/a)/k)`` (Bonferroni); (2) the
  mean TV over all cells against ``mean sqrt((n-1)/(2k)) + sqrt(ln(3/a)/(k R))`` (``R``
  observations); (3) the pooled two-sample chi-square ``sum (c_l - c_c)^2 / (c_l + c_c)``
  against the chi-square quantile (its degrees of freedom: the categories seen per cell
  minus one; each term has variance <= 2, so the quantile is conservative). (1) and (2)
  are exact bounds; (3) detects small shifts spread over many observations.
* continuous components: per observation and dimension, Welch's z for the sample
  means and a z for the log ratio of the sample variances (its variance estimated
  from the pooled kurtosis, ``2(kappa - 1)/k``); fail if any ``|z|`` exceeds the
  two-sided Bonferroni bound for ``a / (4M)`` (a Student-t quantile, Cornish-Fisher).
  This part relies on the normal approximation, close for ``k >= 1000``.

With the defaults (256 observations, 1000 draws) a Discrete(2) policy fails when one
observation's action probabilities differ by ~0.16, or logits shift by ~0.1-0.2 on
average over the observations; a Gaussian policy when one mean moves by ~0.27 std or
one std by ~20%.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch

from compat.parity.report import QuantityResult


def _space_leaves(space: gym.Space) -> List[gym.Space]:
    if isinstance(space, gym.spaces.Dict):
        return [leaf for k in sorted(space.spaces) for leaf in _space_leaves(space.spaces[k])]
    if isinstance(space, gym.spaces.Tuple):
        return [leaf for s in space.spaces for leaf in _space_leaves(s)]
    return [space]


def _ndtri_upper(p: float) -> float:
    """z with P(Z > z) = p for a standard normal."""
    return float(-torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def sampled_actions_test(
    legacy_draws: List[List[np.ndarray]],
    candidate_draws: List[List[np.ndarray]],
    action_space: gym.Space,
    k: int,
    alpha: float,
) -> QuantityResult:
    """The two-sample test (see the module docstring). ``*_draws``: per leaf, per step
    ``[k, N, ...]``."""
    space_leaves = _space_leaves(action_space)
    if len(space_leaves) != len(legacy_draws):
        space_leaves = [None] * len(legacy_draws)
    disc: List[Tuple[np.ndarray, np.ndarray, int]] = []  # ([k, R, C] legacy, candidate, categories per C)
    cont: List[Tuple[np.ndarray, np.ndarray]] = []
    n = t = 0
    for leaf_l, leaf_c, sub in zip(legacy_draws, candidate_draws, space_leaves):
        x = np.stack(leaf_l, axis=2)  # [k, N, T, ...]
        y = np.stack(leaf_c, axis=2)
        if x.shape != y.shape:
            return QuantityResult(math.inf, math.inf, None, False, f"sample shapes differ: {list(x.shape)} vs {list(y.shape)}")
        _, n, t = x.shape[:3]
        x = x.reshape(k, n * t, -1)
        y = y.reshape(k, n * t, -1)
        if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
            cats = _categories(sub, x.shape[-1])
            disc += [(x[..., c], y[..., c], cats[c]) for c in range(x.shape[-1])]
        else:
            cont.append((x.astype(np.float64), y.astype(np.float64)))
    rows = n * t
    families = int(bool(disc)) + int(bool(cont))
    a_family = alpha / max(families, 1)
    ratios = np.zeros(rows)  # per row: the worst statistic / threshold
    max_abs = 0.0
    notes: List[str] = []
    statistic = threshold = None
    ok = True

    if disc:
        # a third of the budget each: per-cell TV (exact), mean TV (exact), pooled chi-square
        a_test = a_family / 3
        m = rows * len(disc)
        tv = np.zeros((rows, len(disc)))
        expect = np.zeros(len(disc))
        chi2 = 0.0
        dof = 0
        for j, (x, y, cats) in enumerate(disc):
            cl, cc = _counts(x, y, rows)
            tv[:, j] = 0.5 * np.abs(cl - cc).sum(axis=1) / k
            expect[j] = math.sqrt((max(cats, cl.shape[1]) - 1) / (2 * k))
            total = cl + cc
            with np.errstate(invalid="ignore", divide="ignore"):
                chi2 += float(np.where(total > 0, (cl - cc) ** 2 / np.where(total > 0, total, 1), 0.0).sum())
            dof += int(((total > 0).sum(axis=1) - 1).sum())
        cell_bound = expect[None] + math.sqrt(math.log(m / a_test) / k)
        mean_tv = float(tv.mean())
        mean_bound = float(expect.mean() + math.sqrt(math.log(1 / a_test) / (k * rows)))
        ratios = np.maximum(ratios, (tv / cell_bound).max(axis=1))
        max_abs = max(max_abs, float(tv.max()))
        # Conditional on the per-category totals each term has mean (2k-1)/(2k) per degree
        # of freedom and variance <= 2: the chi-square(dof) quantile is conservative.
        chi2 *= (2 * k - 1) / (2 * k)
        chi2_bound = _chi2_upper(dof, a_test) if dof > 0 else math.inf
        ok &= bool((tv <= cell_bound).all()) and mean_tv <= mean_bound and chi2 <= chi2_bound
        global_ratio = max(mean_tv / mean_bound, chi2 / chi2_bound if dof > 0 else 0.0)
        statistic, threshold = chi2, chi2_bound
        notes.append(
            f"discrete: chi-square {chi2:.1f} on {dof} dof (bound {chi2_bound:.1f}), mean TV {mean_tv:.4f} "
            f"(bound {mean_bound:.4f}), max TV {tv.max():.4f} (bound {cell_bound.min():.4f})"
        )
    if cont:
        zs, diffs = [], []
        for x, y in cont:
            mx, my = x.mean(0), y.mean(0)
            vx, vy = x.var(0, ddof=1), y.var(0, ddof=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                z_mean = _safe_ratio(mx - my, np.sqrt((vx + vy) / k))
                dx, dy = x - mx, y - my
                m2 = 0.5 * ((dx**2).mean(0) + (dy**2).mean(0))
                m4 = 0.5 * ((dx**4).mean(0) + (dy**4).mean(0))
                kappa = np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2, 3.0)
                se = np.sqrt(np.maximum(2.0 * (kappa - 1.0), 1e-3) / k)
                both_zero = (vx == 0) & (vy == 0)
                log_ratio = np.where(both_zero, 0.0, np.log(vx) - np.log(vy))
                z_std = _safe_ratio(np.where(np.isnan(log_ratio), np.inf, log_ratio), se)
            zs.append(np.maximum(np.abs(z_mean), np.abs(z_std)))  # [R, C]
            diffs.append(np.maximum(np.abs(mx - my), np.abs(np.sqrt(vx) - np.sqrt(vy))))
        z = np.concatenate(zs, axis=1)
        m = z.size
        z_crit = _t_upper(a_family / (4 * m), 2 * k - 2)  # two-sided, Bonferroni over 2m tests
        ratios = np.maximum(ratios, z.max(axis=1) / z_crit)
        max_abs = max(max_abs, float(np.concatenate(diffs, axis=1).max()))
        c_ok = bool((z <= z_crit).all())
        ok &= c_ok
        if statistic is None:
            statistic, threshold = float(z.max()), z_crit
        notes.append(f"continuous: max |z| {z.max():.2f} (bound {z_crit:.2f})")
    worst_row = int(np.argmax(ratios))
    max_rel = float(ratios.max())
    if disc:
        max_rel = max(max_rel, global_ratio)
    note = f"k={k} draws per observation, alpha={alpha:g}; " + "; ".join(notes)
    return QuantityResult(
        max_abs=max_abs,
        max_rel=max_rel,
        worst_index=worst_row // t,
        ok=bool(ok),
        note=note,
        worst_step=worst_row % t if t > 1 else None,
        statistic=statistic,
        threshold=threshold,
    )


def _counts(x: np.ndarray, y: np.ndarray, rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per row the counts of each value among ``x`` and ``y`` (``[k, rows]`` integers)."""
    both = np.concatenate([x, y], axis=0).astype(np.int64)
    lo, hi = int(both.min()), int(both.max())
    if hi - lo < 4096:
        codes, ncat = both - lo, hi - lo + 1
    else:
        values, codes = np.unique(both, return_inverse=True)
        codes, ncat = codes.reshape(both.shape), len(values)
    idx = codes + np.arange(rows)[None] * ncat
    k = x.shape[0]
    cl = np.bincount(idx[:k].ravel(), minlength=rows * ncat).reshape(rows, ncat)
    cc = np.bincount(idx[k:].ravel(), minlength=rows * ncat).reshape(rows, ncat)
    return cl, cc


def _t_upper(p: float, dof: int) -> float:
    """The upper-``p`` quantile of Student's t(``dof``) (Cornish-Fisher from the normal's)."""
    z = _ndtri_upper(p)
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


def _chi2_upper(dof: int, p: float) -> float:
    """The upper-``p`` quantile of chi-square(``dof``) (Wilson-Hilferty)."""
    z = _ndtri_upper(p)
    c = 2.0 / (9.0 * dof)
    return dof * (1.0 - c + z * math.sqrt(c)) ** 3


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(num == 0, 0.0, np.abs(num) / den)
    return np.where(np.isnan(r), np.inf, r)


def _categories(space: Optional[gym.Space], components: int) -> List[int]:
    if isinstance(space, gym.spaces.Discrete):
        return [int(space.n)] * components
    if isinstance(space, gym.spaces.MultiDiscrete):
        nvec = [int(v) for v in np.asarray(space.nvec).reshape(-1)]
        if len(nvec) == components:
            return nvec
    if isinstance(space, gym.spaces.MultiBinary):
        return [2] * components
    return [1] * components  # unknown: the observed number of values is used


# --------------------------------------------------------------------------------------
# The check
