"""Rule ``configs`` before/after: when a custom_model config becomes an RLModule spec,
when it stays as it is (and says why), registrations, custom_action_dist (issue 16,
items 7 and 9). The golden fixtures are under ``fixtures/*/configs/``."""

from __future__ import annotations

import textwrap
from typing import Dict, Optional

import pytest

from codemods.migrate import migrate_source
from codemods.rule import CONVERTED_KINDS, RepoIndex
from codemods.rules import all_rules
from tests.codemods.rules import assert_rewrite, assert_unchanged

#: The repository's legacy model classes as the pre-pass would index them.
MODELS = {"Torso": "torch", "Lstm": "recurrent", "TfNet": "tf", "QNet": "unsupported"}
SPEC = "SingleAgentRLModuleSpec(module_class=Torso)"
REGISTER = 'ModelCatalog.register_custom_model("torso", Torso)'
MODEL = '{"custom_model": "torso"}'


def migrate(source: str, models: Optional[Dict[str, str]] = None) -> str:
    """The migrated text of ``source`` (dedented); a second run must change nothing."""
    data = textwrap.dedent(source).lstrip("\n").encode()
    result = migrate_source(data, "x.py", all_rules(), RepoIndex(legacy_models=dict(MODELS if models is None else models)))
    assert result.status != "error", result.error
    out = result.new_bytes if result.new_bytes is not None else data
    again = migrate_source(out, "x.py", all_rules(), RepoIndex(legacy_models=dict(MODELS if models is None else models)))
    assert again.new_bytes is None, f"second run changed:\n{again.new_bytes.decode()}"
    return out.decode()


def script(body: str, imports: str = "") -> str:
    header = "from ray.rllib.models import ModelCatalog\nfrom my_project.models import Torso\n" + imports
    return header + "\n" + REGISTER + "\n\n" + textwrap.dedent(body).lstrip("\n")


def code(out: str) -> str:
    """``out`` without its comment lines (TODOs quote code)."""
    return "\n".join(line for line in out.splitlines() if not line.lstrip().startswith("#"))


def rewritten(out: str) -> bool:
    return SPEC in code(out) and "ModelCatalog" not in out


def kept(out: str) -> bool:
    return "RLModuleSpec" not in code(out) and REGISTER in out


# ------------------------------------------------------------------------------------------
# The class check
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,why",
    [
        ("unsupported", "Torso stays a legacy ModelV2 (a model of an algorithm or a built-in model"),
        ("some_future_kind", "Torso stays a legacy ModelV2 (kind 'some_future_kind')"),
        (None, "Torso is not a legacy model class of this repository"),
    ],
)
def test_a_class_that_does_not_become_an_rlmodule_keeps_config_and_registration(kind, why):
    assert kind not in CONVERTED_KINDS
    models = {"Torso": kind} if kind else {}
    out = migrate(script(f"config = PPOConfig().training(model={MODEL})\n", "from ray.rllib.algorithms.ppo import PPOConfig\n"), models)
    assert kept(out)
    registration_todo, config_todo = [line for line in out.splitlines() if "TODO(rlmigrate)" in line and "MIGRATION.md#registrations" in line]
    assert f"kept as it is: {why}" in registration_todo
    assert "custom_model 'torso' stays legacy" in config_todo and "this project refuses custom_model without a module class" in config_todo


def test_a_conditional_class_is_rewritten_only_when_every_branch_converts():
    source = """
        from ray.rllib.algorithms.ppo import PPOConfig
        from ray.rllib.models import ModelCatalog

        ModelCatalog.register_custom_model("net", Torso if torch else TfNet)
        config = PPOConfig().training(model={"custom_model": "net"})
    """
    out = migrate(source)
    assert "rl_module_spec=SingleAgentRLModuleSpec(module_class=Torso if torch else TfNet)" in out
    assert "register_custom_model" not in out
    out = migrate(source.replace("TfNet", "QNet"))
    assert "rl_module(" not in code(out) and "QNet stays a legacy ModelV2" in out


def test_a_name_registered_with_two_classes_is_not_guessed():
    out = migrate("""
        from ray import tune
        from ray.rllib.models import ModelCatalog

        def main(framework):
            if framework == "torch":
                ModelCatalog.register_custom_model("net", Torso)
            else:
                ModelCatalog.register_custom_model("net", TfNet)
            tune.run("PPO", config={"framework": framework, "model": {"custom_model": "net"}})
    """)
    assert "rl_module_spec" not in code(out) and out.count("register_custom_model") == 2
    assert "registered with different classes in this file (TfNet, Torso)" in out


def test_a_name_registered_in_another_file_gets_a_todo_on_its_config():
    out = migrate("""
        from ray.rllib.algorithms.ppo import PPOConfig

        config = PPOConfig().training(model={"custom_model": "torso"})
    """)
    assert "rl_module(" not in code(out)
    assert "custom_model 'torso' is not registered in this file" in out


