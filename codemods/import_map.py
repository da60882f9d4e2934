"""The import map: legacy and alpha RLlib import paths -> this project's.

One table, used by the import codemod, printed in MIGRATION.md, and used by the tests
that run the specification's code blocks. Pure data and stdlib: importing it loads no
framework.

``MODULE_MAP`` maps a whole module; ``SYMBOL_MAP`` maps single names whose new home
differs from their module's (checked first). ``COLUMN_CONSTANT_MAP`` maps names whose
equivalent holds only their column-name constants (``SampleBatch.OBS``): the ``imports``
rule uses it only in a file that reads nothing but those constants from the name.
``SPECIFIC_TODOS`` says, for names without an equivalent, what replaces them.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Optional, Tuple

MODULE_MAP: Dict[str, str] = {
    # RLModule core
    "ray.rllib.core.rl_module": "rlmodule",
    "ray.rllib.core.rl_module.rl_module": "rlmodule.rl_module",
    "ray.rllib.core.rl_module.marl_module": "rlmodule.marl_module",
    "ray.rllib.core.rl_module.multi_rl_module": "rlmodule.marl_module",
    "ray.rllib.core.rl_module.torch": "rlmodule.torch",
    "ray.rllib.core.rl_module.torch.torch_rl_module": "rlmodule.torch",
    "ray.rllib.core.rl_module.tf": "rlmodule.tf",
    "ray.rllib.core.rl_module.tf.tf_rl_module": "rlmodule.tf",
    "ray.rllib.core.columns": "rlmodule.columns",
    "ray.rllib.utils.nested_dict": "rlmodule.nested_dict",
    "ray.rllib.utils.annotations": "rlmodule.annotations",
    # I/O specs
    "ray.rllib.core.models.specs.typing": "rlmodule.specs",
    "ray.rllib.core.models.specs.specs_base": "rlmodule.specs",
    "ray.rllib.core.models.specs.specs_dict": "rlmodule.specs",
    "ray.rllib.core.models.specs.checker": "rlmodule.specs",
    # distributions (the RLModule-stack ones; legacy ActionDistributions need a rule)
    "ray.rllib.models.distributions": "rlmodule.distribution",
    "ray.rllib.models.torch.torch_distributions": "rlmodule.torch.distributions",
    "ray.rllib.models.tf.tf_distributions": "rlmodule.tf.distributions",
    # catalog and model configs
    "ray.rllib.core.models.catalog": "rlmodule.catalog",
    "ray.rllib.core.models.base": "rlmodule.models.base",
    "ray.rllib.core.models.configs": "rlmodule.models",
    # algorithms, their configs, catalogs and modules
    "ray.rllib.algorithms.algorithm": "rlmodule.algorithms",
    "ray.rllib.algorithms.algorithm_config": "rlmodule.algorithms",
    "ray.rllib.algorithms.ppo": "rlmodule.algorithms.ppo",
    "ray.rllib.algorithms.ppo.ppo": "rlmodule.algorithms.ppo",
    "ray.rllib.algorithms.ppo.ppo_catalog": "rlmodule.algorithms.ppo",
    "ray.rllib.algorithms.ppo.ppo_rl_module": "rlmodule.algorithms.ppo",
    "ray.rllib.algorithms.ppo.torch.ppo_torch_rl_module": "rlmodule.algorithms.ppo",
    "ray.rllib.algorithms.ppo.tf.ppo_tf_rl_module": "rlmodule.algorithms.ppo",
    "ray.rllib.algorithms.impala": "rlmodule.algorithms.impala",
    "ray.rllib.algorithms.impala.impala": "rlmodule.algorithms.impala",
    "ray.rllib.algorithms.appo": "rlmodule.algorithms.appo",
    "ray.rllib.algorithms.appo.appo": "rlmodule.algorithms.appo",
    "ray.rllib.algorithms.appo.appo_rl_module": "rlmodule.algorithms.appo",
    "ray.rllib.algorithms.appo.torch.appo_torch_rl_module": "rlmodule.algorithms.appo",
    "ray.rllib.algorithms.appo.tf.appo_tf_rl_module": "rlmodule.algorithms.appo",
    "ray.rllib.algorithms.bc": "rlmodule.algorithms.bc",
    "ray.rllib.algorithms.bc.bc": "rlmodule.algorithms.bc",
    # testing helpers and example envs of the specification
    "ray.rllib.core.testing.torch.bc_module": "rlmodule.testing",
    "ray.rllib.core.testing.tf.bc_module": "rlmodule.testing",
    "ray.rllib.core.testing.bc_algorithm": "rlmodule.testing",
    "ray.rllib.examples.env.multi_agent": "rlmodule.envs",
    "ray.rllib.examples.envs.classes.multi_agent": "rlmodule.envs",
}

SYMBOL_MAP: Dict[Tuple[str, str], Tuple[str, str]] = {
    ("ray.rllib.models.catalog", "MODEL_DEFAULTS"): ("rlmodule.model_config", "MODEL_DEFAULTS"),
    ("ray.rllib.policy.sample_batch", "DEFAULT_POLICY_ID"): ("rlmodule", "DEFAULT_POLICY_ID"),
    ("ray.rllib.core", "DEFAULT_MODULE_ID"): ("rlmodule", "DEFAULT_MODULE_ID"),
    # callbacks (ray 1.x: agents.callbacks; 2.x: algorithms.callbacks; 2.60: callbacks.callbacks)
    ("ray.rllib.agents.callbacks", "DefaultCallbacks"): ("rlmodule.callbacks", "DefaultCallbacks"),
    ("ray.rllib.algorithms.callbacks", "DefaultCallbacks"): ("rlmodule.callbacks", "DefaultCallbacks"),
    ("ray.rllib.algorithms.callbacks", "RLlibCallback"): ("rlmodule.callbacks", "RLlibCallback"),
    ("ray.rllib.callbacks.callbacks", "RLlibCallback"): ("rlmodule.callbacks", "RLlibCallback"),
    # multi-agent envs
    ("ray.rllib.env.multi_agent_env", "MultiAgentEnv"): ("rlmodule.envs", "MultiAgentEnv"),
    ("ray.rllib.env", "MultiAgentEnv"): ("rlmodule.envs", "MultiAgentEnv"),
    ("ray.rllib", "MultiAgentEnv"): ("rlmodule.envs", "MultiAgentEnv"),
    # legacy building blocks users nest in their models: ray-free drop-ins in compat
    **{
        (legacy, name): ("compat.legacy_torch_models", name)
        for legacy, names in {
            "ray.rllib.models.torch.misc": ("SlimFC", "SlimConv2d", "AppendBiasLayer", "normc_initializer", "same_padding"),
            "ray.rllib.models.torch.fcnet": ("FullyConnectedNetwork",),
            "ray.rllib.models.torch.visionnet": ("VisionNetwork",),
            "ray.rllib.models.torch.complex_input_net": ("ComplexInputNetwork",),
            "ray.rllib.models.modelv2": ("restore_original_dimensions",),
            "ray.rllib.policy.rnn_sequencing": ("add_time_dimension",),
            # older homes of the same function (ray 0.8 / 1.x re-exported it there)
            "ray.rllib.models.tf.recurrent_tf_modelv2": ("add_time_dimension",),
            "ray.rllib.models.tf.recurrent_net": ("add_time_dimension",),
            "ray.rllib.models.torch.recurrent_net": ("add_time_dimension",),
        }.items()
        for name in names
    },
    ("ray.rllib.utils.torch_utils", "FLOAT_MIN"): ("compat.migrated_model", "FLOAT_MIN"),
    ("ray.rllib.utils.torch_utils", "FLOAT_MAX"): ("compat.migrated_model", "FLOAT_MAX"),
    ("ray.rllib.utils.torch_utils", "apply_grad_clipping"): ("compat.migrated_policy", "apply_grad_clipping"),
    ("ray.rllib.utils.torch_ops", "FLOAT_MIN"): ("compat.migrated_model", "FLOAT_MIN"),
    ("ray.rllib.utils.torch_ops", "FLOAT_MAX"): ("compat.migrated_model", "FLOAT_MAX"),
    # type aliases: plain typing
    ("ray.rllib.utils.typing", "TensorType"): ("typing", "Any"),
    ("ray.rllib.utils.typing", "TensorStructType"): ("typing", "Any"),
    ("ray.rllib.utils.typing", "ModelConfigDict"): ("typing", "Any"),
}


#: ray 2.60's ``SampleBatch`` column constants (name -> string); what
#: ``rlmodule.sample_batch.SampleBatch`` holds.
SAMPLE_BATCH_COLUMNS: Dict[str, str] = {
    "OBS": "obs", "CUR_OBS": "obs", "NEXT_OBS": "new_obs", "ACTIONS": "actions", "REWARDS": "rewards",
    "TERMINATEDS": "terminateds", "TRUNCATEDS": "truncateds", "DONES": "dones", "INFOS": "infos",
    "SEQ_LENS": "seq_lens", "T": "t", "ACTION_DIST_INPUTS": "action_dist_inputs", "ACTION_DIST": "action_dist",
    "ACTION_PROB": "action_prob", "ACTION_LOGP": "action_logp", "VF_PREDS": "vf_preds",
    "VALUES_BOOTSTRAPPED": "values_bootstrapped", "EPS_ID": "eps_id", "ENV_ID": "env_id",
    "AGENT_INDEX": "agent_index", "UNROLL_ID": "unroll_id", "PREV_ACTIONS": "prev_actions",
    "PREV_REWARDS": "prev_rewards", "OBS_EMBEDS": "obs_embeds", "RETURNS_TO_GO": "returns_to_go",
    "ATTENTION_MASKS": "attention_masks",
}

#: (module, name) -> (new module, new name, the constants a file may read from the name).
COLUMN_CONSTANT_MAP: Dict[Tuple[str, str], Tuple[str, str, FrozenSet[str]]] = {
    (module, "SampleBatch"): ("rlmodule.sample_batch", "SampleBatch", frozenset(SAMPLE_BATCH_COLUMNS))
    for module in ("ray.rllib.policy.sample_batch", "ray.rllib.policy", "ray.rllib", "ray.rllib.evaluation.sample_batch")
}

_LR_SCHEDULE = (
    "`LearningRateSchedule` is a legacy policy mixin with no equivalent: set the schedule in the config, "
    "`.training(lr_schedule=[[timestep, lr], ...])`, and drop the mixin"
)
_ENTROPY_SCHEDULE = (
    "`EntropyCoeffSchedule` is a legacy policy mixin with no equivalent: set the schedule in the config, "
    "`.training(entropy_coeff_schedule=[[timestep, coeff], ...])`, and drop the mixin"
)
#: (module, name) -> the TODO for a still-used import without an equivalent.
SPECIFIC_TODOS: Dict[Tuple[str, str], str] = {
    **{(module, "LearningRateSchedule"): _LR_SCHEDULE for module in (
        "ray.rllib.policy.torch_mixins", "ray.rllib.policy.tf_mixins",
        "ray.rllib.policy.torch_policy", "ray.rllib.policy.tf_policy",
    )},
    **{(module, "EntropyCoeffSchedule"): _ENTROPY_SCHEDULE for module in (
        "ray.rllib.policy.torch_mixins", "ray.rllib.policy.tf_mixins",
        "ray.rllib.policy.torch_policy", "ray.rllib.policy.tf_policy",
    )},
}


def map_import(module: str, name: Optional[str] = None) -> Optional[Tuple[str, Optional[str]]]:
    """Where ``from module import name`` (or ``import module``) points now.

    Returns ``(new_module, new_name)`` or ``None`` when the path has no direct
    equivalent (a codemod rule or a human decides).
    """
    if name is not None and (module, name) in SYMBOL_MAP:
        return SYMBOL_MAP[(module, name)]
    if module in MODULE_MAP:
        return MODULE_MAP[module], name
    return None


def markdown_table() -> str:
    """The map as the Markdown table printed in MIGRATION.md."""
    rows = ["| legacy / alpha RLlib import | this project |", "|---|---|"]
    rows += [f"| `{old}` | `{new}` |" for old, new in MODULE_MAP.items()]
    rows += [
        f"| `from {old_mod} import {old_name}` | `from {new_mod} import {new_name}` |"
        for (old_mod, old_name), (new_mod, new_name) in SYMBOL_MAP.items()
    ]
    rows += [
        f"| `from {old_mod} import {old_name}` | `from {new_mod} import {new_name}` "
        f"(only where the file reads nothing but `{old_name}.<COLUMN>` constants) |"
        for (old_mod, old_name), (new_mod, new_name, _) in COLUMN_CONSTANT_MAP.items()
    ]
    return "\n".join(rows)
