"""Parity checks: prove that a migrated model computes what the legacy one did.

:func:`check` runs a legacy side and a candidate side on the same raw observations
and compares, per quantity, the largest absolute and relative error and the
observation where the pair is furthest from passing:

==========================  ==============================================================
``action_dist_inputs``      ``forward_exploration``'s distribution inputs
``vf_preds``                ``forward_exploration``'s values, else ``compute_values()``'s
                            (when both sides produce them)
``deterministic_actions``   ``forward_inference`` -> ``to_deterministic().sample()``
``logp``                    actions sampled from the legacy exploration distribution
                            (``torch.manual_seed(seed)``), their logp on both sides
``sampled_actions``         a two-sample test of ``action_samples`` draws per observation
                            from each side's exploration distribution (see below)
``state_out``               recurrent sides: the carried state after every step
``legacy.compute_actions``  legacy-policy sides: the policy's own
                            ``compute_actions(explore=False)`` against its wrapped model
==========================  ==============================================================

Each side may be a legacy policy (anything with ``compute_actions`` and ``model``; its
model is evaluated through :class:`~compat.ModelV2RLModule`, or, when its class
overrides one of :data:`~compat.legacy_policy_rl_module.POLICY_HOOKS`, the whole policy through
:class:`~compat.LegacyPolicyRLModule`), a legacy torch ModelV2
(``forward`` and ``value_function``), a torch :class:`~rlmodule.RLModule`, or an
:class:`~compat.RLModulePolicy` (its ``module`` is evaluated).

Recurrent sides run a ``steps``-step rollout, each side carrying its own state from
its initial state; every quantity is compared at every step (``worst_step`` and
``per_step_max_abs`` say where). Observations are either given (raw, structured like
the observation space, batch-first: ``[N, ...]`` - the same observations at every
step - or ``[N, steps, ...]``) or ``num_samples`` per step are sampled from a copy of
the observation space seeded with ``seed``.

Pass criterion for the numeric quantities, elementwise: ``|legacy - candidate| <=
atol + rtol * |legacy|``. ``max_rel`` is the symmetric relative error
``|a - b| / max(|a|, |b|)``; ``worst_index`` the observation (row of the given or
sampled batch) whose error is largest relative to what the criterion allows.

The sampled-actions test. ``k = action_samples`` draws per observation (and step) are
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

import copy
import json
import math
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import torch

from compat.legacy_policy_rl_module import LegacyPolicyRLModule, policy_hooks
from compat.modelv2_rl_module import ModelV2RLModule
from compat.preprocessing import is_preprocessed, preprocess_obs
from compat.rl_module_policy import RLModulePolicy
from rlmodule.columns import Columns
from rlmodule.distribution import Distribution
from rlmodule.rl_module import RLModule
from rlmodule.spaces import flatten_structure, sample_obs_batch
from rlmodule.value_function import value_predictions

__all__ = ["ParityReport", "QuantityResult", "check", "QUANTITY_ORDER"]

#: Report order (failing quantities are listed first, each group in this order).
QUANTITY_ORDER = (
    "action_dist_inputs",
    "vf_preds",
    "deterministic_actions",
    "logp",
    "sampled_actions",
    "state_out",
    "legacy.compute_actions",
    "candidate.compute_actions",
)

ROLES = ("legacy", "candidate")


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------
def _enc(x: Any) -> Any:
    """Strict-JSON float: non-finite values as the strings "inf", "-inf", "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, list):
        return [_enc(v) for v in x]
    return x


def _dec(x: Any) -> Any:
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, list):
        return [_dec(v) for v in x]
    return x


