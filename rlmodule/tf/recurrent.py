"""TfRecurrentEncoder: a per-step tokenizer, then stacked Keras LSTM / GRU layers over time."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

import tensorflow as tf

from rlmodule.columns import Columns
from rlmodule.models.base import ENCODER_OUT
from rlmodule.models.recurrent import RecurrentEncoderConfig, check_state_in
from rlmodule.tree import flatten, map_structure


class TfRecurrentEncoder(tf.keras.layers.Layer):
    """``obs`` ``[B, T, ...]`` + ``state_in`` ``{k: [B, L, H]}`` (+ ``seq_lens`` ``[B]``) ->
    ``encoder_out`` ``[B, T, H]`` + ``state_out`` ``{k: [B, L, H]}``; see
    :class:`RecurrentEncoderConfig`.

    ``self.tokenizer``: the tokenizer layer or None; ``self.rnns``: L single-layer Keras
    ``LSTM``/``GRU(reset_after=True)`` layers (``return_sequences``, ``return_state``).
    """

    def __init__(self, config: RecurrentEncoderConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        tokenizer_config = config.tokenizer_config
        self.tokenizer = tokenizer_config.build("tf2") if tokenizer_config is not None else None
        self.rnns = [self._rnn_layer(config) for _ in range(config.num_layers)]

    @staticmethod
    def _rnn_layer(config: RecurrentEncoderConfig) -> tf.keras.layers.Layer:
        common = dict(return_sequences=True, return_state=True, use_bias=config.use_bias)
        if config.recurrent_layer_type == "lstm":
            return tf.keras.layers.LSTM(config.hidden_dim, **common)
        return tf.keras.layers.GRU(config.hidden_dim, reset_after=True, **common)

    def get_initial_state(self) -> Dict[str, tf.Tensor]:
        """``{k: zeros [L, H]}`` (no batch dim) for each state key."""
        shape = (self.config.num_layers, self.config.hidden_dim)
        return {k: tf.zeros(shape) for k in self.config.state_keys}

    def call(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        keys = self.config.state_keys
        state_in = check_state_in(batch, keys, type(self).__name__)
        x = self._tokenize(batch[Columns.OBS])
        seq_lens = batch.get(Columns.SEQ_LENS)
        mask = None if seq_lens is None else tf.sequence_mask(seq_lens, maxlen=tf.shape(x)[1])
        layer_states: List[List[tf.Tensor]] = []
        for layer, rnn in enumerate(self.rnns):
            x, *states = rnn(x, initial_state=[state_in[k][:, layer] for k in keys], mask=mask)
            layer_states.append(states)
        if mask is not None:  # Keras repeats the last valid output at masked steps
            x = x * tf.cast(mask, x.dtype)[:, :, None]
        state_out = {k: tf.stack([s[i] for s in layer_states], axis=1) for i, k in enumerate(keys)}
        return {ENCODER_OUT: x, Columns.STATE_OUT: state_out}

    def _tokenize(self, obs: Any) -> tf.Tensor:
        """``obs`` ``[B, T, ...]`` (leaves of a nested obs alike) -> ``[B, T, D]`` tokens."""
        shape = tf.shape(flatten(obs, lists=True)[0])
        token_shape = [shape[0], shape[1], self.config.rnn_input_dim]
        if self.tokenizer is None:
            return tf.cast(tf.reshape(obs, token_shape), tf.float32)
        folded = map_structure(lambda x: tf.reshape(x, [-1, *x.shape[2:]]), obs, lists=True)
        return tf.reshape(self.tokenizer({Columns.OBS: folded})[ENCODER_OUT], token_shape)