# ------------------------------------------------------------------------------------------
# The algorithm check
# ------------------------------------------------------------------------------------------
SUPPORTED_SITES = {
    "builder": ("config = PPOConfig().training(model=<M>)", "from ray.rllib.algorithms.ppo import PPOConfig"),
    "module_builder": ("config = ppo.PPOConfig().environment('CartPole-v1').training(model=<M>)", "from ray.rllib.algorithms import ppo"),
    "variable_builder": ("config = PPOConfig()\nconfig.training(model=<M>)", "from ray.rllib.algorithms.ppo import PPOConfig"),
    "algo_class": ("config = AlgorithmConfig(algo_class=PPO).training(model=<M>)", "from ray.rllib.algorithms.ppo import PPO\nfrom ray.rllib.algorithms.algorithm_config import AlgorithmConfig"),
    "from_dict": ("config = PPOConfig.from_dict({'env': 'CartPole-v1', 'model': <M>})", "from ray.rllib.algorithms.ppo import PPOConfig"),
    "tune_run": ("tune.run('PPO', config={'model': <M>})", "from ray import tune"),
    "tuner": ("tune.Tuner('APPO', param_space={'model': <M>}).fit()", "from ray import tune"),
    "trainable_cls": ("tune.run(get_trainable_cls('IMPALA'), config={'model': <M>})", "from ray import tune\nfrom ray.tune.registry import get_trainable_cls"),
    "trainer_class": ("trainer = PPOTrainer(config={'model': <M>})", "from ray.rllib.agents.ppo import PPOTrainer"),
    "module_trainer": ("trainer = ppo.PPOTrainer(env='CartPole-v1', config={'model': <M>})", "from ray.rllib.agents import ppo"),
    "dotted_trainer": ("trainer = ray.rllib.agents.ppo.PPOTrainer(config={'model': <M>})", "import ray"),
    "bc": ("algo = BC(config={'model': <M>})", "from ray.rllib.algorithms.bc import BC"),
    "default_config_item": ("config = ppo.DEFAULT_CONFIG.copy()\nconfig['model'] = <M>", "from ray.rllib.agents import ppo"),
    "default_config_spread": ("config = {**ppo.DEFAULT_CONFIG, 'model': <M>}", "from ray.rllib.agents import ppo"),
    "update": ("config = ppo.DEFAULT_CONFIG.copy()\nconfig.update({'model': <M>})", "from ray.rllib.agents import ppo"),
    "variable_to_tune": ("config = {'env': 'CartPole-v1', 'model': <M>}\ntune.run('IMPALA', config=config)", "from ray import tune"),
    "experiment_spec": ("tune.run_experiments({'exp': {'run': 'PPO', 'config': {'model': <M>}}})", "from ray import tune"),
    "returned": ("def make():\n    return {'model': <M>}\n\n\ntune.run('PPO', config=make())", "from ray import tune"),
}

UNSUPPORTED_SITES = {
    "DQN": ("config = DQNConfig().training(model=<M>)", "from ray.rllib.algorithms.dqn import DQNConfig"),
    "DQN ": ("config = AlgorithmConfig(algo_class=DQN).training(model=<M>)", "from ray.rllib.algorithms.dqn import DQN\nfrom ray.rllib.algorithms.algorithm_config import AlgorithmConfig"),
    "SAC": ("tune.run('SAC', config={'model': <M>})", "from ray import tune"),
    "DDPG": ("tune.Tuner('DDPG', param_space={'model': <M>})", "from ray import tune"),
    "APEX": ("tune.run_experiments({'exp': {'run': 'APEX', 'config': {'model': <M>}}})", "from ray import tune"),
    "MARWIL": ("trainer = MARWILTrainer(config={'model': <M>})", "from ray.rllib.agents.marwil import MARWILTrainer"),
    "DQN  ": ("trainer = dqn.DQNTrainer(env='CartPole-v1', config={'model': <M>})", "from ray.rllib.agents import dqn"),
    "SAC ": ("config = DEFAULT_CONFIG.copy()\nconfig.update({'model': <M>})", "from ray.rllib.agents.sac import DEFAULT_CONFIG"),
    "TD3": ("config = td3.DEFAULT_CONFIG.copy()\nconfig['model'] = <M>", "from ray.rllib.agents.ddpg import td3"),
    "the custom trainer Custom": ("Custom = build_trainer(name='Custom')\ntune.run(Custom, config={'model': <M>})", "from ray import tune\nfrom ray.rllib.agents.trainer_template import build_trainer"),
    "the custom trainer Custom ": ("Custom = PPOTrainer.with_updates(name='Custom')\ntrainer = Custom(config={'model': <M>})", "from ray.rllib.agents.ppo import PPOTrainer"),
    "the custom trainer Custom  ": ("class Custom(PPOTrainer):\n    pass\n\n\ntune.run(Custom, config={'model': <M>})", "from ray import tune\nfrom ray.rllib.agents.ppo import PPOTrainer"),
    "the trainable 'my_trainer'": ("tune.run('my_trainer', config={'model': <M>})", "from ray import tune"),
    "DQN   ": ("config = {'model': <M>}\ntune.run('PPO', config=config)\ntune.run('DQN', config=config)", "from ray import tune"),
    "DQN    ": ("tune.run('DQN', config={'model': <M>, 'evaluation_config': {'model': <M>}})", "from ray import tune"),
}


@pytest.mark.parametrize("site", sorted(SUPPORTED_SITES))
def test_a_config_of_a_supported_algorithm_is_rewritten_and_its_registration_goes(site):
    body, imports = SUPPORTED_SITES[site]
    out = migrate(script(body.replace("<M>", MODEL) + "\n", imports + "\n"))
    assert rewritten(out), out
    assert "could not be determined" not in out and "not available" not in out


@pytest.mark.parametrize("algorithm", sorted(UNSUPPORTED_SITES))
def test_a_config_of_another_algorithm_keeps_the_legacy_custom_model_and_says_why(algorithm):
    body, imports = UNSUPPORTED_SITES[algorithm]
    out = migrate(script(body.replace("<M>", MODEL) + "\n", imports + "\n"))
    assert kept(out), out
    assert f"# TODO(rlmigrate): {algorithm.strip()} is not available on the RLModule stack of this project" in out
    assert "Torso becomes an RLModule, which legacy RLlib cannot build" in out
    assert "# TODO(rlmigrate): kept: the configs using custom_model 'torso' stay as they are" in out


def test_a_legacy_class_on_a_legacy_algorithm_works_as_before_and_only_the_registration_says_so():
    out = migrate(script(f"config = DQNConfig().training(model={MODEL})\n", "from ray.rllib.algorithms.dqn import DQNConfig\n"), {"Torso": "unsupported"})
    assert kept(out) and "not available" not in out
    assert "kept as it is: Torso stays a legacy ModelV2" in out


@pytest.mark.parametrize(
    "body",
    [
        "tune.run(args.run, config={'model': <M>})",
        "config = {'env': 'CartPole-v1', 'model': <M>}",
        "def make(config):\n    return config.training(model=<M>)",
    ],
)
def test_an_algorithm_the_file_does_not_show_is_rewritten_with_a_todo(body):
    out = migrate(script(body.replace("<M>", MODEL) + "\n", "from ray import tune\n"))
    assert rewritten(out)
    assert (
        "# TODO(rlmigrate): the algorithm this config goes to could not be determined: the rl_module_spec works "
        "only with PPO, IMPALA, APPO, BC"
    ) in out


