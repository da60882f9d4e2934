"""The ``policies`` rule, one behaviour per case: small before/after strings."""

from __future__ import annotations

import textwrap

import pytest

from codemods.migrate import migrate_source
from codemods.repo_index import build_repo_index
from codemods.rules import select_rules
from tests.codemods.rules import assert_rewrite, assert_unchanged

MODEL = '''
from torch import nn
from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


class Net(TorchModelV2, nn.Module):
    def __init__(self, obs_space, action_space, num_outputs, model_config, name):
        TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        nn.Module.__init__(self)
        self.pi = nn.Linear(obs_space.shape[0], num_outputs)

    def forward(self, input_dict, state, seq_lens):
        return self.pi(input_dict["obs"]), state
'''

HEADER = '''
from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
from ray.rllib.models.torch.torch_action_dist import TorchCategorical
'''


def migrate(policy: str) -> str:
    source = (textwrap.dedent(MODEL) + textwrap.dedent(HEADER) + "\n\n" + textwrap.dedent(policy)).encode()
    result = migrate_source(source, "p.py", select_rules(), build_repo_index([source]))
    assert result.status != "error", result.error
    return (result.new_bytes or source).decode()


def policy_part(text: str) -> str:
    return text[text.index("class P"):]


def test_make_model_and_action_distribution_fn_become_a_module():
    out = migrate('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits / 2.0, TorchCategorical, state
    ''')
    assert "TODO" not in out
    assert policy_part(out) == textwrap.dedent('''\
        class P(Net):
            def _forward_exploration(self, batch):
                return acting_forward(self, batch, self.action_distribution_fn, explore=True)

            def _forward_inference(self, batch):
                return acting_forward(self, batch, self.action_distribution_fn, explore=False)

            def get_exploration_action_dist_cls(self):
                return TorchCategorical

            def get_inference_action_dist_cls(self):
                return TorchCategorical

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits / 2.0, TorchCategorical, state
    ''')
    assert "from rlmodule.torch import TorchCategorical" in out and "torch_action_dist" not in out
    assert "from compat.migrated_policy import acting_forward" in out


def test_a_loss_becomes_a_learner_with_sample_batch_names_as_strings():
    out = migrate('''
        from ray.rllib.policy.sample_batch import SampleBatch


        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def loss(self, model, dist_class, train_batch):
                base = PPOTorchPolicy.loss(self, model, dist_class, train_batch)
                return base + self.config["vf_loss_coeff"] * train_batch[SampleBatch.VF_PREDS].mean()
    ''')
    assert "TODO" not in out
    assert "class P(Net):\n    pass\n\n\nclass PLearner(PolicyLoss, PPOLearner):" in out
    assert 'base = super().loss(model, dist_class, train_batch)' in out
    assert 'train_batch["vf_preds"]' in out and "SampleBatch" not in out


@pytest.mark.parametrize(
    "policy, reason",
    [
        ('''
        class P(PPOTorchPolicy):
            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits, TorchCategorical, state
        ''', "no make_model"),
        ('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def postprocess_trajectory(self, batch, other=None, episode=None):
                return batch
        ''', "postprocess_trajectory(), which has no place"),
        ('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net", hidden=3)
        ''', "other than the five legacy constructor arguments"),
        ('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits / self.global_timestep, TorchCategorical, state
        ''', "reads self.global_timestep"),
        ('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits, TorchCategorical, state

            def helper(self):
                return TorchCategorical(None, None)
        ''', "helper(), which has no place"),
        ('''
        from ray.rllib.policy.torch_policy_v2 import TorchPolicyV2


        class P(TorchPolicyV2):
            def loss(self, model, dist_class, train_batch):
                return model.value_function().mean()
        ''', "only direct PPOTorchPolicy subclasses"),
        ('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def loss(self, model, dist_class, train_batch):
                return super().loss(model, dist_class, train_batch) + train_batch["rewards"].mean()
        ''', "'rewards' column"),
    ],
)
def test_a_policy_without_a_faithful_rewrite_stays_with_a_todo_saying_why(policy, reason):
    out = migrate(policy)
    part = out[out.index("# TODO(rlmigrate): P is not rewritten"):]
    assert reason in part.splitlines()[0]
    assert "(PPOTorchPolicy)" in out or "(TorchPolicyV2)" in out  # the class stays legacy


