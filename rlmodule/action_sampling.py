"""Turn forward outputs into actions, for either output style of the specification.

A forward may return ``action_dist_inputs`` (the distribution's parameters, the
built-in modules' style), ``action_dist`` (a distribution object: ours or a
``torch.distributions`` one, the early-alpha style) or ``actions`` directly.
Exploration samples and reports the log-likelihood; inference acts
deterministically and reports logp = 0, as the legacy StochasticSampling did.
"""

from __future__ import annotations

from typing import Any, Mapping, Tuple

from rlmodule.columns import Columns
from rlmodule.distribution import Distribution


def action_dist_from_output(module: Any, output: Mapping[str, Any], *, explore: bool) -> Any:
    """The distribution to act with: ours, or a ``torch.distributions`` object."""
    if Columns.ACTION_DIST_INPUTS in output:
        cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
        dist = cls.from_logits(output[Columns.ACTION_DIST_INPUTS])
        return dist if explore else dist.to_deterministic()
    if Columns.ACTION_DIST in output:
        dist = output[Columns.ACTION_DIST]
        if not explore and isinstance(dist, Distribution):
            return dist.to_deterministic()
        return dist
    raise KeyError(
        f"{type(module).__name__} output has neither {Columns.ACTION_DIST_INPUTS!r} nor "
        f"{Columns.ACTION_DIST!r} (keys: {sorted(output)})"
    )


def sample_actions(module: Any, output: Mapping[str, Any], *, explore: bool) -> Tuple[Any, Any]:
    """``(actions [B, ...], logp [B])`` from a forward's output."""
    if Columns.ACTIONS in output:
        actions = output[Columns.ACTIONS]
        logp = output.get(Columns.ACTION_LOGP)
        return actions, logp if logp is not None else _zeros_like_batch(actions)
    dist = action_dist_from_output(module, output, explore=explore)
    if isinstance(dist, Distribution):
        actions = dist.sample()
        return actions, dist.logp(actions)
    # A torch.distributions.Distribution (the specification's early examples).
    if explore:
        actions = dist.sample()
        return actions, dist.log_prob(actions)
    actions = dist.mode
    return actions, _zeros_like_batch(actions)


def _zeros_like_batch(actions: Any) -> Any:
    """Zeros of shape ``[B]`` in the actions' framework."""
    module_name = type(actions).__module__
    if module_name.startswith("torch"):
        import torch

        return torch.zeros(actions.shape[0], dtype=torch.float32, device=actions.device)
    if module_name.startswith("tensorflow"):
        import tensorflow as tf

        return tf.zeros([tf.shape(actions)[0]], dtype=tf.float32)
    import numpy as np

    return np.zeros(len(actions), dtype=np.float32)
