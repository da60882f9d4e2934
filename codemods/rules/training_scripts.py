"""Rule ``training_scripts``: legacy trainers -> this project's configs and algorithms.

Before::

    import ray
    from ray.rllib.agents.ppo import PPOTrainer

    ray.init()
    config = {"env": "CartPole-v1", "num_workers": 2, "num_envs_per_worker": 4}
    trainer = PPOTrainer(config=config)
    result = trainer.train()
    print(result["episode_reward_mean"], result["timesteps_total"])
    ray.shutdown()

After::

    from rlmodule.algorithms.ppo import PPOConfig

    config = {"env": "CartPole-v1", "num_env_runners": 2, "num_envs_per_env_runner": 4}
    trainer = PPOConfig.from_dict(config).build()
    result = trainer.train()
    print(result["env_runners"]["episode_return_mean"], result["num_env_steps_sampled"])

What it rewrites:

- ``<X>Trainer(config=..., env=...)`` of ``ray.rllib.agents`` (PPO, IMPALA, APPO, BC;
  positional or keyword) -> ``<X>Config.from_dict(config)[.environment(env)].build()``;
  ray 2.x ``PPO(config=...)`` / ``Impala`` / ``APPO`` / ``BC`` the same when the config is
  visibly a dict (otherwise the import map sends the class to ours, which takes config
  objects). ``from_dict`` also reads legacy keys at run time (a DeprecationWarning each),
  so configs built elsewhere still work.
- the config dict it is given, followed through names assigned in the same function
  (or at module level): ``<algo>.DEFAULT_CONFIG`` -> ``<X>Config().to_dict()``,
  ``with_common_config({...})`` -> ``{...}``; where every value of the config is visible
  (dict literals, copies of those), legacy keys are renamed in dict literals,
  ``config["key"]`` items, ``config.update({...})`` and ``config["multiagent"]["policies"]``;
  a ``"multiagent"`` entry holding only ``policies`` (ids, or specs without a policy class
  or config) and ``policy_mapping_fn`` becomes those two top-level entries; legacy keys
  without an equivalent get a TODO (``from_dict`` raises on them);
- lookups on a result of ``trainer.train()`` (a name whose every assignment in its
  scope is such a call, on a name whose every assignment is a rewritten trainer):
  ``result["episode_reward_mean"]`` -> ``result["env_runners"]["episode_return_mean"]``
  etc. (``RESULT_KEYS``; ``.get`` too); a legacy key without an equivalent gets a TODO;
- legacy Trainer methods our Algorithm lacks (``compute_single_action``, ``get_policy``,
  ``save()`` without a directory, ...) get a TODO;
- ``ray.init(...)`` / ``ray.shutdown()`` statements go (and ``import ray`` if nothing else
  uses it) when every trainer of the file was rewritten and the file uses no other part
  of Ray (Tune needs it); a ``ray.init`` given an ``address`` stays (remote env runners
  connect to that cluster);
- the trainer import lines become the config imports in place.

- Ray Tune runs (``tune.run(trainable, config=...)``, ``tune.Tuner(trainable,
  param_space=...)``, ``tune.Experiment(name, run=...)``, ``run_experiments({name: {"run":
  ..., "config": ...}})``) whose trainable is a registry name (``"PPO"``,
  ``get_trainable_cls("PPO")``) or a legacy trainer / algorithm class of PPO, IMPALA,
  APPO or BC, given a config the file shows (dict literals as above, a function of the
  file returning one, a config object, one the ``configs`` rule gave a module spec):
  the trainable -> ``<Algo>.as_trainable()`` (``from rlmodule.algorithms.<algo> import
  <Algo>``), the config as for a trainer, and the legacy result keys of a ``stop={...}``
  literal (``tune.RunConfig(stop=...)`` of a Tuner, an experiment's ``"stop"``) and of
  ``metric="..."`` -> ours, nested with ``/`` (``"env_runners/episode_return_mean"``); a
  ``stop`` that is not a literal gets a TODO. A run whose trainable this rule cannot
  rewrite (picked at run time, ``args.run``; a custom trainer; an algorithm this project
  does not have) keeps it, with a TODO when its config is one written for this project's
  algorithms. This rule alone edits Tune calls (the ``configs`` rule only reads their
  trainable to pick the algorithm of a config).

A file using a trainer of an algorithm this project does not have (DQN, SAC, ...)
stays as it is, its supported trainers too (the file keeps working on ray's RLlib),
with one TODO saying so (and one on each Tune run given a config written for this
project's algorithms). Under ``--target rllib`` Tune runs stay as they are: RLlib's
trainables read RLlib 2.60 configs.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from codemods import rllib_target as rllib
from codemods.import_edits import add_imports, bound_imports, bound_name, dotted, used_names
from codemods.rule import SKELETON, FileContext, Rule, TodoTransformer, walk
from codemods.rules.configs import RLLIB_ALGORITHMS, _algorithm, _Algorithms, _class_algorithm, _dict_entry, _string, _Survey

ANCHOR = "training-scripts"
ANCHOR_TUNE = "sweeps-with-ray-tune"

#: Trainer / algorithm classes this project has -> RLlib's algorithm name.
SUPPORTED_TRAINERS = {
    "PPOTrainer": "PPO", "PPO": "PPO", "ImpalaTrainer": "IMPALA", "Impala": "IMPALA", "IMPALA": "IMPALA",
    "APPOTrainer": "APPO", "APPO": "APPO", "BCTrainer": "BC", "BC": "BC",
}
#: Algorithm -> (module, config class) of this project.
CONFIGS = {
    "PPO": ("rlmodule.algorithms.ppo", "PPOConfig"),
    "IMPALA": ("rlmodule.algorithms.impala", "ImpalaConfig"),
    "APPO": ("rlmodule.algorithms.appo", "APPOConfig"),
    "BC": ("rlmodule.algorithms.bc", "BCConfig"),
}
_LEGACY_HOMES = ("ray.rllib.agents.", "ray.rllib.algorithms.")
#: Algorithm -> this project's algorithm class (its ``as_trainable()`` is the Tune trainable).
ALGORITHM_CLASSES = {"PPO": "PPO", "IMPALA": "IMPALA", "APPO": "APPO", "BC": "BC"}
#: Tune entry points -> (keyword of the trainable, its position, keyword of the config).
_TUNE_RUNS = {"run": ("run_or_experiment", 0, "config"), "Tuner": ("trainable", 0, "param_space"),
              "Experiment": ("run", 1, "config")}
#: Keys Tune adds to every result (stopping criteria may name them).
_TUNE_RESULT_KEYS = frozenset({
    "done", "training_iteration", "time_this_iter_s", "time_total_s", "time_since_restore",
    "iterations_since_restore", "timesteps_since_restore", "trial_id", "experiment_id", "date", "timestamp", "pid",
    "hostname", "node_ip", "config",
})

#: Legacy config keys -> ours (``rlmodule.algorithms.algorithm_config.LEGACY_KEYS``; a test keeps them equal).
LEGACY_KEYS = {
    "num_workers": "num_env_runners",
    "num_rollout_workers": "num_env_runners",
    "num_envs_per_worker": "num_envs_per_env_runner",
    "lambda": "lambda_",
    "input": "input_",
    "evaluation_num_episodes": "evaluation_duration",
    "metrics_smoothing_episodes": "metrics_num_episodes_for_smoothing",
}
#: Legacy config keys without an equivalent (``algorithm_config.LEGACY_KEYS_WITHOUT_EQUIVALENT``).
LEGACY_KEYS_WITHOUT_EQUIVALENT = frozenset({
    "num_gpus", "num_gpus_per_worker", "num_cpus_per_worker", "num_cpus_for_driver", "custom_resources_per_worker",
    "_fake_gpus", "placement_strategy", "log_level", "ignore_worker_failures", "recreate_failed_workers", "horizon",
    "soft_horizon", "no_done_at_end", "batch_mode", "observation_filter", "normalize_actions", "clip_actions",
    "clip_rewards", "evaluation_config", "evaluation_num_workers", "evaluation_parallel_to_training", "explore",
    "exploration_config", "vf_share_layers", "simple_optimizer", "eager_tracing", "tf_session_args",
    "local_tf_session_args", "create_env_on_driver", "remote_worker_envs", "sample_async", "compress_observations",
    "synchronize_filters", "disable_env_checking", "preprocessor_pref", "logger_config", "min_iter_time_s",
    "timesteps_per_iteration", "shuffle_sequences",
})

_EPISODES = {
    "episode_reward_mean": "episode_return_mean",
    "episode_reward_max": "episode_return_max",
    "episode_reward_min": "episode_return_min",
    "episode_len_mean": "episode_len_mean",
    "episodes_this_iter": "num_episodes",
    "episodes_total": "num_episodes_lifetime",
    "policy_reward_mean": "module_episode_returns_mean",
}
#: Legacy result keys -> the key path in this project's ``train()`` result.
RESULT_KEYS: Dict[str, Tuple[str, ...]] = {
    **{old: ("env_runners", new) for old, new in _EPISODES.items()},
    "timesteps_total": ("num_env_steps_sampled",),
    "timesteps_this_iter": ("num_env_steps_sampled_this_iter",),
    "num_env_steps_sampled": ("num_env_steps_sampled",),
    "num_env_steps_trained": ("num_env_steps_trained",),
    "num_steps_sampled": ("num_env_steps_sampled",),
    "num_steps_trained": ("num_env_steps_trained",),
    "training_iteration": ("training_iteration",),
    "time_this_iter_s": ("time_this_iter_s",),
    "time_total_s": ("time_total_s",),
    "custom_metrics": ("custom_metrics",),
}
#: Keys this project's results have already (left as they are).
_NEW_RESULT_KEYS = frozenset({
    "env_runners", "learners", "evaluation", "num_env_steps_sampled_this_iter", "num_env_steps_trained_this_iter",
    "timers",
})
#: Legacy learner stats -> ours (``result["learners"][module_id][...]``).
LEARNER_STATS = {
    "total_loss": "total_loss", "policy_loss": "policy_loss", "vf_loss": "vf_loss", "entropy": "entropy",
    "vf_explained_var": "vf_explained_var", "kl": "mean_kl_loss", "cur_lr": "curr_lr", "cur_kl_coeff": "curr_kl_coeff",
    "entropy_coeff": "curr_entropy_coeff",
}
#: Algorithm attributes a rewritten trainer may use as before.
_ALGORITHM_API = frozenset({
    "train", "save", "restore", "stop", "evaluate", "get_module", "log_dir", "iteration", "config", "from_checkpoint",
})
_METHOD_TODOS = {
    "compute_action": "act with the module: {t}.get_module().forward_inference({{'obs': obs_batch}}) gives "
    "'action_dist_inputs' (see MIGRATION.md#forward-outputs-and-sampling)",
    "get_policy": "the policy's model is the module: {t}.get_module() (compat.RLModulePolicy serves it behind the "
    "legacy Policy API)",
    "workers": "env runners: {t}.env_runner (in-process) and {t}.env_runner_group (remote)",
}
_METHOD_TODOS["compute_single_action"] = _METHOD_TODOS["compute_actions"] = _METHOD_TODOS["compute_action"]


@dataclass(frozen=True)
class _Tables:
    """What the rule writes for one ``--target``."""

    configs: Dict[str, Tuple[str, str]]
    legacy_keys: Dict[str, str]
    without_equivalent: frozenset
    result_keys: Dict[str, Optional[Tuple[str, ...]]]
    new_result_keys: frozenset
    learner_stats: Dict[str, str]
    algorithm_api: frozenset
    method_todos: Dict[str, str]
    build: str  # the config method that builds the algorithm
    stack: str  # how TODOs name the target


_TABLES = {
    "rlmodule": _Tables(
        CONFIGS, LEGACY_KEYS, LEGACY_KEYS_WITHOUT_EQUIVALENT, RESULT_KEYS, _NEW_RESULT_KEYS, LEARNER_STATS,
        _ALGORITHM_API, _METHOD_TODOS, "build", "this project's",
    ),
    "rllib": _Tables(
        rllib.CONFIGS, rllib.LEGACY_KEYS, rllib.LEGACY_KEYS_WITHOUT_EQUIVALENT, rllib.RESULT_KEYS,
        rllib.NEW_RESULT_KEYS, rllib.LEARNER_STATS, rllib.ALGORITHM_API, rllib.METHOD_TODOS, "build_algo",
        "RLlib 2.60's new API stack's",
    ),
}


def trainer_algorithm(path: str) -> Optional[str]:
    """The algorithm of a legacy trainer / ray 2.x algorithm class path
    (``ray.rllib.agents.ppo.PPOTrainer`` -> ``PPO``, ``...dqn.DQNTrainer`` -> ``DQN``)."""
    if not path.startswith(_LEGACY_HOMES):
        return None
    last = path.split(".")[-1]
    if last in SUPPORTED_TRAINERS:
        return SUPPORTED_TRAINERS[last]
    if last.endswith("Trainer") and len(last) > len("Trainer"):
        return _class_algorithm(path) or last[: -len("Trainer")]
    if path.startswith("ray.rllib.algorithms.") and last[:1].isupper() and not last.endswith(("Config", "Policy", "Catalog")):
        found = _class_algorithm(path)
        return found if found is not None and found.lower() == last.lower() else None
    return None


@dataclass
class _Config:
    """What the config of one trainer is made of (``visible``: every value is)."""

    visible: bool = True
    dicts: List[cst.Dict] = field(default_factory=list)
    defaults: List[Tuple[cst.CSTNode, str]] = field(default_factory=list)  # DEFAULT_CONFIG refs, algorithm
    common: List[cst.Call] = field(default_factory=list)  # with_common_config(...) calls
    names: List[cst.Name] = field(default_factory=list)  # the names it is held by


@dataclass
class _TuneRun:
    """One Tune run: ``site`` (the call, or a ``run_experiments`` spec dict) and what it is given."""

    site: Union[cst.Call, cst.Dict]
    trainable: Optional[cst.BaseExpression]
    config: Optional[cst.BaseExpression]
    stop: Optional[cst.BaseExpression]
    metrics: List[cst.BaseExpression]  # metric= / checkpoint_score_attr= values


#: ``_result_path``: the key is one of this project's (or not a string): left as it is.
_KEEP: Tuple[str, ...] = ("<keep>",)

#: A ray 2.x algorithm class called by name (the cheap pre-filter of ``applies_to``).
_ALGORITHM_CALL = re.compile(
    rb"\b(?:PPO|APPO|Impala|IMPALA|BC|MARWIL|DQN|SimpleQ|SAC|DDPG|TD3|PG|A2C|A3C|CQL|ES|ARS|ApexDQN|ApexDDPG|R2D2"
    rb"|QMix|MADDPG|AlphaZero|DreamerV3|Algorithm)[ \t]*\("
)


class TrainingScripts(Rule):
    name = "training_scripts"
    summary = "PPOTrainer(config=...) & co -> PPOConfig.from_dict(...).build(); legacy config and result keys renamed"
    order = 50
    triggers = (b"Trainer", b"DEFAULT_CONFIG", b"with_common_config", b"rllib.algorithms")
    #: A Tune run of an RLlib trainable name (``tune.run("PPO", ...)``) needs no ``rllib`` in the file.
    target_triggers = {"rlmodule": (b"tune.run(", b"Tuner(", b"run_experiments(", b"Experiment(")}

    @classmethod
    def applies_to(cls, source: bytes, repo) -> bool:
        """A legacy trainer, a ``DEFAULT_CONFIG`` or a ray 2.x algorithm class called by
        name (``PPO(...)``; a ``PPOConfig()`` alone is no work for this rule)."""
        if b"rllib" not in source:
            return False
        return any(t in source for t in (b"Trainer", b"DEFAULT_CONFIG", b"with_common_config")) or bool(
            _ALGORITHM_CALL.search(source)
        )

    # -- the survey: what changes, decided before the tree is rewritten ----------------------
    def visit_Module(self, node: cst.Module) -> None:
        self.rllib = self.context.target == "rllib"
        self.t = _TABLES[self.context.target]
        self.survey = _Survey(node)
        self.flow = _Algorithms(self.survey)
        self.calls: Dict[int, Tuple[str, Optional[cst.BaseExpression], Optional[cst.BaseExpression]]] = {}
        self.replaced_defaults: Dict[int, str] = {}  # id(DEFAULT_CONFIG ref) -> algorithm
        self.unwrapped: Set[int] = set()  # with_common_config calls
        self.renamed_dicts: Set[int] = set()
        self.renamed_keys: Dict[int, str] = {}  # id(SimpleString) -> new key
        self.flattened_items: Dict[int, str] = {}  # id(config["multiagent"]["x"]) -> "x"
        self.result_chains: Dict[int, List[Union[str, cst.BaseExpression]]] = {}
        self.result_gets: Dict[int, Tuple[str, ...]] = {}
        self.ray_calls: Set[int] = set()  # ray.init / ray.shutdown calls to remove
        self.handled_names: Set[str] = set()  # imported names the rewrite stops using
        self.needed: Dict[str, Tuple[str, str]] = {}  # config class -> import
        self.ours: Set[int] = set()  # ray 2.x algorithm classes given config objects, kept
        self.trainables: Dict[int, str] = {}  # id(Tune trainable) -> our algorithm class
        self.rewritten_configs: Set[int] = set()  # id(dict literal / DEFAULT_CONFIG) of configs rewritten
        self.rewritten_names: Set[Tuple[int, str]] = set()  # (scope, name) holding them
        if not self._plan(node):  # nothing to rewrite: at most TODOs on statements
            self.descend_only = SKELETON if self._pending else frozenset({cst.Module})

    def _resolve(self, path: str) -> str:
        return self.flow._resolve(path) if path else ""

    def _plan(self, module: cst.Module) -> bool:
        constructions: List[Tuple[cst.Call, str]] = []
        others: List[Tuple[cst.CSTNode, str]] = []
        refs: List[Tuple[cst.CSTNode, str]] = []  # both, in source order
        for node in walk(module):
            kind = type(node)
            if kind is cst.Call:
                algorithm = trainer_algorithm(self._resolve(dotted(node.func)))
                if algorithm is not None:
                    constructions.append((node, algorithm))
                    refs.append((node, algorithm))
            elif kind is cst.Name or kind is cst.Attribute:
                parent = self.survey.parent.get(id(node))
                if type(parent) is cst.Call and parent.func is node:
                    continue
                if kind is cst.Name and (
                    parent is None or type(parent) in (cst.ImportAlias, cst.AsName)
                    or (type(parent) is cst.Attribute and parent.attr is node)
                    or (type(parent) is cst.Arg and parent.keyword is node)
                ):
                    continue
                algorithm = trainer_algorithm(self._resolve(dotted(node)))
                if algorithm is not None and not _in_import(self.survey, node):
                    others.append((node, algorithm))
                    refs.append((node, algorithm))
        unsupported = sorted({a for _, a in constructions + others if a not in self.t.configs})
        if unsupported and constructions:
            self._flag_unsupported(unsupported, refs)
        rewritten = 0
        if not unsupported:
            for call, algorithm in constructions:
                rewritten += self._plan_construction(call, algorithm)
        tuned = self._plan_tune(module, rewrite=not unsupported)
        if not rewritten and not self.ours and not tuned:
            return False
        self._plan_results()
        if constructions and rewritten == len(constructions) and not others and not self.rllib:  # RLlib runs on Ray
            self._plan_ray_calls(module)
        return True

    def _flag_unsupported(self, unsupported: List[str], refs: List[Tuple[cst.CSTNode, str]]) -> None:
        supported = sorted({self._resolve(dotted(n.func if isinstance(n, cst.Call) else n)).split(".")[-1]
                            for n, a in refs if a in self.t.configs})
        first = next(n for n, _ in refs if isinstance(n, cst.Call))
        also = f" ({', '.join(supported)} too, so the file keeps working as before)" if supported else ""
        move = (
            f"; to migrate the {', '.join(supported)} part, move it into a file of its own and rerun rlmigrate"
            if supported else ""
        )
        self.flag(
            f"{' / '.join(unsupported)} {'is' if len(unsupported) == 1 else 'are'} not available on "
            + ("compat.rllib's adapter" if self.rllib else "this project's stack")
            + f" (PPO, IMPALA, APPO, BC): this file's trainers stay legacy code for ray's RLlib{also}{move}",
            ANCHOR,
            self.survey.statement_of(first),
        )

    def _plan_construction(self, call: cst.Call, algorithm: str) -> bool:
        """Decide one trainer construction; ``True`` when it is rewritten."""
        statement = self.survey.statement_of(call)
        name = self._resolve(dotted(call.func)).split(".")[-1]
        positional = [a for a in call.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        if len(positional) + len(keywords) != len(call.args) or len(positional) > 2 or set(keywords) - {"config", "env"} \
                or ("config" in keywords and positional) or ("env" in keywords and len(positional) > 1):
            self.flag(
                f"{name}(...) with these arguments is not rewritten: build it as {self.t.configs[algorithm][1]}.from_dict(config)"
                ".environment(env).build() (a logger_creator has no equivalent: results go to debugging(log_dir=...))",
                ANCHOR, statement,
            )
            return False
        config = keywords.get("config", positional[0].value if positional else None)
        env = keywords.get("env", positional[1].value if len(positional) > 1 else None)
        found = self._config_of(config) if config is not None else _Config()
        legacy_trainer = name.endswith("Trainer")
        if not legacy_trainer and not (found.visible and (found.dicts or found.defaults)):
            if _is_config_object(config, self):
                self.ours.add(id(call))  # the import map sends the class to ours: results are ours
            else:
                self.flag(
                    f"{name}(config=...) is rewritten only for a config dict it can see: if this is a dict, build the "
                    f"algorithm as {self.t.configs[algorithm][1]}.from_dict(config).build()",
                    ANCHOR, statement,
                )
            return False
        mismatch = sorted({a for _, a in found.defaults if a != algorithm})
        if mismatch:
            self.flag(
                f"{name} is given {' / '.join(mismatch)}'s DEFAULT_CONFIG: not rewritten; build it as "
                f"{self.t.configs[algorithm][1]}.from_dict(<its settings>).build()",
                ANCHOR, statement,
            )
            return False
        self.calls[id(call)] = (algorithm, config, env)
        self.needed[self.t.configs[algorithm][1]] = self.t.configs[algorithm]
        self.handled_names.add(dotted(call.func).split(".")[0])
        self._plan_config(found)
        return True

    def _plan_config(self, found: _Config) -> None:
        """A config given to a rewritten trainer or Tune run: its DEFAULT_CONFIG and
        with_common_config go, and where every value is visible its legacy keys."""
        for ref, ref_algorithm in found.defaults:
            self.replaced_defaults[id(ref)] = ref_algorithm
            self.handled_names.add(dotted(ref).split(".")[0])
        for common in found.common:
            self.unwrapped.add(id(common))
            self.handled_names.add(dotted(common.func).split(".")[0])
        self.rewritten_configs.update(id(n) for n in [*found.dicts, *(r for r, _ in found.defaults)])
        self.rewritten_names.update(_binding(n, self.survey) for n in found.names)
        if found.visible:
            self._plan_keys(found)

    def _config_of(self, node: cst.BaseExpression, seen: Optional[Set[int]] = None, found: Optional[_Config] = None) -> _Config:
        """What a config expression is made of (following names assigned in its scope)."""
        seen = set() if seen is None else seen
        found = _Config() if found is None else found
        if id(node) in seen:
            return found
        seen.add(id(node))
        path = self._resolve(dotted(node)) if isinstance(node, (cst.Name, cst.Attribute)) else ""
        if path.split(".")[-1] == "DEFAULT_CONFIG" and path.startswith(_LEGACY_HOMES):
            algorithm = _class_algorithm(path)
            if algorithm in self.t.configs:
                found.defaults.append((node, algorithm))
            else:
                found.visible = False
            return found
        if isinstance(node, cst.Dict):
            found.dicts.append(node)
            for element in node.elements:
                if isinstance(element, cst.StarredDictElement):
                    self._config_of(element.value, seen, found)
            return found
        if isinstance(node, cst.Name):
            scope = self.survey.scope.get(id(node), id(self.survey.module))
            values = self.flow._values(node.value, scope)
            if not values:
                found.visible = False
                return found
            found.names.append(node)
            for value in values:
                self._config_of(value, seen, found)
            return found
        if isinstance(node, cst.Call):
            path = self._resolve(dotted(node.func))
            last = path.split(".")[-1]
            args = [a.value for a in node.args if a.keyword is None and not a.star]
            if path.endswith("with_common_config") and len(args) == 1 and len(node.args) == 1:
                found.common.append(node)
                return self._config_of(args[0], seen, found)
            if isinstance(node.func, cst.Attribute) and last == "copy" and not node.args:
                return self._config_of(node.func.value, seen, found)
            if path in ("copy.deepcopy", "copy.copy", "deepcopy", "dict") and len(args) == 1 and len(node.args) == 1:
                return self._config_of(args[0], seen, found)
            returned = self.survey.returns.get(node.func.value) if isinstance(node.func, cst.Name) else None
            if returned and len(self.survey.calls.get(node.func.value, [])) == 1:  # a function of this file, called here only
                for value in returned:
                    self._config_of(value, seen, found)
                return found
        found.visible = False
        return found

    # -- Ray Tune runs -----------------------------------------------------------------------
    def _tune_runs(self, module: cst.Module) -> List[_TuneRun]:
        """The file's Tune runs: ``tune.run``, ``tune.Tuner``, ``tune.Experiment`` calls and
        the experiment dicts given to ``run_experiments`` (a dict literal or names of them)."""
        runs: List[_TuneRun] = []
        for node in walk(module):
            if type(node) is not cst.Call:
                continue
            path = self._resolve(dotted(node.func))
            parts = path.split(".")
            if "tune" not in parts[:-1]:
                continue
            if parts[-1] in _TUNE_RUNS:
                keyword, position, config_keyword = _TUNE_RUNS[parts[-1]]
                positional = [a.value for a in node.args if a.keyword is None and not a.star]
                trainable = _keyword(node, keyword) or (positional[position] if len(positional) > position else None)
                stop = _keyword(node, "stop")
                run_config = _keyword(node, "run_config")
                if stop is None and isinstance(run_config, cst.Call):
                    stop = _keyword(run_config, "stop")
                tune_config = _keyword(node, "tune_config")
                metrics = [_keyword(c, k) for c in (node, tune_config) if isinstance(c, cst.Call)
                           for k in ("metric", "checkpoint_score_attr")]
                runs.append(_TuneRun(node, trainable, _keyword(node, config_keyword), stop, [m for m in metrics if m is not None]))
            elif parts[-1] == "run_experiments" and node.args:
                for spec in self._experiment_specs(node.args[0].value):
                    entries = {_string(e.key): e.value for e in spec.elements if isinstance(e, cst.DictElement)}
                    runs.append(_TuneRun(spec, entries.get("run"), entries.get("config"), entries.get("stop"), []))
        return runs

    def _experiment_specs(self, node: cst.BaseExpression) -> List[cst.Dict]:
        """The experiment spec dicts (``{"run": ..., "config": ...}``) of a ``run_experiments`` argument."""
        values = [node]
        if isinstance(node, cst.Name):
            values = self.flow._values(node.value, self.survey.scope.get(id(node), id(self.survey.module)))
        return [
            e.value for v in values if isinstance(v, cst.Dict) for e in v.elements
            if isinstance(e, cst.DictElement) and isinstance(e.value, cst.Dict) and _dict_entry(e.value, "run") is not None
        ]

    def _trainable(self, node: Optional[cst.BaseExpression], seen: Optional[Set[int]] = None) -> Optional[str]:
        """What a Tune trainable runs: an RLlib algorithm name (``"PPO"``), ``"ours"`` (an
        ``X.as_trainable()``), ``"the custom trainer X"`` / ``"trainable 'x'"``, or ``None``
        when the file does not say (``args.run``)."""
        seen = set() if seen is None else seen
        if node is None or id(node) in seen:
            return None
        seen.add(id(node))
        text = _string(node)
        if text is not None:
            return _algorithm(text.split("/")[-1]) or f"trainable {text!r}"
        if isinstance(node, cst.Call):
            path = dotted(node.func)
            last = path.split(".")[-1] if path else ""
            if last == "as_trainable":
                return "ours"
            if last == "get_trainable_cls" and node.args:
                return self._trainable(node.args[0].value, seen)
            if last in ("build_trainer", "build_algorithm", "with_updates"):
                return f"the custom trainer built by {last}(...)"
            return None
        if isinstance(node, cst.Name):
            if self.flow._is_trainer_class(node.value):
                return f"the custom trainer {node.value}"
            values = self.flow._values(node.value, self.survey.scope.get(id(node), id(self.survey.module)))
            if values:
                found = {self._trainable(v, seen) for v in values}
                return found.pop() if len(found) == 1 else None
        if isinstance(node, (cst.Name, cst.Attribute)):
            return trainer_algorithm(self._resolve(dotted(node)))
        return None

    def _plan_tune(self, module: cst.Module, rewrite: bool) -> bool:
        """Decide each Tune run (``rewrite``: the file's trainers may be rewritten); ``True``
        when one is rewritten."""
        if self.rllib:  # RLlib's trainables read RLlib 2.60 configs: nothing to do
            return False
        pending: List[Tuple[_TuneRun, Optional[str]]] = []
        rewritten = False
        for run in self._tune_runs(module):
            algorithm = self._trainable(run.trainable)
            if algorithm == "ours":
                continue
            if rewrite and algorithm in ALGORITHM_CLASSES and run.trainable is not None and run.config is not None:
                rewritten |= self._plan_run(run, algorithm)
            else:
                pending.append((run, algorithm))
        for run, algorithm in pending:  # after every rewrite: which configs are ours is known
            if run.config is not None and self._is_ours(run.config):
                self._flag_run(run, algorithm)
        return rewritten

    def _plan_run(self, run: _TuneRun, algorithm: str) -> bool:
        """A Tune run of PPO / IMPALA / APPO / BC given a config: rewritten when the config
        is visible or a config object; ``True`` when it is."""
        statement = self.survey.statement_of(run.site)
        found = self._config_of(run.config)
        visible = found.visible and bool(found.dicts or found.defaults)
        if not visible and not self._is_config_object(run.config):
            return False  # a config the file does not show: RLlib's algorithm reads it as before
        mismatch = sorted({a for _, a in found.defaults if a != algorithm})
        if mismatch:
            self.flag(
                f"this Tune run of {algorithm} is given {' / '.join(mismatch)}'s DEFAULT_CONFIG: not rewritten; run "
                f"{ALGORITHM_CLASSES[algorithm]}.as_trainable() with {self.t.configs[algorithm][1]}().to_dict() "
                "updated with its settings",
                ANCHOR_TUNE, statement,
            )
            return False
        cls = ALGORITHM_CLASSES[algorithm]
        module = self.t.configs[algorithm][0]
        self.trainables[id(run.trainable)] = cls
        named = run.trainable.func if isinstance(run.trainable, cst.Call) else run.trainable  # get_trainable_cls(...)
        if dotted(named):
            self.handled_names.add(dotted(named).split(".")[0])
        bound = self.survey.imports.get(cls)
        if bound is None or not (bound == f"{module}.{cls}" or trainer_algorithm(bound) == algorithm):
            self.needed[cls] = (module, cls)  # else the imports rule sends the legacy import of it to ours
        self._plan_config(found)
        self._plan_stop(run, statement)
        return True

    def _plan_stop(self, run: _TuneRun, statement: Optional[cst.CSTNode]) -> None:
        """Legacy result keys of a ``stop`` dict literal and of ``metric`` strings -> ours."""
        keys = [e.key for e in run.stop.elements if isinstance(e, cst.DictElement)] if isinstance(run.stop, cst.Dict) else []
        if run.stop is not None and not isinstance(run.stop, cst.Dict):
            self.flag(
                "Tune's stopping criteria name this project's result keys, nested with '/' "
                "('env_runners/episode_return_mean' for episode_reward_mean, 'num_env_steps_sampled' for timesteps_total): "
                "check the keys of this stop",
                ANCHOR_TUNE, statement,
            )
        for key in [*keys, *run.metrics]:
            text = _string(key)
            if not isinstance(key, cst.SimpleString) or text is None or text in _TUNE_RESULT_KEYS:
                continue
            path = self._result_path(text.split("/"))
            if path is None:
                self.flag(
                    f"result key {text!r} has no equivalent in {self.t.stack} results (see the result key table)",
                    ANCHOR, statement,
                )
            elif path is not _KEEP:
                self.renamed_keys[id(key)] = "/".join(path)

    def _is_config_object(self, node: cst.BaseExpression) -> bool:
        """A config object chain (``PPOConfig()...``), or its ``to_dict()``."""
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "to_dict" \
                and not node.args:
            node = node.func.value
        return _is_config_object(node, self)

    def _is_ours(self, config: cst.BaseExpression) -> bool:
        """Whether a config is written for this project's algorithms: rewritten for a
        trainer or Tune run here, given a module spec by the ``configs`` rule, or a config object."""
        if self._is_config_object(config):
            return True
        found = self._config_of(config)
        if any(id(n) in self.rewritten_configs for n in [*found.dicts, *(r for r, _ in found.defaults)]):
            return True
        if any(_binding(n, self.survey) in self.rewritten_names for n in found.names):
            return True
        if any(_dict_entry(d, "rl_module_spec") is not None for d in found.dicts):
            return True
        scopes = {(self.survey.scope.get(id(n)), n.value) for n in found.names}
        return bool(scopes & self.survey.spec_items)

    def _flag_run(self, run: _TuneRun, algorithm: Optional[str]) -> None:
        call = self.survey.module.code_for_node(run.site.func) if isinstance(run.site, cst.Call) else "tune.run"
        how = f"{call}(<Algo>.as_trainable(), ...) with <Algo> PPO, IMPALA, APPO or BC from rlmodule.algorithms.<algo>"
        if isinstance(run.site, cst.Dict):
            how = '"run": <Algo>.as_trainable() with <Algo> PPO, IMPALA, APPO or BC from rlmodule.algorithms.<algo>'
        if algorithm is None or algorithm == "ours":
            why = "the codemod cannot tell what this trainable runs (picked at run time, or defined elsewhere)"
        elif algorithm in RLLIB_ALGORITHMS:
            why = f"{algorithm} is not available on this project's stack (PPO, IMPALA, APPO, BC); ray's RLlib runs it"
        else:
            why = f"{algorithm} runs on ray's RLlib"
        self.flag(
            f"{why}, but this config is written for this project's algorithms (new key names, module specs), which "
            f"RLlib's trainables cannot read: run it as {how} (or keep a legacy config for RLlib)",
            ANCHOR_TUNE, self.survey.statement_of(run.site),
        )

    # -- config keys -----------------------------------------------------------------------
    def _plan_keys(self, found: _Config) -> None:
        for dict_node in found.dicts:
            self._plan_dict(dict_node)
        bindings = {(self.survey.scope.get(id(n)), n.value): n for n in found.names}
        for (scope, name), node in bindings.items():
            for load in self.flow._loads(name, scope):
                self._plan_load(load)

    def _plan_dict(self, node: cst.Dict) -> None:
        keys = {_string(e.key) for e in node.elements if isinstance(e, cst.DictElement)}
        missing: List[str] = []
        for element in node.elements:
            if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
                continue
            key = _string(element.key)
            if key in self.t.legacy_keys and self.t.legacy_keys[key] not in keys:
                self.renamed_keys[id(element.key)] = self.t.legacy_keys[key]
            elif key == "multiagent" and self.rllib:
                continue  # RLlib 2.60's update_from_dict reads it (multi_agent(**it))
            elif key == "multiagent" and _hoistable(element.value) and not keys & {"policies", "policy_mapping_fn"}:
                self.renamed_dicts.add(id(element))
            elif key == "multiagent":
                self._flag_multiagent(node)
            elif key in self.t.without_equivalent:
                missing.append(key)
        self._flag_missing(missing, node)

    def _plan_load(self, load: cst.Name) -> None:
        parent = self.survey.parent.get(id(load))
        if type(parent) is cst.Subscript and parent.value is load:
            key_node = _key_node(parent)
            key = _string(key_node)
            if key in self.t.legacy_keys and isinstance(key_node, cst.SimpleString):
                self.renamed_keys[id(key_node)] = self.t.legacy_keys[key]
            elif key == "multiagent":
                outer = self.survey.parent.get(id(parent))
                inner = _string(_key_node(outer)) if type(outer) is cst.Subscript and outer.value is parent else None
                if inner in ("policies", "policy_mapping_fn"):
                    self.flattened_items[id(outer)] = inner
                elif not _assigned_hoistable(self.survey, parent) and not self.rllib:  # RLlib reads any multiagent dict
                    self._flag_multiagent(parent)
            elif key in self.t.without_equivalent:
                self._flag_missing([key], parent)
        elif type(parent) is cst.Attribute and parent.value is load and parent.attr.value == "update":
            call = self.survey.parent.get(id(parent))
            if type(call) is cst.Call and len(call.args) == 1 and isinstance(call.args[0].value, cst.Dict):
                self._plan_dict(call.args[0].value)

    def _flag_multiagent(self, node: cst.CSTNode) -> None:
        self.flag(
            "from_dict reads this legacy multiagent dict (a DeprecationWarning) only when it holds policies and "
            "policy_mapping_fn, the policies without a policy class or config: give per-policy models as "
            "rl_module_spec=MultiAgentRLModuleSpec(...) and make policies / policy_mapping_fn top-level keys",
            ANCHOR, self.survey.statement_of(node),
        )

    def _flag_missing(self, keys: List[str], node: cst.CSTNode) -> None:
        if not keys:
            return
        shown = ", ".join(dict.fromkeys(keys))
        if self.rllib:
            instead = "; ".join(f"{k}: {rllib.INSTEAD[k]}" for k in dict.fromkeys(keys) if k in rllib.INSTEAD)
            reason = (
                "on RLlib 2.60's new API stack (from_dict sets it and nothing reads it, or validate() refuses it)"
                + (f"; instead - {instead}" if instead else "")
            )
        else:
            reason = "here (from_dict raises KeyError saying what to do instead)"
        self.flag(
            f"legacy config key{'s' if len(keys) > 1 else ''} {shown} {'have' if len(keys) > 1 else 'has'} no "
            f"equivalent {reason}",
            ANCHOR, self.survey.statement_of(node),
        )

    # -- results ------------------------------------------------------------------------
    def _plan_results(self) -> None:
        survey = self.survey
        trainers = self._bindings(lambda v: id(v) in self.calls or id(v) in self.ours)
        results = self._bindings(lambda v: _train_call_on(v, trainers, survey))
        for (scope, name) in trainers:
            for load in self.flow._loads(name, scope):
                self._plan_method(load)
        names = {name for _, name in results | trainers}
        # results of a .train() not tied to a rewritten trainer (a trainer passed in, an attribute)
        others = self._bindings(_any_train_call) - results
        other_names = {name for _, name in others}
        for node in walk(survey.module):
            if type(node) is cst.Subscript and not _inner_subscript(survey, node):
                base, keys = _chain(node)
                if not keys:  # a slice or several indices: no result key
                    continue
                if names & used_names(base) and _is_result(base, results, trainers, survey):
                    self._plan_chain(node, keys)
                elif _string(keys[0]) in self.t.result_keys and _is_other_result(base, others, other_names, survey):
                    self._flag_untied(node, base, _string(keys[0]))
            elif type(node) is cst.Call and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get":
                key = _string(node.args[0].value) if node.args else None
                if key in self.t.result_keys and _is_result(node.func.value, results, trainers, survey):
                    if self.t.result_keys[key] is None:
                        self.flag(
                            f"result key {key!r} has no equivalent in {self.t.stack} results (see the result key table)",
                            ANCHOR, survey.statement_of(node),
                        )
                    else:
                        self.result_gets[id(node)] = self.t.result_keys[key]
                elif key in self.t.result_keys and _is_other_result(node.func.value, others, other_names, survey):
                    self._flag_untied(node, node.func.value, key)

    def _flag_untied(self, node: cst.CSTNode, result: cst.BaseExpression, key: str) -> None:
        """A TODO on a lookup of legacy result key ``key`` in ``result`` (as written)."""
        new = "".join(f'["{k}"]' for k in self.t.result_keys[key] or ("<no equivalent>",))
        self.flag(
            f"{key!r} is a legacy result key, read from a .train() this rule could not tie to a rewritten trainer "
            f"(one passed in or held by an attribute): if it is one of this file's trainers, read "
            f"{self.survey.module.code_for_node(result)}{new}",
            ANCHOR,
            self.survey.statement_of(node),
        )

    def _bindings(self, test) -> Set[Tuple[int, str]]:
        """``(scope, name)`` of the names whose every assigned value passes ``test``."""
        found = set()
        for (scope, name), values in self.survey.assigned.items():
            if values and all(test(v) for v in values) and not _rebound(self.survey, scope, name):
                found.add((scope, name))
        return found

    def _plan_method(self, load: cst.Name) -> None:
        parent = self.survey.parent.get(id(load))
        if type(parent) is not cst.Attribute or parent.value is not load:
            return
        attr = parent.attr.value
        call = self.survey.parent.get(id(parent))
        statement = self.survey.statement_of(load)
        if attr == "save" and type(call) is cst.Call and call.func is parent and not call.args and not self.rllib:
            self.flag(f"{load.value}.save() needs a directory here: {load.value}.save(checkpoint_dir)", ANCHOR, statement)
        elif attr not in self.t.algorithm_api:
            advice = self.t.method_todos.get(
                attr, "RLlib 2.60's Algorithm has train, evaluate, save_to_path, restore_from_path, stop, get_module"
                if self.rllib else "this project's Algorithm has train, evaluate, save, restore, stop, get_module",
            )
            self.flag(f"{load.value}.{attr} is legacy Trainer API: {advice.format(t=load.value)}", ANCHOR, statement)

    def _mapped(self, key: str, rest: Sequence[cst.BaseExpression]) -> Optional[List[Union[str, cst.BaseExpression]]]:
        """The new key path of legacy result key ``key`` followed by ``rest`` (``None``: none)."""
        path = self.t.result_keys[key]
        return None if path is None else [*path, *rest]

    def _plan_chain(self, node: cst.Subscript, keys: List[cst.BaseExpression]) -> None:
        new = self._result_path(keys)
        if new is _KEEP:
            return
        if new is None:
            self.flag(
                f"result key path {_shown([_string(k) for k in keys])} of a legacy trainer result has no equivalent in "
                f"{self.t.stack} results (see the result key table)",
                ANCHOR, self.survey.statement_of(node),
            )
            return
        self.result_chains[id(node)] = new

    def _result_path(self, keys: Sequence[Union[str, cst.BaseExpression]]):
        """The key path of this project's results for a legacy result key path (keys as
        strings or expressions): a list, ``None`` when it has no equivalent, ``_KEEP`` when
        it is one of ours (or not a string)."""
        texts = [k if isinstance(k, str) else _string(k) for k in keys]
        first = texts[0]
        new: Optional[List[Union[str, cst.BaseExpression]]] = None
        if first in self.t.result_keys:
            new = self._mapped(first, keys[1:])
        elif first in ("sampler_results", "evaluation") and len(keys) > 1 and texts[1] in self.t.result_keys:
            mapped = self._mapped(texts[1], keys[2:])
            new = mapped if first == "sampler_results" or mapped is None else ["evaluation", *mapped]
        elif first == "info" and len(keys) > 1:
            if texts[1] in ("num_steps_sampled", "num_steps_trained", "num_env_steps_sampled", "num_env_steps_trained"):
                new = self._mapped(texts[1], keys[2:])
            elif texts[1] == "learner" and len(keys) > 3:
                stats = keys[4:] if texts[3] == "learner_stats" else keys[3:]
                stat = stats[0] if stats and isinstance(stats[0], str) else _string(stats[0]) if stats else None
                if stat in self.t.learner_stats:
                    new = ["learners", keys[2], self.t.learner_stats[stat], *stats[1:]]
        elif first in self.t.new_result_keys or first is None:
            return _KEEP
        return new

    # -- ray.init / ray.shutdown ----------------------------------------------------------
    def _plan_ray_calls(self, module: cst.Module) -> None:
        calls = []
        for node in walk(module):
            if type(node) is cst.Name and node.value == "ray":
                parent = self.survey.parent.get(id(node))
                if type(parent) is not cst.Attribute or parent.value is not node:
                    if type(parent) in (cst.ImportAlias, cst.AsName) or _in_import(self.survey, node):
                        continue
                    return  # ray itself used (passed, ...)
                attr = parent.attr.value
                if attr == "rllib":
                    continue
                call = self.survey.parent.get(id(parent))
                expr = self.survey.parent.get(id(call))
                if attr not in ("init", "shutdown") or type(call) is not cst.Call or type(expr) is not cst.Expr:
                    return
                if attr == "init" and any(a.keyword is None or a.keyword.value == "address" for a in call.args):
                    return
                calls.append(call)
        for name, origin in self.survey.imports.items():
            if origin.startswith("ray.") and not origin.startswith("ray.rllib.") and origin != "ray.tune.logger.pretty_print":
                if self.survey.load_scopes.get(name):
                    return  # Tune, ray.air, ...: Ray stays
        self.ray_calls.update(id(c) for c in calls)

    # -- the rewrite ------------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        key = id(original_node)
        if key in self.trainables:
            return self._as_trainable(original_node, updated_node)
        if key in self.calls:
            algorithm, config, env = self.calls[key]
            config_class = cst.Name(self.t.configs[algorithm][1])
            if config is not None:
                new_config = _updated_arg(original_node, updated_node, config)
                built: cst.BaseExpression = cst.Call(cst.Attribute(config_class, cst.Name("from_dict")), [cst.Arg(new_config)])
            else:
                built = cst.Call(config_class)
            if env is not None:
                built = cst.Call(cst.Attribute(built, cst.Name("environment")), [cst.Arg(_updated_arg(original_node, updated_node, env))])
            self.changed()
            return cst.Call(cst.Attribute(built, cst.Name(self.t.build)), lpar=updated_node.lpar, rpar=updated_node.rpar)
        if key in self.unwrapped:
            self.changed()
            return updated_node.args[0].value.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar) \
                if updated_node.lpar else updated_node.args[0].value
        if key in self.result_gets:
            path = self.result_gets[key]
            quote = _quote(original_node.args[0].value)
            receiver = _subscripts(updated_node.func.value, list(path[:-1]), quote)
            first = updated_node.args[0].with_changes(value=cst.SimpleString(f"{quote}{path[-1]}{quote}"))
            self.changed()
            return updated_node.with_changes(
                func=updated_node.func.with_changes(value=receiver), args=[first, *updated_node.args[1:]]
            )
        if isinstance(original_node.func, cst.Attribute) and original_node.func.attr.value == "copy" and not original_node.args \
                and id(original_node.func.value) in self.replaced_defaults:
            return updated_node.func.value  # DEFAULT_CONFIG.copy() -> <X>Config().to_dict()
        return updated_node

    def _default_config(self, original: cst.CSTNode) -> Optional[cst.BaseExpression]:
        algorithm = self.replaced_defaults.get(id(original))
        if algorithm is None:
            return None
        self.changed()
        return cst.Call(cst.Attribute(cst.Call(cst.Name(self.t.configs[algorithm][1])), cst.Name("to_dict")))

    def _as_trainable(self, original: cst.BaseExpression, updated: cst.BaseExpression) -> cst.BaseExpression:
        """A Tune trainable -> ``<Algo>.as_trainable()`` (``None``: not one to rewrite)."""
        cls = self.trainables.get(id(original))
        if cls is None:
            return None
        self.changed()
        return cst.Call(cst.Attribute(cst.Name(cls), cst.Name("as_trainable")), lpar=updated.lpar, rpar=updated.rpar)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self._as_trainable(original_node, updated_node) or self._default_config(original_node) or updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        return self._as_trainable(original_node, updated_node) or self._default_config(original_node) or updated_node

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString) -> cst.BaseExpression:
        trainable = self._as_trainable(original_node, updated_node)
        if trainable is not None:
            return trainable
        new = self.renamed_keys.get(id(original_node))
        if new is None:
            return updated_node
        self.changed()
        quote = _quote(original_node)
        return updated_node.with_changes(value=f"{quote}{new}{quote}")

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        key = id(original_node)
        if key in self.flattened_items:  # config["multiagent"]["policies"] -> config["policies"]
            self.changed()
            return updated_node.with_changes(value=updated_node.value.value)
        if key not in self.result_chains:
            return updated_node
        base, keys = _chain(updated_node)
        original_keys = _chain(original_node)[1]
        quote = _quote(original_keys[0])
        by_id = {id(o): u for o, u in zip(original_keys, keys)}
        path = [k if isinstance(k, str) else by_id.get(id(k), k) for k in self.result_chains[key]]
        self.changed()
        return _subscripts(base, path, quote).with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_Dict(self, original_node: cst.Dict, updated_node: cst.Dict) -> cst.Dict:
        if not any(id(e) in self.renamed_dicts for e in original_node.elements):
            return updated_node
        elements: List[cst.BaseDictElement] = []
        for original, element in zip(original_node.elements, updated_node.elements):
            if id(original) not in self.renamed_dicts:
                elements.append(element)
                continue
            inner = list(element.value.elements)
            for index, item in enumerate(inner):
                last = index == len(inner) - 1
                comma = element.comma if last else (item.comma if isinstance(item.comma, cst.Comma) else cst.Comma(
                    whitespace_after=cst.SimpleWhitespace(" ")))
                elements.append(item.with_changes(comma=comma))
        self.changed()
        return updated_node.with_changes(elements=elements)

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if not self.ray_calls:
            return updated_node
        kept = [
            new for old, new in zip(original_node.body, updated_node.body)
            if not (isinstance(old, cst.Expr) and id(old.value) in self.ray_calls)
        ]
        if len(kept) == len(updated_node.body):
            return updated_node
        if not kept:
            return self.remove(updated_node)
        kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        self.changed()
        return updated_node.with_changes(body=kept)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.needed:
            return updated_node
        used = used_names(updated_node)
        drop = {name for name in self.handled_names if name not in used}
        if self.ray_calls and "ray" not in used:
            drop.add("ray")
        rewriter = _ImportRewriter(self.context, self.name, drop, list(self.needed.values()))
        module = updated_node.visit(rewriter)
        missing = [(m, n, None) for m, n in self.needed.values() if (m, n) not in rewriter.placed]
        return add_imports(module, missing) if missing else module


class _ImportRewriter(TodoTransformer):
    """Drops the imports of the names the rewrite no longer uses (``drop``) and puts
    the config imports where the first of those lines was."""

    descend_only = SKELETON

    def __init__(self, context: FileContext, rule_name: str, drop: Set[str], needed: List[Tuple[str, str]]) -> None:
        super().__init__(context, rule_name)
        self.drop, self.needed = drop, needed
        self.placed: Set[Tuple[str, str]] = set()

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], (cst.Import, cst.ImportFrom)):
            return updated_node
        statement = updated_node.body[0]
        specs = bound_imports(statement)
        gone = [s for s in specs if bound_name(s) in self.drop and (s[0] in ("ray", "ray.tune.registry") or s[0].startswith("ray.rllib"))]
        if not gone:
            return updated_node
        self.changed()
        legacy = any(s[0].startswith("ray.rllib") for s in gone)
        new = [spec for spec in self.needed if spec not in self.placed] if legacy else []
        self.placed.update(new)
        names = [a for a, s in zip(statement.names, specs) if s not in gone]
        lines = []
        if names:
            names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            lines.append(updated_node.with_changes(body=[statement.with_changes(names=names)]))
        for module, name in new:
            line = cst.SimpleStatementLine([cst.ImportFrom(cst.parse_expression(module), [cst.ImportAlias(cst.Name(name))])])
            lines.append(line.with_changes(leading_lines=updated_node.leading_lines) if not lines else line)
        if not lines:
            return self.remove(updated_node)
        return lines[0] if len(lines) == 1 else cst.FlattenSentinel(lines)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _keyword(call: cst.Call, keyword: str) -> Optional[cst.BaseExpression]:
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == keyword), None)


def _in_import(survey: _Survey, node: cst.CSTNode) -> bool:
    current = survey.parent.get(id(node))
    while current is not None and type(current) not in (cst.SimpleStatementLine, cst.Module):
        if type(current) in (cst.Import, cst.ImportFrom):
            return True
        current = survey.parent.get(id(current))
    return False


def _is_config_object(node: Optional[cst.BaseExpression], rule: TrainingScripts) -> bool:
    """Whether a config expression is visibly an AlgorithmConfig (a ``<X>Config()`` chain)."""
    if node is None:
        return False
    values = [node]
    if isinstance(node, cst.Name):
        values = rule.flow._values(node.value, rule.survey.scope.get(id(node), id(rule.survey.module))) or [node]
    for value in values:
        root = value
        while isinstance(root, cst.Call) and isinstance(root.func, cst.Attribute):
            root = root.func.value
        if not (isinstance(root, cst.Call) and dotted(root.func).split(".")[-1].endswith("Config")):
            return False
    return True


def _assigned_hoistable(survey: _Survey, subscript: cst.Subscript) -> bool:
    """``config["multiagent"] = {...}`` with a dict ``from_dict`` reads (see ``_hoistable``)."""
    target = survey.parent.get(id(subscript))
    assign = survey.parent.get(id(target))
    return type(target) is cst.AssignTarget and type(assign) is cst.Assign and _hoistable(assign.value)


def _hoistable(value: cst.BaseExpression) -> bool:
    """A legacy ``multiagent`` dict literal holding only ``policies`` (ids, or specs without a
    policy class or config) and ``policy_mapping_fn``."""
    if not isinstance(value, cst.Dict) or not value.elements:
        return False
    for element in value.elements:
        if not isinstance(element, cst.DictElement) or _string(element.key) not in ("policies", "policy_mapping_fn"):
            return False
        if _string(element.key) == "policies":
            policies = element.value
            if isinstance(policies, (cst.Set, cst.List, cst.Tuple)):
                continue
            if not isinstance(policies, cst.Dict) or not all(
                isinstance(e, cst.DictElement) and _trivial_spec(e.value) for e in policies.elements
            ):
                return False
    return True


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _trivial_spec(value: cst.BaseExpression) -> bool:
    """``None``, ``PolicySpec()`` or ``(None, obs_space, act_space, {} or None)``."""
    if _is_none(value):
        return True
    if isinstance(value, cst.Call) and dotted(value.func).endswith("PolicySpec"):
        return not value.args
    if isinstance(value, cst.Tuple) and len(value.elements) == 4:
        config = value.elements[3].value
        return _is_none(value.elements[0].value) and (_is_none(config) or (isinstance(config, cst.Dict) and not config.elements))
    return False


def _key_node(subscript: cst.Subscript) -> Optional[cst.BaseExpression]:
    if len(subscript.slice) == 1 and isinstance(subscript.slice[0].slice, cst.Index):
        return subscript.slice[0].slice.value
    return None


def _chain(node: cst.BaseExpression) -> Tuple[cst.BaseExpression, List[cst.BaseExpression]]:
    """``base[k1][k2]...`` -> ``(base, [k1, k2, ...])`` (single-index subscripts only)."""
    keys: List[cst.BaseExpression] = []
    while isinstance(node, cst.Subscript) and _key_node(node) is not None:
        keys.insert(0, _key_node(node))
        node = node.value
    return node, keys


def _inner_subscript(survey: _Survey, node: cst.Subscript) -> bool:
    parent = survey.parent.get(id(node))
    return type(parent) is cst.Subscript and parent.value is node


def _rebound(survey: _Survey, scope: int, name: str) -> bool:
    """Whether ``name`` is bound otherwise in ``scope`` (cached on the survey)."""
    cache = survey.__dict__.setdefault("_rebound", {})
    if (scope, name) not in cache:
        cache[(scope, name)] = _bound_otherwise(survey, scope, name)
    return cache[(scope, name)]


def _bound_otherwise(survey: _Survey, scope: int, name: str) -> bool:
    """Whether ``name`` is also bound otherwise in ``scope`` (a loop target, ``with ... as``,
    an augmented assignment, a parameter, ``global``...): then its values are not known."""
    function = survey.functions.get(scope)
    body = function if function is not None else survey.module
    for node in walk(body):
        kind = type(node)
        if kind in (cst.For, cst.CompFor) and name in used_names(node.target):
            return True
        if kind is cst.AsName and isinstance(node.name, cst.Name) and node.name.value == name:
            return True
        if kind is cst.AugAssign and isinstance(node.target, cst.Name) and node.target.value == name:
            return True
        if kind is cst.Param and node.name.value == name and node is not None and survey.scope.get(id(node)) == scope:
            return True
        if kind in (cst.Global, cst.Nonlocal) and any(n.name.value == name for n in node.names):
            return True
        if kind is cst.NamedExpr and isinstance(node.target, cst.Name) and node.target.value == name:
            return True
    return False


def _train_call_on(value: cst.BaseExpression, trainers: Set[Tuple[int, str]], survey: _Survey) -> bool:
    """``t.train()`` on a name bound to rewritten trainers only."""
    if not (isinstance(value, cst.Call) and not value.args and isinstance(value.func, cst.Attribute)):
        return False
    if value.func.attr.value != "train" or not isinstance(value.func.value, cst.Name):
        return False
    return _binding(value.func.value, survey) in trainers


def _binding(name: cst.Name, survey: _Survey) -> Tuple[int, str]:
    """``(scope, name)`` of the assignments a read of ``name`` sees."""
    scope = survey.scope.get(id(name), id(survey.module))
    if (scope, name.value) in survey.assigned or _rebound(survey, scope, name.value):
        return scope, name.value
    return id(survey.module), name.value


def _any_train_call(value: cst.BaseExpression) -> bool:
    """``x.train()`` on anything."""
    return (
        isinstance(value, cst.Call) and not value.args and isinstance(value.func, cst.Attribute)
        and value.func.attr.value == "train"
    )


def _is_other_result(base: cst.BaseExpression, others: Set[Tuple[int, str]], names: Set[str], survey: _Survey) -> bool:
    """``base`` is a name bound only to ``.train()`` results of ``others``, or a ``.train()`` call."""
    if isinstance(base, cst.Name):
        return base.value in names and _binding(base, survey) in others
    return _any_train_call(base)


def _is_result(base: cst.BaseExpression, results, trainers, survey: _Survey) -> bool:
    if isinstance(base, cst.Name):
        return _binding(base, survey) in results
    return _train_call_on(base, trainers, survey)


def _quote(node: Optional[cst.BaseExpression]) -> str:
    if isinstance(node, cst.SimpleString):
        prefix = node.prefix
        return node.value[len(prefix)] if node.value[len(prefix):len(prefix) + 3] not in ('"""', "'''") else '"'
    return '"'


def _subscripts(base: cst.BaseExpression, path: Sequence[Union[str, cst.BaseExpression]], quote: str) -> cst.BaseExpression:
    for key in path:
        index = cst.SimpleString(f"{quote}{key}{quote}") if isinstance(key, str) else key
        base = cst.Subscript(base, [cst.SubscriptElement(cst.Index(index))])
    return base


def _shown(texts: Sequence[Optional[str]]) -> str:
    return "".join(f"[{t!r}]" if t is not None else "[...]" for t in texts)


def _updated_arg(original: cst.Call, updated: cst.Call, value: cst.BaseExpression) -> cst.BaseExpression:
    """The updated node of argument value ``value`` of ``original``."""
    for old, new in zip(original.args, updated.args):
        if old.value is value:
            return new.value
    raise ValueError("argument not found")
