"""What a migrated policy runs on: legacy policy hooks, kept verbatim, over an RLModule.

The ``policies`` rule of ``rlmigrate`` turns a legacy ``TorchPolicyV2`` /
``PPOTorchPolicy`` subclass into (see MIGRATION.md, "Custom policies"):

* a module class, a subclass of its migrated model class, whose ``_forward_exploration``
  / ``_forward_inference`` call :func:`acting_forward` with the policy's
  ``action_distribution_fn`` or ``action_sampler_fn`` (kept as methods of the module);
* a learner class ``<Policy>Learner(PolicyLoss, PPOLearner)`` whose ``loss(model,
  dist_class, train_batch)`` is the policy's; :class:`PolicyLoss` runs it as the
  learner's ``compute_loss``, and ``super().loss(...)`` is PPO's loss.

The hooks receive what the legacy policy gave them: ``model`` is a
:class:`LegacyModelView` of the module (calling it runs the migrated model's legacy
``forward``), ``dist_class`` builds distributions the legacy way (``dist_class(inputs,
model)``), ``train_batch`` maps the legacy column names to this learner's minibatch.
Torch only; nothing here imports ray.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from compat.migrated_model import legacy_input_dict
from rlmodule.columns import Columns

__all__ = ["LegacyModelView", "PolicyLoss", "acting_forward", "apply_grad_clipping", "legacy_dist_class"]


class LegacyModelView:
    """The ``model`` a legacy policy hook receives, over a migrated model module.

    ``view(input_dict, state=[], seq_lens=None) -> (outputs [B, num_outputs], state)``
    runs the module's legacy ``forward`` (``_model_forward``) on
    ``legacy_input_dict(module, input_dict)`` (``input_dict["obs"]`` raw, ``[B, ...]``);
    every other attribute (``value_function()``, sub-modules, ``num_outputs``) is the
    module's. ``tower_stats`` collects what a legacy loss stores for its stats.
    """

    def __init__(self, module: Any, is_training: bool = False) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_is_training", is_training)
        object.__setattr__(self, "tower_stats", {})

    def __call__(self, input_dict: Mapping[str, Any], state: Any = None, seq_lens: Any = None) -> Tuple[Any, List[Any]]:
        module = self._module
        is_training = bool(input_dict.get("is_training", self._is_training)) if isinstance(input_dict, Mapping) else self._is_training
        out, state_out = module._model_forward(legacy_input_dict(module, input_dict, is_training=is_training), list(state or []), seq_lens)
        return out, list(state_out or [])

    def forward(self, input_dict: Mapping[str, Any], state: Any = None, seq_lens: Any = None) -> Tuple[Any, List[Any]]:
        """``model.forward(...)`` as legacy hooks call it: the same as calling the view."""
        return self(input_dict, state, seq_lens)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._module, name, value)


class _LegacyDistribution:
    """``dist_class(inputs, model)`` of a legacy policy over one of our distributions:
    ``logp(actions) -> [B]``, ``entropy() -> [B]``, ``kl(other) -> [B]``,
    ``sample()``, ``deterministic_sample()``, ``sampled_action_logp()``, ``inputs``."""

    def __init__(self, cls: Any, inputs: torch.Tensor, model: Any = None) -> None:
        self.inputs = inputs
        self.model = model
        self.dist = cls.from_logits(inputs)
        self._last_sample: Optional[torch.Tensor] = None

    def logp(self, actions: torch.Tensor) -> torch.Tensor:
        return self.dist.logp(actions)

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy()

    def kl(self, other: "_LegacyDistribution") -> torch.Tensor:
        return self.dist.kl(other.dist)

    def sample(self) -> torch.Tensor:
        self._last_sample = self.dist.sample()
        return self._last_sample

    def deterministic_sample(self) -> torch.Tensor:
        self._last_sample = self.dist.to_deterministic().sample()
        return self._last_sample

    def sampled_action_logp(self) -> torch.Tensor:
        if self._last_sample is None:
            raise ValueError("sampled_action_logp(): call sample() or deterministic_sample() first")
        return self.dist.logp(self._last_sample)


class legacy_dist_class:  # noqa: N801 - used where legacy code had a class
    """The legacy ``dist_class`` argument: ``legacy_dist_class(ours)(inputs, model)``."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls

    def __call__(self, inputs: torch.Tensor, model: Any = None) -> _LegacyDistribution:
        return _LegacyDistribution(self.cls, inputs, model)