@pytest.mark.parametrize(
    "site,trainable",
    [("tune_run", "PPO"), ("tuner", "APPO"), ("trainable_cls", "IMPALA"), ("variable_to_tune", "IMPALA"),
     ("experiment_spec", "PPO"), ("returned", "PPO")],
)
def test_a_tune_run_given_a_rewritten_config_runs_our_algorithm(site, trainable):
    """The configs rule reads the algorithm at the Tune call; the training_scripts rule
    (the one owner of Tune calls) makes its trainable ours: RLlib's would refuse the spec."""
    body, imports = SUPPORTED_SITES[site]
    out = migrate(script(body.replace("<M>", MODEL) + "\n", imports + "\n"))
    assert f"{trainable}.as_trainable()" in out and f"from rlmodule.algorithms.{trainable.lower()} import {trainable}\n" in out
    assert f"'{trainable}'" not in out and "get_trainable_cls" not in out and "TODO" not in out


def test_a_tune_run_picked_at_run_time_keeps_its_trainable_and_says_how_to_run_ours():
    out = migrate(script(f"tune.run(args.run, config={{'model': {MODEL}}})\n", "from ray import tune\n"))
    assert rewritten(out) and "tune.run(args.run, config=" in out
    assert (
        "# TODO(rlmigrate): the codemod cannot tell what this trainable runs (picked at run time, or defined "
        "elsewhere), but this config is written for this project's "
        "algorithms"
    ) in out and "tune.run(<Algo>.as_trainable(), ...)" in out and "see MIGRATION.md#sweeps-with-ray-tune" in out


# ------------------------------------------------------------------------------------------
# Registrations
# ------------------------------------------------------------------------------------------
def test_a_registration_serves_its_own_function_first():
    out = migrate("""
        from ray import tune
        from ray.rllib.models import ModelCatalog

        def train():
            ModelCatalog.register_custom_model("torso", Torso)
            tune.run("PPO", config={"model": {"custom_model": "torso"}})

        def q_learning():
            ModelCatalog.register_custom_model("torso", Torso)
            tune.run("DQN", config={"model": {"custom_model": "torso"}})
    """)
    train, q_learning = out.split("def q_learning")
    assert "register_custom_model" not in train and SPEC in code(train)
    assert "register_custom_model" in q_learning and "DQN is not available" in q_learning


def test_a_module_level_registration_serves_functions_that_do_not_register():
    source = """
        from ray import tune
        from ray.rllib.models import ModelCatalog

        ModelCatalog.register_custom_model("torso", Torso)

        def train():
            tune.run("PPO", config={"model": {"custom_model": "torso"}})

        def q_learning():
            tune.run(ALGO, config={"model": {"custom_model": "torso"}})
    """
    out = migrate(source.replace("ALGO", '"APPO"'))
    assert "ModelCatalog" not in out and code(out).count(SPEC) == 2
    out = migrate(source.replace("ALGO", '"DQN"'))
    assert code(out).count(SPEC) == 1 and "register_custom_model" in out and "(not available on the RLModule stack of this project: DQN)" in out


def test_a_redundant_module_level_registration_goes_with_the_last_rewritten_use():
    out = migrate("""
        from ray import tune
        from ray.rllib.models import ModelCatalog

        ModelCatalog.register_custom_model("torso", Torso)

        def train():
            ModelCatalog.register_custom_model("torso", Torso)
            tune.run("PPO", config={"model": {"custom_model": "torso"}})
    """)
    assert "ModelCatalog" not in out


@pytest.mark.parametrize("where", ["function", "main"])
def test_a_registration_and_its_ray_import_inside_a_block_go_with_their_rewritten_config(where):
    body = """
        from ray.rllib.models import ModelCatalog
        ModelCatalog.register_custom_model("torso", Torso)
        config = PPOConfig().training(model={"custom_model": "torso"})
        algo = config.build()
    """
    head = "def main():" if where == "function" else 'if __name__ == "__main__":'
    source = "from ray.rllib.algorithms.ppo import PPOConfig\n\n" + head + textwrap.indent(textwrap.dedent(body), "    ")
    out = migrate(source)
    assert "ModelCatalog" not in out and "ray." not in out and SPEC in out


def test_a_registration_whose_use_is_not_rewritable_stays_and_the_use_says_what_to_write():
    out = migrate(script("model = {'custom_model': 'torso'}\nconfig = PPOConfig().training(model=model)\n", "from ray.rllib.algorithms.ppo import PPOConfig\n"))
    assert REGISTER in out and "rl_module(" not in code(out)
    assert "ModelCatalog is gone: where a config uses custom_model 'torso'" in out
    assert (
        "custom_model 'torso' is not in a config the codemod can rewrite: where this model dict goes, pass "
        ".rl_module(_enable_rl_module_api=True, rl_module_spec=SingleAgentRLModuleSpec(module_class=Torso))"
    ) in out


def test_a_policy_config_outside_multi_agent_is_flagged_not_rewritten():
    out = migrate(script("""
        config = {
            "multiagent": {
                "policies": {"learner": (None, obs_space, act_space, {"model": {"custom_model": "torso"}})},
                "policy_mapping_fn": lambda agent_id: "learner",
            },
        }
        tune.run("PPO", config=config)
    """, "from ray import tune\n"))
    assert kept(out)
    assert "custom_model 'torso' in a policy config outside .multi_agent(policies={...})" in out


# ------------------------------------------------------------------------------------------
# custom_action_dist (item 7)
# ------------------------------------------------------------------------------------------
DIST_REGISTER = 'ModelCatalog.register_custom_action_dist("scaled", ScaledDist)'


def test_custom_action_dist_next_to_a_rewritten_model_says_what_to_write_in_its_setup():
    out = migrate(script(
        DIST_REGISTER + "\nconfig = PPOConfig().training(model={'custom_model': 'torso', 'custom_action_dist': 'scaled'})\n",
        "from ray.rllib.algorithms.ppo import PPOConfig\n",
    ))
    assert SPEC in code(out)
    todo = next(line for line in out.splitlines() if "custom_action_dist 'scaled' has no RLModule equivalent" in line)
    assert todo.endswith("see MIGRATION.md#custom-action-distributions")
    for words in (
        "drop it from this model dict", "rlmodule.distribution.Distribution subclass", "in Torso.setup(), after legacy_model_args(self)",
        "self.action_dist_cls = <that class>", "num_outputs = self.num_outputs = <that class>.required_input_dim(action_space)",
    ):
        assert words in todo
    assert "# TODO(rlmigrate): ModelCatalog.register_custom_action_dist is gone: port ScaledDist" in out


