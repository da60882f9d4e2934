"""What importing compat's runtime loads (see ``compat/__init__.py`` for the split).

Code emitted by ``rlmigrate`` imports the runtime modules; each import here runs in a
fresh interpreter and the test reads its ``sys.modules``: no migration tool
(``compat.parity``, ``compat.port_weights``, ``compat.convert_checkpoint``, ``rlmigrate``),
no adapter, no ray; a migrated TF model (the files of ``fixtures/migrated/tf_models``)
loads no torch, a migrated torch model no TensorFlow.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Set

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TF_MODELS = sorted(ROOT.glob("fixtures/migrated/tf_models/*.py"))

#: What migrated code imports (the paths ``rlmigrate`` writes) and what they share.
RUNTIME = (
    "compat.migrated_model",
    "compat.migrated_builtins",
    "compat.migrated_policy",
    "compat.legacy_torch_models",
    "compat.preprocessing",
)
TOOLS = ("compat.parity", "compat.port_weights", "compat.convert_checkpoint", "rlmigrate")
ADAPTERS = ("compat.modelv2_rl_module", "compat.legacy_policy_rl_module", "compat.rl_module_policy", "compat.action_dist")


def loaded_after(code: str) -> Set[str]:
    """The names in ``sys.modules`` after ``code`` runs in a fresh interpreter (cwd: the
    repository root, so ``fixtures`` imports)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


def within(modules: Set[str], packages: tuple) -> list:
    """The ``modules`` that are one of ``packages`` or inside one."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


@pytest.mark.parametrize("module", RUNTIME)
def test_a_runtime_module_loads_no_tool_no_adapter_and_no_ray(module):
    loaded = loaded_after(f"import {module}")
    assert not within(loaded, TOOLS + ADAPTERS + ("ray",))


@pytest.mark.parametrize("module", ("compat", "compat.migrated_model", "compat.migrated_builtins", "compat.preprocessing"))
def test_what_a_migrated_tf_model_imports_loads_no_framework(module):
    assert not within(loaded_after(f"import {module}"), ("torch", "tensorflow", "ray"))


def test_migrated_tf_models_import_and_run_without_torch():
    assert TF_MODELS, "no migrated TF model fixtures"
    imports = "\n".join(f"import fixtures.migrated.tf_models.{path.stem}" for path in TF_MODELS)
    forward = (
        "import numpy as np, gymnasium as gym\n"
        "from rlmodule import SingleAgentRLModuleSpec\n"
        "from fixtures.migrated.tf_models.builtin_subclass import NamedFCN\n"
        "from fixtures.migrated.tf_models.keras_model import KerasLayersModel\n"
        "obs_space = gym.spaces.Dict({'a': gym.spaces.Discrete(3), 'b': gym.spaces.Box(-1, 1, (2,))})\n"
        "for cls in (NamedFCN, KerasLayersModel):\n"
        "    module = SingleAgentRLModuleSpec(module_class=cls, observation_space=obs_space,\n"
        "        action_space=gym.spaces.Discrete(2), model_config_dict={'fcnet_hiddens': [8]}).build()\n"
        "    out = module.forward_inference({'obs': {'a': np.array([0, 2]), 'b': np.zeros((2, 2), np.float32)}})\n"
        "    assert out['action_dist_inputs'].shape == (2, 2)\n"
    )
    loaded = loaded_after(imports + "\n" + forward)
    assert "tensorflow" in loaded
    assert not within(loaded, ("torch",) + TOOLS + ADAPTERS + ("ray",))


@pytest.mark.parametrize("code", (
    "import compat.legacy_torch_models",
    "import compat.migrated_policy",
    "from compat.migrated_builtins import FullyConnectedNetworkRLModule, VisionNetworkRLModule",
))
def test_the_torch_runtime_loads_no_tensorflow(code):
    loaded = loaded_after(code)
    assert "torch" in loaded
    assert not within(loaded, ("tensorflow", "keras"))


def test_the_public_names_load_their_module_on_first_use():
    loaded = loaded_after("from compat import RLModulePolicy")
    assert "compat.rl_module_policy" in loaded
    assert not within(loaded, TOOLS + ("compat.modelv2_rl_module", "compat.legacy_policy_rl_module"))


@pytest.mark.parametrize("first", ("", "import compat.port_weights, compat.convert_checkpoint"))
def test_port_weights_and_convert_checkpoint_are_the_functions(first):
    """``compat.port_weights`` / ``compat.convert_checkpoint`` name the functions, also
    after their modules were imported first (which binds a module to the attribute)."""
    code = (
        f"{first}\n"
        "import compat\n"
        "from compat import ConversionReport, convert_checkpoint, port_weights\n"
        "from compat.port_weights import port_weights as port_weights_fn\n"
        "from compat.convert_checkpoint import convert_checkpoint as convert_checkpoint_fn\n"
        "assert port_weights is port_weights_fn is compat.port_weights, port_weights\n"
        "assert convert_checkpoint is convert_checkpoint_fn is compat.convert_checkpoint, convert_checkpoint\n"
    )
    loaded_after(code)


def test_compat_parity_is_the_package():
    loaded_after("import compat, types\nassert isinstance(compat.parity, types.ModuleType) and callable(compat.parity.check)")


def test_unknown_names_raise_attribute_error():
    import compat
    import compat.migrated_builtins

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        compat.nothing
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        compat.migrated_builtins.nothing
