"""Where an algorithm's learners train: the module the env runner acts with, or a copy on a GPU.

With ``config.learners(num_gpus_per_learner=0)`` (the default) an algorithm's learners
train the very module its in-process env runner acts with. With a value in ``(0, 1]``
(torch only) they train a copy on one CUDA device (:func:`rlmodule.torch.cuda.cuda_device`),
and after each update the acting module, which stays on the CPU, gets the copy's
weights (:func:`copy_weights`). Loads no framework at import.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from rlmodule.rl_module import DEFAULT_MODULE_ID, MultiAgentRLModule, RLModule


def learner_device(config: Any) -> Optional[str]:
    """The torch device of the learners' copy of the module, or ``None``: the learners
    train the acting module itself (``num_gpus_per_learner == 0``).

    :raises ValueError: ``num_gpus_per_learner > 0`` with a framework other than torch.
    :raises RuntimeError: ``num_gpus_per_learner > 0`` and torch sees no CUDA device.
    """
    setting = f"learners(num_gpus_per_learner={config.num_gpus_per_learner})"
    if not config.num_gpus_per_learner:
        return None
    if config.framework_str != "torch":
        raise ValueError(
            f"{setting}: the learner on a GPU needs framework 'torch', not {config.framework_str!r} "
            "(TensorFlow places a tf2 module's ops on a visible GPU by itself); set num_gpus_per_learner=0 "
            "or framework('torch')"
        )
    from rlmodule.torch import cuda  # the attribute is read here, so tests can replace it

    return cuda.cuda_device(setting)


def learner_copy(module: RLModule, device: str) -> RLModule:
    """A deep copy of ``module`` (every sub-module of a multi-agent one) on ``device``;
    draws no random numbers."""
    twin = copy.deepcopy(module)
    for sub in by_module_id(twin).values():
        sub.to(device)
    return twin


def copy_weights(source: RLModule, target: RLModule) -> None:
    """``target``'s parameters and buffers <- ``source``'s, in place and across devices
    (``source`` and ``target``: a module and its :func:`learner_copy`)."""
    target.set_state(source.get_state())


def by_module_id(module: RLModule) -> Dict[str, RLModule]:
    """``{module_id: module}``: a multi-agent module's sub-modules, or the default id
    for a single-agent one."""
    if isinstance(module, MultiAgentRLModule):
        return dict(module.items())
    return {DEFAULT_MODULE_ID: module}
