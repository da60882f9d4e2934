"""Helpers shared by the env runners: config look-ups, framework conversion, action clipping, acting mode and episode metrics.

Importing this module imports no framework; the torch / tf conversions load the
backend on first use.
"""

from __future__ import annotations

import math
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np


# --- config look-ups (getattr with the documented defaults) ----------------------------
DEFAULT_NUM_ENVS = 8
DEFAULT_ROLLOUT_FRAGMENT_LENGTH = 64
DEFAULT_SMOOTHING_WINDOW = 100


def config_num_envs(config: Any) -> int:
    """``config.num_envs_per_env_runner`` (default 8)."""
    n = getattr(config, "num_envs_per_env_runner", None)
    n = DEFAULT_NUM_ENVS if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"num_envs_per_env_runner must be an int >= 1, got {n!r}")
    return n


def config_rollout_fragment_length(config: Any, num_envs: int) -> int:
    """Steps per sub-env per ``sample()``: ``config.get_rollout_fragment_length()`` if
    the config has it, else ``config.rollout_fragment_length`` (default 64), where
    ``"auto"`` means ``ceil(train_batch_size / (max(num_env_runners, 1) *
    num_envs))`` (64 if the config has no ``train_batch_size``)."""
    length = getattr(config, "rollout_fragment_length", None)
    getter = getattr(config, "get_rollout_fragment_length", None)
    if length is not None and callable(getter) and getattr(config, "num_envs_per_env_runner", None) == num_envs:
        return int(getter())  # the config's own rule (same formula as below)
    if length is None:
        return DEFAULT_ROLLOUT_FRAGMENT_LENGTH
    if length == "auto":
        batch = getattr(config, "train_batch_size", None)
        if not batch:
            return DEFAULT_ROLLOUT_FRAGMENT_LENGTH
        runners = max(int(getattr(config, "num_env_runners", 0) or 0), 1)
        return max(1, math.ceil(batch / (runners * num_envs)))
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"rollout_fragment_length must be an int >= 1 or 'auto', got {length!r}")
    return length


def config_smoothing_window(config: Any) -> int:
    """``config.metrics_num_episodes_for_smoothing`` (default 100)."""
    n = getattr(config, "metrics_num_episodes_for_smoothing", None)
    return DEFAULT_SMOOTHING_WINDOW if n is None else max(int(n), 1)


def env_seed(config: Any, worker_index: int, env_index: int) -> Optional[int]:
    """``config.seed + 1000 * worker_index + env_index`` (``None`` if no seed)."""
    seed = getattr(config, "seed", None)
    return None if seed is None else int(seed) + 1000 * worker_index + env_index


# --- framework conversion -----------------------------------------------------------
class TensorOps:
    """numpy <-> framework tensors for one module (its backend, on its device)."""

    def __init__(self, module: Any) -> None:
        from rlmodule.backend import backend, framework_name

        try:
            be = backend(module)
        except ValueError:
            raise ValueError(
                f"{type(module).__name__}.framework is {getattr(module, 'framework', None)!r}; "
                "env runners support 'torch' and 'tf2' modules"
            ) from None
        self.framework = framework_name(module)
        self.device = be.device_of(module)
        self._to_tensor, self.to_numpy = be.to_tensor, be.to_numpy

    def to_tensor(self, x: Any) -> Any:
        """A numpy structure -> the same structure of tensors (shared memory for torch on CPU)."""
        return self._to_tensor(x, self.device)


# --- actions ----------------------------------------------------------------------
def make_action_clipper(space: gym.Space) -> Optional[Callable[[Any], Any]]:
    """A function clipping (batched or single) actions to ``space``'s Box bounds
    (Box leaves of Dict/Tuple spaces too), or ``None`` if nothing needs clipping.
    The input is not modified."""
    if isinstance(space, gym.spaces.Box):
        if not np.issubdtype(space.dtype, np.floating):
            return None
        low, high = space.low, space.high
        return lambda a: np.clip(a, low, high)
    if isinstance(space, gym.spaces.Dict):
        clippers = {k: make_action_clipper(s) for k, s in space.spaces.items()}
        if not any(c is not None for c in clippers.values()):
            return None
        return lambda a: {k: (c(a[k]) if c is not None else a[k]) for k, c in clippers.items()}
    if isinstance(space, gym.spaces.Tuple):
        clippers_t = [make_action_clipper(s) for s in space.spaces]
        if not any(c is not None for c in clippers_t):
            return None
        return lambda a: tuple(c(x) if c is not None else x for c, x in zip(clippers_t, a))
    return None


