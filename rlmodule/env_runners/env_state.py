"""Capture and restore an environment's state without pickle, for checkpoints.

An env that defines ``get_state() -> tree`` and ``set_state(tree)`` is saved through
them. Otherwise every layer (each wrapper, then ``unwrapped``) is saved as its plain
attributes: numbers, strings, None, numpy arrays, random generators, and lists /
tuples / str-keyed dicts of those. That covers gymnasium's classic-control and toy-text
envs and their wrappers (``TimeLimit``'s step count, ``OrderEnforcing``'s flag).
Attributes holding other objects (spaces, renderers, simulators) are not saved; an env
whose dynamics live in such objects must define ``get_state`` / ``set_state``.
"""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

_SKIP = frozenset({"spec", "_cached_spec", "metadata", "render_mode", "observation_space", "action_space",
                   "_observation_space", "_action_space", "env", "_env", "envs"})
_SCALARS = (bool, int, float, str, type(None), np.number, np.bool_)


def _plain(value: Any) -> bool:
    if isinstance(value, (_SCALARS, np.ndarray)):
        return not (isinstance(value, np.ndarray) and value.dtype == object)
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _encode(value: Any) -> Any:
    if isinstance(value, np.random.Generator):
        return {"__generator__": value.bit_generator.state}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    return value


def _decode(value: Any, current: Any) -> Any:
    if isinstance(value, dict) and "__generator__" in value:
        state = value["__generator__"]
        generator = current if isinstance(current, np.random.Generator) else np.random.Generator(
            getattr(np.random, state["bit_generator"])()
        )
        generator.bit_generator.state = _ints(state)
        return generator
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(_decode(v, None) for v in value["__tuple__"])
    if isinstance(current, np.ndarray) and isinstance(value, np.ndarray):
        return value.astype(current.dtype, copy=True)
    if isinstance(current, (np.number, np.bool_)) and not isinstance(value, np.ndarray):
        return type(current)(value)
    return value


def _ints(state: Any) -> Any:
    """Bit-generator states come back from JSON/safetensors as numpy scalars; numpy
    wants Python ints."""
    if isinstance(state, dict):
        return {k: _ints(v) for k, v in state.items()}
    if isinstance(state, np.ndarray) and state.ndim == 0:
        return state.item()
    if isinstance(state, np.integer):
        return int(state)
    return state


def _layers(env: Any) -> List[Any]:
    layers, seen = [], set()
    while env is not None and id(env) not in seen:
        seen.add(id(env))
        layers.append(env)
        env = getattr(env, "env", None)
    return layers


def get_env_state(env: Any) -> Dict[str, Any]:
    """The env's state tree (see module docstring)."""
    if callable(getattr(env, "get_state", None)) and callable(getattr(env, "set_state", None)):
        return {"custom": env.get_state()}
    layers = []
    for layer in _layers(env):
        saved = {}
        for key, value in vars(layer).items():
            if key in _SKIP:
                continue
            if isinstance(value, np.random.Generator) or _plain(value):
                saved[key] = _encode(value)
        layers.append({"class": type(layer).__qualname__, "attributes": saved})
    return {"layers": layers}


def set_env_state(env: Any, state: Dict[str, Any]) -> None:
    """Restore what :func:`get_env_state` returned (for the same kind of env);
    raises ValueError naming the layer if the wrapper stack differs."""
    if "custom" in state:
        env.set_state(state["custom"])
        return
    layers = _layers(env)
    saved = state["layers"]
    names = [type(layer).__qualname__ for layer in layers]
    if names != [entry["class"] for entry in saved]:
        raise ValueError(f"env state: the env's layers {names} differ from the saved {[e['class'] for e in saved]}")
    for layer, entry in zip(layers, saved):
        for key, value in entry["attributes"].items():
            setattr(layer, key, _decode(value, getattr(layer, key, None)))
