"""Rule ``imports``, one behaviour per case: RLlib import paths -> ours through the
import map, unused legacy imports dropped, ``try_import_*()`` -> plain imports, ``gym``
-> ``gymnasium``, the names with new equivalents (callbacks, MultiAgentEnv,
SampleBatch column constants) and the precise TODOs of those without. Golden fixtures:
``fixtures/*/imports/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemods.import_map import COLUMN_CONSTANT_MAP, SAMPLE_BATCH_COLUMNS, SYMBOL_MAP
from codemods.migrate import migrate_source
from codemods.rule import RepoIndex
from codemods.rules import all_rules
from codemods.rules.imports import Imports
from tests.codemods.rules import assert_rewrite, assert_unchanged

SEE = " - see MIGRATION.md#imports-without-an-equivalent"
SB_TODO = (
    "# TODO(rlmigrate): `SampleBatch` from `ray.rllib.policy.sample_batch` has no ray-free equivalent; "
    "replace its uses" + SEE
)


def no_equivalent(name: str, module: str) -> str:
    return f"# TODO(rlmigrate): `{name}` from `{module}` has no ray-free equivalent; replace its uses{SEE}"


# ------------------------------------------------------------------------------------------
# Import paths through the map
# ------------------------------------------------------------------------------------------
def test_a_mapped_module_keeps_the_names_it_imports():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.core.rl_module.rl_module import SingleAgentRLModuleSpec, RLModuleConfig
        from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

        x = SingleAgentRLModuleSpec, RLModuleConfig, TorchRLModule
        """,
        """\
        from rlmodule.rl_module import SingleAgentRLModuleSpec, RLModuleConfig
        from rlmodule.torch import TorchRLModule

        x = SingleAgentRLModuleSpec, RLModuleConfig, TorchRLModule
        """,
    )


def test_a_symbol_with_its_own_home_moves_alone():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.models.catalog import MODEL_DEFAULTS
        from ray.rllib.policy.sample_batch import DEFAULT_POLICY_ID

        x = MODEL_DEFAULTS, DEFAULT_POLICY_ID
        """,
        """\
        from rlmodule.model_config import MODEL_DEFAULTS
        from rlmodule import DEFAULT_POLICY_ID

        x = MODEL_DEFAULTS, DEFAULT_POLICY_ID
        """,
    )


def test_a_renamed_symbol_keeps_the_name_the_file_uses():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils.typing import ModelConfigDict, TensorType


        def f(config: ModelConfigDict) -> TensorType:
            return config
        """,
        """\
        from typing import Any as ModelConfigDict, Any as TensorType


        def f(config: ModelConfigDict) -> TensorType:
            return config
        """,
    )


def test_an_aliased_module_import_keeps_its_alias():
    assert_rewrite(
        "imports",
        """\
        import ray.rllib.core.rl_module.marl_module as marl

        spec = marl.MultiAgentRLModuleSpec
        """,
        """\
        import rlmodule.marl_module as marl

        spec = marl.MultiAgentRLModuleSpec
        """,
    )


def test_a_star_import_of_a_mapped_module_is_rewritten():
    assert_rewrite(
        "imports",
        "from ray.rllib.core.rl_module.rl_module import *\n",
        "from rlmodule.rl_module import *\n",
    )


