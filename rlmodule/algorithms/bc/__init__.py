"""BC (behaviour cloning): :class:`BCConfig` and the :class:`BC` algorithm."""

from rlmodule.algorithms.bc.bc import BC, BCConfig

__all__ = ["BC", "BCConfig"]