def test_custom_action_dist_on_the_default_model_says_to_subclass_the_catalog():
    out = migrate(
        "from ray.rllib.algorithms.ppo import PPOConfig\n\n"
        "config = PPOConfig().training(model={'fcnet_hiddens': [64], 'custom_action_dist': 'scaled'})\n"
    )
    assert "this project refuses it without a module class" in out
    assert "get_action_dist_cls(framework) of a subclass of the algorithm's catalog (e.g. PPOCatalog" in out
    assert "rl_module_spec=SingleAgentRLModuleSpec(catalog_class=<that catalog>)" in out


def test_custom_action_dist_of_a_config_that_stays_legacy_gets_no_todo():
    out = migrate(script(
        DIST_REGISTER + "\ntune.run('DQN', config={'model': {'custom_model': 'torso', 'custom_action_dist': 'scaled'}})\n",
        "from ray import tune\n",
    ))
    assert "DQN is not available" in out
    assert "custom-action-distributions" not in out


# ------------------------------------------------------------------------------------------
# Legacy-stack switches in a rewritten chain
# ------------------------------------------------------------------------------------------
PPO_IMPORT = "from ray.rllib.algorithms.ppo import PPOConfig\n"
RL_MODULE = f".rl_module(_enable_rl_module_api=True, rl_module_spec={SPEC})"


def config_lines(out: str) -> str:
    """``out`` from its ``config = ...`` statement on (the imports and registration gone)."""
    assert "ModelCatalog" not in out
    return out[out.index("\nconfig = ") + 1:]


def test_a_rewritten_chain_drops_the_legacy_stack_switches_and_runs_on_this_stack():
    before = script("""
        config = (
            PPOConfig()
            .environment("CartPole-v1")
            # RLlib 2.6: keep the old stack
            .rl_module(_enable_rl_module_api=False)
            .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
            .training(
                _enable_learner_api=False,
                lr=3e-4,  # tuned
                model={"custom_model": "torso"},
            )
            .experimental(_enable_new_api_stack=False)  # old stack
        )
    """, PPO_IMPORT)
    after = textwrap.dedent(f"""\
        config = (
            PPOConfig()
            .environment("CartPole-v1")
            # RLlib 2.6: keep the old stack
            .training(
                lr=3e-4,  # tuned
                model={{"custom_model": "torso"}},
            )
            {RL_MODULE}
        )
    """)
    assert config_lines(migrate(before)) == after
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.algorithms.ppo import PPOConfig

    class Torso:
        pass

    namespace = {"PPOConfig": PPOConfig, "SingleAgentRLModuleSpec": SingleAgentRLModuleSpec, "Torso": Torso}
    exec(after, namespace)  # the legacy chain raises (below); the migrated one builds its config
    assert namespace["config"].rl_module_spec.module_class is Torso and namespace["config"].lr == 3e-4
    with pytest.raises(ValueError, match="_enable_rl_module_api=False"):
        PPOConfig().rl_module(_enable_rl_module_api=False)


@pytest.mark.parametrize(
    "before,after",
    [
        # one line: a switch first, last, alone in its call
        (
            "PPOConfig().rl_module(_enable_rl_module_api=False).training(_enable_learner_api=False, model=<M>).experimental(_enable_new_api_stack=False)",
            "PPOConfig().training(model=<M>)<R>",
        ),
        ("PPOConfig().training(model=<M>, _enable_learner_api=False).rl_module(_enable_rl_module_api=False)", "PPOConfig().training(model=<M>)<R>"),
        # the last argument, without a trailing comma: its line's comment goes with it
        (
            "(\n    PPOConfig()\n    .training(\n        lr=1e-3,\n        model=<M>,\n        _enable_learner_api=False  # old learner\n    )\n)",
            "(\n    PPOConfig()\n    .training(\n        lr=1e-3,\n        model=<M>\n    )\n    <R>\n)",
        ),
        # arguments aligned with the parenthesis
        (
            "(PPOConfig()\n .training(_enable_learner_api=False,\n           model=<M>,\n           lr=1e-3)\n .rl_module(_enable_rl_module_api=False))",
            "(PPOConfig()\n .training(model=<M>,\n           lr=1e-3)\n <R>)",
        ),
        # a call on its own lines, comment lines around it
        (
            "(\n    PPOConfig()\n    .training(model=<M>)\n    # old stack\n    .api_stack(\n        enable_rl_module_and_learner=False,\n    )  # until 2.10\n    # the env\n    .environment('CartPole-v1')\n)",
            "(\n    PPOConfig()\n    .training(model=<M>)\n    <R>\n    # old stack\n    # the env\n    .environment('CartPole-v1')\n)",
        ),
        # a switch that is not the literal False stays; other arguments of api_stack too
        (
            "PPOConfig().rl_module(_enable_rl_module_api=args.legacy).api_stack(enable_rl_module_and_learner=False, env_runner_cls=Runner).training(model=<M>)",
            "PPOConfig().rl_module(_enable_rl_module_api=args.legacy).api_stack(env_runner_cls=Runner).training(model=<M>)<R>",
        ),
    ],
)
def test_the_switches_go_in_every_layout(before, after):
    out = migrate(script(f"config = {before.replace('<M>', MODEL)}\n", PPO_IMPORT))
    assert config_lines(out) == f"config = {after.replace('<M>', MODEL).replace('<R>', RL_MODULE)}\n"


def test_a_chain_that_stays_legacy_keeps_its_switches():
    chain = "config = DQNConfig().rl_module(_enable_rl_module_api=False).training(_enable_learner_api=False, model=<M>)"
    out = migrate(script(chain.replace("<M>", MODEL) + "\n", "from ray.rllib.algorithms.dqn import DQNConfig\n"))
    assert kept(out) and chain.replace("<M>", MODEL) in out and "DQN is not available" in out
    chain = "config = PPOConfig().training(model=<M>, _enable_learner_api=False).rl_module(_enable_rl_module_api=False)"
    out = migrate(script(chain.replace("<M>", MODEL) + "\n", PPO_IMPORT), {"Torso": "unsupported"})
    assert kept(out) and chain.replace("<M>", MODEL) in out and "Torso stays a legacy ModelV2" in out


