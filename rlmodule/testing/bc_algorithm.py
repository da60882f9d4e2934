"""BCConfigTest: the specification's test config; builds the BC module, trains nothing.

As in RLlib's own ``BCAlgorithmTest``, ``training_step`` does no learning: this config
exists to show module specs being filled from the environment and ``model``.
"""

from typing import Any, Dict

from rlmodule.algorithms import Algorithm, AlgorithmConfig
from rlmodule.rl_module import SingleAgentRLModuleSpec


class BCAlgorithmTest(Algorithm):
    """Holds the module and an env runner that never samples; one training step
    returns an empty result."""

    def setup(self) -> None:
        from rlmodule.env_runners import make_env_runner

        self.env_runner = make_env_runner(self.config, module=self.module)
        self.learners = {}

    def training_step(self) -> Dict[str, Any]:
        return {}


class BCConfigTest(AlgorithmConfig):
    """Defaults to ``DiscreteBCTorchModule`` (torch) or ``DiscreteBCTfModule`` (tf2)."""

    def __init__(self, algo_class: type = BCAlgorithmTest) -> None:
        super().__init__(algo_class=algo_class)

    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        if self.framework_str == "torch":
            from rlmodule.testing.torch_bc_module import DiscreteBCTorchModule

            return SingleAgentRLModuleSpec(module_class=DiscreteBCTorchModule)
        from rlmodule.testing.tf_bc_module import DiscreteBCTfModule

        return SingleAgentRLModuleSpec(module_class=DiscreteBCTfModule)
