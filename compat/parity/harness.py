"""The parity check: run both sides on the same observations and compare each quantity
(see :mod:`compat.parity` for the list)."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from compat.parity.comparison import compare, merge, state_rows
from compat.parity.observations import as_numpy, batch_size, leaves, observation_steps
from compat.parity.report import QUANTITY_ORDER, ParityReport, QuantityResult
from compat.parity.sides import Side
from compat.parity.statistics import sampled_actions_test
from compat.preprocessing import is_preprocessed, preprocess_obs
from rlmodule.columns import Columns
from rlmodule.distribution import Distribution
from rlmodule.tree import map_structure


def _build(dist: Any, inputs: Optional[torch.Tensor]) -> Any:
    return dist.from_logits(inputs) if inputs is not None else dist


def _logp(d: Any, actions: Any) -> torch.Tensor:
    if isinstance(d, Distribution):
        lp = d.logp(actions)
    else:
        lp = d.log_prob(actions)
        n = batch_size(actions)
        lp = lp.reshape(n, -1).sum(-1)
    return lp


def _sample_k(dist: Any, inputs: Optional[torch.Tensor], k: int) -> Any:
    """``k`` draws per row: a structure of ``[k, N, ...]``."""
    if inputs is not None:
        n = inputs.shape[0]
        expanded = inputs.unsqueeze(0).expand((k,) + tuple(inputs.shape)).reshape((k * n,) + tuple(inputs.shape[1:]))
        samples = dist.from_logits(expanded).sample()
        return map_structure(lambda x: x.reshape((k, n) + tuple(x.shape[1:])), samples)
    if isinstance(dist, Distribution):
        return dist.sample(sample_shape=(k,))
    return dist.sample((k,))


def check(
    legacy: Any,
    candidate: Any,
    *,
    observations: Any = None,
    num_samples: int = 256,
    seed: int = 0,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    steps: int = 1,
    action_samples: int = 1000,
    alpha: float = 1e-6,
) -> ParityReport:
    """Compare ``legacy`` and ``candidate`` on the same observations (see :mod:`compat.parity` for the
    quantities and :mod:`compat.parity.statistics` for the sampled-actions test).

    Args:
        legacy, candidate: a legacy policy, a legacy torch ModelV2, a torch RLModule
            or an RLModulePolicy each.
        observations: raw observations, batch-first (``[N, ...]``, or ``[N, steps, ...]``
            for recurrent sides); default: ``num_samples`` sampled with ``seed``.
        atol, rtol: elementwise tolerance ``atol + rtol * |legacy|``.
        steps: rollout length for recurrent sides (ignored for feed-forward ones).
        action_samples: draws per observation for ``sampled_actions``.
        alpha: false-failure probability of ``sampled_actions``.

    Raises:
        TypeError: a side of an unsupported type (named in the message).
        ValueError: the sides' observation or action spaces differ, one side is
            recurrent and the other not, or the observations do not fit the space.
    """
    if steps < 1:
        raise ValueError(f"check(): steps must be >= 1, got {steps}")
    if action_samples < 2:
        raise ValueError(f"check(): action_samples must be >= 2, got {action_samples}")
    sides = [Side("legacy", legacy), Side("candidate", candidate)]
    L, C = sides
    for attr, what in (("observation_space", "observation spaces"), ("action_space", "action spaces")):
        if getattr(L, attr) != getattr(C, attr):
            raise ValueError(
                f"check(): the {what} differ: legacy {getattr(L, attr)} vs candidate {getattr(C, attr)}"
            )
    if L.stateful != C.stateful:
        which = "legacy" if L.stateful else "candidate"
        raise ValueError(
            f"check(): {which} is recurrent (stateful) but the other side is not; they cannot agree step by step"
        )
    steps = steps if L.stateful else 1
    obs_steps, n = observation_steps(observations, L.observation_space, num_samples, seed, steps, L.stateful)

    q: Dict[str, QuantityResult] = {}
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        explore = [s.rollout(obs_steps, "exploration") for s in sides]
        infer = [s.rollout(obs_steps, "inference") for s in sides]

        # forward_exploration outputs
        for key in (Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS):
            lacking = [s.role for s, outs in zip(sides, explore) if key not in outs[0]]
            if lacking:
                q[key] = QuantityResult.skip(f"not produced by {' and '.join(lacking)}")
            else:
                q[key] = compare(
                    [o[key] for o in explore[0]], [o[key] for o in explore[1]], atol, rtol, "forward_exploration"
                )

        # deterministic actions (forward_inference)
        det: List[List[Any]] = [[], []]
        why = ""
        for i, s in enumerate(sides):
            for out in infer[i]:
                a, why_i = s.deterministic_actions(out)
                if a is None:
                    det[i] = []
                    why = why_i
                    break
                det[i].append(a)
        if det[0] and det[1]:
            q["deterministic_actions"] = compare(det[0], det[1], atol, rtol, "forward_inference, to_deterministic()")
        else:
            q["deterministic_actions"] = QuantityResult.skip(why)

        # exploration distributions per step
        dists: List[List[Tuple[Any, Optional[torch.Tensor]]]] = [[], []]
        why = ""
        for i, s in enumerate(sides):
            for out in explore[i]:
                d, inputs, why_i = s.dist(out, explore=True)
                if d is None:
                    dists[i] = []
                    why = why_i
                    break
                dists[i].append((d, inputs))
        have_dists = bool(dists[0] and dists[1])

        # logp of actions sampled on the legacy side
        if have_dists:
            torch.manual_seed(seed)
            lp_l, lp_c = [], []
            try:
                for (dl, il), (dc, ic) in zip(dists[0], dists[1]):
                    legacy_dist = _build(dl, il)
                    actions = legacy_dist.sample()
                    lp_l.append(_logp(legacy_dist, actions))
                    lp_c.append(_logp(_build(dc, ic), actions))
                q["logp"] = compare(lp_l, lp_c, atol, rtol, "of actions sampled from the legacy distribution")
            except Exception as e:  # e.g. actions the candidate's distribution cannot score
                q["logp"] = QuantityResult(math.inf, math.inf, None, False, f"candidate cannot score legacy actions: {type(e).__name__}: {e}")
        else:
            q["logp"] = QuantityResult.skip(why)

        # sampled actions: a two-sample test
        if have_dists:
            torch.manual_seed(seed)
            draws: List[List[List[np.ndarray]]] = []
            for i in range(2):
                per_step = [leaves(_sample_k(d, inputs, action_samples)) for d, inputs in dists[i]]
                draws.append([[as_numpy(step[j]) for step in per_step] for j in range(len(per_step[0]))])
            if len(draws[0]) != len(draws[1]):
                q["sampled_actions"] = QuantityResult(math.inf, math.inf, None, False, "action structures differ")
            else:
                q["sampled_actions"] = sampled_actions_test(draws[0], draws[1], L.action_space, action_samples, alpha)
        else:
            q["sampled_actions"] = QuantityResult.skip(why)

        # carried state
        if L.stateful:
            rows = [[state_rows(o[Columns.STATE_OUT]) for o in outs] for outs in explore]
            q["state_out"] = compare(rows[0], rows[1], atol, rtol, "after each step (leaves flattened in order)")

        # legacy policies: their own compute_actions against their wrapped model
        for i, s in enumerate(sides):
            if s.policy is not None:
                q[f"{s.role}.compute_actions"] = _policy_check(s, obs_steps, explore[i], det[i], atol, rtol)

    quantities = {name: q[name] for name in QUANTITY_ORDER if name in q}
    return ParityReport(
        ok=all(r.ok for r in quantities.values()),
        quantities=quantities,
        legacy=L.description,
        candidate=C.description,
        num_observations=n,
        steps=steps,
        seed=seed,
        atol=atol,
        rtol=rtol,
    )


def _policy_check(
    side: Side, obs_steps: Sequence[Any], explore: Sequence[Mapping[str, Any]], det: Sequence[Any],
    atol: float, rtol: float,
) -> QuantityResult:
    """The legacy policy's ``compute_actions(explore=False)`` on legacy-preprocessed
    observations against its wrapped model (and, recurrent, the carried state)."""
    policy, space = side.policy, side.observation_space
    n = batch_size(obs_steps[0])
    state = [np.repeat(np.asarray(s)[None], n, axis=0) for s in policy.get_initial_state()] if side.stateful else None
    actions, dist_inputs, values, states = [], [], [], []
    for obs in obs_steps:
        flat = as_numpy(preprocess_obs(obs, space, batch_dims=1)) if is_preprocessed(space) else as_numpy(obs)
        a, state_out, extra = policy.compute_actions(flat, state_batches=state, explore=False)
        actions.append(a)
        dist_inputs.append(extra.get(Columns.ACTION_DIST_INPUTS))
        values.append(extra.get(Columns.VF_PREDS))
        if side.stateful:
            state = list(state_out)
            states.append(state_rows(state_out))
    parts: Dict[str, QuantityResult] = {}
    if det:
        parts["actions"] = compare(actions, det, atol, rtol)
    for key, got in ((Columns.ACTION_DIST_INPUTS, dist_inputs), (Columns.VF_PREDS, values)):
        if all(g is not None for g in got) and key in explore[0]:
            parts[key] = compare(got, [o[key] for o in explore], atol, rtol)
    if side.stateful:
        parts["state_out"] = compare(states, [state_rows(o[Columns.STATE_OUT]) for o in explore], atol, rtol)
    return merge(parts, "compute_actions(explore=False) vs the wrapped model")
