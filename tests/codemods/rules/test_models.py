"""Rule ``models``, one behaviour per case: ModelV2 subclasses -> RLModule subclasses
(bases, ``__init__`` -> ``setup``, ``forward`` -> ``_model_forward``, the generated
forwards), what it renames, the TODOs it leaves, and what it leaves alone. Run alone:
the legacy imports stay (the ``imports`` rule runs after it). Golden fixtures:
``fixtures/*/models/``, ``fixtures/*/patterns/``, ``fixtures/*/tf_models/``.

The forwards the rule generates are long and the same in every case: an expected text
names them by a placeholder line (``    <plain forwards>``), see ``expand``.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.codemods.rules import assert_rewrite, assert_unchanged

ADD = "from compat.migrated_model import "
WAS = "# was __init__(self, obs_space, action_space, num_outputs, model_config, name)"
ARGS = "obs_space, action_space, num_outputs, model_config, name = legacy_model_args(self)"
INIT = "def __init__(self, obs_space, action_space, num_outputs, model_config, name):"
SUPER_INIT = "super().__init__(obs_space, action_space, num_outputs, model_config, name)"

# What the placeholder lines of an expected text stand for (class-body indentation).
GENERATED = {
    "<plain forwards>": '''
    def _forward_inference(self, batch):
        logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
        return {"action_dist_inputs": logits}

    def _forward_exploration(self, batch):
        logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
        return {"action_dist_inputs": logits}

    def _forward_train(self, batch):
        logits, _ = self._model_forward(legacy_input_dict(self, batch, is_training=True), [], None)
        return {"action_dist_inputs": logits}
''',
    "<plain forwards with values>": '''
    def _forward_inference(self, batch):
        logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
        return {"action_dist_inputs": logits}

    def _forward_exploration(self, batch):
        logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
        return {"action_dist_inputs": logits, "vf_preds": self.value_function()}

    def _forward_train(self, batch):
        logits, _ = self._model_forward(legacy_input_dict(self, batch, is_training=True), [], None)
        return {"action_dist_inputs": logits, "vf_preds": self.value_function()}
''',
    "<rnn forwards>": '''
    def get_initial_state(self):
        return legacy_state_dict(self._model_initial_state())

    def _forward_inference(self, batch):
        inputs, state, seq_lens = legacy_rnn_inputs(self, batch)
        logits, state = self.forward_rnn(inputs, state, seq_lens)
        return {"action_dist_inputs": logits, "state_out": legacy_state_dict(state)}

    def _forward_exploration(self, batch):
        return self._forward_train(batch)

    def _forward_train(self, batch):
        inputs, state, seq_lens = legacy_rnn_inputs(self, batch)
        logits, state = self.forward_rnn(inputs, state, seq_lens)
        return {
            "action_dist_inputs": logits,
            "vf_preds": legacy_time_rows(self.value_function(), seq_lens),
            "state_out": legacy_state_dict(state),
        }
''',
    "<sequence forwards>": '''
    def get_initial_state(self):
        return legacy_state_dict(self._model_initial_state())

    def _forward_inference(self, batch):
        input_dict, state, seq_lens = legacy_seq_inputs(self, batch)
        logits, state_out = self._model_forward(input_dict, state, seq_lens)
        return {"action_dist_inputs": legacy_time_rows(logits, seq_lens), "state_out": legacy_state_dict(state_out or state)}

    def _forward_exploration(self, batch):
        return self._sequence_forward(batch, is_training=False)

    def _forward_train(self, batch):
        return self._sequence_forward(batch, is_training=True)

    def _sequence_forward(self, batch, is_training):
        input_dict, state, seq_lens = legacy_seq_inputs(self, batch, is_training=is_training)
        logits, state_out = self._model_forward(input_dict, state, seq_lens)
        return {
            "action_dist_inputs": legacy_time_rows(logits, seq_lens),
            "vf_preds": legacy_time_rows(self.value_function(), seq_lens),
            "state_out": legacy_state_dict(state_out or state),
        }
''',
}


def expand(text: str) -> str:
    """``text`` dedented, each placeholder line replaced by the methods it names."""
    text = textwrap.dedent(text)
    for placeholder, methods in GENERATED.items():
        text = text.replace(f"    {placeholder}\n", methods)
    return text


def todo(message: str, anchor: str, indent: str = "") -> str:
    return f"{indent}# TODO(rlmigrate): {message} - see MIGRATION.md#{anchor}"


# ------------------------------------------------------------------------------------------
# A torch model becomes a TorchRLModule
# ------------------------------------------------------------------------------------------
def test_a_torch_model_becomes_a_torch_rl_module():
    """Bases -> ``TorchRLModule``; ``__init__`` -> ``setup`` binding the legacy
    arguments; base ``__init__`` calls and ``@override(<legacy base>)`` go; ``forward``
    -> ``_model_forward`` with the forwards that call it; the helpers are imported."""
    assert_rewrite(
        "models",
        f"""\
        from torch import nn
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.utils.annotations import override


        class Net(TorchModelV2, nn.Module):
            {INIT}
                TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
                nn.Module.__init__(self)
                self.pi = nn.Linear(4, num_outputs)

            @override(TorchModelV2)
            def forward(self, input_dict, state, seq_lens):
                return self.pi(input_dict["obs"]), state
        """,
        expand(f"""\
        from torch import nn
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.utils.annotations import override
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
                self.pi = nn.Linear(4, num_outputs)
            <plain forwards>

            def _model_forward(self, input_dict, state, seq_lens):
                return self.pi(input_dict["obs"]), state
        """),
    )


def test_a_value_function_adds_vf_preds_and_super_init_goes():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.modelv2 import ModelV2


        class Net(ModelV2):
            {INIT}
                {SUPER_INIT}

            def forward(self, input_dict, state, seq_lens):
                self._v = input_dict["obs"].sum(-1)
                return input_dict["obs"], state

            def value_function(self):
                return self._v
        """,
        expand(f"""\
        from ray.rllib.models.modelv2 import ModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
            <plain forwards with values>

            def _model_forward(self, input_dict, state, seq_lens):
                self._v = input_dict["obs"].sum(-1)
                return input_dict["obs"], state

            def value_function(self):
                return self._v
        """),
    )


