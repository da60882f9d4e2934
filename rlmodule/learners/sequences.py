"""Cutting fragments into padded ``[B, T]`` training sequences for recurrent modules.

Each fragment is cut into consecutive pieces of ``T = max_seq_len`` steps (the last
piece shorter). Sequence ``b`` starts at flat step ``starts[b]`` (steps of all
fragments laid end to end) and holds ``seq_lens[b]`` valid steps; padded steps are
zeros and ``mask`` is False there. A sequence's ``state_in`` is the state the runner
recorded before its first step (``Fragment.state_in[start]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from rlmodule.tree import map_structure


@dataclass
class SequenceCut:
    """Where ``N`` flat steps go in a ``[B, T]`` grid.

    Attributes:
        starts: ``[B]`` flat index of each sequence's first step.
        seq_lens: ``[B]`` int32 valid steps per sequence (``1..T``).
        max_seq_len: ``T``.
        rows, cols: ``[N]`` grid position of each flat step.
    """

    starts: np.ndarray
    seq_lens: np.ndarray
    max_seq_len: int
    rows: np.ndarray
    cols: np.ndarray

    @property
    def num_sequences(self) -> int:
        return len(self.seq_lens)

    def mask(self) -> np.ndarray:
        """``[B, T]`` bool, True at valid steps."""
        return np.arange(self.max_seq_len)[None, :] < self.seq_lens[:, None]

    def pad(self, flat: Any) -> Any:
        """``[N, ...]`` (or a nested dict/tuple of such) -> ``[B, T, ...]``, zeros at padding."""

        def one(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x)
            out = np.zeros((self.num_sequences, self.max_seq_len) + x.shape[1:], dtype=x.dtype)
            out[self.rows, self.cols] = x
            return out

        return map_structure(one, flat)

    def at_starts(self, flat: Any) -> Any:
        """``[N, ...]`` (nested alike) -> ``[B, ...]``: the value at each sequence's first step."""
        return map_structure(lambda x: np.asarray(x)[self.starts], flat)


def cut_sequences(lengths: Sequence[int], max_seq_len: int) -> SequenceCut:
    """Cut fragments of ``lengths`` (laid end to end) into sequences of at most
    ``max_seq_len`` steps; sequences never cross a fragment boundary."""
    if max_seq_len is None or int(max_seq_len) < 1:
        raise ValueError(f"max_seq_len must be an int >= 1, got {max_seq_len!r}")
    t = int(max_seq_len)
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    pieces = -(-lengths // t)  # ceil: sequences per fragment (0 for an empty fragment)
    first_seq = np.concatenate([[0], np.cumsum(pieces)[:-1]])
    frag_of_seq = np.repeat(np.arange(len(lengths)), pieces)
    piece = np.arange(int(pieces.sum())) - first_seq[frag_of_seq]
    starts = offsets[frag_of_seq] + piece * t
    seq_lens = np.minimum(t, lengths[frag_of_seq] - piece * t).astype(np.int32)
    rows = np.repeat(np.arange(len(seq_lens)), seq_lens)
    cols = np.arange(int(lengths.sum())) - starts[rows]
    return SequenceCut(starts=starts, seq_lens=seq_lens, max_seq_len=t, rows=rows, cols=cols)