def test_a_second_run_changes_nothing():
    first = migrate('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits, TorchCategorical, state

            def loss(self, model, dist_class, train_batch):
                return super().loss(model, dist_class, train_batch)
    ''').encode()
    again = migrate_source(first, "p.py", select_rules(), build_repo_index([first]))
    assert again.new_bytes is None, again.new_bytes.decode()


def test_a_rewritten_policy_named_elsewhere_gets_a_todo_there():
    out = migrate('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")


        def get_policy_class(config):
            return P
    ''')
    assert "class P(Net):" in out
    lines = out.splitlines()
    todo = lines[lines.index("    return P") - 1]
    assert "P is an RLModule now" in todo and "module_class=P" in todo


def test_a_loss_only_policy_named_elsewhere_stays():
    out = migrate('''
        class P(PPOTorchPolicy):
            def loss(self, model, dist_class, train_batch):
                return super().loss(model, dist_class, train_batch)


        SPEC = (P, None, None, {})
        OTHER = P  # named twice: the second reference must not see a demoted plan
    ''')
    assert "class P(PPOTorchPolicy):" in out and "class PLearner" not in out
    assert "named elsewhere in this file" in out


def test_an_acting_hook_returning_the_policys_own_class_uses_the_modules():
    out = migrate('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model.forward(obs_batch, state_batches, None)
                return logits * 2, self.dist_class, state
    ''')
    assert "TODO" not in out
    assert "return logits * 2, self.get_train_action_dist_cls(), state" in out
    assert "get_exploration_action_dist_cls" not in out


def test_an_acting_hook_reading_the_timestep_stays():
    out = migrate('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def action_distribution_fn(self, model, *, obs_batch, state_batches, timestep=None, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits / max(1, timestep), TorchCategorical, state
    ''')
    assert "P is not rewritten: its action_distribution_fn reads the timestep" in out


@pytest.mark.parametrize(
    "files",
    [
        {"p.py": "from ray.rllib.policy.policy import Policy as RllibPolicy\n\n\nclass P(RllibPolicy):\n    def compute_actions(self, obs_batch, *args, **kwargs):\n        return [0] * len(obs_batch), [], {}\n"},
        {"p.py": "from ray.rllib import Policy\n\n\nclass P(Policy):\n    def compute_actions(self, obs_batch, *args, **kwargs):\n        return [0] * len(obs_batch), [], {}\n"},
        {
            "base.py": "from ray.rllib.policy.policy import Policy\n\n\nclass StaticPolicy(Policy):\n    pass\n",
            "p.py": "from base import StaticPolicy\n\n\nclass P(StaticPolicy):\n    def compute_actions(self, obs_batch, *args, **kwargs):\n        return [0] * len(obs_batch), [], {}\n",
        },
    ],
    ids=["alias", "from-ray-rllib", "repository-base"],
)
def test_policy_classes_through_aliases_and_repository_bases_are_flagged(files):
    """Corpus finding: such classes got no TODO at all (a silent miss)."""
    sources = {name: text.encode() for name, text in files.items()}
    result = migrate_source(sources["p.py"], "p.py", select_rules(), build_repo_index(sources.values()))
    out = (result.new_bytes or sources["p.py"]).decode()
    assert "# TODO(rlmigrate): P is not rewritten" in out
    assert "compute_actions* come from compat.RLModulePolicy" in out


def test_a_class_named_policy_from_elsewhere_is_no_rllib_policy():
    from codemods.repo_index import build_repo_index as index

    assert index([b"from stable_baselines3 import PPO\nclass Agent(PPO):\n    pass\n"]).legacy_policies == frozenset()
    assert index([b"from mylib import Policy\nclass Agent(Policy):\n    pass\n"]).legacy_policies == frozenset()


@pytest.mark.parametrize(
    "source",
    [
        "from ray.rllib.algorithms.ppo import PPO\n\n\nclass MyPPO(PPO):\n    @classmethod\n    def get_default_policy_class(cls, config):\n        return None\n",
        "from ray.rllib.agents import ppo\n\n\ndef make():\n    class MyPPO(ppo.PPOTrainer):\n        pass\n    return MyPPO\n",
        "from ray.rllib.agents.trainer import Trainer\n\n\nclass MyPPO(Trainer):\n    pass\n",
    ],
    ids=["ray2-algorithm", "alias-inside-function", "trainer-base"],
)
def test_trainer_subclasses_get_a_trainer_template_todo(source):
    """Corpus finding: 12 trainer subclasses had no TODO (after the import rewrite a
    ray 2.x PPO subclass derives from ours, whose get_default_policy_class nobody calls)."""
    result = migrate_source(source.encode(), "t.py", select_rules(), build_repo_index([source.encode()]))
    out = (result.new_bytes or source.encode()).decode()
    assert "subclasses the legacy" in out and "MIGRATION.md#trainer-templates" in out