def test_bases_through_an_alias_or_a_module_and_an_abc_base_before_them():
    """``ABC`` before the RLModule base would make the MRO impossible: it goes."""
    assert_rewrite(
        "models",
        """\
        import abc
        from ray.rllib.models.torch import torch_modelv2
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2 as TMV2


        class A(abc.ABC, TMV2):
            ...


        class B(torch_modelv2.TorchModelV2, metaclass=abc.ABCMeta):
            ...
        """,
        """\
        import abc
        from ray.rllib.models.torch import torch_modelv2
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2 as TMV2
        from rlmodule.torch import TorchRLModule


        class A(TorchRLModule):
            ...


        class B(TorchRLModule, metaclass=abc.ABCMeta):
            ...
        """,
    )


@pytest.mark.parametrize(
    "legacy,new",
    [
        ("ray.rllib.models.torch.recurrent_net import RecurrentNetwork", "rlmodule.torch import TorchRLModule"),
        ("ray.rllib.models.tf.tf_modelv2 import TFModelV2", "rlmodule.tf import TfRLModule"),
        ("ray.rllib.models.tf.recurrent_net import RecurrentNetwork", "rlmodule.tf import TfRLModule"),
        ("ray.rllib.models.tf.recurrent_tf_modelv2 import RecurrentTFModelV2", "rlmodule.tf import TfRLModule"),
        ("ray.rllib.models.torch.visionnet import VisionNetwork", "compat.migrated_builtins import VisionNetworkRLModule"),
        (
            "ray.rllib.models.torch.complex_input_net import ComplexInputNetwork",
            "compat.migrated_builtins import ComplexInputNetworkRLModule",
        ),
        ("ray.rllib.models.tf.fcnet import FullyConnectedNetwork", "compat.migrated_builtins import TfFullyConnectedNetworkRLModule"),
    ],
)
def test_the_rlmodule_base_of_each_legacy_base(legacy, new):
    """Same-named RLlib classes (``RecurrentNetwork``) take the framework of their import."""
    old_name, new_name = legacy.split()[-1], new.split()[-1]
    assert_rewrite(
        "models",
        f"from {legacy}\n\n\nclass M({old_name}):\n    ...\n",
        f"from {legacy}\nfrom {new}\n\n\nclass M({new_name}):\n    ...\n",
    )


