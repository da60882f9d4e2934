"""The backends: one module per framework, chosen by name.

``rlmodule.torch.backend`` and ``rlmodule.tf.backend`` define the same names, so code
that works for either framework asks :func:`backend` and calls through it instead of
testing ``framework ==``:

- ``NAME``: ``"torch"`` or ``"tf2"`` (a module's ``framework`` attribute);
- ``TENSOR_TYPES``: the tensor classes of the framework;
- ``to_tensor(x, device=None)``, ``to_numpy(x)``: a nested structure (dicts, tuples,
  lists) of numpy arrays <-> the same structure of tensors;
- ``device_of(module)``: where a module's weights live (``None``: CPU);
- ``seed(seed)``, ``rng_state()``, ``set_rng_state(state)``: the framework's global RNG;
- ``set_num_threads(n)``: the framework's intra-op threads (an env-runner actor uses 1);
- ``DISTRIBUTIONS``: each action distribution class of :mod:`rlmodule.distribution`
  -> the framework's subclass;
- ``activation(name)``: the framework's activation of a legacy name
  (:mod:`rlmodule.models.activations`);
- ``build_model(config)``: the network of a model config (:mod:`rlmodule.models`);
- ``rl_module_class(base)``: the framework's RLModule of a framework-free built-in one
  (``PPORLModule``, ``APPORLModule``, ``DiscreteBCModuleBase``);
- ``Ops``: the tensor ops the losses are written against;
- ``LearnerBackend(learner)``: gradients, the optimizer and its state for a
  :class:`~rlmodule.learners.Learner`;
- ``write_weights(module, file)``, ``check_before_building(spec, directory, metadata)``,
  ``load_weights(module, file, metadata, allow_non_finite)``: a module checkpoint's
  weights file (:mod:`rlmodule.checkpoint`);
- ``build_weights(module, observation_space=None)``: create the weights a module makes on
  its first call (Keras), before loading into it;
- ``weight_leaves(model)``: the model's weights in the order
  :mod:`rlmodule.models.weight_transfer` pairs them.

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


_LOADED: Dict[str, ModuleType] = {}


def backend(framework: Any) -> ModuleType:
    """The backend module for a framework name or an object with ``framework``."""
    name = framework_name(framework)
    module = _LOADED.get(name)
    if module is None:
        module = _LOADED[name] = importlib.import_module(_MODULES[name])
    return module


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
