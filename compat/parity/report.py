"""What :func:`compat.parity.check` reports: one :class:`QuantityResult` per compared
quantity, gathered in a :class:`ParityReport` (text summary, strict JSON both ways)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Mapping, Optional

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

def _encode(x: Any) -> Any:
    """Strict-JSON float: non-finite values as the strings "inf", "-inf", "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, list):
        return [_encode(v) for v in x]
    return x


def _decode(x: Any) -> Any:
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, list):
        return [_decode(v) for v in x]
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
        return {f.name: _encode(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "QuantityResult":
        return cls(**{f.name: _decode(d[f.name]) for f in fields(cls) if f.name in d})

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
