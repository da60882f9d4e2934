"""MultiAgentRLModule: a dict of RLModules (one per module id), and its spec.

Forwards take a multi-agent batch ``{module_id: batch}`` and return
``{module_id: outputs}``, running each module on its own sub-batch. Subclasses may
override ``setup()`` to build modules that share sub-networks.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, KeysView, List, Mapping, Optional, Sequence, Type, Union

from rlmodule.class_path import Expect, class_to_path, resolve_trusted
from rlmodule.rl_module import (
    DEFAULT_MODULE_ID,
    ModuleID,
    RLModule,
    SingleAgentRLModuleSpec,
)
from rlmodule.specs import SpecType


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
            from rlmodule.checkpoint import load_weights_into

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
__all__ = [
    "DEFAULT_MODULE_ID",
    "MultiAgentRLModule",
    "MultiAgentRLModuleConfig",
    "MultiAgentRLModuleSpec",
    "MultiRLModule",
    "MultiRLModuleSpec",
]