@dataclass
class QuantityResult:
    """One compared quantity.

    Attributes:
        max_abs: largest absolute error (``sampled_actions``: largest per-observation
            discrepancy: TV distance or difference of sample means / stds).
        max_rel: largest symmetric relative error ``|a-b| / max(|a|, |b|)``
            (``sampled_actions``: the worst test statistic as a fraction of its
            threshold; it passes at <= 1).
        worst_index: the observation (row of the batch) furthest from passing.
        ok: whether it passed (skipped quantities count as passed).
        note: what was compared, or why it failed or was skipped.
        worst_step: the rollout step of ``worst_index`` (recurrent sides).
        per_step_max_abs: ``max_abs`` at each rollout step (recurrent sides).
        statistic, threshold: the test statistic and its pass bound (``sampled_actions``).
        skipped: True when a side does not produce the quantity.
    """

    max_abs: float
    max_rel: float
    worst_index: Optional[int]
    ok: bool
    note: str = ""
    worst_step: Optional[int] = None
    per_step_max_abs: Optional[List[float]] = None
    statistic: Optional[float] = None
    threshold: Optional[float] = None
    skipped: bool = False

    @classmethod
    def skip(cls, note: str) -> "QuantityResult":
        return cls(0.0, 0.0, None, True, note, skipped=True)

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.ok else "FAIL")

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: _enc(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "QuantityResult":
        return cls(**{f.name: _dec(d[f.name]) for f in fields(cls) if f.name in d})

    def line(self, name: str) -> str:
        text = f"{self.status} {name:<25}"
        if self.skipped:
            return f"{text} {self.note}".rstrip()
        text += f" max_abs={self.max_abs:.3g} max_rel={self.max_rel:.3g}"
        if self.worst_index is not None:
            text += f" worst_index={self.worst_index}"
            if self.worst_step is not None:
                text += f" (step {self.worst_step})"
        if self.statistic is not None:
            text += f" statistic={self.statistic:.4g} (threshold {self.threshold:.4g})"
        return f"{text}  {self.note}".rstrip()


@dataclass
class ParityReport:
    """What :func:`check` found. ``bool(report)`` is ``report.ok``.

    Attributes:
        ok: every compared quantity passed.
        quantities: name -> :class:`QuantityResult`, in :data:`QUANTITY_ORDER`.
        legacy, candidate: descriptions of the two sides.
        num_observations, steps, seed, atol, rtol: how it was run (``steps`` is 1
            for feed-forward sides).
    """

    ok: bool
    quantities: Dict[str, QuantityResult]
    legacy: str = ""
    candidate: str = ""
    num_observations: int = 0
    steps: int = 1
    seed: int = 0
    atol: float = 0.0
    rtol: float = 0.0

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failed(self) -> List[str]:
        """Names of the failing quantities, in report order."""
        return [name for name, q in self.quantities.items() if not q.ok]

    def summary(self) -> str:
        """One header line, then one line per quantity, failing ones first."""
        failed = self.failed
        where = (
            f"{self.num_observations} observations"
            + (f" x {self.steps} steps" if self.steps > 1 else "")
            + f", seed {self.seed}, atol {self.atol:g}, rtol {self.rtol:g}"
        )
        if failed:
            head = f"PARITY FAILED: {', '.join(failed)} diverged ({len(failed)} of {len(self.quantities)} quantities)"
        else:
            head = f"PARITY OK: all {sum(not q.skipped for q in self.quantities.values())} compared quantities agree"
        lines = [head, f"  legacy:    {self.legacy}", f"  candidate: {self.candidate}", f"  on {where}"]
        order = failed + [n for n in self.quantities if n not in failed]
        lines += ["  " + self.quantities[n].line(n) for n in order]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> Dict[str, Any]:
        """Strict-JSON-ready (non-finite floats as "inf" / "nan" strings)."""
        return {
            "ok": self.ok,
            "failed": self.failed,
            "legacy": self.legacy,
            "candidate": self.candidate,
            "num_observations": self.num_observations,
            "steps": self.steps,
            "seed": self.seed,
            "atol": self.atol,
            "rtol": self.rtol,
            "quantities": {n: q.to_dict() for n, q in self.quantities.items()},
        }

    def to_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ParityReport":
        return cls(
            ok=bool(d["ok"]),
            quantities={n: QuantityResult.from_dict(q) for n, q in d["quantities"].items()},
            legacy=d.get("legacy", ""),
            candidate=d.get("candidate", ""),
            num_observations=int(d.get("num_observations", 0)),
            steps=int(d.get("steps", 1)),
            seed=int(d.get("seed", 0)),
            atol=float(d.get("atol", 0.0)),
            rtol=float(d.get("rtol", 0.0)),
        )

    @classmethod
    def from_json(cls, text: str) -> "ParityReport":
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------------------
# Sides
# --------------------------------------------------------------------------------------
class _Side:
    """One side, normalised: a torch RLModule (``module``) plus, for legacy policies,
    the policy itself (``policy``) for the ``compute_actions`` cross-check."""

    def __init__(self, role: str, obj: Any) -> None:
        self.role = role
        self.policy: Any = None
        kind = type(obj).__name__
        try:
            if isinstance(obj, RLModule):
                module, self.description = obj, f"{kind} (RLModule)"
            elif isinstance(obj, RLModulePolicy):
                module = obj.module
                self.description = f"RLModulePolicy over {type(module).__name__}"
            elif hasattr(obj, "compute_actions") and hasattr(obj, "model"):
                hooks = policy_hooks(obj)
                if hooks:  # its behaviour is not all in its model: run the whole policy
                    module = LegacyPolicyRLModule.wrap(obj)
                    self.description = f"{kind} (legacy policy, run whole: it overrides {', '.join(hooks)})"
                else:
                    module = ModelV2RLModule.wrap(obj.model, action_dist_class=getattr(obj, "dist_class", None))
                    self.policy = obj
                    self.description = f"{kind} (legacy policy; model {type(obj.model).__name__})"
            elif hasattr(obj, "value_function") and hasattr(obj, "forward"):
                module = ModelV2RLModule.wrap(obj)
                self.description = f"{kind} (legacy ModelV2)"
            else:
                raise TypeError(
                    f"check(): {role} is a {kind}, which is not supported; expected a legacy policy "
                    "(with compute_actions and model), a legacy torch ModelV2 (with forward and "
                    "value_function), an RLModule or an RLModulePolicy"
                )
        except TypeError as e:
            if str(e).startswith("check():"):
                raise
            raise TypeError(f"check(): {role} ({kind}): {e}") from None
        if getattr(module, "framework", None) != "torch" or not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"check(): {role} is a {getattr(module, 'framework', None)!r} RLModule ({type(module).__name__}); "
                "parity checks run torch modules only"
            )
        config = module.config
        if config is None or config.observation_space is None or config.action_space is None:
            raise TypeError(f"check(): {role} ({type(module).__name__}) has no observation/action space in its config")
        self.module = module
        self.observation_space: gym.Space = config.observation_space
        self.action_space: gym.Space = config.action_space
        self.stateful = bool(module.is_stateful())
        self.device = next((p.device for p in module.parameters()), torch.device("cpu"))

    # --- forwards ---------------------------------------------------------------------
    def rollout(self, obs_steps: Sequence[Any], phase: str) -> List[Dict[str, Any]]:
        """Per step the forward's output with the time axis dropped (recurrent sides carry
        their state from the initial state)."""
        forward = getattr(self.module, f"forward_{phase}")
        outs: List[Dict[str, Any]] = []
        state = None
        for obs in obs_steps:
            obs = _tree_map(lambda x: x.to(self.device), obs)
            if not self.stateful:
                batch = {Columns.OBS: obs}
                out = dict(forward(batch))
                if phase == "exploration":  # values from compute_values() when the forward leaves them out
                    values = value_predictions(self.module, batch, out)
                    if values is not None:
                        out[Columns.VF_PREDS] = values
                outs.append(out)
                continue
            if state is None:
                n = _batch_size(obs)
                state = _tree_map(
                    lambda s: torch.as_tensor(s, device=self.device).expand((n,) + tuple(torch.as_tensor(s).shape)),
                    self.module.get_initial_state(),
                )
            out = dict(forward({Columns.OBS: _tree_map(lambda x: x[:, None], obs), Columns.STATE_IN: state}))
            if Columns.STATE_OUT not in out:
                raise ValueError(f"check(): {self.role} ({type(self.module).__name__}) is stateful but returned no state_out")
            state = out[Columns.STATE_OUT]
            for key in (Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS, Columns.ACTIONS):
                if key in out:
                    out[key] = _tree_map(lambda x: x[:, 0], out[key])
            outs.append(out)
        return outs

    def dist(self, out: Mapping[str, Any], explore: bool) -> Tuple[Any, Optional[torch.Tensor], str]:
        """``(distribution class or object, inputs or None, note)`` of one step's output;
        ``(None, None, why)`` when there is none."""
        module = self.module
        if Columns.ACTION_DIST_INPUTS in out:
            cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
            return cls, out[Columns.ACTION_DIST_INPUTS], ""
        if Columns.ACTION_DIST in out and not self.stateful:
            return out[Columns.ACTION_DIST], None, ""
        return None, None, f"{self.role} returns no {Columns.ACTION_DIST_INPUTS!r} or {Columns.ACTION_DIST!r}"


