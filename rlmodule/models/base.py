"""The contract every model config and built model follows.

Encoders (built from ``*EncoderConfig``): ``forward(batch) -> dict`` (torch) or
``call(batch) -> dict`` (Keras), where ``batch`` holds ``obs`` (``[B, ...]``, or
``[B, T, ...]`` for recurrent encoders, which also read ``state_in`` and optionally
``seq_lens``) and the result holds ``encoder_out`` (``[B, D]`` / ``[B, T, D]``) and, for
recurrent encoders, ``state_out``. Recurrent encoders also have
``get_initial_state() -> dict`` of tensors without batch dim.

Heads (built from ``*HeadConfig``): ``forward(x) -> y`` on tensors ``[..., D_in]`` ->
``[..., D_out]``.
"""

from __future__ import annotations

import abc
from typing import Any, Tuple

from rlmodule.backend import backend, framework_name

ENCODER_OUT = "encoder_out"
ACTOR = "actor"
CRITIC = "critic"


class ModelConfig(abc.ABC):
    """A config that builds one network for a framework."""

    @property
    @abc.abstractmethod
    def output_dims(self) -> Tuple[int, ...]:
        """The shape of one output, without batch (and time) dims."""

    def build(self, framework: str) -> Any:
        """A ``torch.nn.Module`` (``"torch"``) or a Keras layer (``"tf2"``, or ``"tf"``):
        the network the backend's ``build_model`` makes for this config."""
        try:
            name = framework_name(framework)
        except ValueError:
            raise ValueError(f"{type(self).__name__}.build(framework={framework!r}): choose 'torch' or 'tf2'") from None
        return backend(name).build_model(self)