def test_docstrings_stay_first_and_other_decorators_stay():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.utils.annotations import override, PublicAPI


        class Net(TorchModelV2):
            \"\"\"A net.\"\"\"

            {INIT}
                \"\"\"Builds it.\"\"\"
                {SUPER_INIT}

            @override(TorchModelV2)
            @PublicAPI
            def forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], state
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.utils.annotations import override, PublicAPI
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            \"\"\"A net.\"\"\"

            def setup(self):
                \"\"\"Builds it.\"\"\"
                {WAS}
                {ARGS}
            <plain forwards>

            @PublicAPI
            def _model_forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], state
        """),
    )


# ------------------------------------------------------------------------------------------
# The constructor
# ------------------------------------------------------------------------------------------
def test_custom_constructor_arguments_are_read_from_custom_model_config():
    """Same defaults; a required one is indexed; ``**kwargs`` gets the other entries."""
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            def __init__(self, obs_space, action_space, num_outputs, model_config, name, hidden=64, *, act, **kwargs):
                TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
                self.sizes = (hidden, act, kwargs)

            def forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], state
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            def setup(self):
                # was __init__(self, obs_space, action_space, num_outputs, model_config, name, hidden=64, *, act, **kwargs)
                {ARGS}
                hidden = model_config["custom_model_config"].get("hidden", 64)
                act = model_config["custom_model_config"]["act"]
                kwargs = {{k: v for k, v in model_config["custom_model_config"].items() if k not in ("hidden", "act")}}
                self.sizes = (hidden, act, kwargs)
            <plain forwards>

            def _model_forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], state
        """),
    )


def test_a_wrapped_signature_is_recorded_on_one_line():
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            def __init__(
                self,
                obs_space,
                action_space,
                num_outputs,  # logits
                model_config,
                name,
            ):
                super().__init__(obs_space, action_space, num_outputs, model_config, name)
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            def setup(self):
                # was __init__(self, obs_space, action_space, num_outputs, model_config, name)
                {ARGS}
            <plain forwards>
        """),
    )


def test_a_star_args_constructor_still_binds_the_legacy_attributes():
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.n = 2
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            def setup(self):
                # was __init__(self, *args, **kwargs)
                legacy_model_args(self)
                self.n = 2
            <plain forwards>
        """),
    )


# ------------------------------------------------------------------------------------------
# Subclasses: of repository models, of built-in models
# ------------------------------------------------------------------------------------------
BASE = """\
from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


class Base(TorchModelV2):
    pass
"""


