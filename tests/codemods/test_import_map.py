"""The import map: every target imports, and MIGRATION.md prints the same table."""

import importlib
from pathlib import Path

import pytest

from codemods.import_map import MODULE_MAP, SYMBOL_MAP, map_import, markdown_table

MIGRATION = (Path(__file__).resolve().parents[2] / "MIGRATION.md").read_text()


def test_migration_guide_prints_the_table_from_code():
    assert markdown_table() in MIGRATION


@pytest.mark.parametrize("legacy,ours", sorted(MODULE_MAP.items()))
def test_module_targets_import(legacy, ours):
    importlib.import_module(ours)


@pytest.mark.parametrize("legacy,ours", sorted(SYMBOL_MAP.items()))
def test_symbol_targets_exist(legacy, ours):
    assert hasattr(importlib.import_module(ours[0]), ours[1])


def test_map_import_resolves_modules_symbols_and_unknowns():
    assert map_import("ray.rllib.core.rl_module.rl_module", "SingleAgentRLModuleSpec") == (
        "rlmodule.rl_module",
        "SingleAgentRLModuleSpec",
    )
    assert map_import("ray.rllib.models.catalog", "MODEL_DEFAULTS") == ("rlmodule.model_config", "MODEL_DEFAULTS")
    assert map_import("ray.rllib.models.catalog", "ModelCatalog") is None
    assert map_import("ray.rllib.models.torch.torch_modelv2") is None


def test_spec_names_resolve_through_the_map():
    """Names the specification imports exist at their mapped homes."""
    for legacy, name in [
        ("ray.rllib.core.rl_module.rl_module", "SingleAgentRLModuleSpec"),
        ("ray.rllib.core.rl_module.rl_module", "RLModuleConfig"),
        ("ray.rllib.core.rl_module.marl_module", "MultiAgentRLModuleSpec"),
        ("ray.rllib.core.rl_module.marl_module", "MultiAgentRLModuleConfig"),
        ("ray.rllib.core.rl_module.torch.torch_rl_module", "TorchRLModule"),
        ("ray.rllib.core.rl_module.tf.tf_rl_module", "TfRLModule"),
        ("ray.rllib.core.testing.torch.bc_module", "DiscreteBCTorchModule"),
        ("ray.rllib.core.testing.tf.bc_module", "DiscreteBCTfModule"),
        ("ray.rllib.core.testing.bc_algorithm", "BCConfigTest"),
        ("ray.rllib.examples.env.multi_agent", "MultiAgentCartPole"),
        ("ray.rllib.utils.nested_dict", "NestedDict"),
        ("ray.rllib.core.models.specs.specs_base", "TensorSpec"),
        ("ray.rllib.core.models.specs.typing", "SpecType"),
        ("ray.rllib.utils.annotations", "override"),
        ("ray.rllib.models.torch.torch_distributions", "TorchCategorical"),
        ("ray.rllib.models.tf.tf_distributions", "TfCategorical"),
    ]:
        module, symbol = map_import(legacy, name)
        assert hasattr(importlib.import_module(module), symbol), (legacy, name)


def test_codemods_import_no_framework():
    import subprocess
    import sys

    code = "import sys, codemods, codemods.import_map; bad = [m for m in ('torch', 'tensorflow', 'ray', 'gymnasium') if m in sys.modules]; assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)
