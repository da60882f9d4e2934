"""BC (behaviour cloning): :class:`BCConfig` and the :class:`BC` algorithm."""

from rlmodule.algorithms.bc.bc import BC
from rlmodule.algorithms.bc.bc_config import BCConfig

__all__ = ["BC", "BCConfig"]
