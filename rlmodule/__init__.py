"""rlmodule: a standalone RLModule core (torch and TensorFlow backends).

Where framework code lives: code that imports torch is in ``rlmodule/torch/`` and code
that imports TensorFlow in ``rlmodule/tf/`` (files named for what they hold, no
framework prefix); every other module imports neither and reaches a framework through
``rlmodule.backend.backend(framework)``. So importing this package imports neither
torch nor tensorflow: a backend loads when it is first used.
"""

from rlmodule.columns import Columns
from rlmodule.nested_dict import NestedDict
from rlmodule.rl_module import (
    DEFAULT_MODULE_ID,
    DEFAULT_POLICY_ID,
    MultiAgentRLModule,
    MultiAgentRLModuleConfig,
    MultiAgentRLModuleSpec,
    MultiRLModule,
    MultiRLModuleSpec,
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
