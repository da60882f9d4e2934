"""TorchRLModule: an RLModule that is a ``torch.nn.Module``."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch
from torch import nn

from rlmodule.rl_module import RLModule, RLModuleConfig

_set_grad_enabled = torch._C._set_grad_enabled  # no_grad without the context-manager cost
_is_grad_enabled = torch.is_grad_enabled


class TorchRLModule(nn.Module, RLModule):
    """Base class of torch RLModules.

    ``forward_exploration`` and ``forward_inference`` run without autograd and in eval
    mode (dropout off, batch-norm running statistics; the mode is restored after);
    ``forward_train`` (and ``module(batch)``) switch to train mode and record
    gradients, as RLlib's ``TorchRLModule`` and legacy ``TorchPolicyV2`` do.
    ``get_state()`` is the ``state_dict()``.
    """

    framework = "torch"

    def __init__(self, config: Optional[RLModuleConfig] = None) -> None:
        nn.Module.__init__(self)
        RLModule.__init__(self, config)

    def forward(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """``module(batch)`` is ``forward_train(batch)``."""
        return self.forward_train(batch, **kwargs)

    def forward_exploration(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """As :meth:`RLModule.forward_exploration`, without autograd, in eval mode."""
        previous, was_training = _is_grad_enabled(), self.training
        _set_grad_enabled(False)
        if was_training:
            self.train(False)
        try:
            return self._checked_forward("exploration", self._forward_exploration, batch, kwargs)
        finally:
            _set_grad_enabled(previous)
            if was_training:
                self.train(True)

    def forward_inference(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """As :meth:`RLModule.forward_inference`, without autograd, in eval mode."""
        previous, was_training = _is_grad_enabled(), self.training
        _set_grad_enabled(False)
        if was_training:
            self.train(False)
        try:
            return self._checked_forward("inference", self._forward_inference, batch, kwargs)
        finally:
            _set_grad_enabled(previous)
            if was_training:
                self.train(True)

    def forward_train(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """As :meth:`RLModule.forward_train`, in train mode."""
        if not self.training:
            self.train(True)
        return self._checked_forward("train", self._forward_train, batch, kwargs)

    def get_state(self) -> Dict[str, torch.Tensor]:
        """The ``state_dict()`` (parameter and buffer names -> tensors)."""
        return self.state_dict()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a ``state_dict`` (torch tensors or numpy arrays), strictly."""
        self.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=True)
