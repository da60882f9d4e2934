"""Callbacks: user code the env runners and the algorithm call at fixed points.

``config.callbacks(MyCallbacks)`` (a subclass of :class:`RLlibCallback`, or a list of
them) makes every env runner and the algorithm hold one instance each. Hooks called:

- ``on_algorithm_init(algorithm=, metrics_logger=)``: end of ``config.build()``;
- ``on_episode_start`` (after the reset), ``on_episode_step`` (after each env step of
  the episode), ``on_episode_end`` (after the step that ended it): keyword arguments
  ``episode``, ``env_runner``, ``metrics_logger``, ``env``, ``env_index``,
  ``rl_module`` (RLlib 2.60's names) and the legacy ``worker`` (the env runner),
  ``base_env`` (``get_sub_environments()`` -> the env copies) and ``policies``
  (``{module_id: RLModule}``);
- ``on_sample_end(env_runner=, metrics_logger=, samples=, worker=)``: end of each
  ``sample()``, ``samples`` the list of :class:`~rlmodule.env_runners.Fragment`;
- ``on_train_result(algorithm=, metrics_logger=, result=)``: end of ``train()``; the
  callback may add keys to ``result``;
- ``on_evaluate_start(algorithm=)`` / ``on_evaluate_end(algorithm=, evaluation_metrics=)``.

A hook receives only the keywords its signature names unless it takes ``**kwargs``, so
legacy (``worker, base_env, policies, episode, env_index``) and modern
(``episode, env_runner, metrics_logger, env, env_index, rl_module``) signatures both
work. A class that defines a legacy hook this stack never calls
(``on_postprocess_trajectory``, ``on_learn_on_batch``, ...) is refused, naming it.

The :class:`Episode` has the legacy attributes (``custom_metrics``, ``user_data``,
``hist_data``, ``length``, ``total_reward``, ``last_observation_for()``, ...) and the
modern ones (``len(episode)``, ``get_return()``, ``get_observations()``, ``custom_data``).
``episode.custom_metrics`` are reported as ``result["env_runners"]["custom_metrics"]``
(``<name>_mean`` / ``_min`` / ``_max`` over the last ``metrics_num_episodes_for_smoothing``
episodes, NaN values left out, as RLlib's legacy stack did) and, for legacy readers, as
``result["custom_metrics"]`` (the same dict); ``episode.hist_data`` lists as
``result["env_runners"]["hist_stats"]``. Values given to ``metrics_logger.log_value``
appear under ``result["env_runners"]`` (episode and sample hooks) or at the top level of
``result`` (algorithm hooks).
"""

from __future__ import annotations

import inspect
import math
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

#: The agent id of a single-agent episode (RLlib's legacy ``_DUMMY_AGENT_ID``).
DUMMY_AGENT_ID = "agent0"

#: Hooks this stack calls (``on_trainer_init`` is ray 1.x's ``on_algorithm_init``).
SUPPORTED_HOOKS = (
    "on_algorithm_init", "on_trainer_init", "on_train_result", "on_evaluate_start", "on_evaluate_end",
    "on_episode_start", "on_episode_step", "on_episode_end", "on_sample_end",
)
#: RLlib hooks this stack never calls -> what to do instead.
UNSUPPORTED_HOOKS = {
    "on_episode_created": "move its code to on_episode_start (called after the reset)",
    "on_environment_created": "create and configure the env in the env creator given to environment()",
    "on_sub_environment_created": "create and configure the env in the env creator given to environment()",
    "on_postprocess_trajectory": "compute per-step columns in a Learner subclass (training(learner_class=...))",
    "on_learn_on_batch": "override the Learner's update in a Learner subclass (training(learner_class=...))",
    "on_create_policy": "configure the module in its RLModule spec",
    "on_workers_recreated": "nothing calls it: dead env runners are restarted by the EnvRunnerGroup",
    "on_env_runners_recreated": "nothing calls it: dead env runners are restarted by the EnvRunnerGroup",
    "on_checkpoint_loaded": "run the code after Algorithm.from_checkpoint() / restore() returns",
    "on_evaluate_offline_start": "offline evaluation does not exist here",
    "on_evaluate_offline_end": "offline evaluation does not exist here",
    "on_offline_eval_runners_recreated": "offline evaluation does not exist here",
}
GUIDE = "MIGRATION.md#callbacks-and-multi-agent-environments"


