"""Test helpers from the specification: the DiscreteBC modules and BCConfigTest.

``DiscreteBCTorchModule`` and ``DiscreteBCTfModule`` load their framework on first
access, so importing this package imports neither torch nor tensorflow.
"""

from rlmodule.testing.bc_algorithm import BCAlgorithmTest, BCConfigTest
from rlmodule.lazy import lazy_getattr

_LAZY = {
    "DiscreteBCTorchModule": "rlmodule.torch.bc_module",
    "DiscreteBCTfModule": "rlmodule.tf.bc_module",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = ["BCAlgorithmTest", "BCConfigTest", "DiscreteBCTfModule", "DiscreteBCTorchModule"]
