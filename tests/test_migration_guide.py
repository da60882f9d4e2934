"""Every code block of MIGRATION.md runs (the mechanism is in ``tests/guide_blocks.py``).

- ``before`` blocks (legacy code) run against ray 2.60; ``after`` blocks are byte-equal
  to what the codemods emit for their ``before`` block, and run; ``completed`` blocks
  (finished by hand) run and carry no TODO marker;
- ``run`` blocks run with the named setups below; ``output`` blocks must appear in the
  real output of the block before them; ``shell`` blocks run command by command and
  each exit status is checked;
- a block without a recognised classification fails ``test_every_block_is_classified``.

Legacy policies are built once per session (the setups are cached by the runner).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict

import pytest

import tests.frameworks  # noqa: F401  (the blocks run torch, TF and ray: TensorFlow first)
from tests import guide_blocks
from tests.guide_blocks import Runner, Setup, check_block, parse, slug

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "MIGRATION.md"
FIXTURES = ROOT / "fixtures"


# --------------------------------------------------------------------------------------
# Setups: the names a block reads without defining them
# --------------------------------------------------------------------------------------
def _cartpole(ctx: Runner) -> Dict[str, Any]:
    import gymnasium as gym

    return {"env": gym.make("CartPole-v1")}


def _legacy_ppo_policy(ctx: Runner) -> Dict[str, Any]:
    """RLlib 2.60's PPOTorchPolicy (FullyConnectedNetwork 2x64) on CartPole, standalone."""
    from tests.legacy_helpers import legacy_policy

    env = _cartpole(ctx)["env"]
    policy = legacy_policy(env.observation_space, env.action_space, {"fcnet_hiddens": [64, 64]})
    return {"env": env, "legacy_policy": policy}


def _legacy_lstm_policy(ctx: Runner) -> Dict[str, Any]:
    """RLlib 2.60's PPOTorchPolicy with ``use_lstm=True`` (the LSTM wrapper) on CartPole."""
    from tests.legacy_helpers import legacy_policy

    env = _cartpole(ctx)["env"]
    model = {"fcnet_hiddens": [32], "use_lstm": True, "lstm_cell_size": 16}
    return {"env": env, "legacy_lstm_policy": legacy_policy(env.observation_space, env.action_space, model)}


def _custom_model_policy(before_id: str, class_name: str, model_config: Dict[str, Any], policy_class: str = "") -> Setup:
    """A legacy PPOTorchPolicy over the guide's own legacy class (from its ``before``
    block), registered as a custom model, as ``legacy_policy``."""

    def fn(ctx: Runner) -> Dict[str, Any]:
        from tests.legacy_helpers import legacy_custom_model_policy

        legacy = ctx.namespace_of(f"before:{before_id}")
        env = _cartpole(ctx)["env"]
        policy = legacy_custom_model_policy(
            f"guide_{before_id}", legacy[class_name], env.observation_space, env.action_space, model_config,
            legacy[policy_class] if policy_class else None,
        )
        return {"env": env, "legacy_policy": policy}

    return Setup(fn, legacy=True, needs=(f"before:{before_id}",))


def _legacy_tf_model(ctx: Runner) -> Dict[str, Any]:
    """The guide's legacy TFModelV2 built as a legacy policy built it (ray 2.60)."""
    import gymnasium as gym

    from ray.rllib.models.catalog import MODEL_DEFAULTS

    env = gym.make("CartPole-v1")
    cls = ctx.namespace_of("before:tensorflow-models")["KerasModel"]
    model = cls(env.observation_space, env.action_space, 2, dict(MODEL_DEFAULTS), "default_model")
    return {"env": env, "legacy_model": model}


def _legacy_distribution(ctx: Runner) -> Dict[str, Any]:
    return {"LegacyScaledCategorical": ctx.namespace_of("before:custom-action-distributions")["ScaledCategorical"]}


def _legacy_policy_checkpoint(ctx: Runner) -> Dict[str, Any]:
    """A legacy policy exported with ``policy.export_checkpoint(dir)`` (ray 2.60)."""
    import tempfile

    names = _legacy_ppo_policy(ctx)
    directory = tempfile.mkdtemp(prefix="guide-legacy-ckpt-")
    names["legacy_policy"].export_checkpoint(directory)
    return {**names, "legacy_checkpoint": directory}