def _tree_map(fn: Callable[[Any], Any], x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _tree_map(fn, v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_tree_map(fn, v) for v in x) if isinstance(x, tuple) else [_tree_map(fn, v) for v in x]
    return fn(x)


def _leaves(x: Any) -> List[Any]:
    """Leaves in a canonical order (dict keys sorted, so both sides line up)."""
    return flatten_structure(x, sort_keys=True)


def _space_leaves(space: gym.Space) -> List[gym.Space]:
    if isinstance(space, gym.spaces.Dict):
        return [leaf for k in sorted(space.spaces) for leaf in _space_leaves(space.spaces[k])]
    if isinstance(space, gym.spaces.Tuple):
        return [leaf for s in space.spaces for leaf in _space_leaves(s)]
    return [space]


def _batch_size(x: Any) -> int:
    return int(_leaves(x)[0].shape[0])


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# --------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------
def _obs_steps(
    observations: Any, space: gym.Space, num_samples: int, seed: int, steps: int, stateful: bool
) -> Tuple[List[Any], int]:
    """Per step a batch of torch observations ``[N, ...]``, and ``N``."""
    if observations is None:
        if num_samples < 1:
            raise ValueError(f"check(): num_samples must be >= 1, got {num_samples}")
        sampler = copy.deepcopy(space)
        sampler.seed(seed)
        batches = [sample_obs_batch(sampler, num_samples) for _ in range(steps)]
        return [_as_obs_tensors(b, space, "sampled observations") for b in batches], num_samples
    time_axis = stateful and _has_time_axis(observations, space)
    obs = _as_obs_tensors(observations, space, "observations", time_axis=time_axis)
    n = _batch_size(obs)
    if not time_axis:
        return [obs] * steps, n
    t = int(_leaves(obs)[0].shape[1])
    if t != steps:
        raise ValueError(f"check(): observations have a time axis of length {t} but steps={steps}")
    return [_tree_map(lambda x: x[:, i], obs) for i in range(t)], n


def _has_time_axis(observations: Any, space: gym.Space) -> bool:
    leaf, sub = _leaves_with_spaces(observations, space)[0]
    return np.ndim(leaf) == len(sub.shape or ()) + 2


def _leaves_with_spaces(obs: Any, space: gym.Space) -> List[Tuple[Any, gym.Space]]:
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, Mapping):
            raise ValueError(f"check(): observations must be a dict for {space}, got {type(obs).__name__}")
        missing = [k for k in space.spaces if k not in obs]
        if missing:
            raise ValueError(f"check(): observations lack the keys {missing} of the observation space")
        return [p for k in space.spaces for p in _leaves_with_spaces(obs[k], space.spaces[k])]
    if isinstance(space, gym.spaces.Tuple):
        if not isinstance(obs, (tuple, list)) or len(obs) != len(space.spaces):
            raise ValueError(f"check(): observations must be a {len(space.spaces)}-tuple for {space}")
        return [p for o, s in zip(obs, space.spaces) for p in _leaves_with_spaces(o, s)]
    return [(obs, space)]