def test_a_subclass_of_a_repository_model_keeps_its_base_and_calls_its_setup():
    assert_rewrite(
        "models",
        f"""\
        from base import Base


        class Leaf(Base):
            def __init__(self, obs_space, action_space, num_outputs, model_config, name, size=3):
                {SUPER_INIT}
                self.size = size


        class Other(Base):
            def __init__(self, *args):
                Base.__init__(self, *args)

            def forward(self, input_dict, state, seq_lens):
                out, state = super().forward(input_dict, state, seq_lens)
                return Base.forward(self, input_dict, state, seq_lens)
        """,
        f"""\
        from base import Base
        {ADD}legacy_model_args


        class Leaf(Base):
            def setup(self):
                # was __init__(self, obs_space, action_space, num_outputs, model_config, name, size=3)
                {ARGS}
                size = model_config["custom_model_config"].get("size", 3)
                super().setup()
                self.size = size


        class Other(Base):
            def setup(self):
                Base.setup(self)

            def _model_forward(self, input_dict, state, seq_lens):
                out, state = super()._model_forward(input_dict, state, seq_lens)
                return Base._model_forward(self, input_dict, state, seq_lens)
        """,
        other_files=[BASE],
    )


def test_a_subclass_of_a_builtin_model_derives_from_its_rlmodule_and_calls_its_setup():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.fcnet import FullyConnectedNetwork


        class Wide(FullyConnectedNetwork):
            {INIT}
                {SUPER_INIT}


        class Named(FullyConnectedNetwork):
            {INIT}
                FullyConnectedNetwork.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        """,
        f"""\
        from ray.rllib.models.torch.fcnet import FullyConnectedNetwork
        from compat.migrated_builtins import FullyConnectedNetworkRLModule
        {ADD}legacy_model_args


        class Wide(FullyConnectedNetworkRLModule):
            def setup(self):
                {WAS}
                {ARGS}
                super().setup(obs_space, action_space, num_outputs, model_config, name)


        class Named(FullyConnectedNetworkRLModule):
            def setup(self):
                {WAS}
                {ARGS}
                FullyConnectedNetworkRLModule.setup(self, obs_space, action_space, num_outputs, model_config, name)
        """,
    )


def test_a_model_without_an_equivalent_stays_and_so_do_its_subclasses():
    message = (
        "DQNTorchModel has no RLModule equivalent here (a model of an algorithm this project does not have, a "
        "TF VisionNetwork / ComplexInputNetwork, an attention or wrapper model): this class stays a legacy "
        "ModelV2, with its configs and registrations"
    )
    source = """\
        from ray.rllib.algorithms.dqn.dqn_torch_model import DQNTorchModel


        class Q(DQNTorchModel):
            pass


        class SubQ(Q):
            pass
        """
    assert_rewrite(
        "models",
        source,
        f"""\
        from ray.rllib.algorithms.dqn.dqn_torch_model import DQNTorchModel


        {todo(message, "models-that-stay-legacy")}
        class Q(DQNTorchModel):
            pass


        {todo("its base Q stays a legacy model (see the TODO there), so this class stays one too", "models-that-stay-legacy")}
        class SubQ(Q):
            pass
        """,
    )


def test_a_tf_built_in_model_without_an_rlmodule_base_stays_with_a_todo():
    message = (
        "VisionNetwork has no RLModule equivalent here (a model of an algorithm this project does not have, a "
        "TF VisionNetwork / ComplexInputNetwork, an attention or wrapper model): this class stays a legacy "
        "ModelV2, with its configs and registrations"
    )
    assert_rewrite(
        "models",
        "from ray.rllib.models.tf.visionnet import VisionNetwork\n\n\nclass M(VisionNetwork):\n    ...\n",
        "from ray.rllib.models.tf.visionnet import VisionNetwork\n\n\n"
        f"{todo(message, 'models-that-stay-legacy')}\nclass M(VisionNetwork):\n    ...\n",
    )


def test_classes_that_are_no_legacy_models_are_left_alone():
    assert_unchanged(
        "models",
        """\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from rlmodule.torch import TorchRLModule


        class Migrated(TorchRLModule):
            def setup(self):
                pass


        class Plain(object):
            def forward(self, x):
                return x
        """,
    )


# ------------------------------------------------------------------------------------------
# State
# ------------------------------------------------------------------------------------------
def test_a_recurrent_network_gets_forwards_that_call_forward_rnn():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.recurrent_net import RecurrentNetwork


        class Lstm(RecurrentNetwork):
            {INIT}
                {SUPER_INIT}

            def forward_rnn(self, inputs, state, seq_lens):
                return inputs, state

            def get_initial_state(self):
                return [torch.zeros(4)]

            def value_function(self):
                return self._v
        """,
        expand(f"""\
        from ray.rllib.models.torch.recurrent_net import RecurrentNetwork
        {ADD}legacy_model_args
        {ADD}legacy_rnn_inputs
        {ADD}legacy_state_dict
        {ADD}legacy_time_rows
        from rlmodule.torch import TorchRLModule


        class Lstm(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
            <rnn forwards>

            def forward_rnn(self, inputs, state, seq_lens):
                return inputs, state

            def _model_initial_state(self):
                return [torch.zeros(4)]

            def value_function(self):
                return self._v
        """),
    )


