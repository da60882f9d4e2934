"""EnvRunnerGroup: ``num_env_runners`` env runners as Ray actors (the optional
distributed backend; the only part of ``rlmodule`` that imports Ray, lazily).

Each actor wraps ``make_env_runner(config, worker_index=i)`` for ``i = 1..N`` (so
env seeds differ per runner, see :func:`rlmodule.env_runners.runner_config.env_seed`).

- Synchronous (PPO): :meth:`EnvRunnerGroup.sample` asks every actor for its share,
  ``ceil(num_timesteps / N)`` env steps, in parallel, and concatenates the fragments in
  worker order.
- Asynchronous (IMPALA / APPO): :meth:`EnvRunnerGroup.sample_async` keeps one
  ``sample()`` call in flight per actor (``rollout_fragment_length *
  num_envs_per_env_runner`` env steps each) and returns what is ready, waiting until at
  least ``min_timesteps`` env steps are. New weights reach a busy actor with its next
  call, so a result may have been sampled with older weights (see
  :attr:`EnvRunnerGroup.last_weights_lag`).
- :meth:`EnvRunnerGroup.sync_weights` puts the weights into the object store once
  (``ray.put``); idle actors load them at once, busy ones with their next call.
- Metrics: each actor reports the episodes it completed and the steps it sampled with
  every result; the group replays the *delivered* results into one
  :class:`~rlmodule.env_runners.episode_metrics.EpisodeMetrics` (same window as an in-process
  runner), so :meth:`get_metrics` has the in-process keys and its window holds the most
  recent episodes of all runners (not a mean of per-runner means).
- Fault tolerance: an actor whose call fails with ``RayActorError`` (it died) is
  replaced by a new actor with the same ``worker_index`` and the current weights; the
  fragments it was producing are discarded (its episodes start afresh), a warning is
  logged and :attr:`num_restarts` counts it. Errors raised by the env or module
  themselves (``RayTaskError``) propagate.
"""

from __future__ import annotations

import logging
import math
from dataclasses import fields
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from rlmodule.callbacks import MetricsLogger
from rlmodule.env_runners.fragment import Fragment
from rlmodule.env_runners.episode_metrics import EpisodeMetrics
from rlmodule.env_runners.runner_config import config_smoothing_window
from rlmodule.tree import map_structure

logger = logging.getLogger(__name__)

# A restarted actor that dies again within one sample call this often is given up on.
MAX_RESTARTS_PER_CALL = 3


