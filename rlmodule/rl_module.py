"""RLModule, its config, and the single-agent spec that builds it.

An RLModule maps a batch (a dict, ``batch["obs"]`` of shape ``[B, *obs_shape]``) to a
dict of outputs, in three phases: ``forward_train`` (losses), ``forward_exploration``
(acting while collecting data) and ``forward_inference`` (serving). Subclasses
implement ``setup()`` and the three ``_forward_*`` methods; the public forwards check
the I/O specs around them.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, Tuple, Type

import gymnasium as gym
import numpy as np

from rlmodule.class_path import Expect, class_to_path, resolve_trusted
from rlmodule.columns import Columns
from rlmodule.model_config import validate_model_config
from rlmodule.spaces import map_structure, sample_obs_batch, space_from_dict, space_to_dict
from rlmodule.specs import OneOf, SpecChecker, SpecType, TensorSpec

if TYPE_CHECKING:
    from rlmodule.marl_module import MultiAgentRLModule, MultiAgentRLModuleSpec

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
        """Write metadata (JSON) and weights (no pickle) into ``checkpoint_dir``."""
        from rlmodule.checkpoint import save_module

        return save_module(self, checkpoint_dir)

    @classmethod
    def from_checkpoint(
        cls, checkpoint_dir: str, *, trusted_modules: Sequence[str] = (), allow_non_finite: bool = False
    ) -> "RLModule":
        """Rebuild a module saved by :meth:`save_to_checkpoint` and load its weights.
        See :func:`rlmodule.checkpoint.load_module` for what loading trusts."""
        from rlmodule.checkpoint import load_module

        module = load_module(checkpoint_dir, trusted_modules=trusted_modules, allow_non_finite=allow_non_finite)
        if not isinstance(module, cls):
            raise TypeError(
                f"{checkpoint_dir}: holds a {type(module).__name__}, which is not a {cls.__name__}"
            )
        return module

    # --- multi-agent view -------------------------------------------------------------
    def as_multi_agent(self) -> "MultiAgentRLModule":
        """A MultiAgentRLModule holding this module under ``DEFAULT_MODULE_ID``."""
        from rlmodule.marl_module import MultiAgentRLModule

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
            from rlmodule.checkpoint import load_weights_into

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
        from rlmodule.marl_module import MultiAgentRLModuleSpec

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