def test_legacy_building_blocks_come_from_compat_on_one_merged_line():
    """Lines that map to the same module of ours merge at the first, names in isort
    order (CONSTANTS, Classes, functions); the comments of a merged-away line move above."""
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.models.torch.misc import SlimFC, normc_initializer
        # the network
        from ray.rllib.models.torch.fcnet import FullyConnectedNetwork as TorchFC  # built-in
        from ray.rllib.utils.torch_utils import FLOAT_MIN

        x = SlimFC, normc_initializer, TorchFC, FLOAT_MIN
        """,
        """\
        # the network
        # built-in
        from compat.legacy_torch_models import FullyConnectedNetwork as TorchFC, SlimFC, normc_initializer
        from compat.migrated_model import FLOAT_MIN

        x = SlimFC, normc_initializer, TorchFC, FLOAT_MIN
        """,
    )


@pytest.mark.parametrize(
    "legacy",
    [
        "from ray.rllib.agents.callbacks import DefaultCallbacks",
        "from ray.rllib.algorithms.callbacks import DefaultCallbacks",
    ],
)
def test_default_callbacks_from_every_home(legacy):
    body = "\n\nclass Metrics(DefaultCallbacks):\n    pass\n"
    assert_rewrite("imports", legacy + body, "from rlmodule.callbacks import DefaultCallbacks" + body)


def test_rllib_callback_and_an_alias():
    body = "\n\nclass Metrics(Base):\n    pass\n"
    assert_rewrite(
        "imports",
        "from ray.rllib.callbacks.callbacks import RLlibCallback as Base" + body,
        "from rlmodule.callbacks import RLlibCallback as Base" + body,
    )


@pytest.mark.parametrize("legacy", ["ray.rllib.env.multi_agent_env", "ray.rllib.env", "ray.rllib"])
def test_multi_agent_env(legacy):
    body = "\n\nclass Tag(MultiAgentEnv):\n    pass\n"
    assert_rewrite("imports", f"from {legacy} import MultiAgentEnv" + body, "from rlmodule.envs import MultiAgentEnv" + body)


# ------------------------------------------------------------------------------------------
# gym -> gymnasium
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "before,after",
    [
        ("import gym", "import gymnasium as gym"),
        ("import gym as g", "import gymnasium as g"),
        ("import gym.spaces", "import gymnasium as gym"),  # binds ``gym``; gymnasium imports its spaces
        ("from gym.spaces import Box, Discrete", "from gymnasium.spaces import Box, Discrete"),
        ("from gym import spaces", "from gymnasium import spaces"),
    ],
)
def test_gym_becomes_gymnasium_binding_the_same_name(before, after):
    legacy = "from ray.rllib.models.modelv2 import ModelV2\n"  # unused: goes
    assert_rewrite("imports", legacy + before + "\n", after + "\n")


def test_gym_becomes_gymnasium_in_a_file_that_names_no_rllib():
    """An env module of the project: RLlib 2.x and this project run gymnasium envs."""
    assert_rewrite(
        "imports",
        """\
        import gym
        from gym.spaces import Discrete


        class Corridor(gym.Env):
            action_space = Discrete(2)
        """,
        """\
        import gymnasium as gym
        from gymnasium.spaces import Discrete


        class Corridor(gym.Env):
            action_space = Discrete(2)
        """,
    )


@pytest.mark.parametrize(
    "source,runs",
    [
        ("import gym\n", True),
        ("import os, gym.spaces as s\n", True),
        ("import os; from gym import spaces\n", True),
        ("def make():\n    import gym\n    return gym\n", True),
        ("import gymnasium as gym\n\nenv = gym.make('CartPole-v1')\n", False),
        ("import gym_minigrid\n", False),
        ("# see the gym docs\nimport numpy\n", False),
    ],
)
def test_the_pre_filter_takes_a_file_importing_gym_and_only_those(source, runs):
    assert Imports.applies_to(source.encode(), RepoIndex()) is runs


def gym_api_todo(name: str) -> str:
    return (
        f"# TODO(rlmigrate): {name} follows gym's API, which gymnasium changed: reset(self, *, seed=None, "
        "options=None) returns (obs, info), and step returns (obs, reward, terminated, truncated, info) - see "
        "MIGRATION.md#imports"
    )


def test_a_gym_class_still_on_gyms_api_gets_a_todo_and_one_on_gymnasiums_does_not():
    assert_rewrite(
        "imports",
        """\
        from gym import Env, Wrapper


        class Old(Env):
            def reset(self):
                return 0


        class OldWrapper(Wrapper):
            def reset(self, **kwargs):
                return self.env.reset(**kwargs)

            def step(self, action):
                obs, reward, done, info = self.env.step(action)
                return obs, reward, done, info


        class New(Env):
            def reset(self, *, seed=None, options=None):
                return 0, {}

            def step(self, action):
                return 0, 0.0, False, False, {}
        """,
        f"""\
        from gymnasium import Env, Wrapper


        {gym_api_todo("Old")}
        class Old(Env):
            def reset(self):
                return 0


        {gym_api_todo("OldWrapper")}
        class OldWrapper(Wrapper):
            def reset(self, **kwargs):
                return self.env.reset(**kwargs)

            def step(self, action):
                obs, reward, done, info = self.env.step(action)
                return obs, reward, done, info


        class New(Env):
            def reset(self, *, seed=None, options=None):
                return 0, {{}}

            def step(self, action):
                return 0, 0.0, False, False, {{}}
        """,
    )


def test_gym_imported_twice_in_one_block_is_imported_once():
    assert_rewrite(
        "imports",
        """\
        import gym
        import numpy as np
        import gym.spaces


        def make():
            import gym
            return gym.spaces.Box(0, 1, (2,), np.float32)
        """,
        """\
        import gymnasium as gym
        import numpy as np


        def make():
            import gymnasium as gym
            return gym.spaces.Box(0, 1, (2,), np.float32)
        """,
    )


# ------------------------------------------------------------------------------------------
# What the migrated code no longer uses
# ------------------------------------------------------------------------------------------
def test_an_unused_legacy_import_goes_and_a_used_name_of_it_stays():
    assert_rewrite(
        "imports",
        """\
        import os
        import ray.rllib.core.rl_module
        from ray.rllib.models.modelv2 import ModelV2
        from ray.rllib.models.torch.misc import SlimFC, SlimConv2d

        x = SlimFC, os
        """,
        """\
        import os
        from compat.legacy_torch_models import SlimFC

        x = SlimFC, os
        """,
    )


def test_the_first_line_going_leaves_no_blank_lines_at_the_top():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.models.modelv2 import ModelV2

        import os
        """,
        """\
        import os
        """,
    )