def acting_forward(module: Any, batch: Mapping[str, Any], hook: Any, *, explore: bool, sampler: bool = False) -> Dict[str, Any]:
    """A forward of a migrated policy module that calls the legacy policy's
    ``action_distribution_fn`` (``sampler=False``) or ``action_sampler_fn``
    (``sampler=True``) as the legacy ``TorchPolicyV2`` did.

    ``action_distribution_fn`` -> ``{"action_dist_inputs": [B, D]}``; the class it
    returns must be the module's ``get_exploration_action_dist_cls()`` (``explore``)
    or ``get_inference_action_dist_cls()``. ``action_sampler_fn`` -> ``{"actions",
    "action_logp"}`` (plus ``"action_dist_inputs"`` when it returns them). Exploring
    forwards add ``"vf_preds"`` (``[B]``) when the model has a ``value_function()``, as
    PPO's ``extra_action_out`` did. The hooks get ``timestep=None`` (a module has no
    global timestep) and ``state_batches=[]``.
    """
    model = LegacyModelView(module)
    kwargs = dict(obs_batch=dict(batch), state_batches=[], seq_lens=None, explore=explore, timestep=None)
    out: Dict[str, Any] = {}
    if sampler:
        actions, logp, dist_inputs, _ = hook(model, **kwargs)
        out[Columns.ACTIONS] = actions
        if logp is not None:
            out[Columns.ACTION_LOGP] = logp
        if dist_inputs is not None:
            out[Columns.ACTION_DIST_INPUTS] = dist_inputs
    else:
        dist_inputs, dist_class, _ = hook(model, is_training=False, **kwargs)
        expected = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
        if dist_class is not expected:
            raise TypeError(
                f"{type(module).__name__}.action_distribution_fn returned the distribution class "
                f"{getattr(dist_class, '__name__', dist_class)!r}, but the module's "
                f"get_{'exploration' if explore else 'inference'}_action_dist_cls() is "
                f"{getattr(expected, '__name__', expected)!r}: make them agree"
            )
        out[Columns.ACTION_DIST_INPUTS] = dist_inputs
    if explore and callable(getattr(module, "value_function", None)):
        out[Columns.VF_PREDS] = module.value_function()
    return out


class _TrainBatch(dict):
    """A learner minibatch under the legacy column names (``SampleBatch`` keys);
    ``action_prob`` is ``exp(action_logp)``; a missing column raises naming it."""

    def __missing__(self, key: str) -> Any:
        if key == Columns.ACTION_PROB and Columns.ACTION_LOGP in self:
            return torch.exp(self[Columns.ACTION_LOGP])
        raise KeyError(
            f"train_batch[{key!r}]: a migrated loss reads the learner's minibatch, which holds "
            f"{sorted(self)}; columns such as rewards, dones or new_obs are not kept for the loss "
            "- see MIGRATION.md#custom-losses"
        )


def _legacy_tower_names(terms: Mapping[str, Any]) -> Dict[str, Any]:
    """PPO's loss terms under the names the legacy loss stored them (``tower_stats``)."""
    names = {"policy_loss": "mean_policy_loss", "vf_loss": "mean_vf_loss", "vf_explained_var": "vf_explained_var",
             "entropy": "mean_entropy", "mean_kl_loss": "mean_kl_loss", "total_loss": "total_loss"}
    return {legacy: terms[ours] for ours, legacy in names.items() if ours in terms}


def apply_grad_clipping(policy: Any, optimizer: Any, loss: Any) -> Dict[str, Any]:
    """``ray.rllib.utils.torch_utils.apply_grad_clipping``: clip each param group's
    gradients to ``policy.config["grad_clip"]`` (if set); ``{"grad_gnorm": the sum over
    groups of min(norm before clipping, grad_clip)}``, ``{}`` when no group has gradients."""
    clip = policy.config["grad_clip"]
    clip = float("inf") if clip is None else float(clip)
    total, groups = 0.0, 0
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        if params:
            norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
            total += min(norm, clip)
            groups += 1
    return {"grad_gnorm": torch.as_tensor(total)} if groups else {}


