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
                            from each side's exploration distribution
                            (:mod:`compat.parity.statistics`)
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
the observation space seeded with ``seed``. Both sides act through
:class:`rlmodule.acting.Actor`, as the env runners and ``RLModulePolicy`` do.

Pass criterion for the numeric quantities, elementwise: ``|legacy - candidate| <=
atol + rtol * |legacy|``. ``max_rel`` is the symmetric relative error
``|a - b| / max(|a|, |b|)``; ``worst_index`` the observation (row of the given or
sampled batch) whose error is largest relative to what the criterion allows.

The parts: ``report`` (:class:`ParityReport`, :class:`QuantityResult`), ``sides`` (each
side as a torch RLModule and its actor), ``observations`` (given or sampled),
``comparison`` (elementwise errors), ``statistics`` (the sampled-actions test) and
``harness`` (:func:`check`).
"""

from compat.parity.harness import check
from compat.parity.report import QUANTITY_ORDER, ParityReport, QuantityResult
from compat.parity.sides import ROLES

__all__ = ["ParityReport", "QuantityResult", "check", "QUANTITY_ORDER", "ROLES"]