def test_a_model_with_an_initial_state_gets_forwards_over_padded_sequences():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Memory(TorchModelV2):
            {INIT}
                {SUPER_INIT}

            def forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], [state[0] + 1]

            def get_initial_state(self):
                return [torch.zeros(4)]

            def value_function(self):
                return self._v
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_model_args
        {ADD}legacy_seq_inputs
        {ADD}legacy_state_dict
        {ADD}legacy_time_rows
        from rlmodule.torch import TorchRLModule


        class Memory(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
            <sequence forwards>

            def _model_forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], [state[0] + 1]

            def _model_initial_state(self):
                return [torch.zeros(4)]

            def value_function(self):
                return self._v
        """),
    )


def test_an_empty_initial_state_is_stateless_and_a_call_of_it_reads_the_legacy_list():
    """``return []`` is the legacy default: plain forwards. A class that calls
    ``get_initial_state()`` without defining it gets the empty legacy list."""
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            {INIT}
                {SUPER_INIT}

            def forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], self.get_initial_state()


        class Stateless(TorchModelV2):
            {INIT}
                {SUPER_INIT}

            def get_initial_state(self):
                return []
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
            <plain forwards>

            def _model_initial_state(self):
                return []

            def _model_forward(self, input_dict, state, seq_lens):
                return input_dict["obs"], self._model_initial_state()


        class Stateless(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
            <plain forwards>

            def _model_initial_state(self):
                return []
        """),
    )


# ------------------------------------------------------------------------------------------
# Names that clash with the RLModule's
# ------------------------------------------------------------------------------------------
def test_an_attribute_named_like_one_of_the_rlmodules_is_renamed_throughout_the_class():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            config = None

            {INIT}
                {SUPER_INIT}
                self.config = model_config

            def setup(self):
                return self.config
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            config_ = None

            def setup(self):
                {WAS}
                {ARGS}
                self.config_ = model_config
            <plain forwards>

            def setup_(self):
                return self.config_
        """),
    )


def test_a_clashing_name_that_cannot_be_renamed_gets_a_todo_on_the_class():
    def message(name: str, why: str) -> str:
        return todo(
            f"self.{name} is also an attribute of the RLModule this class becomes and cannot be renamed safely "
            f"here ({why}): rename it by hand",
            "renamed-attributes",
        )

    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            {INIT}
                {SUPER_INIT}
                self.config = 1
                self.config_ = 2
                self.check_specs = getattr(self, "check_specs", None)
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        {message("check_specs", "it is reached by name")}
        {message("config", "self.config_ is taken")}
        class Net(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
                self.config = 1
                self.config_ = 2
                self.check_specs = getattr(self, "check_specs", None)
            <plain forwards>
        """),
    )


