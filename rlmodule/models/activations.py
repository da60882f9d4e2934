"""The legacy activation names (``fcnet_activation``, ``conv_activation``, ...).

Names are case-insensitive, as in legacy ``get_activation_fn``: ``"tanh"``, ``"relu"``,
``"swish"`` (= ``"silu"``), ``"elu"``, and ``"linear"`` (= ``None``, the identity).
:func:`canonical_activation` checks a name without importing a framework, so configs
reject unknown names when they are made; each backend's ``activation(name)`` is the
framework's layer or function of that name.
"""

from __future__ import annotations

from typing import Optional

_ALIASES = {
    "tanh": "tanh",
    "relu": "relu",
    "swish": "silu",
    "silu": "silu",
    "elu": "elu",
    "linear": "linear",
}


def canonical_activation(name: Optional[str]) -> str:
    """``"tanh"``, ``"relu"``, ``"silu"``, ``"elu"`` or ``"linear"``; ValueError otherwise."""
    key = "linear" if name is None else (name.lower() if isinstance(name, str) else name)
    if key not in _ALIASES:
        raise ValueError(
            f"unknown activation {name!r}: choose one of {sorted(_ALIASES)} or None (= 'linear')"
        )
    return _ALIASES[key]