def test_a_class_deriving_from_another_librarys_ppo_is_left_alone():
    source = b"from stable_baselines3 import PPO\n\n\nclass MyPPO(PPO):\n    pass\n"
    result = migrate_source(source, "t.py", select_rules(), build_repo_index([source]))
    assert result.new_bytes is None


def test_super_with_the_policy_class_becomes_plain_super_and_gets_no_todo():
    out = migrate('''
        class P(PPOTorchPolicy):
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            def loss(self, model, dist_class, train_batch):
                return super(P, self).loss(model, dist_class, train_batch) * 2
    ''')
    assert "TODO" not in out
    assert "return super().loss(model, dist_class, train_batch) * 2" in out


def test_a_trainer_base_written_out_is_a_trainer_base_too():
    source = b"import ray.rllib.agents.ppo\n\n\nclass MyPPO(ray.rllib.agents.ppo.PPOTrainer):\n    pass\n"
    result = migrate_source(source, "t.py", select_rules(), build_repo_index([source]))
    assert "subclasses the legacy ray.rllib.agents.ppo.PPOTrainer" in result.new_bytes.decode()


# ------------------------------------------------------------------------------------------
# The rule alone, exact text (the cases above run every rule)
# ------------------------------------------------------------------------------------------
#: The repository's model, in another file: the models rule makes it an RLModule.
NET_FILE = """\
from torch import nn
from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


class Net(TorchModelV2, nn.Module):
    def forward(self, input_dict, state, seq_lens):
        return input_dict["obs"], state
"""
POLICY_HEAD = """\
from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
from my_project.models import Net
"""
MAKE_MODEL = """\
    def make_model(self):
        return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")
"""


def todo(message: str, anchor: str = "custom-policies") -> str:
    return f"# TODO(rlmigrate): {message} - see MIGRATION.md#{anchor}"


def alone(before: str, after: str, head: str = "") -> None:
    """The ``policies`` rule alone turns ``head`` + ``before`` into ``head`` + ``after``
    (dedented; a line ``    <make_model>`` in ``before`` stands for ``MAKE_MODEL``)."""
    before = head + textwrap.dedent(before).replace("    <make_model>\n", MAKE_MODEL)
    assert_rewrite("policies", before, head + textwrap.dedent(after), other_files=[NET_FILE])


def test_alone_make_model_and_action_distribution_fn_become_a_module_with_our_distribution():
    alone(
        f"""\
        {POLICY_HEAD.splitlines()[0]}
        from ray.rllib.models.torch.torch_action_dist import TorchCategorical
        from my_project.models import Net


        class P(PPOTorchPolicy):
            <make_model>

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits / 2.0, TorchCategorical, state
        """,
        """\
        from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
        from my_project.models import Net
        from compat.migrated_policy import acting_forward
        from rlmodule.torch import TorchCategorical


        class P(Net):
            def _forward_exploration(self, batch):
                return acting_forward(self, batch, self.action_distribution_fn, explore=True)

            def _forward_inference(self, batch):
                return acting_forward(self, batch, self.action_distribution_fn, explore=False)

            def get_exploration_action_dist_cls(self):
                return TorchCategorical

            def get_inference_action_dist_cls(self):
                return TorchCategorical

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model(obs_batch, state_batches)
                return logits / 2.0, TorchCategorical, state
        """,
    )


def test_alone_make_model_and_action_dist_gives_the_distribution_classes():
    alone(
        """\
        from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
        from ray.rllib.models.torch.torch_action_dist import TorchDiagGaussian
        from my_project.models import Net


        class P(PPOTorchPolicy):
            def make_model_and_action_dist(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net"), TorchDiagGaussian
        """,
        """\
        from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
        from my_project.models import Net
        from rlmodule.torch import TorchDiagGaussian


        class P(Net):
            def get_exploration_action_dist_cls(self):
                return TorchDiagGaussian

            def get_inference_action_dist_cls(self):
                return TorchDiagGaussian

            def get_train_action_dist_cls(self):
                return TorchDiagGaussian
        """,
    )


