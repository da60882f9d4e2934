"""RecurrentEncoderConfig: a per-step tokenizer followed by an LSTM or GRU over time.

Importing this module imports no framework; ``build()`` loads the backend it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from rlmodule.columns import Columns
from rlmodule.models.base import ModelConfig

RECURRENT_LAYER_TYPES = ("lstm", "gru")


@dataclass
class RecurrentEncoderConfig(ModelConfig):
    """Tokenizer per time step, then a ``num_layers``-deep LSTM/GRU of width ``hidden_dim``.

    Batch in: ``obs`` ``[B, T, *input_dims]`` (or a nested Dict/Tuple of ``[B, T, ...]``
    leaves when the tokenizer is a complex-input encoder), ``state_in``
    (``{"h": [B, L, H], "c": [B, L, H]}`` for LSTM, ``{"h": [B, L, H]}`` for GRU) and
    optionally ``seq_lens`` ``[B]``. Out: ``encoder_out`` ``[B, T, H]`` (zeros at steps
    ``>= seq_lens[b]``) and ``state_out`` (as ``state_in``, taken after the last valid step).

    ``tokenizer_config`` is any encoder config applied to ``{"obs": [B*T, ...]}``; ``None``
    flattens ``obs`` to ``[B, T, prod(input_dims)]`` float.
    """

    input_dims: Tuple[int, ...]
    recurrent_layer_type: str = "lstm"
    hidden_dim: int = 256
    num_layers: int = 1
    tokenizer_config: Optional[ModelConfig] = None
    use_bias: bool = True

    def __post_init__(self) -> None:
        if self.recurrent_layer_type not in RECURRENT_LAYER_TYPES:
            raise ValueError(
                f"RecurrentEncoderConfig: recurrent_layer_type={self.recurrent_layer_type!r} "
                f"is not one of {RECURRENT_LAYER_TYPES}"
            )
        if self.num_layers < 1:
            raise ValueError(f"RecurrentEncoderConfig: num_layers={self.num_layers} must be >= 1")
        self.input_dims = tuple(self.input_dims)

    @property
    def output_dims(self) -> Tuple[int, ...]:
        return (self.hidden_dim,)

    @property
    def state_keys(self) -> Tuple[str, ...]:
        """``("h", "c")`` for LSTM, ``("h",)`` for GRU."""
        return ("h", "c") if self.recurrent_layer_type == "lstm" else ("h",)

    @property
    def rnn_input_dim(self) -> int:
        """Features per time step fed to the RNN: the tokenizer's flat output size, or
        ``prod(input_dims)`` without a tokenizer."""
        tokenizer = self.tokenizer_config
        dims = tokenizer.output_dims if tokenizer is not None else self.input_dims
        return math.prod(dims)


def check_state_in(
    batch: Mapping[str, Any], keys: Tuple[str, ...], where: str
) -> Mapping[str, Any]:
    """``batch["state_in"]``; raises ValueError naming ``state_in`` or the missing keys."""
    if Columns.STATE_IN not in batch:
        raise ValueError(f"{where}: batch has no {Columns.STATE_IN!r} (expected keys {keys})")
    state_in = batch[Columns.STATE_IN]
    missing = [k for k in keys if k not in state_in]
    if missing:
        raise ValueError(
            f"{where}: {Columns.STATE_IN} is missing {', '.join(map(repr, missing))} "
            f"(expected keys {keys}, got {tuple(state_in)})"
        )
    return state_in
