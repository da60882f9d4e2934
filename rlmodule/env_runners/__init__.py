"""Env runners: step environments with an RLModule and return :class:`Fragment` lists.

- :class:`SingleAgentEnvRunner`: a gymnasium ``SyncVectorEnv`` of
  ``config.num_envs_per_env_runner`` copies of ``config.make_env()``;
- :class:`MultiAgentEnvRunner`: copies of an RLlib-style multi-agent env or a
  PettingZoo ``ParallelEnv``, acting with a ``MultiAgentRLModule``;
- :func:`make_env_runner`: the right one for ``config.is_multi_agent()``;
- :class:`EnvRunnerGroup`: ``num_env_runners`` of them as Ray actors;
- :class:`EnvDataError`: what every runner raises when an env returns a None, NaN /
  inf, wrong-shape or wrong-structure observation or a None / NaN reward (naming the
  env, sub-env, step and observation key).

Importing this package imports no framework (torch / tensorflow load with the module)
and not Ray (the group imports it when made).
"""

from __future__ import annotations

from typing import Any, Union

from rlmodule.env_runners.env_checks import EnvDataError
from rlmodule.env_runners.env_runner_group import EnvRunnerGroup
from rlmodule.env_runners.fragment import Fragment
from rlmodule.env_runners.multi_agent_env_runner import (
    MultiAgentEnvRunner,
    ParallelEnvAdapter,
    is_parallel_env,
)
from rlmodule.env_runners.single_agent_env_runner import SingleAgentEnvRunner


def make_env_runner(
    config: Any, module: Any = None, worker_index: int = 0
) -> Union[SingleAgentEnvRunner, MultiAgentEnvRunner]:
    """A :class:`MultiAgentEnvRunner` if ``config.is_multi_agent()`` (or ``module`` is a
    ``MultiAgentRLModule``), else a :class:`SingleAgentEnvRunner`."""
    from rlmodule.marl_module import MultiAgentRLModule

    is_multi = getattr(config, "is_multi_agent", None)
    multi = bool(is_multi()) if callable(is_multi) else False
    if multi or isinstance(module, MultiAgentRLModule):
        return MultiAgentEnvRunner(config, module=module, worker_index=worker_index)
    return SingleAgentEnvRunner(config, module=module, worker_index=worker_index)


__all__ = [
    "EnvDataError",
    "EnvRunnerGroup",
    "Fragment",
    "MultiAgentEnvRunner",
    "ParallelEnvAdapter",
    "SingleAgentEnvRunner",
    "is_parallel_env",
    "make_env_runner",
]
