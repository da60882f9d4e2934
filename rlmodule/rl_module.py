"""RLModule, its config and spec; MultiAgentRLModule, its config and spec; saving and
loading them.

An RLModule maps a batch (a dict, ``batch["obs"]`` of shape ``[B, *obs_shape]``) to a
dict of outputs, in three phases: ``forward_train`` (losses), ``forward_exploration``
(acting while collecting data) and ``forward_inference`` (serving). Subclasses
implement ``setup()`` and the three ``_forward_*`` methods; the public forwards check
the I/O specs around them.

A MultiAgentRLModule is a dict of RLModules (one per module id): its forwards take a
multi-agent batch ``{module_id: batch}`` and return ``{module_id: outputs}``, running
each module on its own sub-batch; subclasses may override ``setup()`` to build modules
that share sub-networks. It is an RLModule, and ``RLModule.as_multi_agent()`` returns
one, so the single- and multi-agent classes live in this one module
(:mod:`rlmodule.marl_module` is their RLlib import path).

Checkpoints (the format is :mod:`rlmodule.checkpoint`): ``module.save_to_checkpoint(dir)``,
``Cls.from_checkpoint(dir)`` / :func:`load_module`, :func:`load_weights_into`.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, KeysView, List, Mapping, Optional, Sequence, Tuple, Type, Union

import gymnasium as gym
import numpy as np

from rlmodule import checkpoint
from rlmodule.backend import backend
from rlmodule.checkpoint import CheckpointError
from rlmodule.class_path import Expect, UntrustedPathError, class_to_path, current_path, resolve_trusted
from rlmodule.columns import Columns
from rlmodule.model_config import validate_model_config
from rlmodule.spaces import sample_obs_batch, space_from_dict, space_to_dict
from rlmodule.specs import OneOf, SpecChecker, SpecType, TensorSpec
from rlmodule.tree import map_structure

ModuleID = str
DEFAULT_MODULE_ID: ModuleID = "default_policy"
DEFAULT_POLICY_ID = DEFAULT_MODULE_ID

_PHASES = ("train", "exploration", "inference")


def _check_json_safe(value: Any, where: str) -> None:
    """Raise TypeError naming the first entry of ``value`` that JSON cannot hold."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is not a str; JSON keys must be str")
            _check_json_safe(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json_safe(v, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise TypeError(
            f"{where} is {value!r}; strict JSON has no NaN or infinity (write it as a str)"
        )
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise TypeError(
            f"{where} is a {type(value).__name__} ({value!r}); only JSON values "
            "(dict, list, str, int, float, bool, None) can be serialized"
        )


def _obs_spec(space: Optional[gym.Space], time_axis: bool) -> Any:
    """A TensorSpec per Box leaf of ``space`` (nested dict for Dict spaces); ``None``
    (presence only) where the space says nothing checkable about the shape."""
    if isinstance(space, gym.spaces.Box):
        lead = ["b", "t"] if time_axis else ["b"]
        dims = {f"d{i}": int(n) for i, n in enumerate(space.shape)}
        return TensorSpec(", ".join(lead + list(dims)), **dims)
    if isinstance(space, gym.spaces.Dict):
        return {key: _obs_spec(sub, time_axis) for key, sub in space.spaces.items()}
    return None


@dataclass
class RLModuleConfig:
    """What a module is built from.

    Attributes:
        observation_space: the (raw or preprocessed) observation space.
        action_space: the action space.
        model_config_dict: model hyper-parameters (layer sizes, activations, ...).
        catalog_class: a Catalog class that builds the module's sub-networks.
    """

    observation_space: Optional[gym.Space] = None
    action_space: Optional[gym.Space] = None
    model_config_dict: Dict[str, Any] = field(default_factory=dict)
    catalog_class: Optional[Type] = None

    def get_catalog(self) -> Any:
        """An instance of ``catalog_class`` for these spaces and model config."""
        if self.catalog_class is None:
            raise ValueError("RLModuleConfig.get_catalog(): catalog_class is None")
        return self.catalog_class(
            observation_space=self.observation_space,
            action_space=self.action_space,
            model_config_dict=self.model_config_dict,
        )

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe form: spaces as dicts, classes as import paths."""
        _check_json_safe(self.model_config_dict, "model_config_dict")
        return {
            "observation_space": None
            if self.observation_space is None
            else space_to_dict(self.observation_space),
            "action_space": None if self.action_space is None else space_to_dict(self.action_space),
            "model_config_dict": json.loads(json.dumps(self.model_config_dict)),
            "catalog_class": class_to_path(self.catalog_class),
        }

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, trusted_modules: Sequence[str] = (), where: str = "config"
    ) -> "RLModuleConfig":
        """Inverse of :meth:`to_dict`; ``catalog_class`` must name a Catalog subclass
        (see :func:`rlmodule.class_path.resolve_trusted` for ``trusted_modules``)."""
        return cls(
            observation_space=None
            if d.get("observation_space") is None
            else space_from_dict(d["observation_space"]),
            action_space=None if d.get("action_space") is None else space_from_dict(d["action_space"]),
            model_config_dict=dict(d.get("model_config_dict") or {}),
            catalog_class=_catalog_class(d.get("catalog_class"), f"{where}.catalog_class", trusted_modules),
        )


def _catalog_class(path: Optional[str], where: str, trusted_modules: Sequence[str]) -> Optional[type]:
    from rlmodule.catalog import Catalog

    if path is None:
        return None
    return resolve_trusted(path, Expect("a Catalog subclass", (Catalog,)), where, trusted_modules)


class RLModule(abc.ABC):
    """Base class of all RLModules (framework-agnostic).

    Framework bases (:class:`rlmodule.torch.TorchRLModule`,
    :class:`rlmodule.tf.TfRLModule`) add weights, ``get_state`` / ``set_state``.

    Attributes:
        config: the :class:`RLModuleConfig` (``None`` for modules built by a
            multi-agent module's ``setup()`` from explicit arguments).
        check_specs: check I/O specs on every forward (default True).
    """

    framework: Optional[str] = None
    check_specs: bool = True

    def __init__(self, config: Optional[RLModuleConfig] = None) -> None:
        self.config = config
        self._spec_checkers: Optional[Dict[str, Tuple[SpecChecker, SpecChecker]]] = None
        self.setup()

    def setup(self) -> None:
        """Build the sub-networks from ``self.config``; called once by ``__init__``."""

    # --- the three forwards -----------------------------------------------------------
    def forward_train(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """Outputs needed by the loss (``action_dist_inputs``, ``vf_preds``, ...)."""
        return self._checked_forward("train", self._forward_train, batch, kwargs)

    def forward_exploration(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """Outputs to act with while collecting data (sampled by the caller)."""
        return self._checked_forward("exploration", self._forward_exploration, batch, kwargs)

    def forward_inference(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """Outputs to act with when serving (the caller acts deterministically)."""
        return self._checked_forward("inference", self._forward_inference, batch, kwargs)

    def _checked_forward(self, phase: str, fn, batch: Mapping[str, Any], kwargs: dict) -> Dict[str, Any]:
        if not self.check_specs:
            return fn(batch, **kwargs)
        check_in, check_out = (self._spec_checkers or self._compile_specs())[phase]
        check_in.check(batch)
        out = fn(batch, **kwargs) if kwargs else fn(batch)
        check_out.check(out)
        return out

    def _compile_specs(self) -> Dict[str, Tuple[SpecChecker, SpecChecker]]:
        """Canonicalise the six specs once per instance (they may depend on setup()):
        ``{phase: (input checker, output checker)}``."""
        name = type(self).__name__
        checkers = {}
        for phase in _PHASES:
            where = f"{name}.forward_{phase}()"
            checkers[phase] = (
                SpecChecker(getattr(self, f"input_specs_{phase}")(), f"{where} input"),
                SpecChecker(getattr(self, f"output_specs_{phase}")(), f"{where} output"),
            )
        self._spec_checkers = checkers
        return checkers

    @abc.abstractmethod
    def _forward_train(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """Forward pass for training."""

    @abc.abstractmethod
    def _forward_exploration(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """Forward pass for exploration."""

    @abc.abstractmethod
    def _forward_inference(self, batch: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """Forward pass for inference."""

    # --- I/O specs (override to customise) ------------------------------------------
    def _default_input_specs(self) -> SpecType:
        """``obs`` shaped like the observation space (Box leaves; batch and, for
        stateful modules, time dims free), plus ``state_in`` if stateful."""
        stateful = self.is_stateful()
        space = self.config.observation_space if self.config is not None else None
        specs: Dict[str, Any] = {Columns.OBS: _obs_spec(space, time_axis=stateful)}
        if stateful:
            specs[Columns.STATE_IN] = None
        return specs

    def _default_output_specs(self) -> SpecType:
        return OneOf(Columns.ACTION_DIST_INPUTS, Columns.ACTION_DIST, Columns.ACTIONS)

    def input_specs_train(self) -> SpecType:
        return self._default_input_specs()

    def input_specs_exploration(self) -> SpecType:
        return self._default_input_specs()

    def input_specs_inference(self) -> SpecType:
        return self._default_input_specs()

    def output_specs_train(self) -> SpecType:
        return self._default_output_specs()

    def output_specs_exploration(self) -> SpecType:
        return self._default_output_specs()

    def output_specs_inference(self) -> SpecType:
        return self._default_output_specs()

    # --- action distributions -------------------------------------------------------
    def _default_action_dist_cls(self) -> Any:
        """``self.action_dist_cls`` if ``setup()`` set one, else the catalog's, else the
        default distribution for the action space."""
        if getattr(self, "action_dist_cls", None) is not None:
            return self.action_dist_cls
        config = self.config
        if config is None or config.action_space is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no action_space in its config; override "
                "get_exploration_action_dist_cls() (and the train/inference variants)"
            )
        catalog_cls = config.catalog_class
        if catalog_cls is not None and hasattr(catalog_cls, "get_action_dist_cls"):
            return config.get_catalog().get_action_dist_cls(framework=self.framework)
        from rlmodule.distribution import get_action_dist_cls

        return get_action_dist_cls(config.action_space, self.framework)

    def get_train_action_dist_cls(self) -> Any:
        """Distribution class for ``forward_train``'s ``action_dist_inputs``."""
        return self._default_action_dist_cls()

    def get_exploration_action_dist_cls(self) -> Any:
        """Distribution class for ``forward_exploration``'s ``action_dist_inputs``."""
        return self._default_action_dist_cls()

    def get_inference_action_dist_cls(self) -> Any:
        """Distribution class for ``forward_inference`` (callers use ``to_deterministic()``)."""
        return self._default_action_dist_cls()

    # --- recurrent state --------------------------------------------------------------
    def get_initial_state(self) -> Dict[str, Any]:
        """Initial recurrent state: a dict of tensors without batch dim (``{}`` if none)."""
        return {}

    def is_stateful(self) -> bool:
        """True if the module carries recurrent state between calls."""
        return bool(self.get_initial_state())

    def sample_batch(self, batch_size: int = 1, observation_space: Optional[gym.Space] = None) -> Dict[str, Any]:
        """Observations sampled from the observation space (default: the config's), as
        numpy: ``{"obs": [B, ...]}``, or for stateful modules ``{"obs": [B, 1, ...],
        "state_in": initial state repeated B times}``."""
        space = observation_space if observation_space is not None else self.config.observation_space
        obs = sample_obs_batch(space, batch_size)
        if not self.is_stateful():
            return {Columns.OBS: obs}
        return {
            Columns.OBS: map_structure(lambda a: a[:, None], obs),
            Columns.STATE_IN: map_structure(
                lambda s: np.repeat(np.asarray(s)[None], batch_size, axis=0), self.get_initial_state()
            ),
        }

    # --- weights and checkpoints -------------------------------------------------------
    def get_state(self) -> Dict[str, Any]:
        """The module's weights as a dict name -> tensor."""
        raise NotImplementedError(f"{type(self).__name__}.get_state()")

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load weights produced by :meth:`get_state`."""
        raise NotImplementedError(f"{type(self).__name__}.set_state()")

    def save_to_checkpoint(self, checkpoint_dir: str) -> str:
        """Write metadata (JSON) and weights (no pickle) into ``checkpoint_dir`` (a
        failed save leaves any previous checkpoint there untouched; a directory that is
        not an RLModule checkpoint is refused). Returns the directory as str."""
        return checkpoint.save(checkpoint_dir, lambda staging: _write(self, staging))

    @classmethod
    def from_checkpoint(
        cls, checkpoint_dir: str, *, trusted_modules: Sequence[str] = (), allow_non_finite: bool = False
    ) -> "RLModule":
        """Rebuild a module saved by :meth:`save_to_checkpoint` and load its weights.
        See :func:`load_module` for what loading trusts."""
        module = load_module(checkpoint_dir, trusted_modules=trusted_modules, allow_non_finite=allow_non_finite)
        if not isinstance(module, cls):
            raise TypeError(
                f"{checkpoint_dir}: holds a {type(module).__name__}, which is not a {cls.__name__}"
            )
        return module

    # --- multi-agent view -------------------------------------------------------------
    def as_multi_agent(self) -> "MultiAgentRLModule":
        """A MultiAgentRLModule holding this module under ``DEFAULT_MODULE_ID``."""
        marl = MultiAgentRLModule()
        marl.add_module(DEFAULT_MODULE_ID, self)
        return marl

    def unwrapped(self) -> "RLModule":
        """The module itself (wrappers such as DDP return the inner module)."""
        return self


@dataclass
class SingleAgentRLModuleSpec:
    """How to build one RLModule. Fields left ``None`` are filled later (from the
    environment's spaces and the algorithm's ``model`` config) or by :meth:`update`.

    Attributes:
        module_class: the RLModule subclass to build.
        observation_space, action_space: gymnasium spaces.
        model_config_dict: model hyper-parameters passed verbatim to the module.
        catalog_class: the Catalog class the module builds its networks with.
        load_state_path: optional checkpoint directory whose weights are loaded
            into the module after it is built.
    """

    module_class: Optional[Type[RLModule]] = None
    observation_space: Optional[gym.Space] = None
    action_space: Optional[gym.Space] = None
    model_config_dict: Optional[Dict[str, Any]] = None
    catalog_class: Optional[Type] = None
    load_state_path: Optional[str] = None

    def get_rl_module_config(self) -> RLModuleConfig:
        return RLModuleConfig(
            observation_space=self.observation_space,
            action_space=self.action_space,
            model_config_dict=self.model_config_dict if self.model_config_dict is not None else {},
            catalog_class=self.catalog_class,
        )

    def validate(self) -> None:
        """Raise an error naming the field that makes this spec unbuildable."""
        for name in ("module_class", "observation_space", "action_space"):
            if getattr(self, name) is None:
                raise ValueError(
                    f"SingleAgentRLModuleSpec.build(): {name} is None; pass {name}=... "
                    "(an algorithm config fills the spaces from its environment)"
                )
        if not (isinstance(self.module_class, type) and issubclass(self.module_class, RLModule)):
            raise TypeError(
                f"SingleAgentRLModuleSpec.build(): module_class must be an RLModule subclass, "
                f"got {self.module_class!r}"
            )
        for name in ("observation_space", "action_space"):
            if not isinstance(getattr(self, name), gym.Space):
                raise TypeError(
                    f"SingleAgentRLModuleSpec.build(): {name} must be a gymnasium.Space, got "
                    f"{getattr(self, name)!r}"
                )
        if self.model_config_dict is not None:
            validate_model_config(self.model_config_dict, "model_config_dict")

    def build(self) -> RLModule:
        """Build the module (and load ``load_state_path`` weights if given)."""
        self.validate()
        module = self.module_class(self.get_rl_module_config())
        if self.load_state_path is not None:
            load_weights_into(module, self.load_state_path)
        return module

    def update(self, other: "SingleAgentRLModuleSpec", override: bool = True) -> None:
        """Take ``other``'s non-None fields: all of them if ``override``, else only
        where this spec has ``None``."""
        if not isinstance(other, SingleAgentRLModuleSpec):
            raise TypeError(
                f"SingleAgentRLModuleSpec.update(): expected a SingleAgentRLModuleSpec, got "
                f"{type(other).__name__}"
            )
        for f in dataclasses.fields(self):
            value = getattr(other, f.name)
            if value is not None and (override or getattr(self, f.name) is None):
                setattr(self, f.name, value)

    def as_multi_agent(self) -> "MultiAgentRLModuleSpec":
        """A MultiAgentRLModuleSpec with this spec under ``DEFAULT_MODULE_ID``."""
        return MultiAgentRLModuleSpec(module_specs={DEFAULT_MODULE_ID: self})

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-safe dict (spaces serialized, classes as import paths)."""
        d = RLModuleConfig.to_dict(self.get_rl_module_config())
        if self.model_config_dict is None:
            d["model_config_dict"] = None
        d["module_class"] = class_to_path(self.module_class)
        d["load_state_path"] = self.load_state_path
        return d

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, trusted_modules: Sequence[str] = (), where: str = "spec"
    ) -> "SingleAgentRLModuleSpec":
        """Inverse of :meth:`to_dict`. Classes are resolved by
        :func:`rlmodule.class_path.resolve_trusted` (errors name ``where``)."""
        config = RLModuleConfig.from_dict(d, trusted_modules=trusted_modules, where=where)
        module_class = d.get("module_class")
        return cls(
            module_class=None
            if module_class is None
            else resolve_trusted(module_class, MODULE_CLASS, f"{where}.module_class", trusted_modules),
            observation_space=config.observation_space,
            action_space=config.action_space,
            model_config_dict=None if d.get("model_config_dict") is None else config.model_config_dict,
            catalog_class=config.catalog_class,
            load_state_path=d.get("load_state_path"),
        )


RLModuleSpec = SingleAgentRLModuleSpec  # the modern RLlib spelling
MODULE_CLASS = Expect("an RLModule subclass", (RLModule,))


# --- multi-agent --------------------------------------------------------------------------
def _in_module(module_id: ModuleID, error: Exception) -> Exception:
    """The same kind of error, its message prefixed with the module id at fault."""
    try:
        return type(error)(f"module_specs[{module_id!r}]: {error}")
    except TypeError:  # an exception class with a custom signature
        return error


@dataclass
class MultiAgentRLModuleConfig:
    """The specs of the modules a MultiAgentRLModule holds, by module id."""

    modules: Dict[ModuleID, SingleAgentRLModuleSpec] = field(default_factory=dict)


class MultiAgentRLModule(RLModule):
    """A container of RLModules keyed by module id.

    The default ``setup()`` builds one module per spec in ``config.modules``;
    subclasses override ``setup()`` and assign ``self._rl_modules`` themselves.
    """

    def __init__(self, config: Optional[MultiAgentRLModuleConfig] = None) -> None:
        self._rl_modules: Dict[ModuleID, RLModule] = {}
        super().__init__(config if config is not None else MultiAgentRLModuleConfig())

    def setup(self) -> None:
        modules = {}
        for module_id, spec in self.config.modules.items():
            try:
                modules[module_id] = spec.build()
            except (ValueError, TypeError) as e:
                raise _in_module(module_id, e) from e
        self._rl_modules = modules

    # --- dict interface ---------------------------------------------------------------
    def _unknown(self, module_id: Any) -> KeyError:
        return KeyError(
            f"no module {module_id!r} in {type(self).__name__}; module ids: {sorted(self._rl_modules)}"
        )

    def __getitem__(self, module_id: ModuleID) -> RLModule:
        try:
            return self._rl_modules[module_id]
        except KeyError:
            raise self._unknown(module_id) from None

    def __contains__(self, module_id: object) -> bool:
        return module_id in self._rl_modules

    def __iter__(self) -> Iterator[ModuleID]:
        return iter(self._rl_modules)

    def __len__(self) -> int:
        return len(self._rl_modules)

    def keys(self) -> KeysView[ModuleID]:
        return self._rl_modules.keys()

    def values(self):
        return self._rl_modules.values()

    def items(self):
        return self._rl_modules.items()

    def add_module(self, module_id: ModuleID, module: RLModule, *, override: bool = False) -> None:
        """Add ``module`` under ``module_id``; raises ValueError if taken unless ``override``."""
        if not isinstance(module, RLModule):
            raise TypeError(
                f"add_module({module_id!r}): expected an RLModule, got {type(module).__name__}"
            )
        if module_id in self._rl_modules and not override:
            raise ValueError(
                f"add_module({module_id!r}): module id already exists; pass override=True to replace it"
            )
        self._rl_modules[module_id] = module
        self._on_modules_changed()

    def remove_module(self, module_id: ModuleID, *, raise_err_if_not_found: bool = True) -> None:
        """Remove the module under ``module_id``."""
        if module_id not in self._rl_modules:
            if raise_err_if_not_found:
                raise self._unknown(module_id)
            return
        del self._rl_modules[module_id]
        self._on_modules_changed()

    def _on_modules_changed(self) -> None:
        """Hook for framework subclasses that register sub-modules."""

    def foreach_module(self, func: Callable[[ModuleID, RLModule], Any], **kwargs: Any) -> List[Any]:
        """``[func(module_id, module, **kwargs) for each module]``."""
        return [func(module_id, module.unwrapped(), **kwargs) for module_id, module in self.items()]

    def as_multi_agent(self) -> "MultiAgentRLModule":
        return self

    # --- forwards ---------------------------------------------------------------------
    def _default_input_specs(self) -> SpecType:
        return None  # each sub-module checks its own batch

    def _default_output_specs(self) -> SpecType:
        return None

    def _run(self, method: str, batch: Mapping[ModuleID, Any], kwargs: dict) -> Dict[ModuleID, Any]:
        outputs = {}
        for module_id, module_batch in batch.items():
            if module_id not in self._rl_modules:
                raise KeyError(
                    f"{type(self).__name__}.{method}(): the batch has module id {module_id!r}, "
                    f"which is not one of {sorted(self._rl_modules)}"
                )
            outputs[module_id] = getattr(self._rl_modules[module_id], method)(module_batch, **kwargs)
        return outputs

    def _forward_train(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> Dict[ModuleID, Any]:
        return self._run("forward_train", batch, kwargs)

    def _forward_exploration(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> Dict[ModuleID, Any]:
        return self._run("forward_exploration", batch, kwargs)

    def _forward_inference(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> Dict[ModuleID, Any]:
        return self._run("forward_inference", batch, kwargs)

    # --- state --------------------------------------------------------------------------
    def get_initial_state(self) -> Dict[ModuleID, Any]:
        return {mid: m.get_initial_state() for mid, m in self.items() if m.is_stateful()}

    def is_stateful(self) -> bool:
        return any(m.is_stateful() for m in self.values())

    def get_state(self, module_ids: Optional[List[ModuleID]] = None) -> Dict[ModuleID, Any]:
        """``{module_id: module.get_state()}`` for ``module_ids`` (default: all)."""
        ids = list(self.keys()) if module_ids is None else module_ids
        return {mid: self[mid].get_state() for mid in ids}

    def set_state(self, state: Mapping[ModuleID, Any]) -> None:
        for module_id, module_state in state.items():
            self[module_id].set_state(module_state)


MARL_MODULE_CLASS = Expect("a MultiAgentRLModule subclass", (MultiAgentRLModule,))


@dataclass
class MultiAgentRLModuleSpec:
    """How to build a MultiAgentRLModule.

    Attributes:
        marl_module_class: the MultiAgentRLModule (sub)class to build.
        module_specs: ``{module_id: SingleAgentRLModuleSpec}``, or one spec that is
            broadcast to every module id (the ids come from the algorithm config's
            ``policies``; see :meth:`for_module_ids`).
        load_state_path: optional checkpoint directory to load weights from.
    """

    marl_module_class: Type[MultiAgentRLModule] = MultiAgentRLModule
    module_specs: Union[
        SingleAgentRLModuleSpec, Dict[ModuleID, SingleAgentRLModuleSpec], None
    ] = None
    load_state_path: Optional[str] = None

    def __post_init__(self) -> None:
        if self.module_specs is None:
            self.module_specs = {}

    def _specs_dict(self, where: str) -> Dict[ModuleID, SingleAgentRLModuleSpec]:
        if isinstance(self.module_specs, SingleAgentRLModuleSpec):
            raise ValueError(
                f"MultiAgentRLModuleSpec.{where}: module_specs is a single spec to broadcast "
                "to every module id, and no module ids are known yet; call "
                "for_module_ids([...]) first (an algorithm config does this from its policies)"
            )
        return self.module_specs

    def for_module_ids(self, module_ids: List[ModuleID]) -> "MultiAgentRLModuleSpec":
        """A copy with a broadcast spec expanded to one (deep-copied) spec per id."""
        if isinstance(self.module_specs, SingleAgentRLModuleSpec):
            specs = {mid: copy.deepcopy(self.module_specs) for mid in module_ids}
        else:
            specs = dict(self.module_specs)
        return MultiAgentRLModuleSpec(self.marl_module_class, specs, self.load_state_path)

    def get_marl_config(self) -> MultiAgentRLModuleConfig:
        return MultiAgentRLModuleConfig(modules=dict(self._specs_dict("get_marl_config()")))

    def build(self, module_id: Optional[ModuleID] = None) -> RLModule:
        """Build the whole MultiAgentRLModule, or only ``module_id``'s module."""
        specs = self._specs_dict("build()")
        if module_id is not None:
            if module_id not in specs:
                raise KeyError(
                    f"MultiAgentRLModuleSpec.build({module_id!r}): unknown module id; "
                    f"module ids: {sorted(specs)}"
                )
            try:
                return specs[module_id].build()
            except (ValueError, TypeError) as e:
                raise _in_module(module_id, e) from e
        if not (isinstance(self.marl_module_class, type) and issubclass(self.marl_module_class, MultiAgentRLModule)):
            raise TypeError(
                "MultiAgentRLModuleSpec.build(): marl_module_class must be a MultiAgentRLModule "
                f"subclass, got {self.marl_module_class!r}"
            )
        module = self.marl_module_class(self.get_marl_config())
        if self.load_state_path is not None:
            load_weights_into(module, self.load_state_path)
        return module

    def add_modules(
        self, module_specs: Mapping[ModuleID, SingleAgentRLModuleSpec], override: bool = True
    ) -> None:
        """Add specs; an existing id is replaced if ``override``, else only its
        ``None`` fields are filled."""
        specs = self._specs_dict("add_modules()")
        for module_id, spec in module_specs.items():
            if module_id in specs and not override:
                specs[module_id].update(spec, override=False)
            else:
                specs[module_id] = spec

    def update(self, other: Union["MultiAgentRLModuleSpec", SingleAgentRLModuleSpec], override: bool = False) -> None:
        """Merge ``other`` in: a multi-agent spec per module id (see :meth:`add_modules`),
        a single spec into every module."""
        if isinstance(other, SingleAgentRLModuleSpec):
            targets = (
                [self.module_specs]
                if isinstance(self.module_specs, SingleAgentRLModuleSpec)
                else list(self.module_specs.values())
            )
            for spec in targets:
                spec.update(other, override=override)
            return
        if not isinstance(other, MultiAgentRLModuleSpec):
            raise TypeError(
                f"MultiAgentRLModuleSpec.update(): expected a spec, got {type(other).__name__}"
            )
        if isinstance(other.module_specs, SingleAgentRLModuleSpec):
            self.update(other.module_specs, override=override)
        else:
            self.add_modules(other.module_specs, override=override)

    def as_multi_agent(self) -> "MultiAgentRLModuleSpec":
        return self

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-safe dict (nested single-agent specs serialized)."""
        if isinstance(self.module_specs, SingleAgentRLModuleSpec):
            specs: Any = self.module_specs.to_dict()
        else:
            specs = {}
            for mid, spec in self.module_specs.items():
                try:
                    specs[mid] = spec.to_dict()
                except (ValueError, TypeError) as e:
                    raise _in_module(mid, e) from e
        return {
            "marl_module_class": class_to_path(self.marl_module_class),
            "module_specs": specs,
            "broadcast": isinstance(self.module_specs, SingleAgentRLModuleSpec),
            "load_state_path": self.load_state_path,
        }

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, trusted_modules: Sequence[str] = (), where: str = "spec"
    ) -> "MultiAgentRLModuleSpec":
        """Inverse of :meth:`to_dict`; classes resolved as in
        :meth:`SingleAgentRLModuleSpec.from_dict`."""
        trust = {"trusted_modules": trusted_modules}
        if d.get("broadcast"):
            specs: Any = SingleAgentRLModuleSpec.from_dict(d["module_specs"], where=f"{where}.module_specs", **trust)
        else:
            specs = {
                mid: SingleAgentRLModuleSpec.from_dict(s, where=f"{where}.module_specs[{mid!r}]", **trust)
                for mid, s in d["module_specs"].items()
            }
        return cls(
            marl_module_class=resolve_trusted(
                d["marl_module_class"], MARL_MODULE_CLASS, f"{where}.marl_module_class", trusted_modules
            ),
            module_specs=specs,
            load_state_path=d.get("load_state_path"),
        )

    @classmethod
    def from_module(cls, module: MultiAgentRLModule) -> "MultiAgentRLModuleSpec":
        """The spec a built MultiAgentRLModule was made from (its config's specs)."""
        return cls(
            marl_module_class=type(module), module_specs=dict(module.config.modules)
        )


MultiRLModule = MultiAgentRLModule  # the modern RLlib spellings
MultiRLModuleSpec = MultiAgentRLModuleSpec


# --- checkpoints (the format: rlmodule.checkpoint) -----------------------------------------
def _write(module: RLModule, directory: Path) -> None:
    """``module``'s checkpoint into ``directory``: metadata, and the weights file, or one
    sub-checkpoint per module id under ``modules/`` for a multi-agent module."""
    if isinstance(module, MultiAgentRLModule):
        spec = _marl_spec_dict(module)
        for module_id, sub in module.items():
            sub_dir = directory / checkpoint.MODULES_DIR / checkpoint.dir_name(module_id)
            sub_dir.mkdir(parents=True)
            _write(sub, sub_dir)
        checkpoint.write_metadata(directory, module, "multi_agent", spec, module_ids=list(module.keys()))
    else:
        weights = checkpoint.write_weights(module, directory)
        spec = spec_of(module)
        checkpoint.write_metadata(directory, module, "single_agent", None if spec is None else spec.to_dict(), **weights)


def spec_of(module: RLModule) -> Optional[SingleAgentRLModuleSpec]:
    """The spec that rebuilds ``module`` (its class, spaces, model config and catalog),
    or None if it was built without a config holding both spaces."""
    config = module.config
    if config is None or config.observation_space is None or config.action_space is None:
        return None
    return SingleAgentRLModuleSpec(
        module_class=type(module),
        observation_space=config.observation_space,
        action_space=config.action_space,
        model_config_dict=config.model_config_dict,
        catalog_class=config.catalog_class,
    )


def _marl_spec_dict(module: MultiAgentRLModule) -> Optional[Dict[str, Any]]:
    """The multi-agent spec for a custom MultiAgentRLModule class (whose setup()
    builds the sub-modules); None for the plain container, whose sub-modules are
    each rebuilt from their own metadata."""
    if type(module) is MultiAgentRLModule:
        return None
    specs = module.config.modules
    missing = [mid for mid in module.keys() if mid not in specs]
    if missing:
        raise CheckpointError(
            f"cannot checkpoint {type(module).__name__}: modules {missing} were added "
            "after construction and have no spec in config.modules, so setup() cannot rebuild them"
        )
    spec = MultiAgentRLModuleSpec(type(module), dict(specs)).to_dict()
    for sub in spec["module_specs"].values():
        sub["load_state_path"] = None  # the checkpoint holds the weights themselves
    return spec


def load_module(
    checkpoint_dir: str, *, trusted_modules: Sequence[str] = (), allow_non_finite: bool = False
) -> RLModule:
    """Rebuild the module saved in ``checkpoint_dir`` and load its weights.

    Loading reads data: classes named in the metadata are imported only from this
    package, ``trusted_modules`` (dotted prefixes) or modules already imported, and
    must be RLModule / Catalog subclasses; files are read only inside the directory;
    tensor shapes and dtypes are compared with the weights file's header before the
    module is built for real (torch: on the meta device); weights holding NaN or
    infinity are refused unless ``allow_non_finite``.
    """
    directory = Path(checkpoint_dir)
    metadata = checkpoint.read_metadata(directory)
    file = directory / checkpoint.METADATA_FILE
    cls = checkpoint.trusted(metadata["module_class"], MODULE_CLASS, f"{file}: module_class", trusted_modules)
    options = {"trusted_modules": trusted_modules, "allow_non_finite": allow_non_finite}
    if metadata["kind"] == "multi_agent" and metadata["spec"] is None:
        module = cls()
        for module_id, sub_dir in checkpoint.module_dirs(directory, metadata):
            module.add_module(module_id, load_module(sub_dir, **options))
        return module
    if metadata["spec"] is None:
        raise CheckpointError(
            f"{file}: {cls.__name__} was built without a config (by a multi-agent module's "
            "setup()); load the parent multi-agent checkpoint instead"
        )
    spec = _recorded_spec(metadata, file, trusted_modules)
    checkpoint.check_before_building(spec, directory, metadata)
    module = spec.build()
    build_weights(module)
    _load_weights(module, directory, metadata, allow_non_finite)
    return module


def _recorded_spec(
    metadata: Mapping[str, Any], file: Path, trusted_modules: Sequence[str]
) -> Union[SingleAgentRLModuleSpec, "MultiAgentRLModuleSpec"]:
    """The recorded spec, classes resolved by trust; ``load_state_path`` entries are
    dropped: the checkpoint's own weights replace what they would load, and following
    them would read outside the checkpoint directory."""
    spec_cls = MultiAgentRLModuleSpec if metadata["kind"] == "multi_agent" else SingleAgentRLModuleSpec
    try:
        spec = spec_cls.from_dict(metadata["spec"], trusted_modules=trusted_modules, where=f"{file}: spec")
    except UntrustedPathError as e:
        raise CheckpointError(str(e)) from None
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{file}: spec: {e}") from None
    spec.load_state_path = None
    if isinstance(spec, MultiAgentRLModuleSpec):
        for sub in spec.module_specs.values():
            sub.load_state_path = None
    return spec


def load_weights_into(module: RLModule, checkpoint_dir: str, *, allow_non_finite: bool = False) -> None:
    """Load a checkpoint's weights into an existing module, after checking that the
    checkpoint holds the same class with the same spaces (and, as :func:`load_module`,
    the tensors' names, shapes, dtypes and values)."""
    directory = Path(checkpoint_dir)
    metadata = checkpoint.read_metadata(directory)
    file = directory / checkpoint.METADATA_FILE
    want = class_to_path(type(module))
    if current_path(metadata["module_class"]) != want:
        raise CheckpointError(
            f"{file}: holds a {metadata['module_class']}, but the module is a {want}"
        )
    if metadata["kind"] == "single_agent" and metadata["spec"] and module.config is not None:
        for name in ("observation_space", "action_space"):
            mine = getattr(module.config, name)
            theirs = metadata["spec"].get(name)
            if mine is not None and theirs is not None and space_to_dict(mine) != theirs:
                raise CheckpointError(
                    f"{file}: {name} mismatch: checkpoint has {theirs}, module has {space_to_dict(mine)}"
                )
    build_weights(module)
    _load_weights(module, directory, metadata, allow_non_finite)


def _load_weights(module: RLModule, directory: Path, metadata: Mapping[str, Any], allow_non_finite: bool) -> None:
    if metadata["kind"] == "multi_agent":
        if not isinstance(module, MultiAgentRLModule):
            raise CheckpointError(f"{directory}: a multi-agent checkpoint, but the module is single-agent")
        for module_id, sub_dir in checkpoint.module_dirs(directory, metadata):
            if module_id not in module:
                raise CheckpointError(
                    f"{directory}: checkpoint has module {module_id!r}, the module has {sorted(module.keys())}"
                )
            load_weights_into(module[module_id], sub_dir, allow_non_finite=allow_non_finite)
        return
    checkpoint.load_weights(module, directory, metadata, allow_non_finite)


def build_weights(module: RLModule) -> None:
    """Create the weights that appear on a module's first call (Keras) by running one
    forward on sampled observations (the backend's ``build_weights``); for a
    multi-agent module, for each sub-module (observations of the space its spec names)."""
    if isinstance(module, MultiAgentRLModule):
        for module_id, sub in module.items():
            spec = module.config.modules.get(module_id)
            owner = spec if spec is not None else sub.config
            _build_weights(sub, None if owner is None else owner.observation_space)
    else:
        _build_weights(module, None)


def _build_weights(module: RLModule, observation_space: Optional[gym.Space]) -> None:
    try:
        module_backend = backend(module)
    except ValueError:  # a module of no framework has no weights to create
        return
    module_backend.build_weights(module, observation_space)
