"""The public import points of design.md exist (users, docs and tests rely on them)."""

import subprocess
import sys


def test_public_import_points():
    from compat import LegacyPolicyRLModule, ModelV2RLModule, RLModulePolicy, parity, port_weights
    from rlmodule import (
        MultiAgentRLModule,
        MultiAgentRLModuleConfig,
        MultiAgentRLModuleSpec,
        NestedDict,
        RLModule,
        RLModuleConfig,
        SingleAgentRLModuleSpec,
        TensorSpec,
    )
    from rlmodule.algorithms.appo import APPOConfig, APPOTfRLModule, APPOTorchRLModule
    from rlmodule.algorithms.impala import ImpalaConfig
    from rlmodule.algorithms.ppo import PPOCatalog, PPOConfig, PPOTfRLModule, PPOTorchRLModule
    from rlmodule.envs import MultiAgentCartPole
    from rlmodule.testing import BCConfigTest, DiscreteBCTfModule, DiscreteBCTorchModule
    from rlmodule.tf import TfRLModule
    from rlmodule.torch import TorchRLModule

    assert issubclass(PPOTorchRLModule, TorchRLModule) and issubclass(PPOTfRLModule, TfRLModule)
    assert issubclass(APPOTorchRLModule, TorchRLModule)
    assert issubclass(APPOTfRLModule, TfRLModule) and issubclass(ModelV2RLModule, RLModule)
    assert issubclass(LegacyPolicyRLModule, RLModule) and issubclass(MultiAgentRLModule, RLModule)
    assert callable(parity.check) and callable(port_weights) and callable(RLModulePolicy)
    assert all(x is not None for x in (MultiAgentRLModuleConfig, MultiAgentRLModuleSpec, NestedDict, RLModuleConfig,
                                       SingleAgentRLModuleSpec, TensorSpec, APPOConfig, ImpalaConfig, PPOCatalog,
                                       PPOConfig, MultiAgentCartPole, BCConfigTest, DiscreteBCTfModule, DiscreteBCTorchModule))


def test_layering_no_framework_or_ray_at_import_time():
    checks = {
        "import rlmodule, rlmodule.algorithms.ppo, rlmodule.models, rlmodule.testing": ("tensorflow", "torch", "ray"),
        "import codemods, codemods.import_map, rlmigrate.cli": ("tensorflow", "torch", "ray", "gymnasium"),
        "import compat": ("ray", "tensorflow"),
    }
    for code, banned in checks.items():
        probe = f"{code}\nimport sys\nbad = [m for m in {banned!r} if m in sys.modules]\nassert not bad, bad"
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        assert result.returncode == 0, (code, result.stderr[-500:])