# ------------------------------------------------------------------------------------------
# Legacy machinery an RLModule does not have: TODOs
# ------------------------------------------------------------------------------------------
def test_view_requirements_and_model_catalog_sub_models_get_a_todo_on_the_class():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.models.catalog import ModelCatalog


        class Net(TorchModelV2):
            {INIT}
                {SUPER_INIT}
                self.torso = ModelCatalog.get_model_v2(obs_space, action_space, num_outputs, model_config, "torch")
                self.view_requirements["prev_actions"] = 1
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.models.catalog import ModelCatalog
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        {todo("self.view_requirements (legacy view requirements) has no RLModule counterpart and is not set: remove its uses; an RLModule's batch holds the observations and the recurrent state only", "inputs-beyond-observations")}
        {todo("ModelCatalog.get_model_v2() builds a legacy ModelV2 through ray's ModelCatalog: build the sub-network directly (the compat.legacy_torch_models drop-ins for the built-in torch models, or its migrated class)", "models-that-stay-legacy")}
        class Net(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
                self.torso = ModelCatalog.get_model_v2(obs_space, action_space, num_outputs, model_config, "torch")
                self.view_requirements["prev_actions"] = 1
            <plain forwards>
        """),
    )


def test_a_forward_reading_inputs_beyond_the_observations_gets_a_todo():
    """Only ``obs``, ``obs_flat`` and ``is_training`` are built from an RLModule's batch."""
    message = (
        'forward reads input_dict["infos"], input_dict["prev_actions"], input_dict[SampleBatch.PREV_REWARDS]: an '
        "RLModule's batch holds the observations (and the recurrent state) only, so these are not there; add them "
        "to the observation (an env wrapper) or compute them in the module"
    )
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.policy.sample_batch import SampleBatch


        class Net(TorchModelV2):
            \"\"\"Reads more than observations.\"\"\"

            def forward(self, input_dict, state, seq_lens):
                x = input_dict["obs"], input_dict["obs_flat"], input_dict[SampleBatch.OBS], input_dict["is_training"]
                return input_dict["prev_actions"] + input_dict[SampleBatch.PREV_REWARDS], input_dict.get("infos")
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from ray.rllib.policy.sample_batch import SampleBatch
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            \"\"\"Reads more than observations.\"\"\"

            def setup(self):
                legacy_model_args(self)
            <plain forwards>

            {todo(message, "inputs-beyond-observations")}
            def _model_forward(self, input_dict, state, seq_lens):
                x = input_dict["obs"], input_dict["obs_flat"], input_dict[SampleBatch.OBS], input_dict["is_training"]
                return input_dict["prev_actions"] + input_dict[SampleBatch.PREV_REWARDS], input_dict.get("infos")
        """),
    )


def test_custom_loss_and_metrics_get_a_todo():
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            {INIT}
                {SUPER_INIT}

            def custom_loss(self, policy_loss, loss_inputs):
                return policy_loss

            def metrics(self):
                return {{}}
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            def setup(self):
                {WAS}
                {ARGS}
            <plain forwards>

            {todo("RLModule learners do not call custom_loss(): add this term to the learner's loss", "model-extras")}
            def custom_loss(self, policy_loss, loss_inputs):
                return policy_loss

            {todo("RLModule learners do not call metrics(): report these from the learner", "model-extras")}
            def metrics(self):
                return {{}}
        """),
    )


def test_building_a_converted_class_with_the_legacy_constructor_gets_a_todo():
    message = (
        "Net(...) builds a legacy model from the legacy constructor arguments, but Net is an RLModule now: build "
        "it from a spec, SingleAgentRLModuleSpec(module_class=Net, observation_space=..., action_space=..., "
        "model_config_dict=...).build(), and call forward_inference / forward_exploration / forward_train"
    )
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            ...


        net = Net(obs_space, action_space, 2, {}, "net")
        spec = Net
        """,
        f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            ...


        {todo(message, "migrated-model-classes")}
        net = Net(obs_space, action_space, 2, {{}}, "net")
        spec = Net
        """,
    )


