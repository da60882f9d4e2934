"""The TensorFlow side of a Learner: tensors, GradientTape, Adam, optimizer state.

The gradient step (forward, loss, gradients, clipping, finiteness check and the
conditional Adam update) runs as one ``tf.function``, traced once per batch structure
with free row dimensions (no retracing for new batch or minibatch sizes). Pass
``use_tf_function=False`` (or set ``learner.backend.use_tf_function = False``) for
eager debugging. :class:`TfOps` mirrors ``rlmodule.torch.learner.TorchOps``. The backend
module offers both classes as ``Ops`` and ``LearnerBackend``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from rlmodule.tree import map_structure

if TYPE_CHECKING:
    from rlmodule.learners.batch import TrainBatch


def _optimizer_slot_names(variables: Sequence[Any]) -> List[str]:
    """``"<index>/<kind>"`` per Keras optimizer variable (``002/momentum``,
    ``001/learning_rate``): independent of the layer counters in Keras' own names, stable
    for optimizers built over the same variables in the same order."""
    names = []
    for i, v in enumerate(variables):
        tail = v.path.rsplit("/", 1)[-1]
        kind = next((k for k in ("momentum", "velocity", "velocity_hat") if tail.endswith("_" + k)), tail)
        names.append(f"{i:03d}/{kind}")
    return names


def _refuse_torch_only_hooks(learner: Any) -> None:
    """NotImplementedError if the learner's class overrides a hook of its base ``Learner``
    (a class defines it besides the base that introduced it)."""
    for hook in ("make_optimizer", "process_gradients"):
        if sum(hook in vars(cls) for cls in type(learner).__mro__) > 1:
            raise NotImplementedError(
                f"{type(learner).__name__}.{hook}() is a torch-backend hook; a tf2 learner trains with Adam "
                "and grad_clip only"
            )


class TorchAdam(keras.optimizers.Adam):
    """Keras Adam stepping as ``torch.optim.Adam`` does: epsilon is added to the
    bias-corrected ``sqrt(v_hat)`` (Kingma & Ba's Algorithm 1), not to the raw ``sqrt(v)``.

    Keras' update ``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` is torch's
    with an epsilon of ``eps / sqrt(1 - b2^t)``: 32x larger at the first step, still
    1.3x after 1000. Gradients near that size (PPO's at initialisation, with a 0.01
    output layer) then take steps up to ~30x smaller than under torch: with Keras' rule,
    one PPO update from the same weights on the same batch ended 3e-3 away from torch's
    (tests/rlmodule/test_learner_parity_torch_tf.py), and tf PPO's median env steps to a CartPole
    return of 475 were 1.47x torch's (seeds 0-4). The slots (``momentum``, ``velocity``,
    ``iteration``) are Keras Adam's, so optimizer states load unchanged.
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
        ``w -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``,
        ``v_hat = v / (1 - b2^t)``."""
        ops, dtype = keras.ops, variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        bias_1 = 1.0 - ops.power(ops.cast(self.beta_1, dtype), t)
        bias_2 = 1.0 - ops.power(ops.cast(self.beta_2, dtype), t)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, (gradient - m) * (1.0 - self.beta_1))
        self.assign_add(v, (ops.square(gradient) - v) * (1.0 - self.beta_2))
        m_hat, v_hat = m / bias_1, v / bias_2
        self.assign_sub(variable, lr * m_hat / (ops.sqrt(v_hat) + self.epsilon))


class TfOps:
    """Tensor ops the losses use (``x`` ``[n, ...]``, ``mask`` ``[n]`` bool or None)."""

    exp = staticmethod(tf.exp)
    log = staticmethod(tf.math.log)
    square = staticmethod(tf.square)
    minimum = staticmethod(tf.minimum)
    zeros_like = staticmethod(tf.zeros_like)
    stop_gradient = staticmethod(tf.stop_gradient)

    @staticmethod
    def maximum(x: tf.Tensor, floor: float) -> tf.Tensor:
        return tf.maximum(x, floor)

    @staticmethod
    def clip(x: tf.Tensor, low: float, high: float) -> tf.Tensor:
        return tf.clip_by_value(x, low, high)

    @staticmethod
    def mean(x: tf.Tensor, mask: Optional[tf.Tensor] = None) -> tf.Tensor:
        """Mean over all entries, or over those where ``mask`` is True."""
        if mask is None:
            return tf.reduce_mean(x)
        count = tf.maximum(tf.reduce_sum(tf.cast(mask, x.dtype)), 1.0)
        return tf.reduce_sum(tf.where(mask, x, tf.zeros_like(x))) / count

    @staticmethod
    def var(x: tf.Tensor, mask: Optional[tf.Tensor] = None) -> tf.Tensor:
        """Population variance over the (valid) entries."""
        return TfOps.mean(tf.square(x - TfOps.mean(x, mask)), mask)

    @staticmethod
    def gather(x: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        return tf.gather(x, rows)

    @staticmethod
    def flatten_time(x: tf.Tensor) -> tf.Tensor:
        """``[b, T, ...]`` -> ``[b * T, ...]`` (trailing dims kept static)."""
        return tf.reshape(x, [-1] + x.shape[2:].as_list())

    @staticmethod
    def split_time(x: tf.Tensor, horizon: int) -> tf.Tensor:
        """``[b * T, ...]`` -> ``[b, T, ...]`` (the inverse of :meth:`flatten_time`)."""
        return tf.reshape(x, [-1, horizon] + x.shape[1:].as_list())

    @staticmethod
    def stack_time(columns: List[tf.Tensor]) -> tf.Tensor:
        """``T`` tensors ``[b]`` -> ``[b, T]``."""
        return tf.stack(columns, axis=1)

    @staticmethod
    def sum_to_rows(x: tf.Tensor) -> tf.Tensor:
        return x if x.shape.rank <= 1 else tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), -1)


class TfLearnerBackend:
    """:class:`TorchAdam` (``epsilon=1e-8``, torch's default and torch's update) over the
    module's trainable variables; one :meth:`train_step` per minibatch.

    Args:
        learner: the owning :class:`~rlmodule.learners.learner.Learner`.
        use_tf_function: compile the gradient step with ``tf.function`` (default True).
    """

    def __init__(self, learner: Any, use_tf_function: bool = True) -> None:
        self.learner = learner
        module = learner.module
        self.variables = list(module.trainable_variables)
        if not self.variables:
            raise ValueError(
                f"module {learner.module_id!r} has no trainable variables (has it run a forward yet?)"
            )
        self.grad_clip = learner.grad_clip
        _refuse_torch_only_hooks(learner)
        self.optimizer = TorchAdam(learning_rate=learner.lr_schedule.value(0), epsilon=1e-8)
        self.optimizer.build(self.variables)
        self._coeffs: Dict[str, tf.Variable] = {}
        self._names: Optional[Tuple[str, ...]] = None
        self.use_tf_function = use_tf_function
        self._compiled: Dict[str, Any] = {}  # one tf.function per batch structure

    # --- per update ---------------------------------------------------------------------
    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate = lr

    def coefficients(self, coeffs: Mapping[str, float]) -> Dict[str, tf.Variable]:
        """The loss's scalars as variables, so a new value does not retrace the step."""
        for name, value in coeffs.items():
            if name not in self._coeffs:
                self._coeffs[name] = tf.Variable(float(value), dtype=tf.float32, trainable=False, name=name)
            else:
                self._coeffs[name].assign(float(value))
        return {name: self._coeffs[name] for name in coeffs}

    def to_tensors(self, batch: TrainBatch) -> TrainBatch:
        return dataclasses.replace(
            batch,
            inputs=map_structure(tf.convert_to_tensor, batch.inputs),
            targets=map_structure(tf.convert_to_tensor, batch.targets),
        )

    def rows(self, perm: np.ndarray) -> tf.Tensor:
        return tf.convert_to_tensor(perm, dtype=tf.int64)

    def train_step(self, batch: TrainBatch, rows: tf.Tensor, coeffs: Mapping[str, tf.Variable]) -> Tuple[Sequence[str], tf.Tensor, bool]:
        """Returns ``(names, values [len(names)], finite)``; Adam stepped only if finite."""
        step = self._compiled_step(batch, coeffs) if self.use_tf_function else self._train_step
        values, finite = step(batch.inputs, batch.targets, rows, coeffs)
        return self._names, values, bool(finite)

    def _compiled_step(self, batch: TrainBatch, coeffs: Mapping[str, Any]) -> Any:
        """The ``tf.function`` of :meth:`_train_step` for this batch structure, traced once
        with the row dimension of every column left free (``[None, ...]``), so neither a
        new batch size nor a new minibatch size retraces it."""

        def spec(x: tf.Tensor) -> tf.TensorSpec:
            return tf.TensorSpec([None] + x.shape[1:].as_list(), x.dtype)

        signature = [
            map_structure(spec, batch.inputs),
            map_structure(spec, batch.targets),
            tf.TensorSpec([None], tf.int64),
            {k: tf.TensorSpec([], tf.float32) for k in coeffs},
        ]
        key = repr(signature)
        if key not in self._compiled:
            self._compiled[key] = tf.function(self._train_step, input_signature=signature, autograph=False)
        return self._compiled[key]

    def _train_step(self, inputs: Any, targets: Any, rows: tf.Tensor, coeffs: Mapping[str, Any]) -> Tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            terms = self.learner.minibatch_loss(TfOps, inputs, targets, rows, coeffs)
        grads = tape.gradient(terms["total_loss"], self.variables)
        pairs = [(tf.convert_to_tensor(g), v) for g, v in zip(grads, self.variables) if g is not None]
        gradients = [g for g, _ in pairs]
        grad_norm = tf.linalg.global_norm(gradients) if gradients else tf.constant(0.0)
        if self.grad_clip is not None and gradients:
            gradients, _ = tf.clip_by_global_norm(gradients, self.grad_clip, use_norm=grad_norm)
        values = tf.stack([tf.cast(tf.reshape(t, []), tf.float32) for t in terms.values()] + [grad_norm])
        finite = tf.reduce_all(tf.math.is_finite(values))

        def apply() -> tf.Tensor:
            self.optimizer.apply_gradients(zip(gradients, [v for _, v in pairs]))
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        self._names = (*terms, "grad_norm")
        return values, finite

    @staticmethod
    def to_numpy(values: tf.Tensor) -> np.ndarray:
        return values.numpy()

    @staticmethod
    def mean_of(values: List[tf.Tensor]) -> np.ndarray:
        return tf.reduce_mean(tf.stack(values), 0).numpy().astype(np.float64)

    # --- rollback ---------------------------------------------------------------------------
    def _all_variables(self) -> List[tf.Variable]:
        return list(self.learner.module.weights) + list(self.optimizer.variables)

    def snapshot(self) -> List[tf.Tensor]:
        return [tf.identity(v) for v in self._all_variables()]

    def restore(self, snapshot: List[tf.Tensor]) -> None:
        for v, saved in zip(self._all_variables(), snapshot):
            v.assign(saved)

    # --- optimizer state ------------------------------------------------------------------
    def get_state(self) -> Dict[str, Any]:
        """``{stable variable name: array or scalar}`` for every Keras optimizer variable
        (iteration count, learning rate, first and second moments)."""
        out: Dict[str, Any] = {}
        variables = self.optimizer.variables
        for name, v in zip(_optimizer_slot_names(variables), variables):
            value = v.numpy()
            if value.ndim:
                out[name] = value.copy()
            else:
                out[name] = int(value) if np.issubdtype(value.dtype, np.integer) else float(value)
        return out

    def set_state(self, state: Mapping[str, Any]) -> None:
        variables = self.optimizer.variables
        named = dict(zip(_optimizer_slot_names(variables), variables))
        missing = sorted(set(named) - set(state))
        unexpected = sorted(set(state) - set(named))
        bad = [k for k in named if k in state and tuple(np.shape(state[k])) != tuple(named[k].shape)]
        if missing or unexpected or bad:
            raise ValueError(
                f"learner optimizer state does not fit module {self.learner.module_id!r}: "
                f"missing {missing}, unexpected {unexpected}, shape mismatches {bad}"
            )
        for name, v in named.items():
            v.assign(np.asarray(state[name], dtype=np.dtype(v.dtype)))
