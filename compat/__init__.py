"""compat: adapters between legacy RLlib (ModelV2 / Policy) and RLModules.

Imports ``rlmodule`` and torch; imports ``ray`` only inside the functions that need
it, never at import time (legacy objects are duck-typed).
"""

from compat import parity
from compat.convert_checkpoint import ConversionReport, convert_checkpoint
from compat.legacy_policy_rl_module import LegacyPolicyRLModule
from compat.modelv2_rl_module import ModelV2RLModule
from compat.port_weights import port_weights
from compat.rl_module_policy import RLModulePolicy

__all__ = [
    "ConversionReport", "LegacyPolicyRLModule", "ModelV2RLModule", "RLModulePolicy",
    "convert_checkpoint", "parity", "port_weights",
]