def test_a_switched_off_rl_module_call_is_not_a_migrated_config():
    """Before: ``.training(model=...).rl_module(_enable_rl_module_api=False)`` passed for
    a config migrated already, and its registration went although nothing named the class."""
    out = migrate(script(
        f"config = DQNConfig().training(model={MODEL}).rl_module(_enable_rl_module_api=False)\n",
        "from ray.rllib.algorithms.dqn import DQNConfig\n",
    ))
    assert kept(out) and "DQN is not available on the RLModule stack" in out


# ------------------------------------------------------------------------------------------
# The chain's root decides its algorithm
# ------------------------------------------------------------------------------------------
def test_the_chain_root_decides_and_the_callers_of_its_function_do_not():
    out = migrate(script("""
        def ppo(args):
            return PPOConfig().training(model={"custom_model": "torso"})


        def dqn(args):
            return DQNConfig().training(model={"custom_model": "torso"})


        def main(args):
            if args.algo == "ppo":
                config = ppo(args)
            else:
                config = dqn(args)
            tune.Tuner(args.algo.upper(), param_space=config).fit()
    """, "from ray import tune\nfrom ray.rllib.algorithms.dqn import DQNConfig\n" + PPO_IMPORT))
    ppo, dqn = out.split("def dqn")
    assert SPEC in code(ppo) and "TODO" not in ppo.split("def ppo")[1]
    assert "rl_module(" not in code(dqn) and "# TODO(rlmigrate): DQN is not available" in dqn


def test_where_the_root_says_nothing_the_callers_decide():
    out = migrate(script("""
        def make():
            return AlgorithmConfig().training(model={"custom_model": "torso"})


        tune.run("DQN", config=make())
    """, "from ray import tune\nfrom ray.rllib.algorithms.algorithm_config import AlgorithmConfig\n"))
    assert kept(out) and "# TODO(rlmigrate): DQN is not available" in out


# ------------------------------------------------------------------------------------------
# custom_options (ray <= 0.8.5) in a rewritten config
# ------------------------------------------------------------------------------------------
OPTIONS = "{'custom_model': 'torso', 'custom_options': {'hiddens': [8]}}"
RENAMED = "{'custom_model': 'torso', 'custom_model_config': {'hiddens': [8]}}"


@pytest.mark.parametrize(
    "site,imports",
    [
        ("config = PPOConfig().training(model=<M>)", PPO_IMPORT),
        ("tune.run('PPO', config={'env': 'CartPole-v0', 'model': <M>})", "from ray import tune\n"),
        ("config = ppo.DEFAULT_CONFIG.copy()\nconfig['model'] = <M>", "from ray.rllib.agents import ppo\n"),
        ("config = PPOConfig().multi_agent(policies={'p': PolicySpec(config={'model': <M>})})", PPO_IMPORT),
        ("config = PPOConfig().multi_agent(policies={'p': (MyPolicy, None, None, {'model': <M>})})", PPO_IMPORT),
    ],
)
def test_custom_options_of_a_rewritten_model_dict_becomes_custom_model_config(site, imports):
    before = site.replace("<M>", OPTIONS)
    out = migrate(script(before + "\n", imports))
    assert rewritten(out) or "MultiAgentRLModuleSpec" in out
    assert "custom_options" not in code(out) and RENAMED in out


def test_custom_options_of_a_config_that_stays_legacy_stays():
    out = migrate(script(f"tune.run('DQN', config={{'model': {OPTIONS}}})\n", "from ray import tune\n"))
    assert kept(out) and OPTIONS in out


def test_custom_options_next_to_custom_model_config_gets_a_todo():
    model = "{'custom_model': 'torso', 'custom_options': {'hiddens': [8]}, 'custom_model_config': {}}"
    out = migrate(script(f"config = PPOConfig().training(model={model})\n", PPO_IMPORT))
    assert rewritten(out) and model in out
    assert (
        "# TODO(rlmigrate): this model dict has both custom_options (the ray <= 0.8.5 name) and custom_model_config; "
        "the migrated class reads its keyword arguments from custom_model_config only"
    ) in out


# ------------------------------------------------------------------------------------------
# Comments above the call the spec follows
# ------------------------------------------------------------------------------------------
def test_the_comments_before_the_last_call_are_not_copied_to_the_added_rl_module():
    out = migrate(script(f"""
        config = (
            PPOConfig()
            .framework("torch")  # torch only
            # the shared torso
            .training(model={MODEL})
        )
    """, PPO_IMPORT))
    assert config_lines(out) == textwrap.dedent(f"""\
        config = (
            PPOConfig()
            .framework("torch")  # torch only
            # the shared torso
            .training(model={MODEL})
            {RL_MODULE}
        )
    """)


# ------------------------------------------------------------------------------------------
# The rule alone, exact text (the cases above run every rule)
# ------------------------------------------------------------------------------------------
#: The repository's models file, indexed with each case: Torso converts, QNet stays legacy.
MODELS_FILE = """\
from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
from ray.rllib.algorithms.dqn.dqn_torch_model import DQNTorchModel


class Torso(TorchModelV2):
    pass


class QNet(DQNTorchModel):
    pass
"""
HEAD = """\
from ray import tune
from ray.rllib.models import ModelCatalog
from my_project.models import Torso, QNet
"""
SPEC_IMPORT = "from rlmodule import SingleAgentRLModuleSpec\n"


def todo(message: str, anchor: str = "registrations-and-configs") -> str:
    return f"# TODO(rlmigrate): {message} - see MIGRATION.md#{anchor}"


def rule_alone(before: str, after: str) -> None:
    """The ``configs`` rule alone turns ``HEAD`` + ``before`` into ``after`` (``HEAD`` is
    prefixed to ``after`` too; both dedented)."""
    assert_rewrite("configs", HEAD + textwrap.dedent(before), HEAD + textwrap.dedent(after), other_files=[MODELS_FILE])


