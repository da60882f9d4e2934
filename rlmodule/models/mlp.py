"""Fully connected networks: the MLP encoder, the MLP head and the free-log-std head.

Initialisation is legacy ``SlimFC``'s: hidden layers ``normc(1.0)``, the output layer
``normc(output_init_std)`` (legacy logits and value layers use 0.01), biases zero.
``normc(std)`` draws each unit's incoming weights from N(0, 1) and scales them to norm
``std``; both backends implement it (same distribution, not the same values).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any, Optional, Sequence, Tuple, Union

from rlmodule.models.activations import canonical_activation
from rlmodule.models.base import ModelConfig


def _is_positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def positive_int(value: Any, where: str) -> int:
    """``value`` if it is a positive int; ValueError naming ``where`` otherwise."""
    if not _is_positive_int(value):
        raise ValueError(f"{where} must be a positive int, got {value!r}")
    return value


def positive_ints(value: Any, where: str) -> Tuple[int, ...]:
    """``value`` (a sequence of positive ints) as a tuple; ValueError naming ``where``."""
    if not isinstance(value, (list, tuple)) or not all(_is_positive_int(v) for v in value):
        raise ValueError(f"{where} must be a list of positive ints, got {value!r}")
    return tuple(value)


def vector_dims(value: Union[int, Sequence[int]], where: str) -> Tuple[int]:
    """``D`` or ``[D]`` as ``(D,)``; ValueError naming ``where`` for anything else."""
    dims = positive_ints([value] if isinstance(value, int) else value, where)
    if len(dims) != 1:
        raise ValueError(f"{where} must be one positive int [D], got {value!r}")
    return dims


@dataclass
class MLPEncoderConfig(ModelConfig):
    """``obs [..., D_in]`` -> ``encoder_out [..., D_out]``: each hidden layer is a
    Linear followed by ``hidden_layer_activation`` (legacy ``FullyConnectedNetwork``
    with ``num_outputs=None``). ``D_out`` is the last hidden size, or ``D_in`` without
    hidden layers. obs is cast to float32 first."""

    input_dims: Union[int, Sequence[int]]
    hidden_layer_dims: Sequence[int]
    hidden_layer_activation: Optional[str] = "tanh"

    def __post_init__(self) -> None:
        self.input_dims = vector_dims(self.input_dims, "MLPEncoderConfig.input_dims")
        self.hidden_layer_dims = positive_ints(
            self.hidden_layer_dims, "MLPEncoderConfig.hidden_layer_dims"
        )
        canonical_activation(self.hidden_layer_activation)

    @property
    def output_dims(self) -> Tuple[int]:
        return (self.hidden_layer_dims[-1],) if self.hidden_layer_dims else self.input_dims


@dataclass
class MLPHeadConfig(ModelConfig):
    """``[..., D_in]`` -> ``[..., output_layer_dim]``: hidden layers (Linear +
    ``hidden_layer_activation``), then the output Linear + ``output_layer_activation``.
    Every argument after ``input_dims`` is keyword-only."""

    input_dims: Union[int, Sequence[int]]
    _: KW_ONLY
    hidden_layer_dims: Sequence[int] = ()
    hidden_layer_activation: Optional[str] = "relu"
    output_layer_dim: int
    output_layer_activation: Optional[str] = "linear"
    output_init_std: float = 0.01

    def __post_init__(self) -> None:
        name = type(self).__name__
        self.input_dims = vector_dims(self.input_dims, f"{name}.input_dims")
        self.hidden_layer_dims = positive_ints(self.hidden_layer_dims, f"{name}.hidden_layer_dims")
        positive_int(self.output_layer_dim, f"{name}.output_layer_dim")
        canonical_activation(self.hidden_layer_activation)
        canonical_activation(self.output_layer_activation)

    def mlp_args(self, output_dim: Optional[int] = None) -> Tuple[Any, ...]:
        """Positional arguments of the backends' MLP classes: input dim, hidden dims,
        hidden activation, output dim (``output_dim`` overrides ``output_layer_dim``),
        output activation, output init std."""
        return (
            self.input_dims[0],
            self.hidden_layer_dims,
            self.hidden_layer_activation,
            output_dim or self.output_layer_dim,
            self.output_layer_activation,
            self.output_init_std,
        )

    @property
    def output_dims(self) -> Tuple[int]:
        return (self.output_layer_dim,)


@dataclass
class FreeLogStdMLPHeadConfig(MLPHeadConfig):
    """``[..., D_in]`` -> ``[..., 2D]`` with ``output_layer_dim = 2D``: an MLP head of
    ``D`` outputs (the means), followed by a trainable, state-independent log-std vector
    of ``D`` (initially 0), as legacy ``free_log_std=True``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.output_layer_dim % 2:
            raise ValueError(
                "FreeLogStdMLPHeadConfig.output_layer_dim must be even (means and log-stds), "
                f"got {self.output_layer_dim}"
            )