class RLlibCallback:
    """Base class of callbacks (RLlib 2.60's ``RLlibCallback``; ``DefaultCallbacks`` is
    the legacy name). Every hook is a no-op; override the ones you need, with keyword
    arguments and ``**kwargs`` (see the module docstring for what each receives)."""

    def on_algorithm_init(self, *, algorithm: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        """The algorithm is built (end of ``config.build()``)."""

    def on_train_result(self, *, algorithm: Any, metrics_logger: Any = None, result: dict, **kwargs: Any) -> None:
        """End of ``algorithm.train()``; ``result`` may be changed in place."""

    def on_evaluate_start(self, *, algorithm: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        """Start of ``algorithm.evaluate()``."""

    def on_evaluate_end(self, *, algorithm: Any, metrics_logger: Any = None, evaluation_metrics: dict, **kwargs: Any) -> None:
        """End of ``algorithm.evaluate()``; ``evaluation_metrics`` may be changed in place."""

    def on_episode_start(self, *, episode: "Episode", env_runner: Any = None, metrics_logger: Any = None,
                         env: Any = None, env_index: int, rl_module: Any = None, **kwargs: Any) -> None:
        """An episode was reset (its first observation is recorded)."""

    def on_episode_step(self, *, episode: "Episode", env_runner: Any = None, metrics_logger: Any = None,
                        env: Any = None, env_index: int, rl_module: Any = None, **kwargs: Any) -> None:
        """The episode's env stepped (the step is recorded); also after its last step."""

    def on_episode_end(self, *, episode: "Episode", env_runner: Any = None, metrics_logger: Any = None,
                       env: Any = None, env_index: int, rl_module: Any = None, **kwargs: Any) -> None:
        """The episode terminated or was truncated (after ``on_episode_step``)."""

    def on_sample_end(self, *, env_runner: Any = None, metrics_logger: Any = None, samples: List[Any], **kwargs: Any) -> None:
        """End of ``env_runner.sample()``; ``samples`` are the fragments it returns."""


#: The legacy name (``ray.rllib.algorithms.callbacks.DefaultCallbacks``).
DefaultCallbacks = RLlibCallback


def check_callbacks_class(value: Any, where: str = "callbacks(...)") -> None:
    """``None``, an :class:`RLlibCallback` subclass or a list of them; a TypeError
    naming what is wrong otherwise (also for a hook this stack never calls)."""
    if value is None:
        return
    classes = list(value) if isinstance(value, (list, tuple)) else [value]
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, RLlibCallback)):
            hint = ""
            if isinstance(cls, type) and any(base.__module__.startswith("ray.") for base in cls.__mro__[1:]):
                hint = " (it derives from ray's class: import DefaultCallbacks / RLlibCallback from rlmodule.callbacks)"
            raise TypeError(
                f"{where}: expected an rlmodule.callbacks.RLlibCallback subclass or a list of them, got {cls!r}{hint}"
            )
        for name, advice in UNSUPPORTED_HOOKS.items():
            if callable(getattr(cls, name, None)):
                raise TypeError(f"{where}: {cls.__name__}.{name}() would never be called on this stack: {advice} - see {GUIDE}")