def test_alone_an_action_sampler_fn_is_called_as_a_sampler():
    alone(
        """

        class P(PPOTorchPolicy):
            <make_model>

            def action_sampler_fn(self, model, *, obs_batch, state_batches, **kwargs):
                return model(obs_batch)
        """,
        """\
        from compat.migrated_policy import acting_forward


        class P(Net):
            def _forward_exploration(self, batch):
                return acting_forward(self, batch, self.action_sampler_fn, explore=True, sampler=True)

            def _forward_inference(self, batch):
                return acting_forward(self, batch, self.action_sampler_fn, explore=False, sampler=True)

            def action_sampler_fn(self, model, *, obs_batch, state_batches, **kwargs):
                return model(obs_batch)
        """,
        head=POLICY_HEAD,
    )


def test_alone_the_policys_own_distribution_class_becomes_the_modules():
    alone(
        """

        class P(PPOTorchPolicy):
            <make_model>

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model.forward(obs_batch, state_batches, None)
                return logits * 2, self.dist_class, state
        """,
        """\
        from compat.migrated_policy import acting_forward


        class P(Net):
            def _forward_exploration(self, batch):
                return acting_forward(self, batch, self.action_distribution_fn, explore=True)

            def _forward_inference(self, batch):
                return acting_forward(self, batch, self.action_distribution_fn, explore=False)

            def action_distribution_fn(self, model, *, obs_batch, state_batches, **kwargs):
                logits, state = model.forward(obs_batch, state_batches, None)
                return logits * 2, self.get_train_action_dist_cls(), state
        """,
        head=POLICY_HEAD,
    )


def test_alone_the_loss_and_training_hooks_go_to_a_learner_with_columns_as_strings():
    alone(
        """\
        from ray.rllib.policy.sample_batch import SampleBatch


        class P(PPOTorchPolicy):
            <make_model>

            def loss(self, model, dist_class, train_batch):
                base = super(P, self).loss(model, dist_class, train_batch)
                return base + PPOTorchPolicy.loss(self, model, dist_class, train_batch) + train_batch[SampleBatch.VF_PREDS]

            def stats_fn(self, train_batch):
                return {}
        """,
        """\
        from ray.rllib.policy.sample_batch import SampleBatch
        from compat.migrated_policy import PolicyLoss
        from rlmodule.learners import PPOLearner


        class P(Net):
            pass


        class PLearner(PolicyLoss, PPOLearner):
            \"\"\"The training hooks of the legacy P, run by PPO's learner (``.training(learner_class=PLearner)``).\"\"\"

            def loss(self, model, dist_class, train_batch):
                base = super().loss(model, dist_class, train_batch)
                return base + super().loss(model, dist_class, train_batch) + train_batch["vf_preds"]

            def stats_fn(self, train_batch):
                return {}
        """,
        head=POLICY_HEAD,
    )


def test_alone_a_rewritten_policy_named_elsewhere_gets_a_todo_there():
    alone(
        """

        class P(PPOTorchPolicy):
            <make_model>


        def get_policy_class(config):
            return P
        """,
        f"""

        class P(Net):
            pass


        def get_policy_class(config):
            {todo("P is an RLModule now, not a legacy policy class: give it as rl_module_spec=SingleAgentRLModuleSpec(module_class=P) on a PPOConfig")}
            return P
        """,
        head=POLICY_HEAD,
    )


def test_alone_a_policy_with_a_hook_without_a_home_stays_with_todos_on_the_class_and_each_hook():
    alone(
        """

        class P(PPOTorchPolicy):
            <make_model>

            def postprocess_trajectory(self, batch, other=None, episode=None):
                return batch
        """,
        f"""

        {todo("P is not rewritten: it defines postprocess_trajectory(), which has no place on the module or learner yet")}
        class P(PPOTorchPolicy):
            {todo("the RLModule replaces make_model: build the model in the module's setup() (rl_module_spec=SingleAgentRLModuleSpec(module_class=Net))")}
            def make_model(self):
                return Net(self.observation_space, self.action_space, 2, self.config["model"], "net")

            {todo("trajectory postprocessing belongs to the learner's batch preparation (e.g. GAE)")}
            def postprocess_trajectory(self, batch, other=None, episode=None):
                return batch
        """,
        head=POLICY_HEAD,
    )


