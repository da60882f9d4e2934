"""Rule ``imports``: the legacy names that now have equivalents (callbacks,
MultiAgentEnv, SampleBatch column constants) and the precise TODOs of those that do not
(LearningRateSchedule) - before/after strings per behaviour."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from codemods.import_map import COLUMN_CONSTANT_MAP, SAMPLE_BATCH_COLUMNS, SYMBOL_MAP
from codemods.migrate import migrate_source
from codemods.rules import all_rules, select_rules

RULE = select_rules(["imports"])
SB_TODO = (
    "# TODO(rlmigrate): `SampleBatch` from `ray.rllib.policy.sample_batch` has no ray-free equivalent; "
    "replace its uses - see MIGRATION.md#imports-without-an-equivalent"
)


def run(source: str, rules=RULE) -> str:
    source = textwrap.dedent(source)
    result = migrate_source(source.encode(), "m.py", rules)
    assert result.status in ("changed", "unchanged"), result.error
    out = result.new_bytes.decode() if result.new_bytes is not None else source
    ast.parse(out)
    again = migrate_source(out.encode(), "m.py", rules)  # one pass is a fixed point
    assert again.new_bytes is None, again.new_bytes.decode()
    return out


@pytest.mark.parametrize(
    "legacy",
    [
        "from ray.rllib.agents.callbacks import DefaultCallbacks",
        "from ray.rllib.algorithms.callbacks import DefaultCallbacks",
    ],
)
def test_default_callbacks_from_every_home(legacy):
    body = "\n\nclass Metrics(DefaultCallbacks):\n    pass\n"
    assert run(legacy + body) == "from rlmodule.callbacks import DefaultCallbacks" + body


def test_rllib_callback_and_an_alias():
    body = "\n\nclass Metrics(Base):\n    pass\n"
    out = run("from ray.rllib.callbacks.callbacks import RLlibCallback as Base" + body)
    assert out == "from rlmodule.callbacks import RLlibCallback as Base" + body


@pytest.mark.parametrize("legacy", ["ray.rllib.env.multi_agent_env", "ray.rllib.env", "ray.rllib"])
def test_multi_agent_env(legacy):
    body = "\n\nclass Tag(MultiAgentEnv):\n    pass\n"
    assert run(f"from {legacy} import MultiAgentEnv" + body) == "from rlmodule.envs import MultiAgentEnv" + body


def test_sample_batch_constants_only_are_mapped():
    out = run(
        """\
        from ray.rllib.policy.sample_batch import SampleBatch, DEFAULT_POLICY_ID


        def advantages(batch):
            return batch[SampleBatch.REWARDS] - batch[SampleBatch.VF_PREDS], DEFAULT_POLICY_ID
        """
    )
    assert out.splitlines()[:2] == ["from rlmodule.sample_batch import SampleBatch", "from rlmodule import DEFAULT_POLICY_ID"]
    assert "TODO" not in out


def test_sample_batch_alias_constants_are_mapped_keeping_the_alias():
    out = run("from ray.rllib.policy.sample_batch import SampleBatch as SB\n\nKEY = SB.OBS\n")
    assert out == "from rlmodule.sample_batch import SampleBatch as SB\n\nKEY = SB.OBS\n"


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
    out = run(source)
    assert out == SB_TODO + "\n" + source


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


@pytest.mark.parametrize("module", ["ray.rllib.policy.torch_mixins", "ray.rllib.policy.torch_policy"])
def test_learning_rate_schedule_todo_names_the_config_setting(module):
    source = f"from {module} import LearningRateSchedule\n\n\nclass P(LearningRateSchedule):\n    pass\n"
    out = run(source)
    assert out.splitlines()[0] == (
        "# TODO(rlmigrate): `LearningRateSchedule` is a legacy policy mixin with no equivalent: set the schedule "
        "in the config, `.training(lr_schedule=[[timestep, lr], ...])`, and drop the mixin - see "
        "MIGRATION.md#imports-without-an-equivalent"
    )
    assert out.splitlines()[1:] == source.splitlines()


def test_try_import_tf_leaves_no_todo_on_a_typical_file():
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "legacy" / "imports" / "try_import_one_name.py"
    out = run(fixture.read_text(), rules=all_rules())
    assert "TODO" not in out and "import tensorflow as tf" in out
    assert not [line for line in out.splitlines() if "ray" in line and "import" in line and not line.startswith('"""')]
