"""Algorithm: the training loop shared by every algorithm.

``config.build()`` makes one. It owns the module, an env runner (sampling in this
process), one learner per module id and the counters. ``train()`` runs the
algorithm's ``training_step`` (sample, then update) and returns a nested result::

    {"env_runners": {"episode_return_mean", "episode_return_min", "episode_return_max",
                     "episode_len_mean", "num_episodes", "num_env_steps_sampled", ...,
                     "num_env_runner_restarts" (lifetime; 0 in-process)},
     "learners": {module_id: {"total_loss", "policy_loss", ...}},
     "num_env_steps_sampled", "num_env_steps_trained" (lifetime),
     "num_env_steps_sampled_this_iter", "num_env_steps_trained_this_iter",
     "training_iteration", "time_this_iter_s", "time_total_s",
     "timers": {"env_runner_sampling_s", "learner_update_s"},
     "evaluation": {...} (on evaluation iterations)}

With ``config.callbacks(...)``: ``result["env_runners"]`` also holds
``custom_metrics`` and ``hist_stats`` (the episodes' ``custom_metrics`` / ``hist_data``),
``result["custom_metrics"]`` is the same dict as ``result["env_runners"]["custom_metrics"]``
(where legacy code reads it), and ``on_train_result`` may add keys before the result is
logged and returned (see :mod:`rlmodule.callbacks`).

Same seed and config give identical results on CPU (timings aside).

With ``env_runners(num_env_runners=N)``, N > 0, sampling runs on N Ray actors (an
:class:`~rlmodule.env_runners.env_runner_group.EnvRunnerGroup`, made by ``setup()``;
``ray.init()`` with defaults if Ray is not initialised): synchronously (every actor
samples its share, then the learner updates), or asynchronously when the algorithm
class sets ``asynchronous_sampling = True`` (actors keep sampling while the learner
updates; ``sample()`` returns what is ready). Weights are broadcast after every
``update()``; a dead actor is restarted. The in-process runner stays (it does not
sample then); results have the same structure either way.

With ``learners(num_gpus_per_learner=1)`` (torch) the learners train a copy of the
module on a CUDA device (``learner_module``) while the env runners act on the CPU with
``module``; after every update ``module`` gets the copy's weights (timed in
``learner_update_s``), and the remote env runners get ``module``'s. ``save()``,
``evaluate()`` and ``get_module()`` use ``module``; ``restore()`` loads both. See
:mod:`rlmodule.algorithms.learner_device`.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from rlmodule.algorithms.algorithm_checkpoint import (
    AlgorithmCheckpointError,
    algorithm_class,
    algorithm_class_path,
    config_from_json,
    config_to_json,
    module_dir,
    read_checkpoint,
    write_checkpoint,
)
from rlmodule.algorithms.learner_device import by_module_id, copy_weights, learner_copy, learner_device
from rlmodule.algorithms.result_logger import ResultLogger, default_log_dir
from rlmodule.backend import rng_state, seed_everything, set_rng_state
from rlmodule.callbacks import Callbacks, MetricsLogger
from rlmodule.env_runners.fragment import Fragment
from rlmodule.rl_module import DEFAULT_MODULE_ID, MultiAgentRLModule, RLModule, load_weights_into


class Algorithm:
    """Built by ``config.build()``; ``train()`` runs one ``training_step``.

    Attributes:
        asynchronous_sampling: class attribute; ``True`` (IMPALA / APPO): with remote
            env runners, ``sample()`` returns the fragments that are ready while the
            actors go on sampling. ``False``: every ``sample()`` waits for all actors.
        module: the module the env runners act with (the CPU module, on a GPU learner's path).
        learner_module: what the learners train: ``module`` itself, or its copy on the
            CUDA device (``learners(num_gpus_per_learner=...)``).
        env_runner: the in-process env runner (samples when ``num_env_runners == 0``).
        env_runner_group: the remote env runners, or ``None`` when ``num_env_runners == 0``.
        callbacks: the algorithm's instances of ``config.callbacks_class`` (``None`` if unset).
        metrics_logger: what its hooks log to (reported at the top level of ``train()``'s result).
    """

    asynchronous_sampling = False
    #: ``False``: ``train()`` writes no result files (a Ray Tune trial sets it: Tune's
    #: loggers write the results into the trial directory, see :mod:`rlmodule.algorithms.tune`).
    write_results = True

    def __init__(self, config: Any) -> None:
        self.config = config
        device = learner_device(config)
        seed_everything(config.seed, config.framework_str)
        probe = config.make_env()
        try:
            self.module_spec = config.get_rl_module_spec(probe)
        finally:
            _close(probe)
        self.module: RLModule = self.module_spec.build()
        self.learner_module: RLModule = self.module if device is None else learner_copy(self.module, device)
        self.iteration = 0
        self.counters: Dict[str, int] = {"num_env_steps_sampled": 0, "num_env_steps_trained": 0}
        self.time_total_s = 0.0
        self.env_runner_group: Optional[Any] = None
        self.callbacks = Callbacks.make(config)
        self.metrics_logger = MetricsLogger()
        self.setup()
        self._logger: Optional[ResultLogger] = None
        self._progress: Optional[Any] = None
        self._evaluations = 0
        self._timers = {"env_runner_sampling_s": 0.0, "learner_update_s": 0.0}  # reset by each train()
        if self.callbacks is not None:
            self.callbacks.algorithm_init(self, self.metrics_logger)

    # --- pieces an algorithm may replace -------------------------------------------------
    def setup(self) -> None:
        """Make the env runner(s) and the learners (called once by ``__init__``)."""
        from rlmodule.env_runners import make_env_runner

        self.env_runner = make_env_runner(self.config, module=self.module, worker_index=0)
        if self.config.num_env_runners > 0:
            from rlmodule.env_runners.env_runner_group import EnvRunnerGroup

            self.env_runner_group = EnvRunnerGroup(
                self.config, self.module.get_state(), multi_agent=isinstance(self.module, MultiAgentRLModule)
            )
        self.learners = {
            module_id: self.make_learner(module, module_id) for module_id, module in by_module_id(self.learner_module).items()
        }

    def make_learner(self, module: RLModule, module_id: str) -> Any:
        """The learner of one module (algorithms override this)."""
        raise NotImplementedError(f"{type(self).__name__}.make_learner()")

    def training_step(self) -> Dict[str, Any]:
        """One iteration of sampling and learning; algorithms override this. Returns
        ``{"learners": {module_id: stats}}``, plus ``"num_env_steps_trained_this_iter"``
        when not every sampled step was trained on."""
        raise NotImplementedError(f"{type(self).__name__}.training_step()")

    # --- the loop ---------------------------------------------------------------------------
    def train(self) -> Dict[str, Any]:
        """Run one ``training_step``; log and return its result (see module docstring)."""
        start = time.perf_counter()
        self._timers = {"env_runner_sampling_s": 0.0, "learner_update_s": 0.0}
        step = self.training_step()
        group = self.env_runner_group
        metrics = (group or self.env_runner).get_metrics()
        metrics["num_env_runner_restarts"] = group.num_restarts if group is not None else 0
        sampled = int(metrics.get("num_env_steps_sampled", 0))
        trained = int(step.get("num_env_steps_trained_this_iter", sampled))
        self.counters["num_env_steps_sampled"] += sampled
        self.counters["num_env_steps_trained"] += trained
        self.iteration += 1
        result: Dict[str, Any] = {
            "env_runners": metrics,
            "learners": step.get("learners", {}),
            "num_env_steps_sampled": self.counters["num_env_steps_sampled"],
            "num_env_steps_trained": self.counters["num_env_steps_trained"],
            "num_env_steps_sampled_this_iter": sampled,
            "num_env_steps_trained_this_iter": trained,
            "training_iteration": self.iteration,
        }
        result.update({k: v for k, v in step.items() if k not in ("learners", "num_env_steps_trained_this_iter")})
        interval = self.config.evaluation_interval
        if interval and self.iteration % interval == 0:
            result["evaluation"] = self.evaluate()
        elapsed = time.perf_counter() - start
        self.time_total_s += elapsed
        result.update(time_this_iter_s=elapsed, time_total_s=self.time_total_s, timers=dict(self._timers))
        result.update(self.metrics_logger.reduce())
        if self.callbacks is not None:
            if "custom_metrics" in metrics:
                result["custom_metrics"] = metrics["custom_metrics"]  # where legacy code reads them
            self.callbacks.on_train_result(algorithm=self, trainer=self, metrics_logger=self.metrics_logger, result=result)
        self._report(result)
        return result

    def sample(self, num_timesteps: int) -> List[Fragment]:
        """``num_timesteps`` env steps from the env runner(s) (timed). Asynchronous
        remote sampling returns at least ``num_timesteps`` ready env steps, possibly
        sampled with older weights."""
        start = time.perf_counter()
        group = self.env_runner_group
        if group is None:
            fragments = self.env_runner.sample(num_timesteps=num_timesteps)
        elif self.asynchronous_sampling:
            fragments = group.sample_async(min_timesteps=num_timesteps)
        else:
            fragments = group.sample(num_timesteps)
        self._timers["env_runner_sampling_s"] += time.perf_counter() - start
        return fragments

    def update(self, fragments: List[Fragment]) -> Dict[str, Dict[str, float]]:
        """Each module's learner updates on its fragments, then the new weights go to
        the acting module (when the learners train a copy) and the remote env runners
        (all timed as ``learner_update_s``); ``{module_id: stats}``."""
        start = time.perf_counter()
        by_module: Dict[str, List[Fragment]] = {}
        for fragment in fragments:
            by_module.setdefault(fragment.module_id, []).append(fragment)
        timestep = self.counters["num_env_steps_sampled"]
        stats = {
            module_id: self.learners[module_id].update(by_module[module_id], timestep=timestep)
            for module_id in self.learners if module_id in by_module
        }
        if self.learner_module is not self.module:
            copy_weights(self.learner_module, self.module)
        if self.env_runner_group is not None:
            self.env_runner_group.sync_weights(self.module.get_state())
        self._timers["learner_update_s"] += time.perf_counter() - start
        return stats

    def evaluate(self) -> Dict[str, Any]:
        """Run ``evaluation_duration`` episodes with fresh envs (``forward_inference``
        unless ``evaluation_explore``); ``{"env_runners": episode statistics}``."""
        from rlmodule.env_runners import make_env_runner

        config = copy.copy(self.config)
        config.metrics_num_episodes_for_smoothing = self.config.evaluation_duration
        config.num_envs_per_env_runner = min(self.config.num_envs_per_env_runner, self.config.evaluation_duration)
        self._evaluations += 1
        if self.callbacks is not None:
            self.callbacks.on_evaluate_start(algorithm=self, metrics_logger=self.metrics_logger)
        runner = make_env_runner(config, module=self.module, worker_index=10_000 + self._evaluations)
        try:
            episodes = 0
            while episodes < self.config.evaluation_duration:
                runner.sample(num_timesteps=config.num_envs_per_env_runner * 100, explore=self.config.evaluation_explore)
                metrics = runner.get_metrics()
                episodes += int(metrics.get("num_episodes", 0))
        finally:
            runner.stop()
        result = {"env_runners": metrics}
        if self.callbacks is not None:
            self.callbacks.on_evaluate_end(algorithm=self, metrics_logger=self.metrics_logger, evaluation_metrics=result)
        return result

    def _report(self, result: Dict[str, Any]) -> None:
        if self.write_results:
            if self._logger is None:
                log_dir = self.config.log_dir or default_log_dir(type(self).__name__, self.config.env)
                self._logger = ResultLogger(log_dir)
            self._logger.log(result, step=self.counters["num_env_steps_sampled"])
        if self._progress is None and sys.stderr.isatty():
            from tqdm import tqdm

            self._progress = tqdm(desc=type(self).__name__, unit="iter", dynamic_ncols=True)
        if self._progress is not None:
            runners = result["env_runners"]
            self._progress.set_postfix(
                steps=result["num_env_steps_sampled"],
                ret=f"{runners.get('episode_return_mean', float('nan')):.1f}",
                refresh=False,
            )
            self._progress.update(1)

    @property
    def log_dir(self) -> Optional[str]:
        """Where results are written (set by the first ``train()``)."""
        return str(self._logger.log_dir) if self._logger is not None else self.config.log_dir

    # --- modules ---------------------------------------------------------------------------
    def modules(self) -> Dict[str, RLModule]:
        """``{module_id: module}`` (one entry, the default id, for single-agent)."""
        return by_module_id(self.module)

    def get_module(self, module_id: Optional[str] = None) -> RLModule:
        """The module (for multi-agent: the one under ``module_id``, default the default id)."""
        if isinstance(self.module, MultiAgentRLModule):
            return self.module[module_id or DEFAULT_MODULE_ID]
        if module_id not in (None, DEFAULT_MODULE_ID):
            raise KeyError(f"single-agent algorithm has no module {module_id!r}")
        return self.module

    # --- checkpoints -----------------------------------------------------------------------
    def save(self, checkpoint_dir: str) -> str:
        """Write module weights, optimizer states, counters, RNG and env-runner state
        and the config into ``checkpoint_dir`` (no pickle); returns its path. Remote
        env runners contribute their merged metrics only: after a restore they start
        new episodes."""
        state = {
            "algorithm_class": algorithm_class_path(self),
            "config": config_to_json(self.config.to_dict()),
            "iteration": self.iteration,
            "counters": dict(self.counters),
            "time_total_s": self.time_total_s,
            "evaluations": self._evaluations,
            "learners": {module_id: learner.get_state() for module_id, learner in self.learners.items()},
            "env_runner": self.env_runner.get_state(),
            **({"env_runner_group": self.env_runner_group.get_state()} if self.env_runner_group is not None else {}),
            "rng": rng_state(self.config.framework_str),
        }
        return write_checkpoint(checkpoint_dir, state, self.module.save_to_checkpoint)

    def restore(self, checkpoint_dir: str, *, allow_non_finite: bool = False) -> None:
        """Load a checkpoint written by :meth:`save` of the same algorithm and modules
        (weights holding NaN or infinity are refused unless ``allow_non_finite``)."""
        state = read_checkpoint(checkpoint_dir)
        if state["algorithm_class"] != algorithm_class_path(self):
            raise AlgorithmCheckpointError(
                f"{checkpoint_dir}: holds a {state['algorithm_class']}, not a {algorithm_class_path(self)}"
            )
        missing = sorted(set(self.learners) ^ set(state["learners"]))
        if missing:
            raise AlgorithmCheckpointError(f"{checkpoint_dir}: module ids differ: {missing}")
        load_weights_into(self.module, module_dir(checkpoint_dir), allow_non_finite=allow_non_finite)
        if self.learner_module is not self.module:
            copy_weights(self.module, self.learner_module)
        for module_id, learner in self.learners.items():
            learner.set_state(state["learners"][module_id])
        self.env_runner.set_state(state["env_runner"])
        if self.env_runner_group is not None:
            if "env_runner_group" in state:
                self.env_runner_group.set_state(state["env_runner_group"])
            self.env_runner_group.sync_weights(self.module.get_state())
        self.iteration = int(state["iteration"])
        self.counters = {k: int(v) for k, v in state["counters"].items()}
        self.time_total_s = float(state["time_total_s"])
        self._evaluations = int(state["evaluations"])
        set_rng_state(state["rng"], self.config.framework_str)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint_dir: str,
        config: Optional[Any] = None,
        *,
        trusted_modules: Sequence[str] = (),
        allow_non_finite: bool = False,
    ) -> "Algorithm":
        """A new algorithm built from the checkpoint's config (or ``config``) with the
        checkpoint's state restored. The recorded classes and functions (algorithm,
        env, policy_mapping_fn, module specs) are imported only from this package,
        ``trusted_modules`` (dotted prefixes) or, for classes, modules already imported,
        and checked before use; pass ``config`` to use none of them."""
        state = read_checkpoint(checkpoint_dir)
        algo_cls = algorithm_class(state["algorithm_class"], str(checkpoint_dir), Algorithm, trusted_modules)
        if not issubclass(algo_cls, cls):
            raise AlgorithmCheckpointError(f"{checkpoint_dir}: holds a {algo_cls.__name__}, not a {cls.__name__}")
        if config is None:
            settings = config_from_json(state["config"], str(checkpoint_dir), trusted_modules)
            config = algo_cls.get_default_config().update_from_dict(settings)
        algorithm = algo_cls(copy.deepcopy(config))
        algorithm.restore(checkpoint_dir, allow_non_finite=allow_non_finite)
        return algorithm

    @classmethod
    def as_trainable(cls) -> type:
        """This algorithm as a Ray Tune trainable (a ``tune.Trainable`` subclass named
        like it): ``tune.Tuner(PPO.as_trainable(), param_space=config, run_config=...)``;
        see :mod:`rlmodule.algorithms.tune` (imports ray; needs ``ray[tune]``)."""
        from rlmodule.algorithms.tune import trainable_class

        return trainable_class(cls)

    @classmethod
    def get_default_config(cls) -> Any:
        """The config class's defaults (algorithms override this)."""
        raise NotImplementedError(f"{cls.__name__}.get_default_config()")

    def stop(self) -> None:
        """Close envs, kill the remote env runners, close the log files and the progress bar."""
        self.env_runner.stop()
        if self.env_runner_group is not None:
            self.env_runner_group.stop()
        if self._logger is not None:
            self._logger.close()
        if self._progress is not None:
            self._progress.close()
            self._progress = None


def _close(env: Any) -> None:
    close = getattr(env, "close", None)
    if close is not None:
        close()