SETUPS: Dict[str, Setup] = {
    "cartpole": Setup(_cartpole),
    "legacy_ppo_policy": Setup(_legacy_ppo_policy, legacy=True),
    "legacy_lstm_policy": Setup(_legacy_lstm_policy, legacy=True),
    "legacy_policy_checkpoint": Setup(_legacy_policy_checkpoint, legacy=True),
    "value_caching_policy": _custom_model_policy("migrated-model-classes", "ValueCachingModel", {"custom_model_config": {"hiddens": [32]}}),
    "gru_policy": _custom_model_policy("recurrent-models", "GRUModel", {}),
    "temperature_policy": _custom_model_policy("custom-policies", "TemperatureModel", {}, "TemperaturePolicy"),
    "legacy_tf_model": Setup(_legacy_tf_model, legacy=True, needs=("before:tensorflow-models",)),
    "legacy_distribution": Setup(_legacy_distribution, legacy=True, needs=("before:custom-action-distributions",)),
}


def _project(ctx: Runner, directory: Path) -> None:
    """``src/``: a copy of the legacy model fixtures (fixtures/legacy/models)."""
    shutil.copytree(FIXTURES / "legacy" / "models", directory / "src")


DIR_SETUPS: Dict[str, Setup] = {"project": Setup(_project, legacy=True)}


# --------------------------------------------------------------------------------------
BLOCKS, HEADINGS, ERRORS = parse(GUIDE.read_text(encoding="utf-8"))
RUNNER = Runner(BLOCKS, SETUPS, DIR_SETUPS, str(GUIDE))


def _param(block):
    marks = [pytest.mark.legacy] if RUNNER.needs_legacy(block) else []
    return pytest.param(block, id=block.name, marks=marks)


def test_every_block_is_classified():
    assert not ERRORS, "MIGRATION.md:\n" + "\n".join(ERRORS)
    assert len(BLOCKS) >= 30


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_block(block):
    check_block(RUNNER, block)


def test_pairs_are_complete_and_each_pattern_has_its_own_heading():
    befores = [b for b in BLOCKS if b.kind == "before"]
    afters = {b.options["id"] for b in BLOCKS if b.kind == "after"}
    assert befores
    for block in befores:
        ident = block.options["id"]
        assert ident in afters, f"before id={ident} has no after block"
        assert ident == block.heading, f"before id={ident} sits under heading #{block.heading}: a pattern per heading"
        after = next(b for b in BLOCKS if b.kind == "after" and b.options["id"] == ident)
        assert after.heading == block.heading, f"after id={ident} is not in the section of its before block"
    assert len({b.heading for b in befores}) == len(befores)


def test_every_anchor_the_codemods_emit_is_a_heading():
    """Every TODO link a rule can emit (its ANCHOR constants), and every link the
    guide's own after blocks carry, lands on a heading of the guide."""
    import re

    anchors = set()
    for path in (ROOT / "codemods" / "rules").glob("*.py"):
        anchors.update(re.findall(r'^ANCHOR\w* = "([\w-]+)"', path.read_text(), re.M))
    for block in BLOCKS:
        anchors.update(re.findall(r"see MIGRATION\.md#([\w-]+)", block.code))
    assert len(anchors) >= 5
    assert not sorted(anchors - set(HEADINGS))


def test_every_guide_link_in_the_readme_and_the_guide_lands_on_a_heading():
    import re

    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "MIGRATION.md").read_text()
    links = set(re.findall(r"MIGRATION\.md#([\w-]+)", readme)) | set(re.findall(r"\]\(#([\w-]+)\)", guide))
    assert len(links) >= 5
    assert not sorted(links - set(HEADINGS))


def test_every_rule_has_a_pattern_section():
    """Each rule changes at least one before block of the guide."""
    from codemods.migrate import migrate_source
    from codemods.rules import all_rules

    changed = set()
    for block in BLOCKS:
        if block.kind == "before":
            changed.update(migrate_source(block.code.encode(), "x.py", all_rules()).rules)
    assert changed == {rule.name for rule in all_rules()}


def test_the_rlmigrate_command_is_the_entry_point_the_shell_blocks_call():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'rlmigrate = "rlmigrate.cli:main"' in text


# --------------------------------------------------------------------------------------
# The harness itself: each check can fail
# --------------------------------------------------------------------------------------
def _run_all(text: str, setups=None, dir_setups=None) -> None:
    blocks, _, errors = parse(text)
    if errors:
        raise guide_blocks.GuideError("\n".join(errors))
    runner = Runner(blocks, setups or {}, dir_setups or {})
    for block in blocks:
        check_block(runner, block)


PY = "```python\n{}\n```\n"


