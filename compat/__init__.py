"""compat: adapters between legacy RLlib (ModelV2 / Policy) and RLModules.

Imports ``rlmodule``; imports ``ray`` only inside the functions that need it, never at
import time. The adapters, weight porting and the parity harness land here next.
"""