def test_imports_of_other_packages_and_relative_imports_are_left_alone():
    assert_unchanged(
        "imports",
        """\
        import os
        from torch import nn
        from . import rllib
        from .rllib import policy

        x = os, nn, rllib, policy
        """,
    )


def test_a_legacy_import_next_to_another_statement_is_rewritten_too():
    assert_rewrite(
        "imports",
        """\
        import os; from ray.rllib.models.torch.misc import SlimFC

        x = SlimFC, os
        """,
        """\
        import os; from compat.legacy_torch_models import SlimFC

        x = SlimFC, os
        """,
    )


def test_on_a_shared_line_an_unused_import_goes_and_one_without_equivalent_is_flagged():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.models.modelv2 import ModelV2; import gym; x = 1
        from ray.rllib.policy.sample_batch import SampleBatch; import os

        y = SampleBatch(), os, gym
        """,
        f"""\
        import gymnasium as gym; x = 1
        {SB_TODO}
        from ray.rllib.policy.sample_batch import SampleBatch; import os

        y = SampleBatch(), os, gym
        """,
    )
    assert_rewrite("imports", "import os; from ray.rllib.models.modelv2 import ModelV2\n", "import os\n")
    assert_rewrite("imports", "from ray.rllib.models.modelv2 import ModelV2; import ray.rllib\nimport os\n", "import os\n")


# ------------------------------------------------------------------------------------------
# Names without an equivalent: kept, with a TODO
# ------------------------------------------------------------------------------------------
def test_a_used_name_without_equivalent_stays_under_a_todo_and_its_mapped_neighbour_moves():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.models.modelv2 import restore_original_dimensions, ModelV2

        x = restore_original_dimensions, ModelV2
        """,
        f"""\
        {no_equivalent("ModelV2", "ray.rllib.models.modelv2")}
        from ray.rllib.models.modelv2 import ModelV2
        from compat.legacy_torch_models import restore_original_dimensions

        x = restore_original_dimensions, ModelV2
        """,
    )


def test_each_name_without_equivalent_gets_its_own_todo():
    module = "ray.rllib.evaluation.postprocessing"
    assert_rewrite(
        "imports",
        f"""\
        from {module} import compute_advantages, Postprocessing

        x = compute_advantages, Postprocessing
        """,
        f"""\
        {no_equivalent("compute_advantages", module)}
        {no_equivalent("Postprocessing", module)}
        from {module} import compute_advantages, Postprocessing

        x = compute_advantages, Postprocessing
        """,
    )


def test_an_unmapped_module_import_gets_a_todo():
    assert_rewrite(
        "imports",
        """\
        import ray.rllib.agents.ppo as ppo

        trainer = ppo.PPOTrainer
        """,
        f"""\
        # TODO(rlmigrate): `import ray.rllib.agents.ppo` has no ray-free equivalent; replace its uses{SEE}
        import ray.rllib.agents.ppo as ppo

        trainer = ppo.PPOTrainer
        """,
    )


def test_a_star_import_of_an_unmapped_module_gets_a_todo():
    assert_rewrite(
        "imports",
        "from ray.rllib.models.torch.misc import *\n",
        "# TODO(rlmigrate): `from ray.rllib.models.torch.misc import *` has no ray-free equivalent; "
        f"import the names you use{SEE}\nfrom ray.rllib.models.torch.misc import *\n",
    )


