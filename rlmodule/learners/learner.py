"""Learner: the algorithm-independent part of training one module.

One ``update(fragments, timestep)`` is:

1. values the env runner left to the learner (fragments with ``vf_preds=None``) from
   one batched ``module.compute_values`` (:func:`rlmodule.learners.values.fill_values`),
   then ``postprocess(fragments)``: the algorithm's per-step columns (PPO: GAE);
2. :func:`build_train_batch`: numpy columns, cut into ``[B, T]`` sequences for
   recurrent modules; converted to tensors once;
3. ``num_epochs`` passes of shuffled minibatches (rows drawn with the learner's own
   numpy Generator); each minibatch: forward, ``compute_loss``, gradients, global-norm
   clipping, a finiteness check, then the optimizer step;
4. ``after_update(stats)`` (PPO: adapt the KL coefficient).

The framework-specific part lives in the framework backend's ``LearnerBackend``
(``rlmodule.torch.learner.TorchLearnerBackend`` or ``rlmodule.tf.learner.TfLearnerBackend``):
tensors, gradients, optimizer and its state. The loss is written once against a tiny
ops shim (``ops.exp``, ``ops.mean(x, mask)``, ...), the backend's ``Ops``.

Algorithms subclass :class:`Learner` and implement :meth:`Learner.compute_loss` (and
usually :meth:`Learner.postprocess`, :meth:`Learner.coefficients`,
:meth:`Learner.after_update`).
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from rlmodule.backend import backend
from rlmodule.columns import Columns
from rlmodule.distribution import Distribution
from rlmodule.env_runners.fragment import Fragment
from rlmodule.learners.batch import build_train_batch
from rlmodule.learners.schedules import Schedule
from rlmodule.learners.values import fill_values
from rlmodule.rl_module import DEFAULT_MODULE_ID, MultiAgentRLModule, RLModule
from rlmodule.tree import map_structure

Tensor = Any


class NonFiniteLossError(FloatingPointError):
    """A loss term (or the gradient norm) is NaN or infinite; no weight was changed.

    Attributes:
        module_id: the module being trained.
        terms: ``{name: value}`` of every non-finite term, in the loss's order.
    """

    def __init__(self, module_id: str, terms: Mapping[str, float]) -> None:
        self.module_id = module_id
        self.terms = dict(terms)
        first, *rest = self.terms.items()
        also = f" (also non-finite: {', '.join(k for k, _ in rest)})" if rest else ""
        super().__init__(
            f"module {module_id!r}: {first[0]} is {first[1]}{also}; the update was aborted "
            "before applying this gradient and the weights and optimizer state were restored "
            "to their values before update()"
        )


def minibatch_rows(
    row_steps: np.ndarray, minibatch_size: Optional[int], rng: np.random.Generator
) -> Tuple[np.ndarray, List[Tuple[int, int]]]:
    """One epoch's shuffled rows and minibatch bounds: ``(perm [R], [(start, end), ...])``.

    The number of minibatches is ``round(steps / minibatch_size)`` (at least 1); rows are
    split so each minibatch holds about the same number of valid steps (equal row counts,
    +-1, when every row is one step).
    """
    perm = rng.permutation(len(row_steps))
    total = int(row_steps.sum())
    k = 1 if not minibatch_size else max(1, int(round(total / int(minibatch_size))))
    weights = row_steps[perm]
    mid = np.cumsum(weights) - weights / 2.0  # each row's centre on the step axis
    which = np.minimum((mid * k / total).astype(np.int64), k - 1)
    cuts = np.flatnonzero(np.diff(which)) + 1
    edges = [0, *cuts.tolist(), len(perm)]
    return perm, list(zip(edges[:-1], edges[1:]))


class _LogProbDistribution:
    """A distribution with torch.distributions' method names (``log_prob``, ``entropy``)
    seen through ours (``logp``, ``entropy``), summed to ``[n]`` per row."""

    def __init__(self, dist: Any, ops: Any) -> None:
        self.dist, self.ops = dist, ops

    def logp(self, actions: Tensor) -> Tensor:
        return self.ops.sum_to_rows(self.dist.log_prob(actions))

    def entropy(self) -> Tensor:
        return self.ops.sum_to_rows(self.dist.entropy())


class Learner:
    """Trains one module of an algorithm on fragments; see the module docstring.

    Args:
        module: the RLModule to train (``module.framework`` picks the backend); a
            multi-agent module is narrowed to ``module[module_id]``.
        config: the algorithm config. Read here: ``lr``, ``lr_schedule`` (optional),
            ``grad_clip``, ``sgd_minibatch_size``, ``num_sgd_iter``, ``seed``, ``model``
            (``max_seq_len``).
        module_id: which fragments are this module's.
    """

    def __init__(self, module: RLModule, config: Any, module_id: str = DEFAULT_MODULE_ID) -> None:
        if isinstance(module, MultiAgentRLModule):
            module = module[module_id]
        self.module = module
        self.config = config
        self.module_id = module_id
        self.lr_schedule = Schedule(config.lr, getattr(config, "lr_schedule", None), "lr_schedule")
        self.grad_clip: Optional[float] = getattr(config, "grad_clip", None)
        self.stateful = bool(module.is_stateful())
        model = getattr(config, "model", None) or getattr(module.config, "model_config_dict", None) or {}
        self.max_seq_len: Optional[int] = int(model.get("max_seq_len", 20)) if self.stateful else None
        seed = getattr(config, "seed", None)
        if seed is None:  # follow np.random.seed(...) when the config has no seed
            seed = int(np.random.randint(0, 2**31 - 1))
        # Each module of a multi-agent algorithm shuffles differently from the same seed.
        self.rng = np.random.default_rng([seed, zlib.crc32(module_id.encode())])
        self.num_updates = 0
        #: ``forward_train``'s inputs for the minibatch being trained on (set by
        #: :meth:`minibatch_loss`; for losses that read observations themselves).
        self.minibatch_inputs: Dict[str, Any] = {}
        self.backend = self._make_backend()

    # --- algorithm hooks -----------------------------------------------------------------
    @property
    def num_epochs(self) -> int:
        return int(getattr(self.config, "num_sgd_iter", 1))

    @property
    def minibatch_size(self) -> Optional[int]:
        return getattr(self.config, "sgd_minibatch_size", None)

    def postprocess(self, fragments: Sequence[Fragment]) -> Dict[str, np.ndarray]:
        """Extra flat ``[N]`` per-step target columns (fragment order). Default: none."""
        return {}

    def coefficients(self, timestep: int) -> Dict[str, float]:
        """Scalars the loss reads for this update (e.g. ``{"entropy_coeff": ...}``)."""
        return {}

    def compute_loss(self, ops: Any, batch: Mapping[str, Tensor], fwd_out: Mapping[str, Tensor], coeffs: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """The loss terms of one minibatch: an ordered dict of scalars containing
        ``"total_loss"`` (the one differentiated); every entry is checked for
        finiteness and averaged into the stats.

        :param ops: the backend's ops shim.
        :param batch: target columns, ``[n, ...]`` per step (recurrent batches are
            flattened to ``n = b * T`` and carry ``loss_mask`` ``[n]``).
        :param fwd_out: ``forward_train``'s outputs, per-step tensors flattened alike.
        """
        raise NotImplementedError(f"{type(self).__name__}.compute_loss()")

    def after_update(self, stats: Dict[str, float]) -> None:
        """Called after the epochs with the stats (before they are returned)."""

    def make_optimizer(self, params: List[Any], lr: float) -> Optional[Any]:
        """The optimizer over ``params`` (torch backend); ``None`` (the default): Adam
        with learning rate ``lr``. The learning rate schedule sets each param group's
        ``lr`` before every update, whatever the optimizer."""
        return None

    def process_gradients(self, optimizer: Any, loss: Tensor) -> Dict[str, Tensor]:
        """Called after ``loss.backward()`` and before ``grad_clip`` and the optimizer
        step (torch backend); may change the gradients in place. Returns extra scalar
        stats (averaged like the loss terms). Default: none."""
        return {}

    def _extra_state(self) -> Dict[str, Any]:
        return {}

    def _set_extra_state(self, state: Mapping[str, Any]) -> None:
        pass

    # --- helpers the losses use --------------------------------------------------------
    def action_distribution(self, ops: Any, fwd_out: Mapping[str, Tensor]) -> Any:
        """The current policy's distribution over the ``[n]`` rows: built from
        ``action_dist_inputs`` with ``get_train_action_dist_cls()``, or the module's
        ``action_dist`` object (ours, or a torch.distributions one, adapted)."""
        if Columns.ACTION_DIST_INPUTS in fwd_out:
            cls = self.module.get_train_action_dist_cls()
            return cls.from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        if Columns.ACTION_DIST in fwd_out:
            dist = fwd_out[Columns.ACTION_DIST]
            if self.stateful:
                raise NotImplementedError(
                    f"module {self.module_id!r}: a recurrent module must return "
                    f"{Columns.ACTION_DIST_INPUTS!r} ([B, T, D]) for training, not an action_dist object"
                )
            return dist if hasattr(dist, "logp") else _LogProbDistribution(dist, ops)
        raise KeyError(
            f"module {self.module_id!r}: forward_train() returned neither "
            f"{Columns.ACTION_DIST_INPUTS!r} nor {Columns.ACTION_DIST!r} (keys: {sorted(fwd_out)})"
        )

    def behaviour_distribution(self, batch: Mapping[str, Tensor], current: Any) -> Optional[Any]:
        """The acting policy's distribution from the batch's ``action_dist_inputs``, to
        compare with ``current``; ``None`` when the fragments carried no inputs or
        ``current`` is not one of our :class:`Distribution` s (a torch.distributions one)."""
        if Columns.ACTION_DIST_INPUTS not in batch or not isinstance(current, Distribution):
            return None
        return self.module.get_exploration_action_dist_cls().from_logits(batch[Columns.ACTION_DIST_INPUTS])

    # --- the training loop ---------------------------------------------------------------
    def minibatch_loss(self, ops: Any, inputs: Mapping[str, Any], targets: Mapping[str, Any], rows: Tensor, coeffs: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Gather ``rows``, run ``forward_train``, flatten ``[b, T]`` to ``[n]`` when
        recurrent, and return :meth:`compute_loss`'s terms. Framework-independent: the
        backends call it inside their gradient recording."""
        take = lambda x: ops.gather(x, rows)  # noqa: E731
        mb_inputs = self.minibatch_inputs = map_structure(take, dict(inputs))
        mb_targets = map_structure(take, dict(targets))
        fwd_out = self.module.forward_train(mb_inputs)
        if self.stateful:
            mb_targets = map_structure(ops.flatten_time, mb_targets)
            fwd_out = {
                k: (v if k == Columns.STATE_OUT or not hasattr(v, "shape") else ops.flatten_time(v))
                for k, v in fwd_out.items()
            }
        return self.compute_loss(ops, mb_targets, fwd_out, coeffs)

    def own_fragments(self, fragments: Sequence[Fragment]) -> List[Fragment]:
        """The fragments of this learner's module."""
        return [f for f in fragments if f.module_id == self.module_id]

    def update(self, fragments: Sequence[Fragment], timestep: int) -> Dict[str, float]:
        """Train on ``fragments`` (those of other modules are ignored); returns stats.

        Stats are the means over the minibatches of the *last* epoch (the weights the
        update ends with; RLlib reports its last minibatch), plus ``curr_lr``,
        ``num_steps_trained`` (valid steps over all epochs) and ``num_minibatches``
        (over all epochs) and whatever :meth:`after_update` adds.

        :raises NonFiniteLossError: (a FloatingPointError) when a loss term or the
            gradient norm is NaN/inf; weights and optimizer state are then as before
            the call.
        """
        fragments = self.own_fragments(fragments)
        lr = self.lr_schedule.value(timestep)
        coeffs = self.coefficients(timestep)
        base = {"curr_lr": lr, **{f"curr_{k}": float(v) for k, v in coeffs.items()}}
        if sum(len(f) for f in fragments) == 0:
            return {**base, "num_steps_trained": 0, "num_minibatches": 0}
        fill_values(self.module, fragments, self.module_id)
        extra = self.postprocess(fragments)
        batch = build_train_batch(fragments, extra, self.max_seq_len, self.module_id)
        backend = self.backend
        backend.set_lr(lr)
        coeff_tensors = backend.coefficients(coeffs)
        tensors = backend.to_tensors(batch)
        snapshot = backend.snapshot()
        names: List[str] = []
        last_epoch: List[Tensor] = []
        steps_trained = num_minibatches = 0
        for epoch in range(max(1, self.num_epochs)):
            perm, bounds = minibatch_rows(batch.row_steps, self.minibatch_size, self.rng)
            rows_all = backend.rows(perm)
            last_epoch = []
            for start, end in bounds:
                names, values, finite = backend.train_step(tensors, rows_all[start:end], coeff_tensors)
                if not finite:
                    numbers = backend.to_numpy(values)
                    backend.restore(snapshot)
                    raise NonFiniteLossError(
                        self.module_id, {n: float(v) for n, v in zip(names, numbers) if not math.isfinite(v)}
                    )
                last_epoch.append(values)
                num_minibatches += 1
                steps_trained += int(batch.row_steps[perm[start:end]].sum())
        means = backend.mean_of(last_epoch)
        stats = {n: float(v) for n, v in zip(names, means)}
        stats.update(base)
        stats["num_steps_trained"] = steps_trained
        stats["num_minibatches"] = num_minibatches
        self.num_updates += 1
        self.after_update(stats)
        return stats

    # --- state ---------------------------------------------------------------------------
    def get_state(self) -> Dict[str, Any]:
        """The learner's state as a *flat* dict ``{str: np.ndarray | float | int}``:
        ``optimizer/...`` arrays (moments, step counts), ``rng/...`` (the shuffling
        Generator; 128-bit words as int64 arrays of 32-bit chunks), ``num_updates`` and
        the algorithm's scalars (PPO: ``kl_coeff``). Arrays go to safetensors, Python
        scalars to JSON. Module weights are not included (checkpoint the module)."""
        state: Dict[str, Any] = {f"optimizer/{k}": v for k, v in self.backend.get_state().items()}
        state.update(_rng_to_state(self.rng))
        state["num_updates"] = int(self.num_updates)
        state.update(self._extra_state())
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state`'s output (after the module's weights are loaded)."""
        self.backend.set_state({k[len("optimizer/"):]: v for k, v in state.items() if k.startswith("optimizer/")})
        self.rng = _rng_from_state(state)
        self.num_updates = int(state.get("num_updates", 0))
        self._set_extra_state(state)

    # --- backend ---------------------------------------------------------------------------
    def _make_backend(self) -> Any:
        """The module's framework's ``LearnerBackend`` for this learner."""
        try:
            module_backend = backend(self.module)
        except ValueError:
            raise ValueError(
                f"module {self.module_id!r} ({type(self.module).__name__}) has framework "
                f"{getattr(self.module, 'framework', None)!r}; a Learner trains 'torch' or 'tf2' modules"
            ) from None
        return module_backend.LearnerBackend(self)


def _split128(x: int) -> np.ndarray:
    return np.array([(int(x) >> (32 * i)) & 0xFFFFFFFF for i in range(4)], dtype=np.int64)


def _join128(words: Any) -> int:
    return sum(int(w) << (32 * i) for i, w in enumerate(np.asarray(words).reshape(-1)))


def _rng_to_state(rng: np.random.Generator) -> Dict[str, Any]:
    s = rng.bit_generator.state
    if s["bit_generator"] != "PCG64":
        raise TypeError(f"learner rng must be PCG64, got {s['bit_generator']}")
    return {
        "rng/state": _split128(s["state"]["state"]),
        "rng/inc": _split128(s["state"]["inc"]),
        "rng/has_uint32": int(s["has_uint32"]),
        "rng/uinteger": int(s["uinteger"]),
    }


def _rng_from_state(state: Mapping[str, Any]) -> np.random.Generator:
    bit_generator = np.random.PCG64()
    bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": _join128(state["rng/state"]), "inc": _join128(state["rng/inc"])},
        "has_uint32": int(state["rng/has_uint32"]),
        "uinteger": int(state["rng/uinteger"]),
    }
    return np.random.Generator(bit_generator)