# ------------------------------------------------------------------------------------------
# TensorFlow models
# ------------------------------------------------------------------------------------------
def test_a_tf_model_becomes_a_tf_rl_module_without_register_variables():
    assert_rewrite(
        "models",
        f"""\
        import tensorflow as tf
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2


        class Net(TFModelV2, tf.keras.Model):
            {INIT}
                {SUPER_INIT}
                self.out = tf.keras.layers.Dense(num_outputs)
                self.register_variables(self.out.variables)

            def forward(self, input_dict, state, seq_lens):
                return self.out(input_dict["obs"]), state

            def import_from_h5(self, path):
                self.register_variables([])
        """,
        expand(f"""\
        import tensorflow as tf
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.tf import TfRLModule


        class Net(TfRLModule):
            def setup(self):
                {WAS}
                {ARGS}
                self.out = tf.keras.layers.Dense(num_outputs)
            <plain forwards>

            def _model_forward(self, input_dict, state, seq_lens):
                return self.out(input_dict["obs"]), state

            def import_from_h5(self, path):
                pass
        """),
    )


def test_tf1_graph_code_context_and_update_ops_get_todos():
    tf1 = (
        "TF1 graph code (tf1.get_variable) does not run in a Keras 3 TfRLModule: create the variables as "
        "Keras layers (or self.add_weight()) in setup()"
    )
    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        from ray.rllib.utils.framework import try_import_tf

        tf1, tf, tfv = try_import_tf()


        class Net(TFModelV2):
            {INIT}
                {SUPER_INIT}
                with self.context():
                    self.out = tf.keras.layers.Dense(num_outputs)

            def forward(self, input_dict, state, seq_lens):
                return self.out(input_dict["obs"]) * tf1.get_variable("w", shape=()), state

            def update_ops(self):
                return []
        """,
        expand(f"""\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        from ray.rllib.utils.framework import try_import_tf
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.tf import TfRLModule

        tf1, tf, tfv = try_import_tf()


        class Net(TfRLModule):
            {todo("TFModelV2.context() (the TF1 graph) is gone: TfRLModules run eagerly or under tf.function", "tensorflow-models")}
            def setup(self):
                {WAS}
                {ARGS}
                with self.context():
                    self.out = tf.keras.layers.Dense(num_outputs)
            <plain forwards>

            {todo(tf1, "tensorflow-models")}
            def _model_forward(self, input_dict, state, seq_lens):
                return self.out(input_dict["obs"]) * tf1.get_variable("w", shape=()), state

            {todo("RLModules have no update_ops(): Keras layers called with training=True update their own statistics", "tensorflow-models")}
            def update_ops(self):
                return []
        """),
    )


def test_ray_0_8_tf_names_that_tensorflow_2_lacks_get_a_todo():
    """``tf = try_import_tf()`` was ``tf.compat.v1``: ``tf.log`` and a TF1 optimizer are
    flagged, ``tf.summary`` and ``tf.train.Checkpoint`` exist in TF2."""
    message = (
        "tf.log, tf.train: ray 0.8's try_import_tf() gave tf.compat.v1, now this file imports TensorFlow 2 "
        "(import tensorflow as tf), which lacks these: use their TF2 names (tf.math.log, tf.random.normal, ...) "
        "or Keras layers"
    )
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        from ray.rllib.utils import try_import_tf

        tf = try_import_tf()


        class Net(TFModelV2):
            \"\"\"ray 0.8.\"\"\"

            def forward(self, input_dict, state, seq_lens):
                return tf.log(input_dict["obs"]), tf.train.AdamOptimizer

            def value_function(self):
                return tf.summary, tf.train.Checkpoint
        """,
        expand(f"""\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        from ray.rllib.utils import try_import_tf
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.tf import TfRLModule

        tf = try_import_tf()


        class Net(TfRLModule):
            \"\"\"ray 0.8.\"\"\"

            def setup(self):
                legacy_model_args(self)
            <plain forwards with values>

            {todo(message, "tensorflow-models")}
            def _model_forward(self, input_dict, state, seq_lens):
                return tf.log(input_dict["obs"]), tf.train.AdamOptimizer

            def value_function(self):
                return tf.summary, tf.train.Checkpoint
        """),
    )


