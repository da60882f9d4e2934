"""Episode statistics of an env runner: completed-episode returns and lengths over a
sliding window, step counters, and the callbacks' custom metrics."""

from __future__ import annotations

from collections import deque
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple

import numpy as np


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