# --- acting mode ------------------------------------------------------------------
@contextmanager
def acting_mode(modules: Sequence[Any]) -> Iterator[None]:
    """Torch modules in eval mode and ``torch.inference_mode()`` for the block (the
    mode is restored after).

    ``TorchRLModule.forward_exploration`` switches to eval mode and back on every call
    when the module is in train mode; with the module already in eval mode it skips
    that, so the runner switches once per ``sample()``. Inference mode
    (no autograd, no version counters) makes each small op ~10% cheaper than
    ``no_grad``; every tensor made in the block is turned into numpy before it ends.
    """
    restore: List[Any] = []
    inference = None
    for m in modules:
        if getattr(m, "framework", None) == "torch":
            if inference is None:
                import torch

                inference = torch.inference_mode()
            if getattr(m, "training", False):
                m.train(False)
                restore.append(m)
    try:
        if inference is None:
            yield
        else:
            with inference:
                yield
    finally:
        for m in restore:
            m.train(True)


def acting_function(module: Any, explore: bool) -> Callable[[Any], Tuple[Dict[str, Any], Any, Any]]:
    """``act(batch) -> (forward output, actions, logp)``: the acting forward
    (``forward_exploration`` if ``explore`` else ``forward_inference``) and
    :func:`~rlmodule.action_sampling.sample_actions` on its output.

    For tf2 modules both run as one ``tf.function`` (eager TF costs milliseconds per
    step); a module whose forward cannot be traced (e.g. it returns Python
    distribution objects) falls back to eager on the first call.
    """
    from rlmodule.action_sampling import sample_actions

    forward = module.forward_exploration if explore else module.forward_inference

    def act(batch: Any) -> Tuple[Dict[str, Any], Any, Any]:
        out = forward(batch)
        actions, logp = sample_actions(module, out, explore=explore)
        return out, actions, logp

    if getattr(module, "framework", None) not in ("tf2", "tf"):
        return act
    import tensorflow as tf

    traced = tf.function(act, reduce_retracing=True, autograph=False)
    state = {"fn": traced}

    def act_tf(batch: Any) -> Tuple[Dict[str, Any], Any, Any]:
        try:
            return state["fn"](batch)
        except (TypeError, ValueError, NotImplementedError):
            if state["fn"] is act:
                raise
            state["fn"] = act
            return act(batch)

    return act_tf


def acting_modules(module: Any) -> List[Any]:
    """``module`` and, for a multi-agent module, its sub-modules (for :func:`acting_mode`)."""
    from rlmodule.marl_module import MultiAgentRLModule

    out = [module]
    if isinstance(module, MultiAgentRLModule):
        out += list(module.values())
    return out


