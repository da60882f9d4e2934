"""TrainBatch: one update's data in numpy, built once from the fragments.

Rows lie along axis 0 of every array: a row is one step for feed-forward modules and
one ``[T]`` sequence for recurrent ones. Minibatches are sets of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

from rlmodule.columns import Columns
from rlmodule.env_runners.fragment import Fragment
from rlmodule.learners.sequences import cut_sequences
from rlmodule.tree import concatenate, map_structure

ADVANTAGES = "advantages"  # [N] float32 (RLlib's Postprocessing.ADVANTAGES)
VALUE_TARGETS = "value_targets"  # [N] float32
LOSS_MASK = "loss_mask"  # [B, T] bool, recurrent batches only


@dataclass
class TrainBatch:
    """Numpy (or, after a backend's ``to_tensors``, framework) columns of one update.

    Attributes:
        inputs: what ``forward_train`` gets. Feed-forward: ``{"obs": [N, ...]}``.
            Recurrent: ``{"obs": [B, T, ...], "state_in": {k: [B, ...]}, "seq_lens": [B]}``.
        targets: per-step loss columns: ``actions``, ``action_logp``, ``vf_preds``,
            ``action_dist_inputs`` (only when every fragment has them) and the
            algorithm's own columns (PPO: ``advantages``, ``value_targets``); ``[N, ...]``,
            or ``[B, T, ...]`` plus ``loss_mask`` ``[B, T]`` when recurrent.
        row_steps: ``[R]`` valid steps per row (ones, or ``seq_lens``); numpy always.
        sequences: True when rows are sequences.
    """

    inputs: Dict[str, Any]
    targets: Dict[str, Any]
    row_steps: np.ndarray
    sequences: bool

    @property
    def num_rows(self) -> int:
        return len(self.row_steps)

    @property
    def num_steps(self) -> int:
        return int(self.row_steps.sum())


def _float32(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _single_precision(x: np.ndarray) -> np.ndarray:
    """float64 actions (some envs' Box spaces) as float32, like the distributions' inputs."""
    return x.astype(np.float32) if x.dtype == np.float64 else x


def build_train_batch(
    fragments: Sequence[Fragment],
    extra_targets: Mapping[str, np.ndarray],
    max_seq_len: Optional[int] = None,
    module_id: str = "",
) -> TrainBatch:
    """Lay ``fragments`` end to end; cut into ``[B, max_seq_len]`` sequences when
    ``max_seq_len`` is given (recurrent modules, whose fragments carry ``state_in``).

    :param extra_targets: flat ``[N]`` per-step columns (in fragment order) to add to
        ``targets`` (e.g. advantages and value targets).
    """
    fragments = [f for f in fragments if len(f) > 0]
    if not fragments:
        raise ValueError(f"module {module_id!r}: no steps to train on (all fragments are empty)")
    targets: Dict[str, Any] = {
        Columns.ACTIONS: map_structure(_single_precision, concatenate([f.actions for f in fragments])),
        Columns.ACTION_LOGP: _float32(np.concatenate([np.reshape(f.action_logp, -1) for f in fragments])),
        Columns.VF_PREDS: _float32(np.concatenate([np.reshape(f.vf_preds, -1) for f in fragments])),
    }
    if all(f.action_dist_inputs is not None for f in fragments):
        targets[Columns.ACTION_DIST_INPUTS] = _float32(np.concatenate([f.action_dist_inputs for f in fragments]))
    targets.update(extra_targets)
    obs = concatenate([f.obs for f in fragments])
    if max_seq_len is None:
        n = sum(len(f) for f in fragments)
        return TrainBatch({Columns.OBS: obs}, targets, np.ones(n, np.int64), sequences=False)

    missing = [i for i, f in enumerate(fragments) if f.state_in is None]
    if missing:
        raise ValueError(
            f"module {module_id!r} is recurrent but fragment(s) {missing[:5]} have no state_in; "
            "the env runner must record the state before each step"
        )
    cut = cut_sequences([len(f) for f in fragments], max_seq_len)
    state_in = cut.at_starts(concatenate([f.state_in for f in fragments]))
    inputs = {
        Columns.OBS: cut.pad(obs),
        Columns.STATE_IN: state_in,
        Columns.SEQ_LENS: cut.seq_lens,
    }
    targets = {k: cut.pad(v) for k, v in targets.items()}
    targets[LOSS_MASK] = cut.mask()
    return TrainBatch(inputs, targets, cut.seq_lens.astype(np.int64), sequences=True)