def test_alone_a_builder_chain_gets_the_spec_its_switches_and_registration_go():
    rule_alone(
        """\
        from ray.rllib.algorithms.ppo import PPOConfig

        ModelCatalog.register_custom_model("torso", Torso)

        config = (
            PPOConfig()
            .training(model={"custom_model": "torso", "custom_options": {"size": 3}})
            .rl_module(_enable_rl_module_api=False)
            .training(_enable_learner_api=False)
        )
        """,
        f"""\
        from ray.rllib.algorithms.ppo import PPOConfig
        {SPEC_IMPORT}
        config = (
            PPOConfig()
            .training(model={{"custom_model": "torso", "custom_model_config": {{"size": 3}}}})
            .rl_module(_enable_rl_module_api=True, rl_module_spec=SingleAgentRLModuleSpec(module_class=Torso))
        )
        """,
    )


def test_alone_a_config_dict_gains_the_two_entries():
    rule_alone(
        """\

        ModelCatalog.register_custom_model("torso", Torso)

        config = {"env": "CartPole-v1", "model": {"custom_model": "torso"}}
        tune.run("PPO", config=config)
        """,
        f"""\
        {SPEC_IMPORT}
        config = {{"env": "CartPole-v1", "model": {{"custom_model": "torso"}}, "_enable_rl_module_api": True, "rl_module_spec": SingleAgentRLModuleSpec(module_class=Torso)}}
        tune.run("PPO", config=config)
        """,
    )


def test_alone_a_model_item_assignment_gains_two_item_assignments():
    rule_alone(
        """\

        ModelCatalog.register_custom_model("torso", Torso)

        config = {"env": "CartPole-v1"}
        config["model"] = {"custom_model": "torso"}
        tune.run("IMPALA", config=config)
        """,
        f"""\
        {SPEC_IMPORT}
        config = {{"env": "CartPole-v1"}}
        config["model"] = {{"custom_model": "torso"}}
        config["_enable_rl_module_api"] = True
        config["rl_module_spec"] = SingleAgentRLModuleSpec(module_class=Torso)
        tune.run("IMPALA", config=config)
        """,
    )


def test_alone_multi_agent_policies_get_a_multi_agent_spec_with_one_spec_per_policy():
    rule_alone(
        """\
        from ray.rllib.algorithms.ppo import PPOConfig

        ModelCatalog.register_custom_model("torso", Torso)

        config = PPOConfig().multi_agent(
            policies={"a": (None, obs, act, {"model": {"custom_model": "torso"}}), "b": (None, obs, act, {})},
        )
        """,
        """\
        from ray.rllib.algorithms.ppo import PPOConfig
        from rlmodule import SingleAgentRLModuleSpec
        from rlmodule import MultiAgentRLModuleSpec

        config = PPOConfig().multi_agent(
            policies={"a": (None, obs, act, {"model": {"custom_model": "torso"}}), "b": (None, obs, act, {})},
        ).rl_module(_enable_rl_module_api=True, rl_module_spec=MultiAgentRLModuleSpec(module_specs={"a": SingleAgentRLModuleSpec(module_class=Torso, model_config_dict={"custom_model": "torso"}), "b": SingleAgentRLModuleSpec()}))
        """,
    )


def test_alone_an_algorithm_this_project_lacks_keeps_config_switches_and_registration():
    chain = 'config = DQNConfig().training(model={"custom_model": "torso"}).rl_module(_enable_rl_module_api=False)'
    rule_alone(
        f"""\
        from ray.rllib.algorithms.dqn import DQNConfig

        ModelCatalog.register_custom_model("torso", Torso)

        {chain}
        """,
        f"""\
        from ray.rllib.algorithms.dqn import DQNConfig

        {todo("kept: the configs using custom_model 'torso' stay as they are (not available on the RLModule stack of this project: DQN); see the TODO on each")}
        ModelCatalog.register_custom_model("torso", Torso)

        {todo("DQN is not available on the RLModule stack of this project: this config keeps the legacy custom_model, but Torso becomes an RLModule, which legacy RLlib cannot build: keep a legacy ModelV2 copy of it for this config, or move the config to PPO, IMPALA, APPO, BC")}
        {chain}
        """,
    )


def test_alone_a_class_that_stays_legacy_keeps_config_and_registration():
    rule_alone(
        """\

        ModelCatalog.register_custom_model("q", QNet)

        tune.run("PPO", config={"model": {"custom_model": "q"}})
        """,
        f"""\

        {todo("kept as it is: QNet stays a legacy ModelV2 (a model of an algorithm or a built-in model this project has no RLModule for), so the configs using custom_model 'q' stay legacy (this project refuses custom_model without a module class)")}
        ModelCatalog.register_custom_model("q", QNet)

        {todo("custom_model 'q' stays legacy: QNet stays a legacy ModelV2 (a model of an algorithm or a built-in model this project has no RLModule for); this project refuses custom_model without a module class: run this config on ray's RLlib (its algorithm import included), or port the class to an RLModule and pass it as rl_module_spec")}
        tune.run("PPO", config={{"model": {{"custom_model": "q"}}}})
        """,
    )


def test_alone_a_name_registered_in_another_file_gets_a_todo():
    rule_alone(
        """\

        tune.run("PPO", config={"model": {"custom_model": "elsewhere"}})
        """,
        f"""\

        {todo("custom_model 'elsewhere' is not registered in this file: if its class becomes an RLModule, pass .rl_module(_enable_rl_module_api=True, rl_module_spec=SingleAgentRLModuleSpec(module_class=<that class>)) here, else keep this config on ray's RLlib (this project refuses custom_model without a module class)")}
        tune.run("PPO", config={{"model": {{"custom_model": "elsewhere"}}}})
        """,
    )


def test_alone_an_algorithm_the_file_does_not_show_is_rewritten_with_a_todo():
    rule_alone(
        """\

        ModelCatalog.register_custom_model("torso", Torso)


        def main(args):
            tune.run(args.run, config={"model": {"custom_model": "torso"}})
        """,
        f"""\
        {SPEC_IMPORT}

        def main(args):
            {todo("the algorithm this config goes to could not be determined: the rl_module_spec works only with PPO, IMPALA, APPO, BC (another algorithm needs the legacy custom_model and a legacy ModelV2 class)")}
            tune.run(args.run, config={{"model": {{"custom_model": "torso"}}, "_enable_rl_module_api": True, "rl_module_spec": SingleAgentRLModuleSpec(module_class=Torso)}})
        """,
    )


