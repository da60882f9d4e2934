"""What ``rlmigrate migrate --target rllib`` writes: RLlib 2.60's new API stack names.

Pure data (stdlib only). The ``configs``, ``training_scripts`` and ``imports`` rules read
these tables when ``FileContext.target == "rllib"``; the default target uses the tables
of those rules (this project's algorithms). Every name here was read off the installed
``ray[rllib]==2.60.0`` (``AlgorithmConfig.update_from_dict``, ``_translate_special_keys``,
the deprecation properties, a ``PPO.train()`` result).
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Optional, Tuple

#: Algorithm -> (module, config class) of RLlib 2.60 (the algorithms the adapter serves).
CONFIGS: Dict[str, Tuple[str, str]] = {
    "PPO": ("ray.rllib.algorithms.ppo", "PPOConfig"),
    "IMPALA": ("ray.rllib.algorithms.impala", "IMPALAConfig"),
    "APPO": ("ray.rllib.algorithms.appo", "APPOConfig"),
    "BC": ("ray.rllib.algorithms.bc", "BCConfig"),
}
#: Where the adapter and the spec classes come from.
ADAPTER_MODULE = "compat.rllib"
SPEC_MODULE = "ray.rllib.core.rl_module.rl_module"
MULTI_SPEC_MODULE = "ray.rllib.core.rl_module.multi_rl_module"
#: The adapter class for an algorithm: APPO's learner needs ``TargetNetworkAPI``.
ADAPTERS: Dict[str, str] = {"APPO": "RLlibTargetAdapter"}
DEFAULT_ADAPTER = "RLlibAdapter"
#: The dict key ``AlgorithmConfig.to_dict()`` writes the spec under and
#: ``update_from_dict`` (hence ``from_dict``, Tune and ``Algorithm(config=dict)``) reads
#: back (``rl_module_spec`` is a read-only property there).
SPEC_DICT_KEY = "_rl_module_spec"
#: Legacy model kinds RLlib's new stack cannot run (it has no TF), and why.
UNADAPTABLE_KINDS: Dict[str, str] = {
    "tf": "a TF model: RLlib 2.60's new API stack runs torch RLModules only",
    "tf_builtin": "a TF model: RLlib 2.60's new API stack runs torch RLModules only",
    "tf_recurrent": "a TF model: RLlib 2.60's new API stack runs torch RLModules only",
}


def adapter_for(algorithms) -> str:
    """The adapter class for a config going to ``algorithms`` (a set of RLlib names)."""
    found = {ADAPTERS.get(a, DEFAULT_ADAPTER) for a in algorithms}
    return found.pop() if len(found) == 1 else DEFAULT_ADAPTER


#: Legacy config keys -> RLlib 2.60's (dict keys and builder keywords). Keys RLlib 2.60
#: translates itself (``lambda``, ``input``, ``framework``, ``create_env_on_driver``,
#: ``num_cpus_for_driver``, ``callbacks``) stay; ``num_workers`` is renamed anyway (one
#: spelling in the output).
LEGACY_KEYS: Dict[str, str] = {
    "num_workers": "num_env_runners",
    "num_rollout_workers": "num_env_runners",
    "num_envs_per_worker": "num_envs_per_env_runner",
    "sgd_minibatch_size": "minibatch_size",  # a dict key RLlib 2.60 would set and ignore
    "num_sgd_iter": "num_epochs",
    "num_gpus_per_worker": "num_gpus_per_env_runner",
    "num_cpus_per_worker": "num_cpus_per_env_runner",
    "custom_resources_per_worker": "custom_resources_per_env_runner",
    "ignore_worker_failures": "ignore_env_runner_failures",
    "recreate_failed_workers": "restart_failed_env_runners",
    "evaluation_num_workers": "evaluation_num_env_runners",
    "evaluation_num_episodes": "evaluation_duration",
    "metrics_smoothing_episodes": "metrics_num_episodes_for_smoothing",
    "min_iter_time_s": "min_time_s_per_iteration",
    "timesteps_per_iteration": "min_sample_timesteps_per_iteration",
    # the new stack takes a schedule ([[timestep, value], ...]) in the setting itself
    "lr_schedule": "lr",
    "entropy_coeff_schedule": "entropy_coeff",
}
#: Legacy keys RLlib 2.60's new API stack has no equivalent for (set and ignored, or
#: refused by ``validate()``): a TODO each.
LEGACY_KEYS_WITHOUT_EQUIVALENT: FrozenSet[str] = frozenset({
    "horizon", "soft_horizon", "no_done_at_end", "sample_async", "logger_config", "shuffle_sequences",
    "vf_share_layers", "simple_optimizer", "synchronize_filters", "exploration_config", "num_gpus",
    "observation_filter", "preprocessor_pref",
})
#: What a TODO on a key of ``LEGACY_KEYS_WITHOUT_EQUIVALENT`` says to do instead.
INSTEAD: Dict[str, str] = {
    "num_gpus": ".learners(num_gpus_per_learner=...)",
    "exploration_config": "the module's forward_exploration",
    "observation_filter": "an env-to-module connector (MeanStdFilter)",
    "vf_share_layers": "the module's model config",
}
#: Builder methods RLlib 2.60 renamed.
METHODS: Dict[str, str] = {"rollouts": "env_runners"}

#: Legacy result keys -> the key path in RLlib 2.60's ``Algorithm.train()`` result
#: (``None``: no equivalent on the new stack).
RESULT_KEYS: Dict[str, Optional[Tuple[str, ...]]] = {
    "episode_reward_mean": ("env_runners", "episode_return_mean"),
    "episode_reward_max": ("env_runners", "episode_return_max"),
    "episode_reward_min": ("env_runners", "episode_return_min"),
    "episode_len_mean": ("env_runners", "episode_len_mean"),
    "episodes_this_iter": ("env_runners", "num_episodes"),
    "episodes_total": ("env_runners", "num_episodes_lifetime"),
    "policy_reward_mean": ("env_runners", "module_episode_return_mean"),
    "timesteps_total": ("num_env_steps_sampled_lifetime",),
    "timesteps_this_iter": ("env_runners", "num_env_steps_sampled"),
    "num_env_steps_sampled": ("num_env_steps_sampled_lifetime",),
    "num_steps_sampled": ("num_env_steps_sampled_lifetime",),
    "num_env_steps_trained": ("learners", "__all_modules__", "num_env_steps_trained_lifetime"),
    "num_steps_trained": ("learners", "__all_modules__", "num_env_steps_trained_lifetime"),
    "training_iteration": ("training_iteration",),
    "time_this_iter_s": ("time_this_iter_s",),
    "time_total_s": ("time_total_s",),
    "custom_metrics": None,
}
#: Keys RLlib 2.60's results have already (left as they are).
NEW_RESULT_KEYS: FrozenSet[str] = frozenset({
    "env_runners", "learners", "evaluation", "timers", "num_env_steps_sampled_lifetime", "fault_tolerance",
    "env_runner_group", "num_training_step_calls_per_iteration", "config", "done",
})
#: Legacy learner stats -> RLlib 2.60's (``result["learners"][module_id][...]``).
LEARNER_STATS: Dict[str, str] = {
    "total_loss": "total_loss", "policy_loss": "policy_loss", "vf_loss": "vf_loss", "entropy": "entropy",
    "vf_explained_var": "vf_explained_var", "kl": "mean_kl_loss", "cur_lr": "default_optimizer_learning_rate",
    "cur_kl_coeff": "curr_kl_coeff", "entropy_coeff": "curr_entropy_coeff",
}
#: Algorithm attributes a rewritten trainer may use as before (RLlib 2.60's Algorithm).
ALGORITHM_API: FrozenSet[str] = frozenset({
    "train", "save", "save_to_path", "restore", "restore_from_path", "stop", "evaluate", "get_module", "config",
    "iteration", "from_checkpoint", "logdir", "env_runner", "env_runner_group", "learner_group", "get_config",
    "set_state", "get_state", "metrics",
})
#: Legacy Trainer methods RLlib 2.60's new stack lacks -> what to do instead.
METHOD_TODOS: Dict[str, str] = {
    "compute_single_action": "act with the module: {t}.get_module().forward_inference({{'obs': obs_batch}}) gives "
    "'action_dist_inputs' (RLlib 2.60's new stack has no compute_single_action)",
    "get_policy": "the policy's model is the module: {t}.get_module() (the adapter's .inner is this project's module)",
    "workers": "env runners: {t}.env_runner_group",
}
METHOD_TODOS["compute_actions"] = METHOD_TODOS["compute_action"] = METHOD_TODOS["compute_single_action"]


def keeps_import(module: str, name: Optional[str]) -> bool:
    """Whether ``from module import name`` (``import module``: ``name`` None) stays RLlib's
    under ``--target rllib``: the algorithms and their configs, and the spec classes the
    configs rule writes. RLModule and catalog classes still map to this project's (the
    models are this project's RLModules on either target)."""
    if name in ("RLModuleSpec", "MultiRLModuleSpec") and module.startswith("ray.rllib.core.rl_module"):
        return True
    if not (module == "ray.rllib.algorithms" or module.startswith("ray.rllib.algorithms.")):
        return False
    parts = module.split(".")
    modules_of_models = any(p in ("torch", "tf") or p.endswith(("_rl_module", "_catalog")) for p in parts)
    return not modules_of_models and not (name or "").endswith(("RLModule", "Catalog"))
