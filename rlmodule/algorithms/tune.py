"""Our algorithms under Ray Tune, driven as RLlib's are::

    config = PPOConfig().environment("CartPole-v1").training(lr=tune.grid_search([1e-3, 3e-4]), lr_schedule=None)
    tuner = tune.Tuner(
        PPO.as_trainable(),
        param_space=config,
        run_config=tune.RunConfig(
            stop={"training_iteration": 2}, checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True)
        ),
    )
    best = tuner.fit().get_best_result("env_runners/episode_return_mean", "max")
    algo = PPO.from_checkpoint(best.checkpoint.path)

Why ``PPO.as_trainable()`` and not ``PPO``: Tune accepts a class only if it subclasses
``tune.Trainable`` (``ray.tune.registry.register_trainable`` checks ``issubclass``), and
drives it through Trainable's interface (built as ``cls(config, storage)``; ``train()``,
``save()`` and ``restore()`` take and return Tune's types). RLlib's Algorithm subclasses
Trainable; ours cannot without importing ray, and its ``train`` / ``save`` / ``restore``
are plain ones. :meth:`Algorithm.as_trainable <rlmodule.algorithms.Algorithm.as_trainable>`
returns, once per algorithm class, a Trainable subclass named like the algorithm (trial
names read ``PPO_CartPole-v1_<id>``) that holds one algorithm per trial:

- ``param_space``: the config object (Tune calls its ``to_dict()``, as it does for
  RLlib's AlgorithmConfig: importing this module registers :class:`AlgorithmConfig` as
  Tune's config type), or a dict of settings (``to_dict()`` keys, any subset, legacy
  keys as ``from_dict`` reads them). Search spaces (``tune.grid_search``, ``tune.uniform``,
  ...) go into training settings (``.training(lr=tune.grid_search([...]))``) or anywhere
  in the dict; each trial's resolved dict becomes the algorithm's config through
  ``get_default_config().update_from_dict``, which checks it then (first in the driver,
  where Tune asks each new trial for its resources: a wrong key stops ``fit()``). PPO's default
  ``lr_schedule`` overrides ``lr``: set ``lr_schedule=None`` to sweep ``lr``.
- results: each ``train()`` result is reported as is (Tune adds ``trial_id``, ``date``,
  ``config``, ...), so stopping criteria and metrics name our keys, nested ones with
  ``/`` (``"env_runners/episode_return_mean"``). Tune's loggers write them into the
  trial directory (``result.path``: ``result.json``, ``progress.csv`` with the same
  flattened names as ours, TensorBoard scalars under ``ray/tune/``); the algorithm's own
  :class:`~rlmodule.algorithms.result_logger.ResultLogger` is off, and a ``log_dir``
  setting is refused.
- checkpoints: Tune's ``save`` writes :meth:`Algorithm.save`'s directory (no pickle), so
  ``result.checkpoint.path`` is one of our checkpoints
  (``Algorithm.from_checkpoint(result.checkpoint.path)``); a trial restored by Tune
  (after a failure, ``Tuner.restore``) loads it with :meth:`Algorithm.restore`.
- resources: one CPU for the trial (with ``num_gpus_per_learner`` GPUs when set) and one
  CPU per remote env runner, as one placement group, in which the runners' actors are
  scheduled. With ``TuneConfig(reuse_actors=True)`` a trial's actor builds the next
  trial's algorithm (``reset_config``) instead of a new actor starting.

Ray Tune (``ray[tune]==2.60.0``) is imported here only; nothing else in ``rlmodule``
imports this module except ``as_trainable()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Type

try:
    from ray import tune
    from ray.tune.execution.placement_groups import PlacementGroupFactory
    from ray.tune.tune import _Config
except ImportError as exc:  # ray, or Tune's own dependencies (pandas, pyarrow, ...), missing
    raise ImportError(f'Ray Tune is not installed ({exc}): pip install "rlmodule-migrate[tune]" (ray[tune]==2.60.0)') from exc

from rlmodule.algorithms.algorithm_config import AlgorithmConfig

if TYPE_CHECKING:  # Algorithm imports this module (as_trainable)
    from rlmodule.algorithms.algorithm import Algorithm

# Tune turns a param_space of a _Config type into a dict with to_dict() (RLlib's
# AlgorithmConfig subclasses _Config); registering ours makes param_space=config work.
_Config.register(AlgorithmConfig)


class AlgorithmTrainable(tune.Trainable):
    """One algorithm per trial; subclasses made by :func:`trainable_class` name it."""

    #: The algorithm class the trials build (set on each subclass).
    algorithm_class: Type["Algorithm"]

    @classmethod
    def algorithm_config(cls, settings: Dict[str, Any]) -> AlgorithmConfig:
        """The algorithm's default config updated from a trial's resolved settings; a
        ``log_dir`` is refused (the trial directory is where results go)."""
        config = cls.algorithm_class.get_default_config().update_from_dict(settings)
        if config.log_dir is not None:
            raise ValueError(
                f"log_dir={config.log_dir!r}: under Ray Tune, results go to each trial's directory "
                "(result.path, written by Tune's loggers); leave log_dir unset"
            )
        return config

    @classmethod
    def default_resource_request(cls, config: Dict[str, Any]) -> PlacementGroupFactory:
        """One bundle for the trial (1 CPU, ``num_gpus_per_learner`` GPUs) and one CPU
        bundle per remote env runner (``num_env_runners``)."""
        settings = cls.algorithm_config(config)
        head = {"CPU": 1, **({"GPU": settings.num_gpus_per_learner} if settings.num_gpus_per_learner else {})}
        return PlacementGroupFactory([head] + [{"CPU": 1}] * settings.num_env_runners, strategy="PACK")

    def setup(self, config: Dict[str, Any]) -> None:
        self.algorithm = self.algorithm_class(self.algorithm_config(config))
        self.algorithm.write_results = False  # Tune's loggers write them into the trial directory

    def step(self) -> Dict[str, Any]:
        return self.algorithm.train()

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        self.algorithm.save(checkpoint_dir)

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        self.algorithm.restore(checkpoint_dir)

    def reset_config(self, new_config: Dict[str, Any]) -> bool:
        """A new algorithm for the next trial in this actor (``TuneConfig(reuse_actors=True)``)."""
        self.algorithm.stop()
        self.setup(new_config)
        return True

    def cleanup(self) -> None:
        self.algorithm.stop()


_TRAINABLES: Dict[Type["Algorithm"], Type[AlgorithmTrainable]] = {}


def trainable_class(algorithm_class: Type["Algorithm"]) -> Type[AlgorithmTrainable]:
    """The Tune trainable of ``algorithm_class`` (made once; named like it)."""
    made: Optional[Type[AlgorithmTrainable]] = _TRAINABLES.get(algorithm_class)
    if made is None:
        name = algorithm_class.__name__
        made = type(name, (AlgorithmTrainable,), {"algorithm_class": algorithm_class, "__qualname__": name})
        _TRAINABLES[algorithm_class] = made
    return made