def import_ray() -> Any:
    """``import ray``, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            "env_runners(num_env_runners=N) with N > 0 runs env runners as Ray actors and needs Ray: "
            'pip install "rlmodule-migrate[ray]" (ray==2.60.0; the legacy extra includes it too)'
        ) from err
    return ray


class _RecordingMetrics(EpisodeMetrics):
    """EpisodeMetrics that also keeps what was added since :meth:`drain`, so an actor can
    ship its new episodes and steps to the group."""

    def __init__(self, window: int, multi_agent: bool, custom: bool) -> None:
        super().__init__(window, multi_agent, custom)
        self._episodes: List[Tuple[float, int, Dict, Dict, Any]] = []
        self._steps = (0, 0)

    def add_episode(
        self, episode_return: float, length: int, agent_returns: Any = None, module_returns: Any = None, custom: Any = None
    ) -> None:
        super().add_episode(episode_return, length, agent_returns, module_returns, custom)
        self._episodes.append(
            (float(episode_return), int(length), dict(agent_returns or {}), dict(module_returns or {}), custom)
        )

    def add_steps(self, env_steps: int, agent_steps: int = 0) -> None:
        super().add_steps(env_steps, agent_steps)
        self._steps = (self._steps[0] + env_steps, self._steps[1] + agent_steps)

    def drain(self) -> Tuple[List[Tuple[float, int, Dict, Dict, Any]], Tuple[int, int]]:
        """``(episodes, (env_steps, agent_steps))`` added since the last call."""
        out = (self._episodes, self._steps)
        self._episodes, self._steps = [], (0, 0)
        return out


class RemoteEnvRunner:
    """What runs inside one Ray actor: an env runner plus the metrics it ships.

    Args:
        config: the AlgorithmConfig (pickled to the actor).
        worker_index: ``1..N``; seeds the envs and the actor's global RNGs.
        weights: the module's weights (``module.get_state()``) to start from.
        weights_version: the version of ``weights`` (0 before the first update).
    """

    def __init__(self, config: Any, worker_index: int, weights: Any, weights_version: int) -> None:
        from rlmodule.backend import backend, seed_everything
        from rlmodule.env_runners import make_env_runner

        backend(config.framework_str).set_num_threads(1)  # one CPU per actor
        seed = getattr(config, "seed", None)
        seed_everything(None if seed is None else seed + worker_index, config.framework_str)
        self.runner = make_env_runner(config, worker_index=worker_index)
        own = self.runner._metrics  # replaced by one that also records what to ship
        self.runner._metrics = _RecordingMetrics(own.window, own.multi_agent, own.custom)
        self.runner.set_weights(weights)
        self.weights_version = weights_version

    def sample(self, num_timesteps: Optional[int], weights: Any = None, weights_version: int = -1) -> Dict[str, Any]:
        """Load ``weights`` first if given; ``{"fragments", "episodes", "env_steps",
        "agent_steps", "weights_version", "logged"}`` of one ``runner.sample(num_timesteps)``
        (``logged``: what callbacks gave the runner's ``metrics_logger``)."""
        if weights is not None:
            self.set_weights(weights, weights_version)
        fragments = self.runner.sample(num_timesteps=num_timesteps)
        episodes, (env_steps, agent_steps) = self.runner._metrics.drain()
        return {
            "fragments": fragments,
            "episodes": episodes,
            "env_steps": env_steps,
            "agent_steps": agent_steps,
            "weights_version": self.weights_version,
            "logged": self.runner.metrics_logger.drain(),
        }

    def set_weights(self, weights: Any, weights_version: int) -> None:
        self.runner.set_weights(weights)
        self.weights_version = weights_version

    def get_weights(self) -> Any:
        return self.runner.get_weights()

    def stop(self) -> None:
        self.runner.stop()


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    """``ray.remote(RemoteEnvRunner)`` with one CPU per actor (made once)."""
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        _ACTOR_CLASS = import_ray().remote(num_cpus=1, max_restarts=0)(RemoteEnvRunner)
    return _ACTOR_CLASS


class EnvRunnerGroup:
    """``num_env_runners`` remote env runners (see the module docstring).

    Args:
        config: the AlgorithmConfig; ``num_env_runners`` actors are made.
        weights: the learner module's ``get_state()``; every actor starts from it.
        multi_agent: whether the runners are multi-agent (adds the per-agent metrics).

    Ray must be importable; if it is not initialised, ``ray.init()`` is called with
    its defaults (connect to a cluster with ``ray.init(address=...)`` before
    ``config.build()``). Each actor asks for one CPU.
    """

    def __init__(self, config: Any, weights: Any, multi_agent: bool) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            ray.init()
        self.config = config
        self.num_env_runners = int(config.num_env_runners)
        if self.num_env_runners < 1:
            raise ValueError(f"EnvRunnerGroup: num_env_runners must be >= 1, got {self.num_env_runners}")
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < self.num_env_runners:
            logger.warning(
                "num_env_runners=%d but the Ray cluster has %s CPUs: actors past the CPUs wait until one is free",
                self.num_env_runners, cpus,
            )
        self.num_restarts = 0
        self.weights_version = 0
        self.last_weights_lag = 0
        self._weights_ref = ray.put(_on_cpu(weights))
        self._metrics = EpisodeMetrics(
            config_smoothing_window(config), multi_agent=multi_agent, custom=getattr(config, "callbacks_class", None) is not None
        )
        self.metrics_logger = MetricsLogger()  # what the actors' callbacks logged
        self._actors = [self._make_actor(i) for i in self.worker_indices]
        self._in_flight: Dict[int, Any] = {}  # actor position -> ObjectRef of its sample()
        self._stale: set = set()  # positions whose in-flight call predates the weights

    # --- actors ---------------------------------------------------------------------------
    @property
    def worker_indices(self) -> List[int]:
        """``[1, ..., N]``: the ``worker_index`` of each actor, in worker order."""
        return list(range(1, self.num_env_runners + 1))

    @property
    def actors(self) -> List[Any]:
        """The actor handles, in worker order (a restart replaces one)."""
        return list(self._actors)

    def _make_actor(self, worker_index: int) -> Any:
        return _actor_class().remote(self.config, worker_index, self._weights_ref, self.weights_version)

    def _restart(self, position: int, error: BaseException) -> None:
        ray = import_ray()
        worker_index = position + 1
        logger.warning(
            "env runner %d died (%s); restarting it with the current weights, its unfinished episodes are discarded",
            worker_index, type(error).__name__,
        )
        ray.kill(self._actors[position], no_restart=True)
        self._actors[position] = self._make_actor(worker_index)
        self._in_flight.pop(position, None)
        self._stale.discard(position)
        self.num_restarts += 1

    # --- sampling -------------------------------------------------------------------------
    def sample(self, num_timesteps: int) -> List[Fragment]:
        """Synchronous: every actor samples ``ceil(num_timesteps / N)`` env steps in
        parallel; their fragments concatenated in worker order. An actor that dies is
        restarted and asked again."""
        ray = import_ray()
        if self._in_flight:
            raise RuntimeError("EnvRunnerGroup.sample(): asynchronous sampling is running; use sample_async()")
        if num_timesteps < 1:
            raise ValueError(f"EnvRunnerGroup.sample(num_timesteps={num_timesteps}): must be >= 1")
        share = math.ceil(num_timesteps / self.num_env_runners)
        results: List[Optional[Dict[str, Any]]] = [None] * self.num_env_runners
        failures = [0] * self.num_env_runners
        pending = {pos: actor.sample.remote(share) for pos, actor in enumerate(self._actors)}
        while pending:
            for pos, ref in list(pending.items()):
                try:
                    results[pos] = ray.get(ref)
                    del pending[pos]
                except ray.exceptions.RayActorError as err:
                    failures[pos] += 1
                    if failures[pos] > MAX_RESTARTS_PER_CALL:
                        raise RuntimeError(f"env runner {pos + 1} died {failures[pos]} times in one sample() call") from err
                    self._restart(pos, err)
                    pending[pos] = self._actors[pos].sample.remote(share)
        return self._deliver(results)

    def sample_async(self, min_timesteps: int) -> List[Fragment]:
        """Asynchronous: the fragments of every finished actor call, waiting until they
        hold at least ``min_timesteps`` env steps; each finished actor is given its next
        call at once (one call in flight per actor). Fragments are in the order the
        calls finished."""
        ray = import_ray()
        for pos in range(self.num_env_runners):
            if pos not in self._in_flight:
                self._submit(pos)
        results: List[Dict[str, Any]] = []
        enough = False
        while not enough:
            enough = sum(r["env_steps"] for r in results) >= min_timesteps
            refs = list(self._in_flight.values())
            if enough:  # one last sweep: whatever else is ready now
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            else:
                ready, _ = ray.wait(refs, num_returns=1)
            position_of = {ref: pos for pos, ref in self._in_flight.items()}
            for ref in ready:
                pos = position_of[ref]
                try:
                    results.append(ray.get(ref))
                except ray.exceptions.RayActorError as err:
                    self._restart(pos, err)
                self._submit(pos)
        return self._deliver(results)

    def _submit(self, position: int) -> None:
        """Start the actor's next ``sample()`` (with the current weights if it has older)."""
        if position in self._stale:
            self._stale.discard(position)
            ref = self._actors[position].sample.remote(None, self._weights_ref, self.weights_version)
        else:
            ref = self._actors[position].sample.remote(None)
        self._in_flight[position] = ref

    def _deliver(self, results: List[Any]) -> List[Fragment]:
        """Replay the results' episodes and steps into the metrics; their fragments."""
        fragments: List[Fragment] = []
        lag = 0
        for result in results:
            for ret, length, agent_returns, module_returns, custom in result["episodes"]:
                self._metrics.add_episode(ret, length, agent_returns, module_returns, custom)
            for key, value, reduce, window in result["logged"]:
                self.metrics_logger.add(key, value, reduce, window)
            self._metrics.add_steps(result["env_steps"], result["agent_steps"])
            lag = max(lag, self.weights_version - result["weights_version"])
            fragments.extend(_writable(f) for f in result["fragments"])
        self.last_weights_lag = lag
        return fragments

    # --- weights ---------------------------------------------------------------------------
    def sync_weights(self, weights: Any) -> None:
        """Broadcast ``weights`` (one ``ray.put``): idle actors load them now (waited
        for), actors with a call in flight with their next call."""
        ray = import_ray()
        self._weights_ref = ray.put(_on_cpu(weights))
        self.weights_version += 1
        idle = [pos for pos in range(self.num_env_runners) if pos not in self._in_flight]
        self._stale = set(self._in_flight)
        refs = {pos: self._actors[pos].set_weights.remote(self._weights_ref, self.weights_version) for pos in idle}
        for pos, ref in refs.items():
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError as err:
                self._restart(pos, err)  # the new actor starts from the current weights

    def get_remote_weights(self) -> List[Any]:
        """Each actor's module weights, in worker order (waits for calls in flight)."""
        ray = import_ray()
        return ray.get([actor.get_weights.remote() for actor in self._actors])

    # --- metrics and state -------------------------------------------------------------------
    def get_metrics(self) -> Dict[str, Any]:
        """As an in-process runner's ``get_metrics()``, over the delivered results of all
        actors: episode statistics over the last ``metrics_num_episodes_for_smoothing``
        episodes, counters since the last call (reset) and lifetime counters; with
        callbacks ``custom_metrics`` and ``hist_stats`` over the same window, and what
        they logged to the actors' ``metrics_logger``."""
        metrics = self._metrics.reduce()
        metrics.update(self.metrics_logger.reduce())
        return metrics

    def get_state(self) -> Dict[str, Any]:
        """The merged metrics and the restart count (JSON scalars and numpy arrays).
        The actors' env and episode states are not included: after a restore the
        remote runners start new episodes."""
        return {"metrics": self._metrics.get_state(), "num_restarts": self.num_restarts}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._metrics.set_state(state["metrics"])
        self.num_restarts = int(state["num_restarts"])

    def stop(self) -> None:
        """Kill the actors (calls in flight are abandoned)."""
        ray = import_ray()
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._in_flight.clear()


def _on_cpu(weights: Any) -> Any:
    """``weights`` with torch tensors moved to the CPU (a learner's module may live on a
    GPU, the actors' on the CPU); other leaves as they are."""
    return map_structure(lambda x: x.detach().cpu() if hasattr(x, "detach") and hasattr(x, "cpu") else x, weights)


def _writable(fragment: Fragment) -> Fragment:
    """Arrays from the object store are read-only views; the learner may write into
    fragments, so read-only arrays are copied."""
    for f in fields(fragment):
        value = getattr(fragment, f.name)
        if value is not None:
            setattr(fragment, f.name, map_structure(_copy_if_read_only, value))
    return fragment


def _copy_if_read_only(value: Any) -> Any:
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        return value.copy()
    return value
