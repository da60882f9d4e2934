"""BCConfigTest: the specification's test config, with the DiscreteBC modules.

It builds without a dataset (the specification's blocks only build it). With
``.offline_data(input_=...)`` it trains like :class:`~rlmodule.algorithms.bc.BCConfig`;
without one, ``train()`` trains nothing, as RLlib's ``BCAlgorithmTest``, and warns
naming ``.offline_data(input_=...)`` (``BC.train()`` raises instead).
"""

import warnings
from typing import Any, Dict, Optional

from rlmodule.algorithms.bc.bc import BC, BCConfig
from rlmodule.backend import backend
from rlmodule.rl_module import SingleAgentRLModuleSpec
from rlmodule.testing.bc_module import DiscreteBCModuleBase


class BCAlgorithmTest(BC):
    """:class:`~rlmodule.algorithms.bc.BC` under the specification's test name."""

    @classmethod
    def get_default_config(cls) -> Any:
        return BCConfigTest()

    def training_step(self) -> Dict[str, Any]:
        if self.dataset:
            return super().training_step()
        warnings.warn(
            "BCConfigTest: no dataset, this iteration trained nothing; set one with .offline_data(input_=path)",
            UserWarning,
            stacklevel=3,
        )
        return {}


class BCConfigTest(BCConfig):
    """Defaults to ``DiscreteBCTorchModule`` (torch) or ``DiscreteBCTfModule`` (tf2)."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        super().__init__(algo_class=algo_class or BCAlgorithmTest)

    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        return SingleAgentRLModuleSpec(module_class=backend(self.framework_str).rl_module_class(DiscreteBCModuleBase))
