"""APPO: config, algorithm and modules (the framework modules load on first access)."""

from rlmodule.algorithms.appo.appo import APPO, APPOConfig
from rlmodule.algorithms.appo.appo_rl_module import OLD_ACTION_DIST_INPUTS, APPORLModule
from rlmodule.lazy import lazy_getattr

_LAZY = {
    "APPOTorchRLModule": "rlmodule.torch.appo_rl_module",
    "APPOTfRLModule": "rlmodule.tf.appo_rl_module",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = ["APPO", "APPOConfig", "APPORLModule", "APPOTfRLModule", "APPOTorchRLModule", "OLD_ACTION_DIST_INPUTS"]