@pytest.mark.parametrize("module", ["ray.rllib.policy.torch_mixins", "ray.rllib.policy.torch_policy"])
def test_learning_rate_schedule_todo_names_the_config_setting(module):
    source = f"from {module} import LearningRateSchedule\n\n\nclass P(LearningRateSchedule):\n    pass\n"
    assert_rewrite(
        "imports",
        source,
        "# TODO(rlmigrate): `LearningRateSchedule` is a legacy policy mixin with no equivalent: set the schedule "
        f"in the config, `.training(lr_schedule=[[timestep, lr], ...])`, and drop the mixin{SEE}\n" + source,
    )


def test_entropy_coeff_schedule_todo_names_the_config_setting():
    source = "from ray.rllib.policy.tf_mixins import EntropyCoeffSchedule\n\n\nclass P(EntropyCoeffSchedule):\n    pass\n"
    assert_rewrite(
        "imports",
        source,
        "# TODO(rlmigrate): `EntropyCoeffSchedule` is a legacy policy mixin with no equivalent: set the schedule "
        f"in the config, `.training(entropy_coeff_schedule=[[timestep, coeff], ...])`, and drop the mixin{SEE}\n"
        + source,
    )


# ------------------------------------------------------------------------------------------
# SampleBatch: only its column constants have an equivalent
# ------------------------------------------------------------------------------------------
def test_sample_batch_constants_only_are_mapped():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.policy.sample_batch import SampleBatch, DEFAULT_POLICY_ID


        def advantages(batch):
            return batch[SampleBatch.REWARDS] - batch[SampleBatch.VF_PREDS], DEFAULT_POLICY_ID
        """,
        """\
        from rlmodule.sample_batch import SampleBatch
        from rlmodule import DEFAULT_POLICY_ID


        def advantages(batch):
            return batch[SampleBatch.REWARDS] - batch[SampleBatch.VF_PREDS], DEFAULT_POLICY_ID
        """,
    )


def test_sample_batch_alias_constants_are_mapped_keeping_the_alias():
    assert_rewrite(
        "imports",
        "from ray.rllib.policy.sample_batch import SampleBatch as SB\n\nKEY = SB.OBS\n",
        "from rlmodule.sample_batch import SampleBatch as SB\n\nKEY = SB.OBS\n",
    )


@pytest.mark.parametrize(
    "use",
    [
        'batch = SampleBatch({"obs": [1]})',  # constructs
        "batch = SampleBatch.concat_samples([a, b])",  # class method
        "ok = isinstance(x, SampleBatch)",  # isinstance
        "episodes = batch.split_by_episode()",  # a batch object's method, even on another name
        "def f(batch: SampleBatch):\n    return batch",  # annotation
        "SampleBatch.OBS = 'x'",  # writes a constant
        "x = SampleBatch.NOT_A_COLUMN",  # not one of the constants
    ],
)
def test_sample_batch_objects_keep_the_legacy_import_with_the_todo(use):
    source = f"from ray.rllib.policy.sample_batch import SampleBatch\n\nKEY = SampleBatch.OBS\n{use}\n"
    assert_rewrite("imports", source, SB_TODO + "\n" + source)


def test_the_constants_are_ray_2_60s_and_ours():
    from rlmodule.sample_batch import SampleBatch

    ours = {k: v for k, v in vars(SampleBatch).items() if k.isupper()}
    assert ours == SAMPLE_BATCH_COLUMNS
    assert all(constants == frozenset(SAMPLE_BATCH_COLUMNS) for _, _, constants in COLUMN_CONSTANT_MAP.values())
    with pytest.raises(TypeError, match="only names columns"):
        SampleBatch({"obs": [1]})
    ray_batch = pytest.importorskip("ray.rllib.policy.sample_batch").SampleBatch
    assert {k: v for k, v in vars(ray_batch).items() if k.isupper() and isinstance(v, str)} == ours


def test_every_new_symbol_resolves_to_what_ray_calls_it():
    import importlib

    for (old_module, old_name), (new_module, new_name) in SYMBOL_MAP.items():
        if new_module in ("rlmodule.callbacks", "rlmodule.envs"):
            assert getattr(importlib.import_module(new_module), new_name).__name__ in (old_name, "RLlibCallback")


# ------------------------------------------------------------------------------------------
# try_import_torch() / try_import_tf()
# ------------------------------------------------------------------------------------------
def test_try_import_torch_becomes_two_imports():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils.framework import try_import_torch

        torch, nn = try_import_torch()
        x = torch.zeros(1), nn.Linear
        """,
        """\
        import torch
        from torch import nn
        x = torch.zeros(1), nn.Linear
        """,
    )


