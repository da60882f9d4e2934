"""AlgorithmConfig: the builder every algorithm's config extends.

Each setter returns ``self`` so calls chain, as in RLlib. Settings a user does not
pass keep their defaults; unknown keys and wrong types raise errors naming the key.
This file holds what every algorithm shares: framework, environment, module spec,
``model`` dict, env runners, learners, multi-agent mapping, evaluation, logging and seed, plus
the training settings all algorithms have (``lr``, ``gamma``, ``train_batch_size``,
``grad_clip``). ``to_dict()`` / ``from_dict()`` round-trip every setting.
"""

from __future__ import annotations

import copy
import inspect
import sys
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import gymnasium as gym

from rlmodule.backend import FRAMEWORKS
from rlmodule.model_config import MODEL_DEFAULTS, validate_model_config
from rlmodule.rl_module import DEFAULT_MODULE_ID, MultiAgentRLModuleSpec, SingleAgentRLModuleSpec


class _NotProvided:
    """Marks a setter argument the caller did not pass."""

    def __repr__(self) -> str:
        return "NotProvided"


NotProvided: Any = _NotProvided()


ModuleSpec = Union[SingleAgentRLModuleSpec, MultiAgentRLModuleSpec]


def _check_schedule(value: Any, key: str) -> None:
    """``None`` or ``[[timestep, value], ...]`` with increasing timesteps."""
    if value is None:
        return
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in p)
        for p in value
    )
    if not ok:
        raise TypeError(f"training({key}=...): expected None or a list of [timestep, value] pairs, got {value!r}")
    steps = [p[0] for p in value]
    if steps != sorted(steps) or steps[0] != 0:
        raise ValueError(f"training({key}=...): timesteps must start at 0 and increase, got {steps}")


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
        # training (every algorithm)
        self.lr = 1e-3
        self.lr_schedule: Optional[List[List[float]]] = None
        self.gamma = 0.99
        self.train_batch_size = 2000
        self.grad_clip: Optional[float] = None
        self.learner_class: Optional[type] = None  # None: the algorithm's own learner
        # env runners
        self.num_env_runners = 0
        self.num_envs_per_env_runner = 8
        self.rollout_fragment_length: Union[int, str] = "auto"
        # learners
        self.num_learners = 0
        self.num_gpus_per_learner: Union[int, float] = 0
        # multi-agent
        self.policies: Optional[Dict[str, Any]] = None
        self.policy_mapping_fn: Optional[Callable] = None
        # evaluation
        self.evaluation_interval: Optional[int] = None
        self.evaluation_duration = 10
        self.evaluation_explore = False
        # callbacks (an rlmodule.callbacks.RLlibCallback subclass, or a list of them)
        self.callbacks_class: Any = None
        # reporting and debugging
        self.metrics_num_episodes_for_smoothing = 100
        self.log_dir: Optional[str] = None
        self.seed: Optional[int] = None

    # --- setters --------------------------------------------------------------------------
    def framework(self, framework: str) -> "AlgorithmConfig":
        """``"torch"`` or ``"tf2"`` (``"tf"`` and ``"tensorflow"`` mean ``"tf2"``)."""
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework({framework!r}): choose one of {sorted(FRAMEWORKS)}")
        self.framework_str = FRAMEWORKS[framework]
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
        other keywords set the algorithm's training settings (``lr``, ``gamma``, ...);
        ``learner_class`` (RLlib 2.60's spelling) replaces the algorithm's Learner with a
        subclass of yours (e.g. a ``PPOLearner`` with a custom ``compute_loss``)."""
        if model is not NotProvided:
            validate_model_config(model, "training(model=...)")
            self.model.update(copy.deepcopy(model))
        if _enable_learner_api is not NotProvided:
            if _enable_learner_api is not True:
                raise ValueError("training(_enable_learner_api=False): only the Learner stack exists here")
            self._enable_learner_api = True
        for key, value in kwargs.items():
            self._set_training_setting(key, value)
        self._warn_if_lr_unused(kwargs)
        return self

    def _warn_if_lr_unused(self, keys: Any) -> None:
        """``lr`` set without ``lr_schedule`` while a schedule is on (PPO's default one):
        the schedule decides the learning rate, so say so instead of ignoring ``lr``."""
        if "lr" in keys and "lr_schedule" not in keys and self.lr_schedule is not None and not is_search_space(self.lr):
            warnings.warn(
                f"{type(self).__name__}: lr={self.lr!r} is not used: lr_schedule={self.lr_schedule!r} sets the "
                "learning rate (the algorithm's default schedule unless you set one); pass lr_schedule=None "
                "to train at a fixed lr",
                UserWarning,
                stacklevel=3,
            )

    def _set_training_setting(self, key: str, value: Any) -> None:
        key = TRAINING_ALIASES.get(key, key)
        if key.startswith("_") or not hasattr(self, key) or key in _NON_TRAINING_KEYS:
            raise TypeError(f"training(): unknown setting {key!r} for {type(self).__name__}")
        if is_search_space(value):  # Ray Tune resolves it per trial; the trial's config checks the value
            setattr(self, key, value)
            return
        if key.endswith("_schedule"):
            _check_schedule(value, key)
        elif key == "learner_class":
            _check_learner_class(value)
        elif key == "grad_clip":
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise TypeError(f"training(grad_clip=...): expected None or a positive number, got {value!r}")
            value = None if value is None else float(value)
        else:
            _check_type(f"training({key}=...)", getattr(self, key), value)
        setattr(self, key, value)

    def env_runners(
        self,
        *,
        num_env_runners: Any = NotProvided,
        num_envs_per_env_runner: Any = NotProvided,
        rollout_fragment_length: Any = NotProvided,
    ) -> "AlgorithmConfig":
        """How experience is collected: ``num_env_runners`` extra runners as Ray actors,
        one CPU each (0: sample in the algorithm's process; see
        :class:`~rlmodule.env_runners.env_runner_group.EnvRunnerGroup`), each stepping
        ``num_envs_per_env_runner`` env copies for ``rollout_fragment_length`` steps
        per sample (``"auto"``: so that one round of sampling over all runners yields
        ``train_batch_size`` steps)."""
        if num_env_runners is not NotProvided:
            _check_count("env_runners(num_env_runners=...)", num_env_runners, minimum=0)
            self.num_env_runners = num_env_runners
        if num_envs_per_env_runner is not NotProvided:
            _check_count("env_runners(num_envs_per_env_runner=...)", num_envs_per_env_runner, minimum=1)
            self.num_envs_per_env_runner = num_envs_per_env_runner
        if rollout_fragment_length is not NotProvided:
            if rollout_fragment_length != "auto":
                _check_count("env_runners(rollout_fragment_length=...)", rollout_fragment_length, minimum=1)
            self.rollout_fragment_length = rollout_fragment_length
        return self

    def rollouts(
        self,
        *,
        num_rollout_workers: Any = NotProvided,
        num_envs_per_worker: Any = NotProvided,
        rollout_fragment_length: Any = NotProvided,
    ) -> "AlgorithmConfig":
        """The legacy spelling of :meth:`env_runners` (RLlib 2.x before ``env_runners``)."""
        return self.env_runners(
            num_env_runners=num_rollout_workers,
            num_envs_per_env_runner=num_envs_per_worker,
            rollout_fragment_length=rollout_fragment_length,
        )

    def learners(self, *, num_learners: Any = NotProvided, num_gpus_per_learner: Any = NotProvided) -> "AlgorithmConfig":
        """Where the learners train (RLlib 2.60's spelling). Each module has one learner in
        the algorithm's process: ``num_learners`` 0 and 1 both mean that (RLlib's local
        learner, and its single-GPU recipe); several learners (DDP) are RLlib's, through
        ``compat.rllib``. ``num_gpus_per_learner``: 0 (default) trains the module the env
        runner acts with, on the CPU; any value in ``(0, 1]`` (RLlib's rule for one local
        learner: a fraction still means one GPU) trains a copy on one CUDA device, torch
        only, and the CPU module the env runners act with gets its weights after every
        update (see :mod:`rlmodule.algorithms.learner_device`). Whether CUDA is there is checked by
        ``build()``."""
        if num_learners is not NotProvided:
            _check_count("learners(num_learners=...)", num_learners, minimum=0)
            if num_learners > 1:
                raise ValueError(
                    f"learners(num_learners={num_learners}): each module trains with one learner in the "
                    "algorithm's process here (num_learners 0 or 1); for several learners (DDP), train the "
                    "module with RLlib 2.60's PPO through compat.rllib.to_rllib_spec "
                    "(MIGRATION.md#scaling-out-rllib-tune-and-gpus)"
                )
            self.num_learners = num_learners
        if num_gpus_per_learner is not NotProvided:
            value = num_gpus_per_learner
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise TypeError(f"learners(num_gpus_per_learner=...): expected a number >= 0, got {value!r}")
            if value > 1:
                raise ValueError(
                    f"learners(num_gpus_per_learner={value}): one learner trains on one GPU here (0: the CPU, "
                    "any value in (0, 1]: one CUDA device); for several GPUs train the module with RLlib "
                    "through compat.rllib (MIGRATION.md#scaling-out-rllib-tune-and-gpus)"
                )
            self.num_gpus_per_learner = value
        return self

    def get_rollout_fragment_length(self) -> int:
        """Steps per sub-env per sample: ``rollout_fragment_length``, or for ``"auto"``
        ``ceil(train_batch_size / (runners * envs per runner))``."""
        if self.rollout_fragment_length != "auto":
            return int(self.rollout_fragment_length)
        envs = max(1, self.num_env_runners) * self.num_envs_per_env_runner
        return max(1, -(-self.train_batch_size // envs))

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

    def evaluation(
        self,
        *,
        evaluation_interval: Any = NotProvided,
        evaluation_duration: Any = NotProvided,
        evaluation_explore: Any = NotProvided,
    ) -> "AlgorithmConfig":
        """Evaluate every ``evaluation_interval`` iterations (``None``: only when
        ``evaluate()`` is called) for ``evaluation_duration`` episodes, acting with
        ``forward_inference`` (``evaluation_explore=True``: ``forward_exploration``)."""
        if evaluation_interval is not NotProvided:
            if evaluation_interval is not None:
                _check_count("evaluation(evaluation_interval=...)", evaluation_interval, minimum=1)
            self.evaluation_interval = evaluation_interval
        if evaluation_duration is not NotProvided:
            _check_count("evaluation(evaluation_duration=...)", evaluation_duration, minimum=1)
            self.evaluation_duration = evaluation_duration
        if evaluation_explore is not NotProvided:
            _check_type("evaluation(evaluation_explore=...)", False, evaluation_explore)
            self.evaluation_explore = evaluation_explore
        return self

    def callbacks(self, callbacks_class: Any = NotProvided) -> "AlgorithmConfig":
        """An :class:`rlmodule.callbacks.RLlibCallback` subclass (legacy name
        ``DefaultCallbacks``), a list of them, or ``None``: every env runner and the
        algorithm hold an instance and call its hooks (see :mod:`rlmodule.callbacks`)."""
        if callbacks_class is not NotProvided:
            from rlmodule.callbacks import check_callbacks_class

            check_callbacks_class(callbacks_class)
            self.callbacks_class = list(callbacks_class) if isinstance(callbacks_class, tuple) else callbacks_class
        return self

    def reporting(self, *, metrics_num_episodes_for_smoothing: Any = NotProvided) -> "AlgorithmConfig":
        """Episode statistics are over the last ``metrics_num_episodes_for_smoothing`` episodes."""
        if metrics_num_episodes_for_smoothing is not NotProvided:
            _check_count("reporting(metrics_num_episodes_for_smoothing=...)", metrics_num_episodes_for_smoothing, minimum=1)
            self.metrics_num_episodes_for_smoothing = metrics_num_episodes_for_smoothing
        return self

    def debugging(self, *, seed: Any = NotProvided, log_dir: Any = NotProvided) -> "AlgorithmConfig":
        """``seed``: same seed and config give identical results on CPU. ``log_dir``:
        where results go (CSV, JSON lines, TensorBoard); default
        ``$RLMODULE_RESULTS_DIR`` or ``~/rlmodule_results``, one sub-directory per run."""
        if seed is not NotProvided:
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise TypeError(f"debugging(seed=...): expected an int or None, got {seed!r}")
            self.seed = seed
        if log_dir is not NotProvided:
            if log_dir is not None and not isinstance(log_dir, str):
                raise TypeError(f"debugging(log_dir=...): expected a path string or None, got {log_dir!r}")
            self.log_dir = log_dir
        return self

    # --- dict form ----------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        """``config["lr"]``: a setting by its ``to_dict()`` key (RLlib's dict-style read,
        which legacy policy and loss code uses: ``self.config["clip_param"]``); legacy
        spellings (``"num_workers"``, ``"lambda"``, ``"sgd_minibatch_size"``) read their
        setting."""
        known = _settings(type(self))
        name = LEGACY_KEYS.get(key, key)
        name = TRAINING_ALIASES.get(name, name)
        if name not in known:
            raise KeyError(f"{type(self).__name__}[{key!r}]: no such setting (known: {', '.join(sorted(known))})")
        return getattr(self, known[name][1])

    def to_dict(self) -> Dict[str, Any]:
        """Every setting by its setter's keyword (``framework``, ``env``, ``lr``, ...);
        values are deep copies (classes and functions as they are)."""
        return {key: copy.deepcopy(getattr(self, attr)) for key, (_, attr) in _settings(type(self)).items()}

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> "AlgorithmConfig":
        """A config of this class with ``settings`` (as ``to_dict()`` returns them, or
        any subset) applied through the setters; unknown keys raise naming the key."""
        config = cls()
        config.update_from_dict(settings)
        return config

    def update_from_dict(self, settings: Mapping[str, Any]) -> "AlgorithmConfig":
        """Apply ``settings`` (setter keywords -> values) through the setters. Legacy
        RLlib keys are read too: renamed ones (``LEGACY_KEYS``: ``num_workers``, a nested
        ``multiagent`` dict, ...) with a DeprecationWarning naming the new key; one
        without an equivalent (``LEGACY_KEYS_WITHOUT_EQUIVALENT``) raises a KeyError
        saying what to do instead, as an unknown key does."""
        known = _settings(type(self))
        settings, problems = _legacy_keys_translated(type(self), settings, known)
        unknown = sorted(str(k) for k in settings if k not in known)
        if unknown or problems:
            listed = [f"unknown setting(s) {', '.join(unknown)}"] if unknown else []
            raise KeyError(f"{type(self).__name__}.from_dict(): {'; '.join(listed + problems)}")
        defaults = type(self)()
        for key, value in settings.items():
            setter, attr = known[key]
            if value is None and getattr(defaults, attr) is None:
                setattr(self, attr, None)  # a setting whose default is "unset"
            elif key == "framework":
                self.framework(value)
            elif key == "env":
                self.environment(value)
            elif key == "callbacks":
                self.callbacks(value)
            elif key == "model":
                self.model = copy.deepcopy(MODEL_DEFAULTS)
                self.training(model=value)
            elif setter == "training" and not key.startswith("_"):
                self._set_training_setting(key, value)
            else:
                getattr(self, setter)(**{key: value})
        self._warn_if_lr_unused(settings)
        return self

    # --- specs ----------------------------------------------------------------------------
    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        """The algorithm's default module spec for ``framework_str``."""
        raise NotImplementedError(f"{type(self).__name__}.get_default_rl_module_spec()")

    def is_multi_agent(self) -> bool:
        """``policies`` set, a multi-agent spec, or an env class deriving from
        :class:`rlmodule.envs.MultiAgentEnv`."""
        from rlmodule.envs.multi_agent_env import MultiAgentEnv

        env_is_multi = isinstance(self.env, type) and issubclass(self.env, MultiAgentEnv)
        return self.policies is not None or isinstance(self.rl_module_spec, MultiAgentRLModuleSpec) or env_is_multi

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
        for module_id, spec in marl.module_specs.items():
            agent = self._first_agent_for(module_id, env)
            self._fill(spec, default, _agent_space(env, "observation", agent), _agent_space(env, "action", agent))
        return marl

    def get_policy_mapping_fn(self, worker: Any = None) -> Callable[..., str]:
        """``policy_mapping_fn`` as ``fn(agent_id, episode)``, or: every agent -> the only
        module id (or the default id). A function that takes ``worker`` (or ``**kwargs``)
        gets ``worker=worker``, as RLlib's legacy stack passed it."""
        if self.policy_mapping_fn is not None:
            return _with_worker(self.policy_mapping_fn, worker)
        only = next(iter(self.policies)) if self.policies and len(self.policies) == 1 else DEFAULT_MODULE_ID
        return lambda agent_id, episode=None, **kwargs: only

    def _first_agent_for(self, module_id: str, env: Any) -> Any:
        agents = list(getattr(env, "possible_agents", []) or [])
        mapping = self.get_policy_mapping_fn()
        for agent in agents:
            if mapping(agent, None) == module_id:
                return agent
        return agents[0] if agents else None

    def _fill(self, spec: SingleAgentRLModuleSpec, default: SingleAgentRLModuleSpec, obs_space: gym.Space, act_space: gym.Space) -> None:
        own_class = spec.module_class is not None
        spec.update(default, override=False)
        spec.update(
            SingleAgentRLModuleSpec(
                observation_space=obs_space,
                action_space=act_space,
                model_config_dict=copy.deepcopy(self.model),
            ),
            override=False,
        )
        if not own_class:
            _refuse_legacy_model_keys(spec.model_config_dict or {}, spec.module_class)

    # --- building ---------------------------------------------------------------------------
    def make_env(self) -> Any:
        """One instance of the configured environment: ``gym.make(id, **env_config)``,
        or ``env(env_config)`` for a class or callable (``env()`` when it takes no
        arguments and ``env_config`` is empty)."""
        if self.env is None:
            raise ValueError(f"{type(self).__name__}: no environment; call .environment(env)")
        if isinstance(self.env, str):
            return gym.make(self.env, **self.env_config)
        if not self.env_config and _takes_no_arguments(self.env):
            return self.env()
        return self.env(dict(self.env_config))

    def build(self) -> Any:
        """The configured Algorithm."""
        if self.algo_class is None:
            raise NotImplementedError(
                f"{type(self).__name__}.build(): training this algorithm is not available yet "
                "(its modules are: see get_default_rl_module_spec())"
            )
        searched = [key for key, (_, attr) in _settings(type(self)).items() if is_search_space(getattr(self, attr))]
        if searched:
            raise ValueError(
                f"{type(self).__name__}.build(): {', '.join(searched)} hold(s) a Ray Tune search space; run the "
                f"config with tune.Tuner({self.algo_class.__name__}.as_trainable(), param_space=config), which "
                "gives each trial one value (see rlmodule.algorithms.tune)"
            )
        return self.algo_class(copy.deepcopy(self))

    def copy(self) -> "AlgorithmConfig":
        return copy.deepcopy(self)


def is_search_space(value: Any) -> bool:
    """Whether ``value`` is a Ray Tune search space: ``tune.grid_search([...])`` (the dict
    ``{"grid_search": [...]}``) or a sampling domain (``tune.uniform``, ``tune.choice``,
    ...; only possible once ``ray.tune`` is loaded, which this check never imports)."""
    if isinstance(value, dict):
        return list(value) == ["grid_search"]
    sample = sys.modules.get("ray.tune.search.sample")
    return sample is not None and isinstance(value, sample.Domain)


def _agent_space(env: Any, kind: str, agent: Any) -> gym.Space:
    """An agent's observation/action space: a MultiAgentEnv's ``get_observation_space
    (agent)``, RLlib-style ``observation_spaces`` dicts, PettingZoo
    ``observation_space(agent)`` methods, or the env's single space."""
    from rlmodule.envs.multi_agent_env import MultiAgentEnv

    if isinstance(env, MultiAgentEnv):
        return getattr(env, f"get_{kind}_space")(agent)
    spaces = getattr(env, f"{kind}_spaces", None)
    if isinstance(spaces, Mapping) and agent in spaces:
        return spaces[agent]
    single = getattr(env, f"{kind}_space")
    return single(agent) if callable(single) and not isinstance(single, gym.Space) else single


def _takes_no_arguments(factory: Any) -> bool:
    """Whether ``factory()`` is a valid call (a class's ``__init__`` without parameters)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return False
    return not signature.parameters


def _check_learner_class(value: Any) -> None:
    """``None`` or a :class:`~rlmodule.learners.Learner` subclass (RLlib 2.60's
    ``.training(learner_class=...)``)."""
    from rlmodule.learners.learner import Learner

    if value is not None and not (isinstance(value, type) and issubclass(value, Learner)):
        raise TypeError(f"training(learner_class=...): expected None or a Learner subclass, got {value!r}")


def _check_type(where: str, current: Any, value: Any) -> None:
    if current is None or isinstance(value, type(current)):
        if isinstance(value, bool) and not isinstance(current, bool) and current is not None:
            raise TypeError(f"{where}: expected {type(current).__name__}, got bool {value!r}")
        return
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return
    raise TypeError(f"{where}: expected {type(current).__name__}, got {type(value).__name__} {value!r}")


def _check_count(where: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TypeError(f"{where}: expected an int >= {minimum}, got {value!r}")


def _with_worker(fn: Callable[..., str], worker: Any) -> Callable[..., str]:
    """``fn`` called as ``fn(agent_id, episode, worker=worker)`` when it accepts ``worker``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins and C callables: call them as given
        return fn
    if any(p.name == "worker" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return lambda agent_id, episode=None, **kwargs: fn(agent_id, episode, worker=worker, **kwargs)
    return fn


#: RLlib >= 2.10 spellings of training settings -> the specification's names.
TRAINING_ALIASES = {"minibatch_size": "sgd_minibatch_size", "num_epochs": "num_sgd_iter"}
#: Legacy RLlib config keys -> this project's (``from_dict`` reads them with a
#: DeprecationWarning; the ``training_scripts`` codemod renames the ones it can see).
#: ``multiagent`` is a nested dict whose ``policies`` / ``policy_mapping_fn`` are top-level keys here.
LEGACY_KEYS = {
    "num_workers": "num_env_runners",
    "num_rollout_workers": "num_env_runners",
    "num_envs_per_worker": "num_envs_per_env_runner",
    "lambda": "lambda_",
    "input": "input_",
    "evaluation_num_episodes": "evaluation_duration",
    "metrics_smoothing_episodes": "metrics_num_episodes_for_smoothing",
}
_DROP = "drop it"
_RESOURCES = "drop it: remote env runners take one CPU each, the learners run in the algorithm's process"
_GPUS = (
    "drop it (env runners act on the CPU, remote ones take one CPU each); to train the learners on a GPU "
    "use .learners(num_gpus_per_learner=1)"
)
_ENV_WRAPPER = "do this in an env wrapper (a gymnasium.Wrapper around the env given to environment())"
_EVALUATION = "evaluation runs in the algorithm's process with the training env: use evaluation_interval, evaluation_duration (episodes) and evaluation_explore"
#: Legacy RLlib config keys without an equivalent here -> what to do instead (``from_dict`` raises a KeyError saying it).
LEGACY_KEYS_WITHOUT_EQUIVALENT = {
    **dict.fromkeys(
        ("num_gpus_per_worker", "num_cpus_per_worker", "num_cpus_for_driver", "custom_resources_per_worker",
         "_fake_gpus", "placement_strategy"),
        _RESOURCES,
    ),
    "num_gpus": _GPUS,
    "log_level": "drop it; use Python's logging module",
    **dict.fromkeys(("ignore_worker_failures", "recreate_failed_workers"), "drop it: dead env runner actors are restarted"),
    **dict.fromkeys(
        ("horizon", "soft_horizon", "no_done_at_end"),
        "limit episode length in the env (gymnasium.make(..., max_episode_steps=...) or a TimeLimit wrapper)",
    ),
    "batch_mode": "drop it: env runners always sample fixed-length fragments (truncate_episodes)",
    **dict.fromkeys(("observation_filter", "normalize_actions", "clip_actions", "clip_rewards"), _ENV_WRAPPER),
    **dict.fromkeys(("evaluation_config", "evaluation_num_workers", "evaluation_parallel_to_training"), _EVALUATION),
    **dict.fromkeys(
        ("explore", "exploration_config"),
        "drop it: exploration is the module's forward_exploration (sampling its action distribution)",
    ),
    "vf_share_layers": "move it into the model dict (model={'vf_share_layers': ...})",
    **dict.fromkeys(
        ("simple_optimizer", "eager_tracing", "tf_session_args", "local_tf_session_args", "create_env_on_driver",
         "remote_worker_envs", "sample_async", "compress_observations", "synchronize_filters", "disable_env_checking",
         "preprocessor_pref", "logger_config", "min_iter_time_s", "timesteps_per_iteration", "shuffle_sequences"),
        _DROP,
    ),
}
#: Keys of a legacy ``multiagent`` dict without an equivalent here.
_LEGACY_MULTIAGENT_WITHOUT_EQUIVALENT = {
    "policies_to_train": "every module in policies is trained",
    "observation_fn": "build each agent's observation in the env",
    "count_steps_by": "drop it: batches count env steps",
    "replay_mode": _DROP,
    "policy_map_capacity": _DROP,
}


def _legacy_keys_translated(
    config_class: type, settings: Mapping[str, Any], known: Mapping[str, Any]
) -> Tuple[Dict[str, Any], List[str]]:
    """``settings`` with legacy keys renamed (a DeprecationWarning each) and the
    problems: legacy keys without an equivalent, with what to do instead. A legacy key
    and its new name both given is a problem unless the new one holds its default (a
    ``to_dict()`` copy holds every key)."""
    owner = config_class.__name__
    translated: Dict[str, Any] = {}
    legacy: List[Tuple[str, str, Any]] = []  # (legacy key, new key, value)
    problems: List[str] = []
    for key, value in settings.items():
        new = TRAINING_ALIASES.get(key) or LEGACY_KEYS.get(key)
        if key in known or (new is None and key != "multiagent"):
            if key in LEGACY_KEYS_WITHOUT_EQUIVALENT:
                problems.append(f"{key!r} has no equivalent here: {LEGACY_KEYS_WITHOUT_EQUIVALENT[key]}")
            else:
                translated[key] = value
        elif key == "multiagent":
            nested, nested_problems = _legacy_multiagent(owner, value)
            problems += nested_problems
            legacy += [(key, name, item) for name, item in nested.items()]
        else:
            if key in LEGACY_KEYS:
                _warn_legacy_key(owner, key, repr(new))
            legacy.append((key, new, value))
    defaults: Optional[Dict[str, Any]] = None
    for key, name, value in legacy:
        if name in translated:
            defaults = config_class().to_dict() if defaults is None else defaults
            if name in settings and settings[name] != defaults.get(name):
                problems.append(f"{key!r} and {name!r} both given (the legacy and the new name of one setting): keep {name!r}")
                continue
        translated[name] = value
    return translated, problems


def _legacy_multiagent(owner: str, value: Any) -> Tuple[Dict[str, Any], List[str]]:
    """A legacy ``multiagent`` dict -> its ``policies`` / ``policy_mapping_fn`` settings,
    and the problems (keys without an equivalent, policies with their own policy class
    or config, which this stack would not read)."""
    if not isinstance(value, Mapping):
        return {}, [f"'multiagent': expected a dict with 'policies' and 'policy_mapping_fn', got {value!r}"]
    _warn_legacy_key(owner, "multiagent", "'policies' and 'policy_mapping_fn' (top-level keys)")
    settings: Dict[str, Any] = {}
    problems: List[str] = []
    for key, item in value.items():
        if key == "policy_mapping_fn":
            settings[key] = item
        elif key == "policies":
            settings[key] = _legacy_policies(item, problems)
        elif key in _LEGACY_MULTIAGENT_WITHOUT_EQUIVALENT:
            problems.append(f"'multiagent' key {key!r} has no equivalent here: {_LEGACY_MULTIAGENT_WITHOUT_EQUIVALENT[key]}")
        else:
            problems.append(f"unknown 'multiagent' key {key!r}")
    return settings, problems


def _legacy_policies(policies: Any, problems: List[str]) -> Any:
    """Legacy ``policies`` (ids, or id -> ``(policy_class, obs_space, act_space, config)``
    tuples / ``PolicySpec``\\ s) -> ids; a spec naming a policy class or a config is a
    problem (its model belongs in a ``MultiAgentRLModuleSpec``)."""
    if not isinstance(policies, Mapping):
        return policies
    for policy_id, spec in policies.items():
        if isinstance(spec, (tuple, list)) and len(spec) == 4:
            policy_class, config = spec[0], spec[3]
        else:
            policy_class, config = getattr(spec, "policy_class", None), getattr(spec, "config", None)
        if policy_class is not None or config:
            problems.append(
                f"'multiagent' policy {policy_id!r} names a policy class or config, which this stack does not read: "
                "give its model as rl_module_spec=MultiAgentRLModuleSpec(module_specs={id: SingleAgentRLModuleSpec(...)}) "
                "and list the ids in 'policies'"
            )
    return list(policies)


def _warn_legacy_key(owner: str, key: str, new: str) -> None:
    warnings.warn(
        f"{owner}.from_dict(): {key!r} is a legacy RLlib key; use {new} (see MIGRATION.md#training-scripts)",
        DeprecationWarning,
        stacklevel=5,
    )
_NON_TRAINING_KEYS = set(vars(AlgorithmConfig()))
# Base-class settings that are training settings (set through ``training(...)``).
_BASE_TRAINING_KEYS = ("lr", "lr_schedule", "gamma", "train_batch_size", "grad_clip", "learner_class")
_NON_TRAINING_KEYS -= set(_BASE_TRAINING_KEYS)
# to_dict key -> attribute, for the settings set by setters other than training().
_BASE_SETTINGS = {
    "framework": ("framework", "framework_str"),
    "env": ("environment", "env"),
    "env_config": ("environment", "env_config"),
    "rl_module_spec": ("rl_module", "rl_module_spec"),
    "_enable_rl_module_api": ("rl_module", "_enable_rl_module_api"),  # the specification's flags, True only
    "_enable_learner_api": ("training", "_enable_learner_api"),
    "model": ("training", "model"),
    "num_env_runners": ("env_runners", "num_env_runners"),
    "num_envs_per_env_runner": ("env_runners", "num_envs_per_env_runner"),
    "rollout_fragment_length": ("env_runners", "rollout_fragment_length"),
    "num_learners": ("learners", "num_learners"),
    "num_gpus_per_learner": ("learners", "num_gpus_per_learner"),
    "policies": ("multi_agent", "policies"),
    "policy_mapping_fn": ("multi_agent", "policy_mapping_fn"),
    "evaluation_interval": ("evaluation", "evaluation_interval"),
    "evaluation_duration": ("evaluation", "evaluation_duration"),
    "evaluation_explore": ("evaluation", "evaluation_explore"),
    "callbacks": ("callbacks", "callbacks_class"),
    "metrics_num_episodes_for_smoothing": ("reporting", "metrics_num_episodes_for_smoothing"),
    "seed": ("debugging", "seed"),
    "log_dir": ("debugging", "log_dir"),
}


def _settings(cls: type) -> Dict[str, Tuple[str, str]]:
    """to_dict key -> (the setter that sets it, the attribute), for config class ``cls``:
    ``_BASE_SETTINGS`` plus every training setting the class defines."""
    settings = dict(_BASE_SETTINGS)
    for key in vars(cls()):
        if not key.startswith("_") and key not in _NON_TRAINING_KEYS and key != "algo_class":
            settings[key] = ("training", key)
    return settings


#: Legacy ``model`` keys that named ModelCatalog registrations: the default module
#: cannot honour them, so a config holding one and no module class of its own is refused.
LEGACY_CATALOG_KEYS = ("custom_model", "custom_action_dist")


def _refuse_legacy_model_keys(model: Dict[str, Any], module_class: Any) -> None:
    for key in LEGACY_CATALOG_KEYS:
        if model.get(key):
            name = getattr(module_class, "__name__", module_class)
            raise ValueError(
                f"model config has {key}={model[key]!r}, a legacy ModelCatalog registration this package "
                f"cannot build: the default module {name} would silently ignore it. Pass the migrated class "
                "with rl_module(rl_module_spec=SingleAgentRLModuleSpec(module_class=...)) "
                "(see MIGRATION.md#registrations-and-configs), or drop the key"
            )
