"""codemods: libcst rewrites of legacy RLlib code into RLModule code (text -> text).

Imports libcst and the standard library only; never torch, tensorflow or ray.
"""

__all__ = ["import_map"]