def test_alone_a_legacy_action_distribution_gets_a_todo():
    alone(
        """\
        from ray.rllib.models.torch.torch_action_dist import TorchDistributionWrapper


        class Dist(TorchDistributionWrapper):
            pass
        """,
        f"""\
        from ray.rllib.models.torch.torch_action_dist import TorchDistributionWrapper


        {todo("Dist is a legacy ActionDistribution: rewrite it as an rlmodule.distribution Distribution (from_logits, sample, logp, entropy, kl, to_deterministic) and return it from the module's get_*_action_dist_cls()")}
        class Dist(TorchDistributionWrapper):
            pass
        """,
    )


def test_alone_policy_and_trainer_builders_get_todos():
    alone(
        """\
        from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
        from ray.rllib.policy.torch_policy_template import build_torch_policy
        from ray.rllib.agents.trainer_template import build_trainer

        MyPolicy = build_torch_policy(name="MyPolicy", loss_fn=None)
        Other = PPOTorchPolicy.with_updates(name="Other")
        MyTrainer = build_trainer(name="MyTrainer", default_policy=MyPolicy)
        """,
        f"""\
        from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
        from ray.rllib.policy.torch_policy_template import build_torch_policy
        from ray.rllib.agents.trainer_template import build_trainer

        {todo("build_torch_policy(...) builds a legacy policy: put its model in an RLModule, its sampling in the module's forwards and serve it with compat.RLModulePolicy")}
        MyPolicy = build_torch_policy(name="MyPolicy", loss_fn=None)
        {todo("Policy.with_updates(...) customises a legacy policy: move each overridden function into the RLModule (forwards, get_*_action_dist_cls) as for a policy subclass")}
        Other = PPOTorchPolicy.with_updates(name="Other")
        {todo("build_trainer(...) builds a legacy trainer template: this project's algorithms are set up by their config (PPOConfig(), IMPALAConfig(), APPOConfig(), BCConfig()): pass the model as rl_module_spec, a migrated policy's learner as .training(learner_class=...), its settings through the config's methods", "trainer-templates")}
        MyTrainer = build_trainer(name="MyTrainer", default_policy=MyPolicy)
        """,
    )


def test_alone_a_trainer_subclass_gets_a_todo():
    alone(
        """\
        from ray.rllib.algorithms.ppo import PPO


        class MyPPO(PPO):
            pass
        """,
        f"""\
        from ray.rllib.algorithms.ppo import PPO


        {todo("MyPPO subclasses the legacy PPO: this project's algorithms take the model as rl_module_spec and a learner as .training(learner_class=...) on their config; overrides such as get_default_policy_class, get_default_config or training_step have no effect here - move them there or subclass rlmodule.algorithms.ppo.PPO by hand", "trainer-templates")}
        class MyPPO(PPO):
            pass
        """,
    )


def test_alone_policies_and_trainers_of_other_libraries_are_left_alone():
    assert_unchanged(
        "policies",
        """\
        from ray.rllib.policy.sample_batch import SampleBatch
        from stable_baselines3 import PPO


        class Agent(PPO):
            pass


        class Batch(SampleBatch):
            pass
        """,
    )


def test_alone_a_policy_class_of_another_library_is_left_alone():
    assert_unchanged(
        "policies",
        """\
        from ray.rllib.policy.sample_batch import SampleBatch
        from mylib import Policy, TorchPolicy


        class Mine(Policy):
            def compute_actions(self, obs_batch, *args, **kwargs):
                return obs_batch


        class Torchy(TorchPolicy):
            pass
        """,
    )


def test_the_index_takes_a_torch_policy_no_import_binds_and_not_another_librarys():
    unbound = b"class Agent(TorchPolicy):\n    pass\n"
    assert build_repo_index([unbound]).legacy_policies == {"Agent"}
    assert build_repo_index([b"from mylib import TorchPolicy\n" + unbound]).legacy_policies == frozenset()
    assert build_repo_index([b"from ray.rllib.policy.torch_policy import TorchPolicy\n" + unbound]).legacy_policies == {"Agent"}