def _as_obs_tensors(obs: Any, space: gym.Space, what: str, time_axis: bool = False) -> Any:
    """Observations as torch tensors in the space's dtypes, after checking their shapes."""
    lead = 2 if time_axis else 1
    sizes = set()

    def convert(x: Any, sub: gym.Space) -> torch.Tensor:
        arr = _np(x)
        shape = tuple(sub.shape or ())
        if arr.ndim != lead + len(shape) or tuple(arr.shape[lead:]) != shape:
            raise ValueError(
                f"check(): {what} of shape {list(arr.shape)} do not match the observation space {sub} "
                f"(expected [N{', T' if time_axis else ''}, {', '.join(map(str, shape))}])"
            )
        sizes.add(arr.shape[:lead])
        dtype = sub.dtype if sub.dtype is not None else arr.dtype
        return torch.as_tensor(np.ascontiguousarray(arr, dtype=dtype))

    def walk(o: Any, s: gym.Space) -> Any:
        if isinstance(s, gym.spaces.Dict):
            return {k: walk(o[k], sub) for k, sub in s.spaces.items()}
        if isinstance(s, gym.spaces.Tuple):
            return tuple(walk(v, sub) for v, sub in zip(o, s.spaces))
        return convert(o, s)

    _leaves_with_spaces(obs, space)  # structure check
    out = walk(obs, space)
    if len(sizes) != 1:
        raise ValueError(f"check(): {what} have different batch sizes per component: {sorted(sizes)}")
    if next(iter(sizes))[0] < 1:
        raise ValueError(f"check(): {what} are empty")
    return out


