"""Legacy ``ray.rllib.policy.rnn_sequencing.add_time_dimension``: padded rows
``[B * T, ...]`` -> ``[B, T, ...]`` (torch, numpy or tf)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch


def add_time_dimension(
    padded_inputs: Any,
    seq_lens_or_max_seq_len: Any = None,
    framework: str = "torch",
    time_major: bool = False,
    *,
    seq_lens: Any = None,
    max_seq_len: Optional[int] = None,
) -> Any:
    """``[B * T, ...] -> [B, T, ...]`` (``[T, B, ...]`` if ``time_major``), for inputs
    padded to ``T`` steps per sequence: ``B = len(seq_lens)``, or ``T = max_seq_len``.

    Every RLlib signature of it: ``(x, *, seq_lens=..., framework=...)`` (ray >= 1.4),
    ``(x, max_seq_len, framework, time_major)`` (ray 1.0-1.3) and ``(x, seq_lens,
    framework)`` (ray 0.8): a second positional argument that is an int is
    ``max_seq_len``, anything else ``seq_lens``. ``framework``: ``"torch"``, ``"np"``, or
    ``"tf"`` / ``"tf2"`` (tf ops, as legacy's TF branch: a migrated ``TfRLModule`` calls it
    too)."""
    if seq_lens_or_max_seq_len is not None:
        if isinstance(seq_lens_or_max_seq_len, (int, np.integer)):
            max_seq_len = int(seq_lens_or_max_seq_len)
        else:
            seq_lens = seq_lens_or_max_seq_len
    if (seq_lens is None) == (max_seq_len is None):
        raise TypeError("add_time_dimension() takes seq_lens or max_seq_len (exactly one)")
    if framework in ("tf", "tf2"):
        import tensorflow as tf

        if time_major:  # as legacy: its TF branch asserts the same
            raise NotImplementedError("add_time_dimension: time_major=True is not supported for tf (nor was it in RLlib)")
        rows = tf.shape(padded_inputs)[0]
        batch = tf.shape(seq_lens)[0] if seq_lens is not None else rows // max_seq_len
        shape = tf.concat([[batch, rows // batch], tf.shape(padded_inputs)[1:]], axis=0)
        return tf.reshape(padded_inputs, shape)
    if framework == "torch":
        padded_inputs = torch.as_tensor(padded_inputs)
    elif framework == "np":
        padded_inputs = np.asarray(padded_inputs)
    else:
        raise ValueError(f"framework must be 'torch', 'np', 'tf' or 'tf2', got {framework!r}")
    new_batch_size = len(seq_lens) if seq_lens is not None else padded_inputs.shape[0] // max_seq_len
    time_size = padded_inputs.shape[0] // new_batch_size
    padded_outputs = padded_inputs.reshape(
        (new_batch_size, time_size) + tuple(padded_inputs.shape[1:])
    )
    if time_major:
        padded_outputs = padded_outputs.swapaxes(0, 1)
    return padded_outputs