class PolicyLoss:
    """Mixin for a learner (before ``PPOLearner`` in the bases) that runs a legacy
    policy's ``loss(model, dist_class, train_batch) -> scalar`` as ``compute_loss``.

    The legacy loss sees ``self.config[...]`` (the algorithm config's settings),
    ``self.kl_coeff``, ``self.entropy_coeff`` (this update's), ``self.cur_lr``,
    ``self.model`` and ``self.dist_class``; ``super().loss(model, dist_class,
    train_batch)`` returns the algorithm's own total loss for the minibatch. Returned
    terms: the algorithm's, with ``total_loss`` the legacy loss's value, plus the
    ``model.tower_stats`` scalars the loss stored and, when the class defines the legacy
    ``stats_fn(train_batch)``, its scalars (``self.get_tower_stats(name)`` and
    ``super().stats_fn`` as in PPO's policy). A legacy ``optimizer()`` becomes the
    learner's optimizer, ``extra_grad_process(optimizer, loss)`` runs between backward
    and the step (its dict becomes stats). Feed-forward modules only.
    """

    def minibatch_loss(self, ops: Any, inputs: Mapping[str, Any], targets: Mapping[str, Any], rows: Any, coeffs: Mapping[str, Any]) -> Dict[str, Any]:
        if self.stateful:
            raise NotImplementedError(
                f"{type(self).__name__}: a legacy policy loss runs on feed-forward modules only; "
                "write compute_loss() for a recurrent one - see MIGRATION.md#custom-losses"
            )
        return super().minibatch_loss(ops, inputs, targets, rows, coeffs)

    def compute_loss(self, ops: Any, batch: Mapping[str, Any], fwd_out: Mapping[str, Any], coeffs: Mapping[str, Any]) -> Dict[str, Any]:
        self._loss_args = (ops, batch, fwd_out, coeffs)
        self._algorithm_terms: Optional[Dict[str, Any]] = None
        self.entropy_coeff = coeffs.get("entropy_coeff")
        train_batch = _TrainBatch({**self.minibatch_inputs, **batch})
        model = LegacyModelView(self.module, is_training=True)
        total = self.loss(model, self.dist_class, train_batch)
        terms = dict(self._algorithm_terms or {})
        self._tower_stats = {**_legacy_tower_names(terms), **model.tower_stats, "total_loss": total}
        extra = dict(model.tower_stats)
        if type(self).stats_fn is not PolicyLoss.stats_fn:
            extra.update(self.stats_fn(train_batch))
        for name, value in extra.items():
            if name not in terms and name != "total_loss" and torch.is_tensor(value) and value.numel() == 1:
                terms[name] = value.detach().reshape(())
        terms["total_loss"] = total
        return terms

    def loss(self, model: Any, dist_class: Any, train_batch: Mapping[str, Any]) -> Any:
        """The algorithm's own total loss on this minibatch (``super().loss(...)``)."""
        ops, batch, fwd_out, coeffs = self._loss_args
        self._algorithm_terms = super().compute_loss(ops, batch, fwd_out, coeffs)
        return self._algorithm_terms["total_loss"]

    def get_tower_stats(self, name: str) -> List[Any]:
        """What the loss stored in ``model.tower_stats[name]`` (and PPO's own:
        ``total_loss``, ``mean_policy_loss``, ``mean_vf_loss``, ``vf_explained_var``,
        ``mean_entropy``, ``mean_kl_loss``), as a one-tower list."""
        stats = getattr(self, "_tower_stats", {})
        if name not in stats:
            raise KeyError(f"get_tower_stats({name!r}): the loss stored {sorted(stats)}")
        return [stats[name]]

    def stats_fn(self, train_batch: Mapping[str, Any]) -> Dict[str, Any]:
        """PPO's legacy stats (``super().stats_fn(train_batch)``)."""
        return {
            "cur_kl_coeff": torch.as_tensor(float(getattr(self, "kl_coeff", 0.0))),
            "cur_lr": torch.as_tensor(self.cur_lr),
            "total_loss": self.get_tower_stats("total_loss")[0],
            "policy_loss": self.get_tower_stats("mean_policy_loss")[0],
            "vf_loss": self.get_tower_stats("mean_vf_loss")[0],
            "vf_explained_var": self.get_tower_stats("vf_explained_var")[0],
            "kl": self.get_tower_stats("mean_kl_loss")[0],
            "entropy": self.get_tower_stats("mean_entropy")[0],
            "entropy_coeff": torch.as_tensor(self.entropy_coeff),
        }

    def make_optimizer(self, params: List[Any], lr: float) -> Optional[Any]:
        """The legacy ``optimizer()`` hook's optimizer when the class defines one (one
        optimizer over the module's parameters); else the learner's Adam."""
        if type(self).optimizer is PolicyLoss.optimizer:
            return None
        optimizer = self.optimizer()
        if isinstance(optimizer, (list, tuple)):
            if len(optimizer) != 1:
                raise NotImplementedError(f"{type(self).__name__}.optimizer() returned {len(optimizer)} optimizers; one learner steps one")
            optimizer = optimizer[0]
        return optimizer

    def optimizer(self) -> Any:
        """The legacy default (``super().optimizer()``): Adam over the model's parameters."""
        return torch.optim.Adam(self.module.parameters(), lr=self.config["lr"])

    def process_gradients(self, optimizer: Any, loss: Any) -> Dict[str, Any]:
        if type(self).extra_grad_process is PolicyLoss.extra_grad_process:
            return {}
        return {k: torch.as_tensor(v) for k, v in self.extra_grad_process(optimizer, loss).items()}

    def extra_grad_process(self, optimizer: Any, loss: Any) -> Dict[str, Any]:
        """The legacy default (``super().extra_grad_process(...)``): ``apply_grad_clipping``."""
        return apply_grad_clipping(self, optimizer, loss)

    @property
    def cur_lr(self) -> float:
        return float(self.backend.optimizer.param_groups[0]["lr"])

    @property
    def model(self) -> LegacyModelView:
        return LegacyModelView(self.module, is_training=True)

    @property
    def dist_class(self) -> legacy_dist_class:
        return legacy_dist_class(self.module.get_train_action_dist_cls())

    @property
    def action_space(self) -> Any:
        return self.module.config.action_space

    @property
    def observation_space(self) -> Any:
        return getattr(self.module, "obs_space", self.module.config.observation_space)