def _caller(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` called with only the keywords its signature names (all of them if it
    takes ``**kwargs``)."""
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return method
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return method
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return lambda **kwargs: method(**{k: v for k, v in kwargs.items() if k in names})


class Callbacks:
    """The instances of ``config.callbacks_class``, called hook by hook.

    ``callbacks.hook_name(**kwargs)`` calls every instance's overriding method (hooks
    nobody overrides cost nothing); :meth:`make` returns ``None`` when no class is set.
    """

    def __init__(self, classes: Sequence[type]) -> None:
        self.instances = [cls() for cls in classes]
        for hook in SUPPORTED_HOOKS:
            calls = [
                _caller(getattr(obj, hook)) for obj in self.instances
                if getattr(type(obj), hook, None) is not getattr(RLlibCallback, hook, None)
            ]
            setattr(self, hook, _chain(calls))

    @classmethod
    def make(cls, config: Any) -> Optional["Callbacks"]:
        value = getattr(config, "callbacks_class", None)
        if value is None:
            return None
        check_callbacks_class(value)
        return cls(list(value) if isinstance(value, (list, tuple)) else [value])

    def algorithm_init(self, algorithm: Any, metrics_logger: Any) -> None:
        self.on_algorithm_init(algorithm=algorithm, metrics_logger=metrics_logger)
        self.on_trainer_init(trainer=algorithm, algorithm=algorithm, metrics_logger=metrics_logger)


def _chain(calls: List[Callable[..., Any]]) -> Callable[..., None]:
    if not calls:
        return lambda **kwargs: None
    if len(calls) == 1:
        return calls[0]

    def all_of(**kwargs: Any) -> None:
        for call in calls:
            call(**kwargs)

    return all_of


# --- episodes as callbacks see them --------------------------------------------------------
def _pick(values: List[Any], indices: Any) -> Any:
    if indices is None:
        return list(values)
    if isinstance(indices, slice):
        return values[indices]
    if isinstance(indices, (list, tuple)):
        return [values[i] for i in indices]
    return values[indices]


class Episode:
    """One episode of one env copy, recorded step by step for the callbacks.

    Per agent (``"agent0"`` in a single-agent env): observations (``len + 1``: the
    reset's and each step's), infos (``len + 1``), actions and rewards (``len``).

    Legacy attributes: ``episode_id``, ``env_id``, ``length``, ``total_reward``,
    ``custom_metrics``, ``user_data``, ``hist_data``, ``media``, ``agent_rewards``
    (``{(agent_id, module_id): return}``), ``last_observation_for(agent_id)``,
    ``last_raw_obs_for``, ``last_info_for``, ``last_action_for``, ``last_reward_for``,
    ``policy_for``. Modern (RLlib 2.60): ``id_``, ``len(episode)``, ``get_return()``,
    ``get_observations(indices)``, ``get_infos``, ``get_actions``, ``get_rewards`` (a list,
    or ``{agent_id: list}`` in a multi-agent env), ``custom_data`` (the ``user_data``
    dict), ``is_terminated``, ``is_truncated``, ``is_done``.
    """

    def __init__(self, episode_id: int, env_index: int, multi_agent: bool = False,
                 agent_module: Optional[Mapping[Any, str]] = None) -> None:
        self.episode_id = self.id_ = episode_id
        self.env_id = self.env_index = env_index
        self.multi_agent = multi_agent
        self.length = 0
        self.total_reward = 0.0
        self.custom_metrics: Dict[str, Any] = {}
        self.user_data: Dict[str, Any] = {}
        self.custom_data = self.user_data
        self.hist_data: Dict[str, List[Any]] = {}
        self.media: Dict[str, Any] = {}
        self.is_terminated = False
        self.is_truncated = False
        self._agent_module = agent_module if agent_module is not None else {}
        self._obs: Dict[Any, List[Any]] = {}
        self._infos: Dict[Any, List[Any]] = {}
        self._actions: Dict[Any, List[Any]] = {}
        self._rewards: Dict[Any, List[float]] = {}

    # --- recording (the env runners) ---------------------------------------------------------
    def add_reset(self, obs: Mapping[Any, Any], infos: Mapping[Any, Any]) -> None:
        for agent, o in obs.items():
            self._obs.setdefault(agent, []).append(o)
            self._infos.setdefault(agent, []).append(infos.get(agent, {}))

    def add_step(self, obs: Mapping[Any, Any], actions: Mapping[Any, Any], rewards: Mapping[Any, float],
                 infos: Mapping[Any, Any], terminated: bool = False, truncated: bool = False) -> None:
        self.length += 1
        for agent, a in actions.items():
            self._actions.setdefault(agent, []).append(a)
        for agent, r in rewards.items():
            self._rewards.setdefault(agent, []).append(float(r))
            self.total_reward += float(r)
        for agent, o in obs.items():
            self._obs.setdefault(agent, []).append(o)
            self._infos.setdefault(agent, []).append(infos.get(agent, {}))
        self.is_terminated, self.is_truncated = terminated, truncated and not terminated

    # --- modern API ---------------------------------------------------------------------
    @property
    def is_done(self) -> bool:
        return self.is_terminated or self.is_truncated

    def __len__(self) -> int:
        return self.length

    def get_return(self) -> float:
        """The sum of all rewards so far (over all agents)."""
        return self.total_reward

    def _get(self, table: Dict[Any, List[Any]], indices: Any) -> Any:
        if self.multi_agent:
            return {agent: _pick(values, indices) for agent, values in table.items()}
        return _pick(table.get(DUMMY_AGENT_ID, []), indices)

    def get_observations(self, indices: Any = None) -> Any:
        return self._get(self._obs, indices)

    def get_infos(self, indices: Any = None) -> Any:
        return self._get(self._infos, indices)

    def get_actions(self, indices: Any = None) -> Any:
        return self._get(self._actions, indices)

    def get_rewards(self, indices: Any = None) -> Any:
        return self._get(self._rewards, indices)

    # --- legacy API ---------------------------------------------------------------------
    @staticmethod
    def _last(table: Dict[Any, List[Any]], agent_id: Any, default: Any = None) -> Any:
        values = table.get(agent_id)
        return values[-1] if values else default

    def last_observation_for(self, agent_id: Any = DUMMY_AGENT_ID) -> Any:
        return self._last(self._obs, agent_id)

    last_raw_obs_for = last_observation_for

    def last_info_for(self, agent_id: Any = DUMMY_AGENT_ID) -> Optional[dict]:
        return self._last(self._infos, agent_id)

    def last_action_for(self, agent_id: Any = DUMMY_AGENT_ID) -> Any:
        return self._last(self._actions, agent_id)

    def last_reward_for(self, agent_id: Any = DUMMY_AGENT_ID) -> float:
        return self._last(self._rewards, agent_id, 0.0)

    def policy_for(self, agent_id: Any = DUMMY_AGENT_ID) -> str:
        """The module id the agent acts with."""
        from rlmodule.rl_module import DEFAULT_MODULE_ID

        return self._agent_module.get(agent_id, DEFAULT_MODULE_ID)

    @property
    def agent_rewards(self) -> Dict[Tuple[Any, str], float]:
        return {(agent, self.policy_for(agent)): float(sum(r)) for agent, r in self._rewards.items()}

    def summary(self) -> Tuple[Dict[str, float], Dict[str, List[float]]]:
        """``(custom_metrics, hist_data)`` as plain floats with string keys (what the
        metrics keep)."""
        custom = {str(k): _number(v) for k, v in self.custom_metrics.items()}
        hist = {str(k): [_number(x) for x in v] for k, v in self.hist_data.items()}
        return custom, hist


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"episode.custom_metrics / hist_data values must be numbers, got {value!r}") from None


def summarize_custom_metrics(episodes: Sequence[Mapping[str, float]]) -> Dict[str, float]:
    """``{name_mean, name_min, name_max}`` over the episodes that set ``name``; NaN
    values left out (all NaN: NaN), as RLlib's legacy ``summarize_episodes``."""
    values: Dict[str, List[float]] = {}
    for custom in episodes:
        for name, value in custom.items():
            values.setdefault(name, []).append(value)
    out: Dict[str, float] = {}
    for name, vals in values.items():
        kept = [v for v in vals if not math.isnan(v)]
        out[f"{name}_mean"] = sum(kept) / len(kept) if kept else math.nan
        out[f"{name}_min"] = min(kept) if kept else math.nan
        out[f"{name}_max"] = max(kept) if kept else math.nan
    return out


# --- metrics_logger -----------------------------------------------------------------------
_REDUCE = ("mean", "min", "max", "sum", "lifetime_sum")


class MetricsLogger:
    """A small stand-in for RLlib 2.60's ``MetricsLogger``: ``log_value(key, value,
    reduce="mean", window=None)``, ``peek(key)``.

    Reported per ``train()`` iteration: ``mean`` / ``min`` / ``max`` of the last
    ``window`` values (``window=None``: of the values logged since the last report),
    ``sum`` of the values since the last report, ``lifetime_sum`` of all. A key with no
    new value keeps its last report. ``reduce="ema"`` / ``ema_coeff`` are refused (use
    ``window``).
    """

    def __init__(self) -> None:
        self._values: Dict[str, Deque[float]] = {}
        self._settings: Dict[str, Tuple[str, Optional[int]]] = {}
        self._new: Dict[str, List[float]] = {}
        self._last: Dict[str, float] = {}
        self._lifetime: Dict[str, float] = {}

    def log_value(self, key: Any, value: Any, *, reduce: Optional[str] = None, window: Optional[int] = None,
                  ema_coeff: Optional[float] = None, clear_on_reduce: Any = None, **kwargs: Any) -> None:
        key = "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
        if reduce == "sum" and clear_on_reduce is False:
            reduce = "lifetime_sum"
        reduce = reduce or "mean"
        if reduce not in _REDUCE or ema_coeff is not None:
            raise ValueError(
                f"metrics_logger.log_value({key!r}, reduce={reduce!r}, ema_coeff={ema_coeff!r}): supported "
                f"reductions are {', '.join(_REDUCE)} (a moving mean: reduce='mean', window=N) - see {GUIDE}"
            )
        self.add(key, float(value), reduce, window)

    def add(self, key: str, value: float, reduce: str, window: Optional[int]) -> None:
        if key not in self._settings:
            self._settings[key] = (reduce, window)
            if window is not None:
                self._values[key] = deque(maxlen=window)
        if window is not None:
            self._values[key].append(value)
        self._new.setdefault(key, []).append(value)

    def drain(self) -> List[Tuple[str, float, str, Optional[int]]]:
        """The values logged since the last drain (a remote env runner ships them)."""
        out = [(k, v, *self._settings[k]) for k, vals in self._new.items() for v in vals]
        self._new = {}
        return out

    def peek(self, key: str, default: Any = None) -> Any:
        """The value the next report would give (``default`` if never logged)."""
        if key not in self._settings:
            return default
        return self._reduce(key, self._new.get(key, []), consume=False)

    def _reduce(self, key: str, new: List[float], consume: bool) -> float:
        reduce, window = self._settings[key]
        if reduce == "lifetime_sum":
            total = self._lifetime.get(key, 0.0) + sum(new)
            if consume:
                self._lifetime[key] = total
            return total
        values = list(self._values[key]) if window is not None else new
        if not values:
            return self._last.get(key, math.nan)
        return {"mean": lambda v: sum(v) / len(v), "min": min, "max": max, "sum": sum}[reduce](values)

    def reduce(self) -> Dict[str, float]:
        """``{key: value}`` for this report; starts the next period."""
        out = {}
        for key in self._settings:
            out[key] = self._last[key] = self._reduce(key, self._new.get(key, []), consume=True)
        self._new = {}
        return out