def test_keras_attributes_of_a_tf_model_are_renamed_or_flagged():
    """A TfRLModule is a Keras model: ``self.weights`` and a ``layers`` method are
    renamed; where the new name is taken, or the name is reached by string, TODOs."""
    def cannot(name: str, why: str) -> str:
        return todo(
            f"self.{name} is also an attribute of the RLModule this class becomes and cannot be renamed safely "
            f"here ({why}): rename it by hand",
            "renamed-attributes",
        )

    assert_rewrite(
        "models",
        f"""\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2


        class Net(TFModelV2):
            {INIT}
                {SUPER_INIT}
                self.weights = []
                self.output = None
                self.output_ = None

            def layers(self):
                return self.trainable_variables()

            def losses(self):
                return getattr(self, "losses")
        """,
        expand(f"""\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.tf import TfRLModule


        {cannot("losses", "it is reached by name")}
        {cannot("output", "self.output_ is taken")}
        class Net(TfRLModule):
            {todo("self.output is a read-only attribute of tf.keras.Model (a TfRLModule is one): rename it", "tensorflow-models")}
            def setup(self):
                {WAS}
                {ARGS}
                self.weights_ = []
                self.output = None
                self.output_ = None
            <plain forwards>

            def layers_(self):
                return self.trainable_variables()

            {todo("losses() shadows tf.keras.Model.losses (a TfRLModule is a Keras model): rename it", "tensorflow-models")}
            def losses(self):
                return getattr(self, "losses")
        """),
    )


# ------------------------------------------------------------------------------------------
# Classes without __init__ or docstring
# ------------------------------------------------------------------------------------------
def test_generated_methods_in_a_class_without_init_or_docstring_keep_one_blank_line_between_methods():
    assert_rewrite(
        "models",
        """\
        from base import Base


        class Leaf(Base):
            def get_initial_state(self):
                return [0]
        """,
        expand(f"""\
        from base import Base
        {ADD}legacy_seq_inputs
        {ADD}legacy_state_dict
        {ADD}legacy_time_rows


        class Leaf(Base):
            <sequence forwards>

            def _model_initial_state(self):
                return [0]
        """).replace("class Leaf(Base):\n\n", "class Leaf(Base):\n", 1),
        other_files=[BASE],
    )


def test_a_model_without_init_still_gets_the_legacy_attributes():
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2


        class Net(TorchModelV2):
            \"\"\"Zeros.\"\"\"

            def forward(self, input_dict, state, seq_lens):
                return input_dict["obs"][:, : self.num_outputs], state
        """,
        expand(f"""\
        from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.torch import TorchRLModule


        class Net(TorchRLModule):
            \"\"\"Zeros.\"\"\"

            def setup(self):
                legacy_model_args(self)
            <plain forwards>

            def _model_forward(self, input_dict, state, seq_lens):
                return input_dict["obs"][:, : self.num_outputs], state
        """),
    )


def test_a_model_without_init_or_docstring_gets_its_setup_first_and_a_blank_line_before_its_own_code():
    """A comment above the class's first statement stays with it, below the blank line."""
    assert_rewrite(
        "models",
        """\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2


        class Net(TFModelV2):
            # the head
            size = 2
            def forward(self, input_dict, state, seq_lens):
                return input_dict["obs"][:, : self.size], state
        """,
        expand(f"""\
        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        {ADD}legacy_input_dict
        {ADD}legacy_model_args
        from rlmodule.tf import TfRLModule


        class Net(TfRLModule):
            def setup(self):
                legacy_model_args(self)
            <plain forwards>

            # the head
            size = 2
            def _model_forward(self, input_dict, state, seq_lens):
                return input_dict["obs"][:, : self.size], state
        """),
    )
