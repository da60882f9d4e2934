"""rlmodule: a standalone RLModule core (torch and TensorFlow backends).

Importing this package imports neither torch nor tensorflow: the backends live in
``rlmodule.torch`` and ``rlmodule.tf`` and load when used.
"""

from rlmodule.columns import Columns
from rlmodule.marl_module import (
    MultiAgentRLModule,
    MultiAgentRLModuleConfig,
    MultiAgentRLModuleSpec,
    MultiRLModule,
    MultiRLModuleSpec,
)
from rlmodule.nested_dict import NestedDict
from rlmodule.rl_module import (
    DEFAULT_MODULE_ID,
    DEFAULT_POLICY_ID,
    RLModule,
    RLModuleConfig,
    RLModuleSpec,
    SingleAgentRLModuleSpec,
)
from rlmodule.specs import OneOf, SpecCheckError, SpecType, TensorSpec, TypeSpec

__version__ = "0.1.0"

__all__ = [
    "Columns",
    "DEFAULT_MODULE_ID",
    "DEFAULT_POLICY_ID",
    "MultiAgentRLModule",
    "MultiAgentRLModuleConfig",
    "MultiAgentRLModuleSpec",
    "MultiRLModule",
    "MultiRLModuleSpec",
    "NestedDict",
    "OneOf",
    "RLModule",
    "RLModuleConfig",
    "RLModuleSpec",
    "SingleAgentRLModuleSpec",
    "SpecCheckError",
    "SpecType",
    "TensorSpec",
    "TypeSpec",
]