@pytest.mark.parametrize(
    "text,error",
    [
        ("# T\n\n" + PY.format("x = 1"), "without a `<!-- guide"),
        ("<!-- guide: run -->\n```\nx = 1\n```\n", "must be ```python"),
        ("<!-- guide: maybe -->\n" + PY.format("x = 1"), "unknown guide kind"),
        ("<!-- guide: run colour=red -->\n" + PY.format("x = 1"), "unknown option"),
        ("<!-- guide: not-run reason=later -->\n" + PY.format("x = 1"), "always executed"),
        ("<!-- guide: not-run -->\n```bash\npip install x\n```\n", "reason"),
        ("<!-- guide: after id=a -->\n" + PY.format("x = 1"), "no earlier before"),
        ("<!-- guide: run -->\n  ```python\n  x = 1\n  ```\n", "indented"),
        ("<!-- guide: run -->\n" + "```python\nx = 1\n", "unclosed"),
    ],
)
def test_malformed_guides_are_rejected(text, error):
    with pytest.raises(guide_blocks.GuideError, match=error):
        _run_all(text)


def test_a_failing_block_fails_and_its_exception_propagates():
    with pytest.raises(AssertionError, match="boom"):
        _run_all("<!-- guide: run -->\n" + PY.format("assert 1 == 2, 'boom'"))
    with pytest.raises(NameError):
        _run_all("<!-- guide: run -->\n" + PY.format("print(undefined_name)"))


def test_output_blocks_must_match_the_real_output():
    good = "<!-- guide: run -->\n" + PY.format("print('hello world')") + "<!-- guide: output -->\n```text\nhello\n```\n"
    _run_all(good)
    with pytest.raises(AssertionError, match="does not contain"):
        _run_all(good.replace("```text\nhello", "```text\nbye"))
    with pytest.raises(AssertionError, match="differs"):
        _run_all(good.replace("output -->", "output match=equal -->"))


def _pair(before: str, after: str, completed: str = "") -> str:
    text = "<!-- guide: before id=a -->\n" + PY.format(before.strip()) + "<!-- guide: after id=a -->\n" + PY.format(after.strip())
    if completed:
        text += "<!-- guide: completed id=a -->\n" + PY.format(completed.strip())
    return text


def test_after_blocks_must_be_the_codemod_output():
    before = "from ray.rllib.utils.torch_utils import FLOAT_MIN\nx = FLOAT_MIN\n"
    _run_all(_pair(before, "from compat.migrated_model import FLOAT_MIN\nx = FLOAT_MIN\n"))
    with pytest.raises(AssertionError, match="not what rlmigrate emits"):
        _run_all(_pair(before, "from compat.migrated_model import FLOAT_MIN\nx = 1\n"))


def test_completed_blocks_must_differ_from_the_codemod_output_and_drop_the_todos():
    before = "from ray.rllib.policy.sample_batch import SampleBatch\nx = SampleBatch({'obs': [1]})\n"
    block = guide_blocks.Block(0, 1, "python", before, "before", {"id": "a"}, "a")
    after = guide_blocks.codemod_output(block)
    assert "TODO(rlmigrate)" in after
    with pytest.raises(AssertionError, match="identical to the codemod output"):
        _run_all(_pair(before, after, after))
    with pytest.raises(AssertionError, match="still carries TODO"):
        _run_all(_pair(before, after, after.replace("x = SampleBatch({'obs': [1]})", "x = {'obs': [1]}")))
    _run_all(_pair(before, after, "x = {'obs': [1]}\n"))


def test_shell_blocks_check_every_exit_status(tmp_path):
    text = "<!-- guide: shell -->\n```bash\nrlmigrate migrate --list-rules\nrlmigrate migrate missing_dir/\n```\n"
    with pytest.raises(AssertionError, match="exited with 2, expected 0"):
        _run_all(text)
    _run_all(text.replace("shell -->", "shell exits=0,2 -->"))
    with pytest.raises(AssertionError, match="exited with 1"):
        _run_all("<!-- guide: shell -->\n```bash\nfalse\n```\n")


def test_shared_namespaces_and_setups():
    text = (
        "<!-- guide: run ns=a setup=one -->\n" + PY.format("y = one + 1")
        + "<!-- guide: run ns=a -->\n" + PY.format("assert y == 2")
        + "<!-- guide: run -->\n" + PY.format("assert 'y' not in globals()")
    )
    _run_all(text, {"one": Setup(lambda ctx: {"one": 1})})
    with pytest.raises(guide_blocks.GuideError, match="unknown setup"):
        _run_all(text)


def test_shell_command_splitting():
    code = "# a comment\nrlmigrate migrate src/ \\\n    --check   # exit 1\n\n$ rlmigrate demo\n"
    assert guide_blocks.shell_commands(code) == ["rlmigrate migrate src/      --check   # exit 1", "rlmigrate demo"]


def test_slug_matches_the_codemod_fixture_test():
    assert slug("Migrating a repository: `rlmigrate migrate`") == "migrating-a-repository-rlmigrate-migrate"
