"""The legacy activation names (``fcnet_activation``, ``conv_activation``, ...) per framework.

Names are case-insensitive, as in legacy ``get_activation_fn``: ``"tanh"``, ``"relu"``,
``"swish"`` (= ``"silu"``), ``"elu"``, and ``"linear"`` (= ``None``, the identity).
:func:`canonical_activation` checks a name without importing a framework, so configs
reject unknown names when they are made.
"""

from __future__ import annotations

from typing import Any, Optional

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


def get_activation(name: Optional[str], framework: str) -> Any:
    """The activation called ``name`` for ``framework``.

    ``"torch"``: an ``nn.Module`` class, instantiated without arguments (``nn.Identity``
    for ``"linear"``/None). ``"tf2"`` or ``"tf"``: a Keras activation function, as
    ``Dense(activation=...)`` takes it (``keras.activations.linear`` for ``"linear"``/None).
    """
    canonical = canonical_activation(name)
    if framework == "torch":
        from torch import nn

        classes = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU}
        return classes.get(canonical, nn.Identity)
    if framework in ("tf", "tf2"):
        import keras

        return getattr(keras.activations, canonical)
    raise ValueError(f"get_activation(framework={framework!r}): choose 'torch' or 'tf2'")
