"""AlgorithmConfig: the builder every algorithm's config extends.

Each setter returns ``self`` so calls chain, as in RLlib. Settings a user does not
pass keep their defaults; unknown keys and wrong types raise errors naming the key.
This file holds what every algorithm shares: framework, environment, module spec,
``model`` dict, multi-agent mapping and seed.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Optional, Union

import gymnasium as gym

from rlmodule.marl_module import MultiAgentRLModuleSpec
from rlmodule.model_config import MODEL_DEFAULTS, validate_model_config
from rlmodule.rl_module import DEFAULT_MODULE_ID, SingleAgentRLModuleSpec


class _NotProvided:
    """Marks a setter argument the caller did not pass."""

    def __repr__(self) -> str:
        return "NotProvided"


NotProvided: Any = _NotProvided()

_FRAMEWORKS = {"torch": "torch", "tf": "tf2", "tf2": "tf2"}

ModuleSpec = Union[SingleAgentRLModuleSpec, MultiAgentRLModuleSpec]


class AlgorithmConfig:
    """Settings shared by all algorithms; subclasses add their training settings."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        self.algo_class = algo_class
        self.framework_str = "torch"
        self.env: Any = None
        self.env_config: Dict[str, Any] = {}
        self.model: Dict[str, Any] = copy.deepcopy(MODEL_DEFAULTS)
        self._enable_rl_module_api = True
        self._enable_learner_api = True
        self.rl_module_spec: Optional[ModuleSpec] = None
        self.policies: Optional[Dict[str, Any]] = None
        self.policy_mapping_fn: Optional[Callable] = None
        self.seed: Optional[int] = None

    # --- setters --------------------------------------------------------------------------
    def framework(self, framework: str) -> "AlgorithmConfig":
        """``"torch"`` or ``"tf2"`` (``"tf"`` means ``"tf2"``)."""
        if framework not in _FRAMEWORKS:
            raise ValueError(f"framework({framework!r}): choose one of {sorted(_FRAMEWORKS)}")
        self.framework_str = _FRAMEWORKS[framework]
        return self

    def environment(self, env: Any = NotProvided, *, env_config: Any = NotProvided) -> "AlgorithmConfig":
        """A registered gymnasium id, an env class, or a callable ``env_config -> env``."""
        if env is not NotProvided:
            if not (isinstance(env, str) or callable(env)):
                raise TypeError(
                    f"environment(env=...): expected a gymnasium id (str), an env class or a "
                    f"callable, got {type(env).__name__}"
                )
            self.env = env
        if env_config is not NotProvided:
            if not isinstance(env_config, dict):
                raise TypeError(f"environment(env_config=...): expected a dict, got {type(env_config).__name__}")
            self.env_config = env_config
        return self

    def rl_module(
        self, *, _enable_rl_module_api: Any = NotProvided, rl_module_spec: Any = NotProvided
    ) -> "AlgorithmConfig":
        """The module spec (partial specs are filled from the env and ``model``)."""
        if _enable_rl_module_api is not NotProvided:
            if _enable_rl_module_api is not True:
                raise ValueError(
                    "rl_module(_enable_rl_module_api=False): this package only has the RLModule "
                    "stack; use compat.LegacyPolicyRLModule to run a legacy policy"
                )
            self._enable_rl_module_api = True
        if rl_module_spec is not NotProvided:
            if not isinstance(rl_module_spec, (SingleAgentRLModuleSpec, MultiAgentRLModuleSpec)):
                raise TypeError(
                    "rl_module(rl_module_spec=...): expected a SingleAgentRLModuleSpec or "
                    f"MultiAgentRLModuleSpec, got {type(rl_module_spec).__name__}"
                )
            self.rl_module_spec = rl_module_spec
        return self

    def training(self, *, model: Any = NotProvided, _enable_learner_api: Any = NotProvided, **kwargs: Any) -> "AlgorithmConfig":
        """``model`` updates the model config dict (legacy ``MODEL_DEFAULTS`` keys);
        other keywords set the algorithm's training settings."""
        if model is not NotProvided:
            validate_model_config(model, "training(model=...)")
            self.model.update(copy.deepcopy(model))
        if _enable_learner_api is not NotProvided:
            if _enable_learner_api is not True:
                raise ValueError("training(_enable_learner_api=False): only the Learner stack exists here")
            self._enable_learner_api = True
        for key, value in kwargs.items():
            self._set_training_setting(key, value)
        return self

    def _set_training_setting(self, key: str, value: Any) -> None:
        if key.startswith("_") or not hasattr(self, key) or key in _NON_TRAINING_KEYS:
            raise TypeError(f"training(): unknown setting {key!r} for {type(self).__name__}")
        current = getattr(self, key)
        if current is not None and not isinstance(value, type(current)) and not (
            isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool)
        ):
            raise TypeError(
                f"training({key}=...): expected {type(current).__name__}, got {type(value).__name__} {value!r}"
            )
        setattr(self, key, value)

    def multi_agent(self, *, policies: Any = NotProvided, policy_mapping_fn: Any = NotProvided) -> "AlgorithmConfig":
        """``policies``: module ids (a set/list, or a dict id -> spec or None);
        ``policy_mapping_fn(agent_id, episode, **kw) -> module id``."""
        if policies is not NotProvided:
            if isinstance(policies, (set, list, tuple)):
                policies = {pid: None for pid in policies}
            if not isinstance(policies, dict):
                raise TypeError(f"multi_agent(policies=...): expected a set, list or dict, got {type(policies).__name__}")
            self.policies = policies
        if policy_mapping_fn is not NotProvided:
            if not callable(policy_mapping_fn):
                raise TypeError("multi_agent(policy_mapping_fn=...): expected a callable")
            self.policy_mapping_fn = policy_mapping_fn
        return self

    def debugging(self, *, seed: Any = NotProvided) -> "AlgorithmConfig":
        if seed is not NotProvided:
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise TypeError(f"debugging(seed=...): expected an int or None, got {seed!r}")
            self.seed = seed
        return self

    # --- specs ----------------------------------------------------------------------------
    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        """The algorithm's default module spec for ``framework_str``."""
        raise NotImplementedError(f"{type(self).__name__}.get_default_rl_module_spec()")

    def is_multi_agent(self) -> bool:
        return self.policies is not None or isinstance(self.rl_module_spec, MultiAgentRLModuleSpec)

    def get_rl_module_spec(self, env: Any) -> ModuleSpec:
        """The complete module spec: the user's spec filled from the default spec,
        the env's spaces and ``model``."""
        default = self.get_default_rl_module_spec()
        if not self.is_multi_agent():
            spec = copy.deepcopy(self.rl_module_spec) if self.rl_module_spec is not None else SingleAgentRLModuleSpec()
            self._fill(spec, default, env.observation_space, env.action_space)
            return spec
        user = self.rl_module_spec
        if isinstance(user, SingleAgentRLModuleSpec):
            user = MultiAgentRLModuleSpec(module_specs=user)
        user = copy.deepcopy(user) if user is not None else MultiAgentRLModuleSpec(module_specs=SingleAgentRLModuleSpec())
        module_ids = list(self.policies) if self.policies else (
            list(user.module_specs) if isinstance(user.module_specs, dict) and user.module_specs else [DEFAULT_MODULE_ID]
        )
        marl = user.for_module_ids(module_ids)
        obs_spaces = getattr(env, "observation_spaces", None) or {}
        act_spaces = getattr(env, "action_spaces", None) or {}
        for module_id, spec in marl.module_specs.items():
            agent = self._first_agent_for(module_id, env)
            self._fill(
                spec,
                default,
                obs_spaces.get(agent, env.observation_space),
                act_spaces.get(agent, env.action_space),
            )
        return marl

    def _first_agent_for(self, module_id: str, env: Any) -> Any:
        agents = list(getattr(env, "possible_agents", []) or [])
        for agent in agents:
            mapped = self.policy_mapping_fn(agent, None) if self.policy_mapping_fn else DEFAULT_MODULE_ID
            if mapped == module_id:
                return agent
        return agents[0] if agents else None

    def _fill(self, spec: SingleAgentRLModuleSpec, default: SingleAgentRLModuleSpec, obs_space: gym.Space, act_space: gym.Space) -> None:
        spec.update(default, override=False)
        spec.update(
            SingleAgentRLModuleSpec(
                observation_space=obs_space,
                action_space=act_space,
                model_config_dict=copy.deepcopy(self.model),
            ),
            override=False,
        )

    # --- building ---------------------------------------------------------------------------
    def make_env(self) -> Any:
        """One instance of the configured environment."""
        if self.env is None:
            raise ValueError(f"{type(self).__name__}: no environment; call .environment(env)")
        if isinstance(self.env, str):
            return gym.make(self.env, **self.env_config)
        return self.env(dict(self.env_config))

    def build(self) -> Any:
        """The configured Algorithm."""
        if self.algo_class is None:
            raise NotImplementedError(
                f"{type(self).__name__}.build(): training this algorithm is not available yet "
                "(its modules are: see get_default_rl_module_spec())"
            )
        return self.algo_class(copy.deepcopy(self))

    def copy(self) -> "AlgorithmConfig":
        return copy.deepcopy(self)


_NON_TRAINING_KEYS = set(vars(AlgorithmConfig()))