def test_try_import_tf_binds_tf1_tf_and_the_version():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils.framework import try_import_tf

        tf1, tf, tfv = try_import_tf()
        x = tf1.placeholder, tf.zeros, tfv
        """,
        """\
        import tensorflow.compat.v1 as tf1
        import tensorflow as tf
        tfv = 2
        x = tf1.placeholder, tf.zeros, tfv
        """,
    )


def test_names_the_file_never_uses_are_not_imported():
    """No ``import tensorflow`` in a torch-only file; ``_`` binds nothing."""
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils.framework import try_import_tf, try_import_torch

        tf1, tf, tfv = try_import_tf()
        torch, nn = try_import_torch()
        _, tf2, _ = try_import_tf()
        x = torch.zeros(1)
        """,
        """\
        import torch
        x = torch.zeros(1)
        """,
    )


def test_a_differently_named_slot_is_imported_under_that_name():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils.framework import try_import_tf

        compat_v1, tensorflow, version = try_import_tf()
        x = compat_v1, tensorflow, version
        """,
        """\
        import tensorflow.compat.v1 as compat_v1
        import tensorflow
        version = 2
        x = compat_v1, tensorflow, version
        """,
    )


def test_ray_0_8_one_name_try_import_tf_is_the_module():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils import try_import_tf

        tf = try_import_tf()
        x = tf.zeros
        """,
        """\
        import tensorflow as tf
        x = tf.zeros
        """,
    )


def test_a_name_used_only_in_a_quoted_annotation_is_imported():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils.framework import try_import_tf

        tf1, tf, tfv = try_import_tf()


        def f(x: "tf.Tensor"):
            return x
        """,
        """\
        import tensorflow as tf


        def f(x: "tf.Tensor"):
            return x
        """,
    )


def test_a_try_import_inside_a_function_becomes_imports_there_and_the_file_starts_at_its_code():
    assert_rewrite(
        "imports",
        """\
        from ray.rllib.utils.framework import try_import_tf


        def build():
            _, tf, _ = try_import_tf()
            return tf.zeros
        """,
        """\
        def build():
            import tensorflow as tf
            return tf.zeros
        """,
    )


@pytest.mark.parametrize(
    "call",
    [
        "torch, nn = try_import_torch(error=strict)",  # not a literal: not the plain form
        "torch = try_import_torch()",  # not the two names it returns
        "a = b = try_import_torch()",  # two targets
    ],
)
def test_try_import_calls_of_another_shape_stay_and_the_import_says_so(call):
    source = f"from ray.rllib.utils.framework import try_import_torch\n\n{call}\n"
    assert_rewrite(
        "imports",
        source,
        no_equivalent("try_import_torch", "ray.rllib.utils.framework") + "\n" + source,
    )


@pytest.mark.parametrize("argument", ["error=True", "error=False", "True"])
def test_try_import_with_a_literal_error_flag_becomes_imports_too(argument):
    """``error=True`` raised ImportError without torch, as the import does."""
    assert_rewrite(
        "imports",
        f"""\
        from ray.rllib.utils.framework import try_import_torch

        torch, nn = try_import_torch({argument})
        head = nn.Linear(2, 2), torch
        """,
        """\
        import torch
        from torch import nn
        head = nn.Linear(2, 2), torch
        """,
    )


def test_try_import_tf_leaves_no_todo_on_a_typical_file():
    """All rules over the fixture: no TODO, tensorflow imported, no ray import left."""
    fixture = Path(__file__).resolve().parents[3] / "fixtures" / "legacy" / "imports" / "try_import_one_name.py"
    result = migrate_source(fixture.read_bytes(), "m.py", all_rules())
    out = result.new_bytes.decode()
    assert migrate_source(result.new_bytes, "m.py", all_rules()).new_bytes is None
    assert "TODO" not in out and "import tensorflow as tf" in out
    assert not [line for line in out.splitlines() if "ray" in line and "import" in line and not line.startswith('"""')]