def test_alone_custom_action_dist_and_its_registration_get_todos():
    rule_alone(
        """\
        from ray.rllib.algorithms.ppo import PPOConfig

        ModelCatalog.register_custom_model("torso", Torso)
        ModelCatalog.register_custom_action_dist("dist", MyDist)

        config = PPOConfig().training(model={"custom_model": "torso", "custom_action_dist": "dist"})
        """,
        f"""\
        from ray.rllib.algorithms.ppo import PPOConfig
        {SPEC_IMPORT}
        {todo("ModelCatalog.register_custom_action_dist is gone: port MyDist to an rlmodule.distribution.Distribution subclass and set self.action_dist_cls to it in the module's setup() (or override get_train/exploration/inference_action_dist_cls); configs naming it get their own TODO", "custom-action-distributions")}
        ModelCatalog.register_custom_action_dist("dist", MyDist)

        {todo('custom_action_dist "dist" has no RLModule equivalent (a migrated model refuses to build with it: legacy_num_outputs cannot size it): drop it from this model dict, port the ActionDistribution to an rlmodule.distribution.Distribution subclass (from_logits, sample, logp, entropy, kl, required_input_dim, to_deterministic), and in Torso.setup(), after legacy_model_args(self), set self.action_dist_cls = <that class> and num_outputs = self.num_outputs = <that class>.required_input_dim(action_space) (or override get_train/exploration/inference_action_dist_cls)', "custom-action-distributions")}
        config = PPOConfig().training(model={{"custom_model": "torso", "custom_action_dist": "dist"}}).rl_module(_enable_rl_module_api=True, rl_module_spec=SingleAgentRLModuleSpec(module_class=Torso))
        """,
    )


def test_alone_custom_options_next_to_custom_model_config_get_a_todo():
    rule_alone(
        """\
        from ray.rllib.algorithms.ppo import PPOConfig

        ModelCatalog.register_custom_model("torso", Torso)

        config = PPOConfig().training(model={"custom_model": "torso", "custom_options": {}, "custom_model_config": {}})
        """,
        f"""\
        from ray.rllib.algorithms.ppo import PPOConfig
        {SPEC_IMPORT}
        {todo("this model dict has both custom_options (the ray <= 0.8.5 name) and custom_model_config; the migrated class reads its keyword arguments from custom_model_config only: move the custom_options entries into it")}
        config = PPOConfig().training(model={{"custom_model": "torso", "custom_options": {{}}, "custom_model_config": {{}}}}).rl_module(_enable_rl_module_api=True, rl_module_spec=SingleAgentRLModuleSpec(module_class=Torso))
        """,
    )


def test_alone_configs_without_custom_model_are_left_alone():
    assert_unchanged(
        "configs",
        HEAD + textwrap.dedent("""\
        from ray.rllib.algorithms.dqn import DQNConfig

        config = DQNConfig().training(lr=1e-3, model={"fcnet_hiddens": [64]}).rl_module(_enable_rl_module_api=False)
        tune.run("PPO", config={"model": {"fcnet_hiddens": [64]}})
        """),
        other_files=[MODELS_FILE],
    )


def test_alone_the_switches_go_from_a_chain_of_a_supported_algorithm_without_custom_model():
    rule_alone(
        """\
        from ray.rllib.algorithms.ppo import PPOConfig

        config = PPOConfig().training(lr=1e-3).rl_module(_enable_rl_module_api=False)
        """,
        """\
        from ray.rllib.algorithms.ppo import PPOConfig

        config = PPOConfig().training(lr=1e-3)
        """,
    )


def test_alone_the_switches_go_from_statements_of_a_supported_algorithm_and_stay_on_another():
    """Corpus shape (one builder call per statement): a line left doing nothing goes."""
    rule_alone(
        """\
        from ray.rllib.algorithms.ppo import PPOConfig
        from ray.rllib.algorithms.dqn import DQNConfig


        def ppo():
            config = PPOConfig()
            config = config.framework("torch")
            config = config.rl_module(_enable_rl_module_api = False)
            config.training(_enable_learner_api=False)
            config.api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
            legacy = config.experimental(_enable_new_api_stack=False)
            return config.build(), legacy


        def dqn():
            config = DQNConfig()
            config = config.rl_module(_enable_rl_module_api = False)
            return config.build()
        """,
        """\
        from ray.rllib.algorithms.ppo import PPOConfig
        from ray.rllib.algorithms.dqn import DQNConfig


        def ppo():
            config = PPOConfig()
            config = config.framework("torch")
            legacy = config
            return config.build(), legacy


        def dqn():
            config = DQNConfig()
            config = config.rl_module(_enable_rl_module_api = False)
            return config.build()
        """,
    )


def test_alone_a_chain_whose_algorithm_is_unknown_keeps_its_switches():
    assert_unchanged(
        "configs",
        HEAD + textwrap.dedent("""\
        from my_project.configs import make_config

        config = make_config().rl_module(_enable_rl_module_api=False)
        """),
        other_files=[MODELS_FILE],
    )


# ------------------------------------------------------------------------------------------
# --target rllib: RLlib 2.60's new API stack through compat.rllib's adapter
# ------------------------------------------------------------------------------------------
def migrate_rllib(source: str, models: Optional[Dict[str, str]] = None) -> str:
    """``migrate`` with ``target="rllib"`` (a second run must change nothing)."""
    data = textwrap.dedent(source).lstrip("\n").encode()
    repo = RepoIndex(legacy_models=dict(MODELS if models is None else models))
    result = migrate_source(data, "x.py", all_rules(), repo, target="rllib")
    assert result.status != "error", result.error
    out = result.new_bytes if result.new_bytes is not None else data
    again = migrate_source(out, "x.py", all_rules(), repo, target="rllib")
    assert again.new_bytes is None, f"second run changed:\n{again.new_bytes.decode()}"
    return out.decode()


def body(out: str) -> str:
    """``code(out)`` below its imports."""
    lines = code(out).splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith(("from ", "import ")))
    return "\n".join(lines[last + 1:]).strip("\n")