# --------------------------------------------------------------------------------------
# Numeric comparison
# --------------------------------------------------------------------------------------
def _stack_steps(per_step: Sequence[Any]) -> List[np.ndarray]:
    """Per-step structures of ``[N, ...]`` -> leaves ``[N, T, ...]`` (float64)."""
    leaves = [_leaves(x) for x in per_step]
    return [np.stack([_np(l[i]).astype(np.float64) for l in leaves], axis=1) for i in range(len(leaves[0]))]


def _compare(
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


def _merge(parts: Dict[str, QuantityResult], what: str) -> QuantityResult:
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


def _state_rows(state: Any) -> torch.Tensor:
    """A state (dict/list of ``[N, ...]``) as ``[N, S]``: leaves flattened in order."""
    # leaves in insertion order: state layouts keep their own order (h before c)
    leaves = [torch.as_tensor(_np(x)) if not isinstance(x, torch.Tensor) else x for x in flatten_structure(state)]
    return torch.cat([x.reshape(x.shape[0], -1).double().cpu() for x in leaves], dim=-1)


# --------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------
def _build(dist: Any, inputs: Optional[torch.Tensor]) -> Any:
    return dist.from_logits(inputs) if inputs is not None else dist


def _deterministic(side: _Side, out: Mapping[str, Any]) -> Tuple[Any, str]:
    if Columns.ACTIONS in out:
        return out[Columns.ACTIONS], ""
    dist, inputs, why = side.dist(out, explore=False)
    if dist is None:
        return None, why
    d = _build(dist, inputs)
    if isinstance(d, Distribution):
        return d.to_deterministic().sample(), ""
    return d.mode, ""  # a torch.distributions object


def _logp(d: Any, actions: Any) -> torch.Tensor:
    if isinstance(d, Distribution):
        lp = d.logp(actions)
    else:
        lp = d.log_prob(actions)
        n = _batch_size(actions)
        lp = lp.reshape(n, -1).sum(-1)
    return lp


def _sample_k(dist: Any, inputs: Optional[torch.Tensor], k: int) -> Any:
    """``k`` draws per row: a structure of ``[k, N, ...]``."""
    if inputs is not None:
        n = inputs.shape[0]
        expanded = inputs.unsqueeze(0).expand((k,) + tuple(inputs.shape)).reshape((k * n,) + tuple(inputs.shape[1:]))
        samples = dist.from_logits(expanded).sample()
        return _tree_map(lambda x: x.reshape((k, n) + tuple(x.shape[1:])), samples)
    if isinstance(dist, Distribution):
        return dist.sample(sample_shape=(k,))
    return dist.sample((k,))


def _ndtri_upper(p: float) -> float:
    """z with P(Z > z) = p for a standard normal."""
    return float(-torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def _sampled_actions(
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
# --------------------------------------------------------------------------------------
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
    """Compare ``legacy`` and ``candidate`` on the same observations (see the module
    docstring for the quantities and the sampled-actions test).

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
    sides = [_Side("legacy", legacy), _Side("candidate", candidate)]
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
    obs_steps, n = _obs_steps(observations, L.observation_space, num_samples, seed, steps, L.stateful)

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
                q[key] = _compare(
                    [o[key] for o in explore[0]], [o[key] for o in explore[1]], atol, rtol, "forward_exploration"
                )

        # deterministic actions (forward_inference)
        det: List[List[Any]] = [[], []]
        why = ""
        for i, s in enumerate(sides):
            for out in infer[i]:
                a, why_i = _deterministic(s, out)
                if a is None:
                    det[i] = []
                    why = why_i
                    break
                det[i].append(a)
        if det[0] and det[1]:
            q["deterministic_actions"] = _compare(det[0], det[1], atol, rtol, "forward_inference, to_deterministic()")
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
                q["logp"] = _compare(lp_l, lp_c, atol, rtol, "of actions sampled from the legacy distribution")
            except Exception as e:  # e.g. actions the candidate's distribution cannot score
                q["logp"] = QuantityResult(math.inf, math.inf, None, False, f"candidate cannot score legacy actions: {type(e).__name__}: {e}")
        else:
            q["logp"] = QuantityResult.skip(why)

        # sampled actions: a two-sample test
        if have_dists:
            torch.manual_seed(seed)
            draws: List[List[List[np.ndarray]]] = []
            for i in range(2):
                per_step = [_leaves(_sample_k(d, inputs, action_samples)) for d, inputs in dists[i]]
                draws.append([[_np(step[j]) for step in per_step] for j in range(len(per_step[0]))])
            if len(draws[0]) != len(draws[1]):
                q["sampled_actions"] = QuantityResult(math.inf, math.inf, None, False, "action structures differ")
            else:
                q["sampled_actions"] = _sampled_actions(draws[0], draws[1], L.action_space, action_samples, alpha)
        else:
            q["sampled_actions"] = QuantityResult.skip(why)

        # carried state
        if L.stateful:
            rows = [[_state_rows(o[Columns.STATE_OUT]) for o in outs] for outs in explore]
            q["state_out"] = _compare(rows[0], rows[1], atol, rtol, "after each step (leaves flattened in order)")

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
    side: _Side, obs_steps: Sequence[Any], explore: Sequence[Mapping[str, Any]], det: Sequence[Any],
    atol: float, rtol: float,
) -> QuantityResult:
    """The legacy policy's ``compute_actions(explore=False)`` on legacy-preprocessed
    observations against its wrapped model (and, recurrent, the carried state)."""
    policy, space = side.policy, side.observation_space
    n = _batch_size(obs_steps[0])
    state = [np.repeat(np.asarray(s)[None], n, axis=0) for s in policy.get_initial_state()] if side.stateful else None
    actions, dist_inputs, values, states = [], [], [], []
    for obs in obs_steps:
        flat = _np(preprocess_obs(obs, space, batch_dims=1)) if is_preprocessed(space) else _np(obs)
        a, state_out, extra = policy.compute_actions(flat, state_batches=state, explore=False)
        actions.append(a)
        dist_inputs.append(extra.get(Columns.ACTION_DIST_INPUTS))
        values.append(extra.get(Columns.VF_PREDS))
        if side.stateful:
            state = list(state_out)
            states.append(_state_rows(state_out))
    parts: Dict[str, QuantityResult] = {}
    if det:
        parts["actions"] = _compare(actions, det, atol, rtol)
    for key, got in ((Columns.ACTION_DIST_INPUTS, dist_inputs), (Columns.VF_PREDS, values)):
        if all(g is not None for g in got) and key in explore[0]:
            parts[key] = _compare(got, [o[key] for o in explore], atol, rtol)
    if side.stateful:
        parts["state_out"] = _compare(states, [_state_rows(o[Columns.STATE_OUT]) for o in explore], atol, rtol)
    return _merge(parts, "compute_actions(explore=False) vs the wrapped model")
