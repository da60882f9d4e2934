"""The multi-agent RLModule classes under RLlib's module name.

They are defined in :mod:`rlmodule.rl_module`, beside RLModule (``RLModule.as_multi_agent()``
returns a MultiAgentRLModule, itself an RLModule: the classes refer to each other). This
is the path the import map gives for ``ray.rllib.core.rl_module.marl_module``, so code
migrated by ``rlmigrate`` imports them from here.
"""

from rlmodule.rl_module import (
    DEFAULT_MODULE_ID,
    MultiAgentRLModule,
    MultiAgentRLModuleConfig,
    MultiAgentRLModuleSpec,
    MultiRLModule,
    MultiRLModuleSpec,
)

__all__ = [
    "DEFAULT_MODULE_ID",
    "MultiAgentRLModule",
    "MultiAgentRLModuleConfig",
    "MultiAgentRLModuleSpec",
    "MultiRLModule",
    "MultiRLModuleSpec",
]
