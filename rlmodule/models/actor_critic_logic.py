"""The framework-free part of the actor-critic encoders (torch and tf share it)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from rlmodule.columns import Columns
from rlmodule.models.base import ACTOR, CRITIC, ENCODER_OUT

_ENCODER_KEYS = (Columns.OBS, Columns.STATE_IN, Columns.SEQ_LENS)


def encoder_batch(batch: Mapping[str, Any], state: Optional[Any] = None) -> Dict[str, Any]:
    """Only the keys an encoder reads (Keras converts every input it is given)."""
    out = {k: batch[k] for k in _ENCODER_KEYS if k in batch}
    if state is not None:
        out[Columns.STATE_IN] = state
    return out


def actor_critic_forward(actor: Any, critic: Optional[Any], batch: Mapping[str, Any]) -> Dict[str, Any]:
    """Run the shared encoder once, or each side on its own (nested) state."""
    if critic is None:
        out = actor(encoder_batch(batch))
        result = {ENCODER_OUT: {ACTOR: out[ENCODER_OUT], CRITIC: out[ENCODER_OUT]}}
        if Columns.STATE_OUT in out:
            result[Columns.STATE_OUT] = out[Columns.STATE_OUT]
        return result
    state = batch.get(Columns.STATE_IN)
    a = actor(encoder_batch(batch, None if state is None else state[ACTOR]))
    c = critic(encoder_batch(batch, None if state is None else state[CRITIC]))
    result = {ENCODER_OUT: {ACTOR: a[ENCODER_OUT], CRITIC: c[ENCODER_OUT]}}
    if Columns.STATE_OUT in a:
        result[Columns.STATE_OUT] = {ACTOR: a[Columns.STATE_OUT], CRITIC: c[Columns.STATE_OUT]}
    return result


def actor_forward(actor: Any, critic: Optional[Any], batch: Mapping[str, Any]) -> Dict[str, Any]:
    """Only the actor side (inference needs no value): ``encoder_out`` holds ``actor``;
    with separate recurrent encoders the critic's state passes through unchanged."""
    if critic is None:
        out = actor(encoder_batch(batch))
        result = {ENCODER_OUT: {ACTOR: out[ENCODER_OUT]}}
        if Columns.STATE_OUT in out:
            result[Columns.STATE_OUT] = out[Columns.STATE_OUT]
        return result
    state = batch.get(Columns.STATE_IN)
    out = actor(encoder_batch(batch, None if state is None else state[ACTOR]))
    result = {ENCODER_OUT: {ACTOR: out[ENCODER_OUT]}}
    if Columns.STATE_OUT in out:
        result[Columns.STATE_OUT] = {ACTOR: out[Columns.STATE_OUT], CRITIC: state[CRITIC]}
    return result


def critic_forward(actor: Any, critic: Optional[Any], batch: Mapping[str, Any]) -> Dict[str, Any]:
    """Only the critic side (values need no policy): ``encoder_out`` holds ``critic``
    (the shared encoder's output when there is no separate critic)."""
    if critic is None:
        out = actor(encoder_batch(batch))
    else:
        state = batch.get(Columns.STATE_IN)
        out = critic(encoder_batch(batch, None if state is None else state[CRITIC]))
    return {ENCODER_OUT: {CRITIC: out[ENCODER_OUT]}}


def actor_critic_initial_state(actor: Any, critic: Optional[Any]) -> Dict[str, Any]:
    """``{}`` for feed-forward encoders; the encoder's state, nested per side if separate."""
    if not hasattr(actor, "get_initial_state"):
        return {}
    if critic is None:
        return actor.get_initial_state()
    return {ACTOR: actor.get_initial_state(), CRITIC: critic.get_initial_state()}
