"""The backends: one module per framework, chosen by name.

``rlmodule.torch.backend`` and ``rlmodule.tf.backend`` define the same names, so code
that works for either framework asks :func:`backend` once and calls through it instead
of testing ``framework ==``:

- ``NAME``: ``"torch"`` or ``"tf2"`` (a module's ``framework`` attribute);
- ``TENSOR_TYPES``: the tensor classes of the framework;
- ``to_tensor(x, device=None)`` / ``to_numpy(x)``: a nested structure (dicts, tuples,
  lists) of numpy arrays <-> the same structure of tensors;
- ``device_of(module)``: where a module's weights live (``None``: CPU);
- ``seed(seed)``, ``rng_state()``, ``set_rng_state(state)``: the framework's global RNG.

Importing this module imports no framework; :func:`backend` loads the one asked for.
"""

from __future__ import annotations

import importlib
import random
from types import ModuleType
from typing import Any, Dict, Mapping, Optional

import numpy as np

#: Accepted framework spellings -> the backend's ``NAME``.
FRAMEWORKS = {"torch": "torch", "tf2": "tf2", "tf": "tf2", "tensorflow": "tf2"}
_MODULES = {"torch": "rlmodule.torch.backend", "tf2": "rlmodule.tf.backend"}


def framework_name(framework: Any) -> str:
    """``"torch"`` or ``"tf2"`` for a framework name (``"tf"`` and ``"tensorflow"`` mean
    ``"tf2"``) or for an object with a ``framework`` attribute (a module, a config's
    ``framework_str``); ValueError naming the accepted names otherwise."""
    name = framework if isinstance(framework, str) else getattr(framework, "framework", None)
    if name in FRAMEWORKS:
        return FRAMEWORKS[name]
    owner = "" if isinstance(framework, str) or framework is None else f"{type(framework).__name__}.framework is "
    raise ValueError(f"{owner}{name!r}: not a framework; expected one of {sorted(FRAMEWORKS)}")


def backend(framework: Any) -> ModuleType:
    """The backend module for a framework name or an object with ``framework``."""
    return importlib.import_module(_MODULES[framework_name(framework)])


def seed_everything(seed: Optional[int], framework: Any) -> None:
    """Seed Python, numpy and the framework's global RNG (no-op for ``None``)."""
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed % 2**32)
    backend(framework).seed(seed)


def rng_state(framework: Any) -> Dict[str, Any]:
    """The global RNG states (Python, numpy, the framework's) as a checkpointable tree."""
    version, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: Dict[str, Any] = {
        "numpy": {"keys": keys, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": py_version, "internal": np.asarray(py_internal, dtype=np.uint64), "gauss": py_gauss},
    }
    state.update(backend(framework).rng_state())
    return state


def set_rng_state(state: Mapping[str, Any], framework: Any) -> None:
    """Restore what :func:`rng_state` returned."""
    n = state["numpy"]
    np.random.set_state(("MT19937", np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["internal"]), p["gauss"]))
    backend(framework).set_rng_state(state)
