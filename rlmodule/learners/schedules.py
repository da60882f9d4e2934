"""Hyper-parameter schedules over environment timesteps (RLlib's semantics).

A setting such as ``lr_schedule`` is ``None`` (use the fixed value) or a list of
``[timestep, value]`` pairs, ascending in timestep and starting at timestep 0. Between
two pairs the value is interpolated linearly; after the last pair it stays at the last
value (RLlib's ``PiecewiseSchedule`` with ``outside_value`` = the last value).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


class Schedule:
    """``value(timestep) -> float``: a fixed value or a piecewise-linear schedule."""

    def __init__(self, fixed: float, schedule: Optional[Sequence[Sequence[float]]] = None, name: str = "schedule") -> None:
        """:param fixed: the value when ``schedule`` is ``None``.
        :param schedule: ``None`` or ``[[t0=0, v0], [t1, v1], ...]`` with ``t`` non-decreasing.
        :param name: the setting's name, for error messages.
        :raises ValueError: naming ``name`` when ``schedule`` is malformed.
        """
        self.name = name
        self.fixed = float(fixed) if fixed is not None else 0.0
        self._t: Optional[np.ndarray] = None
        self._v: Optional[np.ndarray] = None
        if schedule is None:
            return
        try:
            pairs = np.asarray(schedule, dtype=np.float64)
        except (TypeError, ValueError):
            pairs = None
        if pairs is None or pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
            raise ValueError(f"{name}={schedule!r}: expected a non-empty list of [timestep, value] pairs")
        if pairs[0, 0] != 0:
            raise ValueError(f"{name}={schedule!r}: the first pair must be at timestep 0, e.g. [[0, {pairs[0, 1]:g}], ...]")
        if np.any(np.diff(pairs[:, 0]) < 0):
            raise ValueError(f"{name}={schedule!r}: timesteps must be non-decreasing")
        if not np.all(np.isfinite(pairs)):
            raise ValueError(f"{name}={schedule!r}: timesteps and values must be finite")
        self._t, self._v = pairs[:, 0], pairs[:, 1]

    @property
    def is_fixed(self) -> bool:
        return self._t is None

    def value(self, timestep: int) -> float:
        """The value at ``timestep`` (interpolated; the last value after the last pair)."""
        if self._t is None:
            return self.fixed
        return float(np.interp(float(timestep), self._t, self._v))

    def __repr__(self) -> str:
        if self._t is None:
            return f"Schedule({self.name}={self.fixed!r})"
        return f"Schedule({self.name}={np.stack([self._t, self._v], 1).tolist()!r})"
