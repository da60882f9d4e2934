"""PPO: config, catalog and modules. The framework modules load on first access, so
``import rlmodule.algorithms.ppo`` imports neither torch nor tensorflow."""

from rlmodule.algorithms.ppo.ppo import PPO, PPOConfig
from rlmodule.algorithms.ppo.ppo_catalog import PPOCatalog
from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule
from rlmodule.lazy import lazy_getattr

_LAZY = {
    "PPOTorchRLModule": "rlmodule.torch.ppo_rl_module",
    "PPOTfRLModule": "rlmodule.tf.ppo_rl_module",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = ["PPO", "PPOCatalog", "PPOConfig", "PPORLModule", "PPOTfRLModule", "PPOTorchRLModule"]