RLLIB_IMPORTS = (
    "from compat.rllib import RLlibAdapter, adapter_model_config\n"
    "from ray.rllib.core.rl_module.rl_module import RLModuleSpec\n"
)


def test_rllib_target_builder_chain_moves_the_model_dict_into_the_adapter_spec():
    out = migrate_rllib(script(
        """
        config = PPOConfig().training(lr=1e-3, model={"custom_model": "torso", "fcnet_hiddens": [8]})
        """,
        "from ray.rllib.algorithms.ppo import PPOConfig\n",
    ))
    assert out == (
        "from my_project.models import Torso\nfrom ray.rllib.algorithms.ppo import PPOConfig\n" + RLLIB_IMPORTS + "\n"
        "config = PPOConfig().training(lr=1e-3).rl_module(rl_module_spec=RLModuleSpec(module_class=RLlibAdapter, "
        'model_config=adapter_model_config(Torso, {"fcnet_hiddens": [8]})))\n'
    )


def test_rllib_target_training_call_with_only_the_model_becomes_the_rl_module_call():
    out = migrate_rllib(script(
        """
        config = PPOConfig().training(model={"custom_model": "torso"}).environment("CartPole-v1")
        """,
        "from ray.rllib.algorithms.ppo import PPOConfig\n",
    ))
    assert body(out) == (
        "config = PPOConfig().rl_module(rl_module_spec=RLModuleSpec(module_class=RLlibAdapter, "
        'model_config=adapter_model_config(Torso, {}))).environment("CartPole-v1")'
    )


def test_rllib_target_appo_gets_the_target_network_adapter():
    out = migrate_rllib(script(
        """
        config = APPOConfig().training(model={"custom_model": "torso"})
        """,
        "from ray.rllib.algorithms.appo import APPOConfig\n",
    ))
    assert "module_class=RLlibTargetAdapter" in out and "from compat.rllib import RLlibTargetAdapter" in out


def test_rllib_target_dict_config_puts_the_spec_under_rllibs_own_dict_key():
    """RLlib 2.60's update_from_dict sets every key as an attribute and ``rl_module_spec`` is
    a read-only property: ``_rl_module_spec`` is the key its to_dict writes and reads back."""
    out = migrate_rllib(script(
        """
        config = {"num_workers": 2, "sgd_minibatch_size": 64, "model": {"custom_model": "torso"}}
        tune.run("PPO", config=config)
        """,
        "from ray import tune\n",
    ))
    assert body(out) == (
        'config = {"num_env_runners": 2, "minibatch_size": 64, "_rl_module_spec": RLModuleSpec(module_class=RLlibAdapter, '
        'model_config=adapter_model_config(Torso, {}))}\ntune.run("PPO", config=config)'
    )


def test_rllib_target_model_item_assignment_becomes_the_spec_item():
    out = migrate_rllib(script(
        """
        config = ppo.DEFAULT_CONFIG.copy()
        config["model"] = {"custom_model": "torso", "custom_options": {"hidden": 4}}
        """,
        "from ray.rllib.agents import ppo\n",
    ))
    assert (
        'config["_rl_module_spec"] = RLModuleSpec(module_class=RLlibAdapter, model_config=adapter_model_config(Torso, '
        '{"custom_model_config": {"hidden": 4}}))'
    ) in out
    assert 'config["model"]' not in out


def test_rllib_target_renames_legacy_builder_settings_and_drops_every_enable_flag():
    out = migrate_rllib(
        """
        from ray.rllib.algorithms.ppo import PPOConfig

        config = (
            PPOConfig()
            .rollouts(num_rollout_workers=2, num_envs_per_worker=4)
            .training(sgd_minibatch_size=64, num_sgd_iter=3, lambda_=0.9, _enable_learner_api=True)
            .rl_module(_enable_rl_module_api=False)
        )
        """
    )
    assert out == textwrap.dedent(
        """\
        from ray.rllib.algorithms.ppo import PPOConfig

        config = (
            PPOConfig()
            .env_runners(num_env_runners=2, num_envs_per_env_runner=4)
            .training(minibatch_size=64, num_epochs=3, lambda_=0.9)
        )
        """
    )


def test_rllib_target_multi_agent_specs_are_rllibs():
    out = migrate_rllib(script(
        """
        config = PPOConfig().multi_agent(policies={"a": PolicySpec(config={"model": {"custom_model": "torso"}}), "b": PolicySpec()})
        """,
        "from ray.rllib.algorithms.ppo import PPOConfig\nfrom ray.rllib.policy.policy import PolicySpec\n",
    ))
    assert (
        'rl_module_spec=MultiRLModuleSpec(rl_module_specs={"a": RLModuleSpec(module_class=RLlibAdapter, '
        'model_config=adapter_model_config(Torso, {})), "b": RLModuleSpec()})'
    ) in out
    assert "from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec" in out


def test_rllib_target_keeps_tf_models_and_unserved_algorithms_legacy_with_a_todo():
    tf = migrate_rllib(
        """
        from ray.rllib.algorithms.ppo import PPOConfig
        from ray.rllib.models import ModelCatalog
        from my_project.models import TfNet

        ModelCatalog.register_custom_model("net", TfNet)
        config = PPOConfig().training(model={"custom_model": "net"})
        """
    )
    assert "RLlib 2.60's new API stack runs torch RLModules only" in tf and "RLModuleSpec" not in code(tf)
    dqn = migrate_rllib(script(
        """
        config = DQNConfig().training(model={"custom_model": "torso"})
        """,
        "from ray.rllib.algorithms.dqn import DQNConfig\n",
    ))
    assert "DQN is not served by compat.rllib's adapter" in dqn and '"custom_model": "torso"' in dqn


def test_default_target_is_unchanged_by_the_rllib_tables():
    source = script(
        """
        config = PPOConfig().rollouts(num_rollout_workers=2).training(model={"custom_model": "torso"})
        """,
        "from ray.rllib.algorithms.ppo import PPOConfig\n",
    )
    out = migrate(source)
    assert ".rollouts(num_rollout_workers=2)" in out and f"_enable_rl_module_api=True, rl_module_spec={SPEC}" in out
