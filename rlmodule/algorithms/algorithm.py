"""Algorithm: owns the environment and the module, and runs ``training_step``."""

from __future__ import annotations

import time
from typing import Any, Dict, Optional

from rlmodule.marl_module import MultiAgentRLModule
from rlmodule.rl_module import DEFAULT_MODULE_ID, RLModule


class Algorithm:
    """Built by ``config.build()``; ``train()`` runs one ``training_step``."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.env = config.make_env()
        self.module_spec = config.get_rl_module_spec(self.env)
        self.module: RLModule = self.module_spec.build()
        self.iteration = 0

    def training_step(self) -> Dict[str, Any]:
        """One iteration of sampling and learning; algorithms override this."""
        raise NotImplementedError(f"{type(self).__name__}.training_step()")

    def train(self) -> Dict[str, Any]:
        """Run one ``training_step`` and return its results with counters and timing."""
        start = time.perf_counter()
        result = dict(self.training_step())
        self.iteration += 1
        result["training_iteration"] = self.iteration
        result["time_this_iter_s"] = time.perf_counter() - start
        return result

    def get_module(self, module_id: Optional[str] = None) -> RLModule:
        """The module (for multi-agent: the one under ``module_id``, default the default id)."""
        if isinstance(self.module, MultiAgentRLModule):
            return self.module[module_id or DEFAULT_MODULE_ID]
        if module_id not in (None, DEFAULT_MODULE_ID):
            raise KeyError(f"single-agent algorithm has no module {module_id!r}")
        return self.module

    def stop(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()
