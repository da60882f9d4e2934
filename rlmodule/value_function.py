"""Value predictions ``V(obs)``, wherever a module computes them.

A forward may return ``vf_preds`` itself (the specification's style: migrated legacy
models, wrapped legacy policies, recurrent PPO modules), or a module may leave values
to ``compute_values(batch) -> [B]`` (``[B, T]`` when recurrent), RLlib's later
``ValueFunctionAPI``. The built-in feed-forward PPO modules do the latter, so acting
runs only the actor and the learner computes every step's value in one batched call
(:func:`rlmodule.learners.values.fill_values`).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from rlmodule.columns import Columns


def has_compute_values(module: Any) -> bool:
    """Whether ``module`` offers ``compute_values(batch)``."""
    return callable(getattr(module, "compute_values", None))


def value_predictions(module: Any, batch: Mapping[str, Any], out: Mapping[str, Any]) -> Optional[Any]:
    """``out["vf_preds"]`` if the forward returned it, else ``module.compute_values(batch)``
    if the module has it, else ``None``. ``batch`` is the forward's input."""
    if Columns.VF_PREDS in out:
        return out[Columns.VF_PREDS]
    if has_compute_values(module):
        return module.compute_values(batch)
    return None


def acting_values(module: Any, batch: Mapping[str, Any], out: Mapping[str, Any], explore: bool) -> Optional[Any]:
    """The values an env runner records for an acting forward's ``out``:
    :func:`value_predictions` when exploring; with ``explore=False`` (evaluation) only
    the ``vf_preds`` the inference forward returned, if any."""
    return value_predictions(module, batch, out) if explore else out.get(Columns.VF_PREDS)
