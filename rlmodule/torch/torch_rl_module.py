"""TorchRLModule: an RLModule that is a ``torch.nn.Module``."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from rlmodule.rl_module import RLModule, RLModuleConfig

_set_grad_enabled = torch._C._set_grad_enabled  # no_grad without the context-manager cost
_is_grad_enabled = torch.is_grad_enabled

#: Layers whose forward never reads ``training``: the acting forwards leave their flag alone.
_MODE_FREE = frozenset((
    nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Sequential, nn.ModuleList, nn.ModuleDict,
    nn.Identity, nn.Flatten, nn.Unflatten, nn.Embedding, nn.LayerNorm, nn.ZeroPad2d, nn.MaxPool2d,
    nn.Tanh, nn.ReLU, nn.ELU, nn.SiLU, nn.Sigmoid, nn.Softplus, nn.LeakyReLU, nn.GELU, nn.Softmax, nn.LogSoftmax,
))


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
        return self._acting_forward("exploration", self._forward_exploration, batch, kwargs)

    def forward_inference(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """As :meth:`RLModule.forward_inference`, without autograd, in eval mode."""
        return self._acting_forward("inference", self._forward_inference, batch, kwargs)

    def _acting_forward(self, phase: str, fn: Any, batch: Mapping[str, Any], kwargs: dict) -> Dict[str, Any]:
        """``_checked_forward`` without autograd and in eval mode, both restored after;
        nothing to switch when they are on already (inside an :class:`~rlmodule.acting.Actor`).
        The per-call form of :meth:`_enter_acting`, written out: two method calls and a
        tuple cost ~1% of a batch-1 forward of a small network (``make bench``)."""
        grad, training = _is_grad_enabled(), self.training
        if not (grad or training):
            return self._checked_forward(phase, fn, batch, kwargs)
        _set_grad_enabled(False)
        if training:
            self._set_acting_mode(False)
        try:
            return self._checked_forward(phase, fn, batch, kwargs)
        finally:
            _set_grad_enabled(grad)
            if training:
                self._set_acting_mode(True)

    def _enter_acting(self, inference: bool = False) -> Tuple[Any, bool]:
        """Switch to the acting mode: autograd off (``inference``: ``torch.inference_mode()``,
        cheaper per op; its tensors never enter autograd, so only for blocks whose results
        leave as numpy) and eval mode (:meth:`_set_acting_mode`) when in train mode.
        Returns what :meth:`_exit_acting` restores.

        :class:`rlmodule.acting.Actor` enters it per ``act()`` or once for a block of calls
        (then the forwards find it on and switch nothing); the acting forwards switch the
        same two things per call (:meth:`_acting_forward`)."""
        training = self.training
        if inference:
            previous: Any = torch.inference_mode()
            previous.__enter__()
        else:
            previous = _is_grad_enabled()
            _set_grad_enabled(False)
        if training:
            self._set_acting_mode(False)
        return previous, training

    def _exit_acting(self, token: Tuple[Any, bool]) -> None:
        """Restore what :meth:`_enter_acting` switched."""
        previous, training = token
        if training:
            self._set_acting_mode(True)
        if previous is True or previous is False:
            _set_grad_enabled(previous)
        else:
            previous.__exit__(None, None, None)

    def forward_train(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """As :meth:`RLModule.forward_train`, in train mode."""
        if not self.training:
            self.train(True)
        return self._checked_forward("train", self._forward_train, batch, kwargs)

    def _set_acting_mode(self, training: bool) -> None:
        """Set ``training`` on this module and on every submodule whose forward may read
        it (all but the :data:`_MODE_FREE` layers), found at the first acting forward.
        ``nn.Module.train()`` would walk and dispatch to every submodule on each call,
        which doubled the cost of acting with a small network."""
        switched = self.__dict__.get("_mode_switched")
        if switched is None:
            switched = [
                m for m in self.modules()
                if type(m) not in _MODE_FREE and not (isinstance(m, nn.RNNBase) and not m.dropout)
            ]
            self.__dict__["_mode_switched"] = switched  # a plain attribute: not a registered submodule
        for module in switched:
            module.__dict__["training"] = training

    def get_state(self) -> Dict[str, torch.Tensor]:
        """The ``state_dict()`` (parameter and buffer names -> tensors)."""
        return self.state_dict()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a ``state_dict`` (torch tensors or numpy arrays), strictly."""
        self.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=True)
