"""Values the env runner left to the learner: ``fill_values`` before an update.

The single-agent env runner acts with the actor only when the module offers
``compute_values(batch)`` (the built-in feed-forward PPO modules); its fragments then
carry ``vf_preds=None`` and ``bootstrap_obs``. Values for every step and bootstrap
observation come from one batched ``compute_values`` call here, with the learner's
weights at the start of the update (the weights that acted, for synchronous PPO), as
RLlib's GAE learner connector computes them.
"""

from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from rlmodule.acting import Actor, has_compute_values
from rlmodule.env_runners.fragment import Fragment
from rlmodule.tree import concatenate, flatten, stack, unflatten

# Rows per compute_values call (bounds the activations' memory for image observations).
VALUE_CHUNK = 4096


def fill_values(module: Any, fragments: Sequence[Fragment], module_id: str = "") -> None:
    """Set ``vf_preds`` (``[L]`` float32) and ``bootstrap_value`` of every fragment whose
    ``vf_preds`` is ``None``, from ``module.compute_values`` without gradients and in
    eval mode (``bootstrap_value`` stays 0.0 for terminated fragments)."""
    todo = [f for f in fragments if f.vf_preds is None]
    if not todo:
        return
    if not has_compute_values(module):
        raise ValueError(
            f"module {module_id or type(module).__name__!r}: fragments carry no vf_preds and the module "
            "has no compute_values(batch) to compute them"
        )
    boots = [f for f in todo if not f.terminated]
    if any(f.bootstrap_obs is None for f in boots):
        raise ValueError("fill_values(): a fragment without vf_preds that did not terminate has no bootstrap_obs")
    parts: List[Any] = [f.obs for f in todo]
    if boots:
        parts.append(stack([f.bootstrap_obs for f in boots]))
    obs = concatenate(parts)
    leaves = flatten(obs)
    values = np.empty(len(leaves[0]), np.float32)
    actor = Actor(module, module_id)
    with actor.mode():
        for start in range(0, len(values), VALUE_CHUNK):
            chunk = unflatten(obs, [x[start : start + VALUE_CHUNK] for x in leaves])
            values[start : start + VALUE_CHUNK] = actor.compute_values(chunk)
    offset = 0
    for f in todo:
        f.vf_preds = values[offset : offset + len(f)]
        offset += len(f)
    for f in boots:
        f.bootstrap_value = float(values[offset])
        offset += 1