# --- metrics ----------------------------------------------------------------------
class EpisodeMetrics:
    """Completed-episode statistics over a sliding window, plus step counters.

    ``reduce()`` returns the statistics and resets the per-period counters
    (``num_episodes``, ``num_env_steps_sampled``, ``num_agent_steps_sampled``).
    With ``custom`` (callbacks are set) every episode also brings its callbacks'
    ``(custom_metrics, hist_data)``, reported as ``custom_metrics`` (``<name>_mean`` /
    ``_min`` / ``_max``) and ``hist_stats`` over the same window.
    """

    def __init__(self, window: int, multi_agent: bool = False, custom: bool = False) -> None:
        self.window = window
        self.multi_agent = multi_agent
        self.custom = custom
        self._custom: Deque[Tuple[Dict[str, float], Dict[str, List[float]]]] = deque(maxlen=window)
        self._returns: Deque[float] = deque(maxlen=window)
        self._lens: Deque[int] = deque(maxlen=window)
        self._agent_returns: Dict[Any, Deque[float]] = {}
        self._module_returns: Dict[Any, Deque[float]] = {}
        self.num_episodes = 0
        self.num_episodes_lifetime = 0
        self.env_steps = 0
        self.env_steps_lifetime = 0
        self.agent_steps = 0
        self.agent_steps_lifetime = 0

    def add_episode(
        self,
        episode_return: float,
        length: int,
        agent_returns: Optional[Mapping[Any, float]] = None,
        module_returns: Optional[Mapping[Any, float]] = None,
        custom: Optional[Tuple[Dict[str, float], Dict[str, List[float]]]] = None,
    ) -> None:
        if custom is not None:
            self._custom.append(custom)
        self._returns.append(float(episode_return))
        self._lens.append(int(length))
        self.num_episodes += 1
        self.num_episodes_lifetime += 1
        for key, value in (agent_returns or {}).items():
            self._agent_returns.setdefault(key, deque(maxlen=self.window)).append(float(value))
        for key, value in (module_returns or {}).items():
            self._module_returns.setdefault(key, deque(maxlen=self.window)).append(float(value))

    def add_steps(self, env_steps: int, agent_steps: int = 0) -> None:
        self.env_steps += env_steps
        self.env_steps_lifetime += env_steps
        self.agent_steps += agent_steps
        self.agent_steps_lifetime += agent_steps

    _COUNTERS = (
        "num_episodes", "num_episodes_lifetime", "env_steps", "env_steps_lifetime",
        "agent_steps", "agent_steps_lifetime",
    )

    def get_state(self) -> Dict[str, Any]:
        """JSON scalars and numpy arrays only (agent ids may be any JSON scalar, so
        the per-agent windows are ``[[agent_id, returns], ...]`` lists)."""
        return {
            "returns": np.asarray(self._returns, np.float64),
            "lens": np.asarray(self._lens, np.int64),
            "agent_returns": [[k, np.asarray(v, np.float64)] for k, v in self._agent_returns.items()],
            "module_returns": [[k, np.asarray(v, np.float64)] for k, v in self._module_returns.items()],
            "custom": [[dict(metrics), {k: list(v) for k, v in hist.items()}] for metrics, hist in self._custom],
            **{name: int(getattr(self, name)) for name in self._COUNTERS},
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._returns = deque(np.asarray(state["returns"], np.float64).tolist(), maxlen=self.window)
        self._lens = deque(np.asarray(state["lens"], np.int64).tolist(), maxlen=self.window)
        self._agent_returns = {
            k: deque(np.asarray(v, np.float64).tolist(), maxlen=self.window)
            for k, v in state.get("agent_returns", [])
        }
        self._module_returns = {
            k: deque(np.asarray(v, np.float64).tolist(), maxlen=self.window)
            for k, v in state.get("module_returns", [])
        }
        self._custom = deque(
            (
                ({k: float(v) for k, v in metrics.items()}, {k: [float(x) for x in v] for k, v in hist.items()})
                for metrics, hist in state.get("custom", [])
            ),
            maxlen=self.window,
        )
        for name in self._COUNTERS:
            setattr(self, name, int(state.get(name, 0)))

    def reduce(self) -> Dict[str, Any]:
        returns = np.asarray(self._returns, dtype=np.float64)
        nan = float("nan")
        out: Dict[str, Any] = {
            "episode_return_mean": float(returns.mean()) if returns.size else nan,
            "episode_return_min": float(returns.min()) if returns.size else nan,
            "episode_return_max": float(returns.max()) if returns.size else nan,
            "episode_len_mean": float(np.mean(self._lens)) if self._lens else nan,
            "num_episodes": self.num_episodes,
            "num_episodes_lifetime": self.num_episodes_lifetime,
            "num_env_steps_sampled": self.env_steps,
            "num_env_steps_sampled_lifetime": self.env_steps_lifetime,
        }
        if self.multi_agent:
            out["num_agent_steps_sampled"] = self.agent_steps
            out["num_agent_steps_sampled_lifetime"] = self.agent_steps_lifetime
            out["agent_episode_returns_mean"] = {
                k: float(np.mean(v)) for k, v in self._agent_returns.items()
            }
            out["module_episode_returns_mean"] = {
                k: float(np.mean(v)) for k, v in self._module_returns.items()
            }
        if self.custom:
            from rlmodule.callbacks import summarize_custom_metrics

            out["custom_metrics"] = summarize_custom_metrics([metrics for metrics, _ in self._custom])
            hist_stats: Dict[str, List[float]] = {}
            for _, hist in self._custom:
                for key, values in hist.items():
                    hist_stats.setdefault(key, []).extend(values)
            out["hist_stats"] = hist_stats
        self.num_episodes = 0
        self.env_steps = 0
        self.agent_steps = 0
        return out
