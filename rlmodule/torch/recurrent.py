"""TorchRecurrentEncoder: a per-step tokenizer, then ``nn.LSTM`` / ``nn.GRU`` over time."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rlmodule.columns import Columns
from rlmodule.models.base import ENCODER_OUT
from rlmodule.models.recurrent import RecurrentEncoderConfig, check_state_in
from rlmodule.tree import flatten, map_structure

States = Tuple[torch.Tensor, ...]  # (h, c) for LSTM, (h,) for GRU; each [L, B, H]


class TorchRecurrentEncoder(nn.Module):
    """``obs`` ``[B, T, ...]`` + ``state_in`` ``{k: [B, L, H]}`` (+ ``seq_lens`` ``[B]``) ->
    ``encoder_out`` ``[B, T, H]`` + ``state_out`` ``{k: [B, L, H]}``; see
    :class:`RecurrentEncoderConfig`.

    ``self.tokenizer``: the tokenizer module or None; ``self.rnn``: one
    ``nn.LSTM``/``nn.GRU(batch_first=True, num_layers=L)``.
    """

    def __init__(self, config: RecurrentEncoderConfig) -> None:
        super().__init__()
        self.config = config
        tokenizer_config = config.tokenizer_config
        self.tokenizer = tokenizer_config.build("torch") if tokenizer_config is not None else None
        rnn_cls = nn.LSTM if config.recurrent_layer_type == "lstm" else nn.GRU
        self.rnn = rnn_cls(
            config.rnn_input_dim,
            config.hidden_dim,
            num_layers=config.num_layers,
            bias=config.use_bias,
            batch_first=True,
        )

    def get_initial_state(self) -> Dict[str, torch.Tensor]:
        """``{k: zeros [L, H]}`` (no batch dim) for each state key."""
        shape = (self.config.num_layers, self.config.hidden_dim)
        return {k: torch.zeros(shape) for k in self.config.state_keys}

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        keys = self.config.state_keys
        state_in = check_state_in(batch, keys, type(self).__name__)
        tokens = self._tokenize(batch[Columns.OBS])
        h0 = tuple(state_in[k].transpose(0, 1).contiguous() for k in keys)  # each [L, B, H]
        seq_lens = batch.get(Columns.SEQ_LENS)
        if seq_lens is None:
            out, hn = self._rnn(tokens, h0)
        else:
            out, hn = self._masked_rnn(tokens, h0, torch.as_tensor(seq_lens))
        state_out = {k: s.transpose(0, 1) for k, s in zip(keys, hn)}
        return {ENCODER_OUT: out, Columns.STATE_OUT: state_out}

    def _tokenize(self, obs: Any) -> torch.Tensor:
        """``obs`` ``[B, T, ...]`` (leaves of a nested obs alike) -> ``[B, T, D]`` tokens."""
        b, t = flatten(obs, lists=True)[0].shape[:2]
        if self.tokenizer is None:
            return obs.reshape(b, t, self.config.rnn_input_dim).float()
        folded = map_structure(lambda x: x.reshape(b * t, *x.shape[2:]), obs, lists=True)
        return self.tokenizer({Columns.OBS: folded})[ENCODER_OUT].reshape(b, t, -1)

    def _rnn(self, x: Any, h0: States) -> Tuple[Any, States]:
        """``self.rnn`` with states as a tuple: ``(h, c)`` for LSTM, ``(h,)`` for GRU."""
        out, hn = self.rnn(x, h0 if len(h0) == 2 else h0[0])
        return out, hn if isinstance(hn, tuple) else (hn,)

    def _masked_rnn(
        self, tokens: torch.Tensor, h0: States, seq_lens: torch.Tensor
    ) -> Tuple[torch.Tensor, States]:
        """The RNN over the first ``seq_lens[b]`` steps of each row: outputs after them
        are zeros; rows of length 0 keep their input state."""
        lengths = seq_lens.to("cpu", torch.int64)
        packed = pack_padded_sequence(
            tokens, lengths.clamp(min=1), batch_first=True, enforce_sorted=False
        )
        packed_out, hn = self._rnn(packed, h0)
        out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=tokens.shape[1])
        empty = (lengths == 0).to(tokens.device)
        out = out.masked_fill(empty[:, None, None], 0.0)
        return out, tuple(torch.where(empty[:, None], a, b) for a, b in zip(h0, hn))
