"""compat: legacy RLlib (ModelV2 / Policy) code next to RLModules, in three parts.

Runtime - what code emitted by ``rlmigrate`` imports (the paths are written into users'
migrated files, so they never move); it loads no tool, and a migrated TF model loads
no torch:

* ``compat.migrated_model``: the helpers a migrated model class calls (torch or tf);
* ``compat.migrated_builtins``: RLModule bases of migrated subclasses of built-in models;
* ``compat.migrated_policy``: what a migrated policy's hooks run on (torch);
* ``compat.legacy_torch_models``: ray-free drop-ins of the legacy built-in torch models;
* ``compat.preprocessing``: the legacy observation preprocessor they share.

Adapters - run legacy objects and RLModules in each other's place:
``ModelV2RLModule`` (``compat.modelv2_rl_module``), ``LegacyPolicyRLModule``
(``compat.legacy_policy_rl_module``; both map distributions with ``compat.action_dist``)
and ``RLModulePolicy`` (``compat.rl_module_policy``).

Tools - used while migrating, never by migrated code: ``compat.parity`` (``check``: do
the legacy and migrated sides compute the same?), ``compat.port_weights`` and
``compat.convert_checkpoint`` (legacy weights and checkpoints -> RLModule ones).

The names below import their module on first use (``from compat import RLModulePolicy``),
so ``import compat.migrated_model`` runs none of the others. Imports ``rlmodule`` and
torch or TensorFlow; imports ``ray`` only inside the functions that need it, never at
import time (legacy objects are duck-typed).
"""

import importlib
import sys
import types
from typing import Any

from rlmodule.lazy import lazy_getattr

__all__ = [
    "ConversionReport", "LegacyPolicyRLModule", "ModelV2RLModule", "RLModulePolicy",
    "convert_checkpoint", "parity", "port_weights",
]

_names = lazy_getattr(__name__, {
    "ConversionReport": "compat.convert_checkpoint",
    "convert_checkpoint": "compat.convert_checkpoint",
    "LegacyPolicyRLModule": "compat.legacy_policy_rl_module",
    "ModelV2RLModule": "compat.modelv2_rl_module",
    "RLModulePolicy": "compat.rl_module_policy",
    "port_weights": "compat.port_weights",
})


def __getattr__(name: str) -> Any:
    """``compat.parity`` (the package) or one of the names of ``__all__``, imported on first use."""
    if name == "parity":
        return importlib.import_module("compat.parity")
    return _names(name)


class _Package(types.ModuleType):
    """``compat`` itself. ``compat.port_weights`` and ``compat.convert_checkpoint`` name
    functions of the modules of the same name: when such a module loads, the import
    system binds it to this package's attribute, and the function takes its place."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("convert_checkpoint", "port_weights") and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
