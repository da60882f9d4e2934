"""Test helpers from the specification: the DiscreteBC modules and BCConfigTest.

``DiscreteBCTorchModule`` and ``DiscreteBCTfModule`` load their framework on first
access, so importing this package imports neither torch nor tensorflow.
"""

from rlmodule.testing.bc_algorithm import BCAlgorithmTest, BCConfigTest

_LAZY = {
    "DiscreteBCTorchModule": "rlmodule.testing.torch_bc_module",
    "DiscreteBCTfModule": "rlmodule.testing.tf_bc_module",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rlmodule.testing' has no attribute {name!r}")


__all__ = ["BCAlgorithmTest", "BCConfigTest", "DiscreteBCTfModule", "DiscreteBCTorchModule"]
