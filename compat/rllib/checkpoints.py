"""Weights between our modules and RLlib 2.60's, both ways.

* :func:`export_rllib_checkpoint` writes our module as an RLlib checkpoint (RLlib's own
  ``Checkpointable.save_to_path`` of the adapter), which
  ``ray.rllib.core.rl_module.RLModule.from_checkpoint(dir)`` loads.
* :func:`import_rllib_module` brings an RLlib-trained adapter's weights into our module;
  ``module.save_to_checkpoint(dir)`` then writes our format (JSON + safetensors).

Where RLlib's format pickles: an RLlib module checkpoint directory holds
``metadata.json``, ``class_and_ctor_args.pkl`` (the module class and its constructor
arguments: spaces, ``model_config``; always written with cloudpickle) and
``module_state.pkl`` (the weights, cloudpickle; ``module_state.msgpack`` only with
RLlib's ``use_msgpack`` option, which needs ``msgpack_numpy``); a multi-agent one holds
one such directory per module id. Loading either ``.pkl`` runs code the file names, so
this module never reads them itself: it takes the weights from a live RLlib module
(``module.get_state()``: numpy arrays) or a state dict, and reads a checkpoint
directory only when the caller says it trusts it (``trust_pickle=True``), through
RLlib's own ``RLModule.from_checkpoint``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from compat.rllib.spec import our_spec, to_rllib_spec
from rlmodule.checkpoint import dir_name
from rlmodule.checkpoint_dir import Layout, save_dir
from rlmodule.rl_module import MultiAgentRLModule, MultiAgentRLModuleSpec, RLModule, SingleAgentRLModuleSpec, spec_of

#: The adapter's name for our module: RLlib's weight names are ours behind this prefix.
PREFIX = "inner."
#: What RLlib's ``save_to_path`` writes at a module checkpoint's top level (a
#: ``MultiRLModule``'s also holds one directory per module id).
RLLIB_FILES = frozenset({"metadata.json", "class_and_ctor_args.pkl", "module_state.pkl", "module_state.msgpack"})


def _spec_of(module: RLModule, where: str) -> SingleAgentRLModuleSpec:
    """The spec that rebuilds ``module`` (from its config)."""
    spec = spec_of(module)
    if spec is None:
        raise ValueError(
            f"{where}: {type(module).__name__} was built without a config holding both spaces "
            "(build it from a SingleAgentRLModuleSpec); the RLlib checkpoint records them"
        )
    return spec


def export_rllib_checkpoint(module: RLModule, directory: Union[str, os.PathLike]) -> str:
    """Write ``module`` (ours, torch; single-agent or a plain MultiAgentRLModule) as an
    RLlib 2.60 module checkpoint in ``directory``: an :class:`RLlibAdapter` (a
    ``MultiRLModule`` of them) holding ``module``'s weights, saved by RLlib (the format
    pickles: see this module's docstring). The save goes through the same staging swap as
    ours (:mod:`rlmodule.checkpoint_dir`): a directory that is not empty and not such a
    checkpoint is refused, and a failed save leaves the previous one. Returns the
    directory as str."""
    module_ids: list = []
    if isinstance(module, MultiAgentRLModule):
        if type(module) is not MultiAgentRLModule:
            raise ValueError(
                f"export_rllib_checkpoint(): {type(module).__name__} is a custom multi-agent class; "
                "only the plain MultiAgentRLModule container has an RLlib counterpart"
            )
        module_ids = [dir_name(mid) for mid in module.keys()]  # RLlib names a directory after each
        specs = {mid: _spec_of(sub, f"export_rllib_checkpoint(): module {mid!r}") for mid, sub in module.items()}
        rllib_module = to_rllib_spec(MultiAgentRLModuleSpec(module_specs=specs)).build()
        for mid, sub in module.items():
            rllib_module[mid].inner.set_state(sub.get_state())
    else:
        rllib_module = to_rllib_spec(_spec_of(module, "export_rllib_checkpoint()")).build()
        rllib_module.inner.set_state(module.get_state())
    layout = Layout("an RLlib module checkpoint", "class_and_ctor_args.pkl", RLLIB_FILES | frozenset(module_ids))
    save_dir(directory, lambda staging: rllib_module.save_to_path(staging.as_posix()), layout)
    return str(Path(directory))


def import_rllib_module(
    source: Any,
    module: Optional[RLModule] = None,
    *,
    trust_pickle: bool = False,
) -> RLModule:
    """Our module holding the weights of an RLlib-trained adapter.

    Args:
        source: an RLlib module (an :class:`RLlibAdapter`, or a ``MultiRLModule`` of
            them, e.g. ``algo.get_module()``), an RLlib state dict (``{"inner.<name>":
            array}``, one module's, e.g. from the learner group), or an RLlib checkpoint
            directory (only with ``trust_pickle``).
        module: our module to load into (strictly: same names and shapes); default:
            built from the class, spaces and ``model_config_dict`` the adapter recorded
            (a state dict needs ``module``).
        trust_pickle: read a checkpoint directory through RLlib's
            ``RLModule.from_checkpoint``, which unpickles its ``.pkl`` files; without
            it a directory is refused (pickle runs whatever code the file names).

    Returns: ``module``, or the module built (a ``MultiAgentRLModule`` for a
    ``MultiRLModule``). ``module.save_to_checkpoint(dir)`` writes it in our format.
    """
    if isinstance(source, (str, os.PathLike)):
        if not trust_pickle:
            raise ValueError(
                f"import_rllib_module({str(source)!r}): an RLlib checkpoint keeps its module class "
                "and weights in pickle files (class_and_ctor_args.pkl, module_state.pkl), and "
                "unpickling runs code the file names; this loader does not unpickle. If you trust "
                "the checkpoint, pass trust_pickle=True (RLlib's RLModule.from_checkpoint loads it), "
                "or pass a live RLlib module (algo.get_module())"
            )
        from ray.rllib.core.rl_module.rl_module import RLModule as RLlibModule

        source = RLlibModule.from_checkpoint(Path(source).resolve().as_posix())
    if isinstance(source, Mapping):
        if module is None:
            raise ValueError(
                "import_rllib_module(state_dict): a state dict does not name its module class; "
                "pass module=<our module> to load into"
            )
        _load(module, source, "import_rllib_module(state_dict)")
        return module
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule

    if isinstance(source, MultiRLModule):
        if module is None:
            module = MultiAgentRLModule()
            for mid in source.keys():
                module.add_module(mid, import_rllib_module(source[mid]))
            return module
        for mid in source.keys():
            import_rllib_module(source[mid], module[mid])
        return module
    adapter = source.unwrapped()
    if module is None:
        spec = our_spec(adapter.model_config, adapter.observation_space, adapter.action_space)
        spec.load_state_path = None  # the adapter's weights replace what it would load
        module = spec.build()
    _load(module, adapter.get_state(), f"import_rllib_module({type(adapter).__name__})")
    return module


def _load(module: RLModule, rllib_state: Mapping[str, Any], where: str) -> None:
    """``module.set_state`` (strict) from an adapter's state: names without the
    ``inner.`` prefix; a name without it is an error naming it."""
    foreign = [name for name in rllib_state if not name.startswith(PREFIX)]
    if foreign:
        raise KeyError(
            f"{where}: weights {foreign[:5]} are not under the adapter's {PREFIX!r} prefix; "
            "expected the state of an RLlibAdapter (compat.rllib)"
        )
    module.set_state({name[len(PREFIX):]: value for name, value in rllib_state.items()})
