"""Our module specs as RLlib 2.60 specs, and back.

RLlib builds a module from an ``RLModuleSpec``: ``module_class(observation_space=...,
action_space=..., inference_only=..., model_config=...)``. Our adapters
(:mod:`compat.rllib.adapter`) are that class; the ``model_config`` dict RLlib hands them
(:func:`adapter_model_config`) names OUR module class and catalog by import path and
holds OUR ``model_config_dict`` verbatim under its own key, so RLlib's own model-config
keys (which it merges in, e.g. its ``DefaultModelConfig``) never mix with ours. RLlib
pickles specs (to remote env runners and learners, and into its checkpoints): the dict
holds strings and plain values only, and the adapter classes pickle by reference.

``import compat.rllib.spec`` loads no ray; :func:`to_rllib_spec` imports it when called.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type, Union

import gymnasium as gym

from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule
from rlmodule.class_path import class_from_path, class_to_path
from rlmodule.model_config import MODEL_DEFAULTS, validate_model_config
from rlmodule.rl_module import MultiAgentRLModule, MultiAgentRLModuleSpec, RLModule, SingleAgentRLModuleSpec

#: Keys of the adapter's ``model_config`` (RLlib's) that describe OUR module.
MODULE_CLASS = "rlmodule_class"
CATALOG_CLASS = "rlmodule_catalog_class"
MODEL_CONFIG_DICT = "rlmodule_model_config_dict"
LOAD_STATE_PATH = "rlmodule_load_state_path"


def check_torch(module_class: Any, where: str = "module_class") -> None:
    """Raise TypeError unless ``module_class`` is a torch RLModule class (RLlib 2.60's
    new API stack has no TensorFlow RLModule)."""
    if not (isinstance(module_class, type) and issubclass(module_class, RLModule)):
        raise TypeError(f"{where}: expected an RLModule subclass, got {module_class!r}")
    framework = getattr(module_class, "framework", None)
    if framework != "torch":
        raise TypeError(
            f"{where}: {module_class.__name__} is a {framework!r} module; RLlib 2.60's new API "
            "stack trains torch modules only (it has no TensorFlow RLModule): use the torch "
            "class (e.g. PPOTorchRLModule, or a TorchRLModule subclass)"
        )


def adapter_model_config(
    module_class: Type[RLModule],
    model_config_dict: Optional[Mapping[str, Any]] = None,
    *,
    catalog_class: Optional[type] = None,
    load_state_path: Optional[str] = None,
    **rllib_model_config: Any,
) -> Dict[str, Any]:
    """The ``model_config`` of an ``RLModuleSpec(module_class=RLlibAdapter, ...)``.

    Args:
        module_class: our torch RLModule class, module-level (recorded by import path,
            ``"pkg.mod:Cls"``: remote env runners and learners import it).
        model_config_dict: our module's ``model_config_dict``, kept verbatim.
        catalog_class: the Catalog our module builds with (PPOCatalog for the PPO/APPO
            modules), by import path.
        load_state_path: a checkpoint directory in OUR format whose weights every
            adapter loads into its module after building it (read without pickle).
        rllib_model_config: RLlib's keys, e.g. ``max_seq_len`` (the time-axis length
            RLlib's connectors cut stateful modules' training rows into; default: our
            ``model_config_dict["max_seq_len"]``, else 20 as the legacy default).

    Returns: a dict of plain values (RLlib merges its own model-config keys into it).
    """
    check_torch(module_class)
    if catalog_class is None and issubclass(module_class, PPORLModule):
        raise ValueError(
            f"adapter_model_config({module_class.__name__}): catalog_class is None; the PPO / APPO "
            "modules build their networks with a catalog: pass catalog_class=PPOCatalog "
            "(rlmodule.algorithms.ppo), or use to_rllib_spec(PPOConfig().get_default_rl_module_spec())"
        )
    ours = dict(model_config_dict or {})
    validate_model_config(ours, "model_config_dict")
    config: Dict[str, Any] = {
        MODULE_CLASS: class_to_path(module_class),
        CATALOG_CLASS: class_to_path(catalog_class),
        MODEL_CONFIG_DICT: ours,
        LOAD_STATE_PATH: None if load_state_path is None else str(load_state_path),
        "max_seq_len": int(ours.get("max_seq_len", MODEL_DEFAULTS["max_seq_len"])),
    }
    config.update(rllib_model_config)
    return config


def our_spec(
    model_config: Mapping[str, Any],
    observation_space: Optional[gym.Space],
    action_space: Optional[gym.Space],
) -> SingleAgentRLModuleSpec:
    """The :class:`SingleAgentRLModuleSpec` of our module recorded in an adapter's
    ``model_config`` (see :func:`adapter_model_config`); errors name the missing key."""
    if not isinstance(model_config, Mapping) or MODULE_CLASS not in model_config:
        raise ValueError(
            f"RLlibAdapter: model_config has no {MODULE_CLASS!r} key (got "
            f"{sorted(model_config) if isinstance(model_config, Mapping) else model_config!r}); "
            "build it with compat.rllib.adapter_model_config(ModuleClass, model_config_dict)"
        )
    module_class = class_from_path(model_config[MODULE_CLASS], f"model_config[{MODULE_CLASS!r}]")
    check_torch(module_class, f"model_config[{MODULE_CLASS!r}]")
    return SingleAgentRLModuleSpec(
        module_class=module_class,
        observation_space=observation_space,
        action_space=action_space,
        model_config_dict=dict(model_config.get(MODEL_CONFIG_DICT) or {}),
        catalog_class=class_from_path(model_config.get(CATALOG_CLASS), f"model_config[{CATALOG_CLASS!r}]"),
        load_state_path=model_config.get(LOAD_STATE_PATH),
    )


def adapter_class(module_class: Type[RLModule]) -> type:
    """:class:`RLlibTargetAdapter` for modules with target networks (our APPO modules:
    ``get_target_network_pairs``), else :class:`RLlibAdapter`."""
    from compat.rllib.adapter import RLlibAdapter, RLlibTargetAdapter

    return RLlibTargetAdapter if hasattr(module_class, "get_target_network_pairs") else RLlibAdapter


def to_rllib_spec(
    spec: Union[SingleAgentRLModuleSpec, MultiAgentRLModuleSpec, Type[RLModule]],
    *,
    observation_space: Optional[gym.Space] = None,
    action_space: Optional[gym.Space] = None,
    model_config_dict: Optional[Mapping[str, Any]] = None,
    catalog_class: Optional[type] = None,
    inference_only: bool = False,
    **rllib_model_config: Any,
) -> Any:
    """RLlib 2.60's spec for ours: a ``SingleAgentRLModuleSpec`` -> ``RLModuleSpec``, a
    ``MultiAgentRLModuleSpec`` -> ``MultiRLModuleSpec`` (one ``RLModuleSpec`` per module
    id), or a module class plus the keyword arguments -> ``RLModuleSpec``. Its module
    class is :class:`RLlibAdapter` (:class:`RLlibTargetAdapter` for APPO modules).

    Spaces left ``None`` are filled by RLlib from the environment. ``rllib_model_config``
    goes into every module's ``model_config`` (see :func:`adapter_model_config`).
    """
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    if isinstance(spec, MultiAgentRLModuleSpec):
        if isinstance(spec.module_specs, SingleAgentRLModuleSpec):
            raise ValueError(
                "to_rllib_spec(): the MultiAgentRLModuleSpec's module_specs is one spec to "
                "broadcast; call spec.for_module_ids([...]) first to name the module ids"
            )
        if spec.marl_module_class is not MultiAgentRLModule:
            raise ValueError(
                f"to_rllib_spec(): marl_module_class {spec.marl_module_class.__name__} is a custom "
                "multi-agent class (its setup() may share sub-networks); RLlib builds each module "
                "id's module on its own, so only the plain MultiAgentRLModule container converts"
            )
        if spec.load_state_path is not None:
            raise ValueError(
                "to_rllib_spec(): the MultiAgentRLModuleSpec's load_state_path is set; set "
                "load_state_path on each module id's spec instead"
            )
        specs = {
            mid: to_rllib_spec(s, inference_only=inference_only, **rllib_model_config)
            for mid, s in spec.module_specs.items()
        }
        return MultiRLModuleSpec(rl_module_specs=specs)
    if isinstance(spec, SingleAgentRLModuleSpec):
        return to_rllib_spec(
            spec.module_class,
            observation_space=spec.observation_space,
            action_space=spec.action_space,
            model_config_dict=spec.model_config_dict,
            catalog_class=spec.catalog_class,
            inference_only=inference_only,
            load_state_path=spec.load_state_path,
            **rllib_model_config,
        )
    check_torch(spec, "to_rllib_spec(): spec")
    return RLModuleSpec(
        module_class=adapter_class(spec),
        observation_space=observation_space,
        action_space=action_space,
        inference_only=inference_only,
        model_config=adapter_model_config(
            spec, model_config_dict, catalog_class=catalog_class, **rllib_model_config
        ),
    )
