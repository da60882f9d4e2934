"""Legacy RLlib objects for the compat tests (ray 2.60, the oracle)."""

from typing import Any, List

import numpy as np
import torch


def stack_observations(raw: List[Any]) -> Any:
    """A list of raw observations -> one batch (dict / tuple of ``[B, ...]``)."""
    first = raw[0]
    if isinstance(first, dict):
        return {k: stack_observations([o[k] for o in raw]) for k in first}
    if isinstance(first, tuple):
        return tuple(stack_observations([o[i] for o in raw]) for i in range(len(first)))
    return np.stack(raw)


def ray_preprocessed(space: Any, raw: List[Any]) -> np.ndarray:
    """What a legacy policy receives: ray's own preprocessor applied per observation."""
    from ray.rllib.models.preprocessors import get_preprocessor

    prep = get_preprocessor(space)(space)
    return np.stack([np.asarray(prep.transform(o)) for o in raw])


def legacy_policy(obs_space, act_space, model):
    """A standalone legacy PPOTorchPolicy given the preprocessed observation space (with
    ``original_space``), as the legacy env runner gives it; weights seeded."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
    from ray.rllib.models.preprocessors import get_preprocessor

    config = (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
        .framework("torch")
        .training(model=model)
        .to_dict()
    )
    torch.manual_seed(0)
    return PPOTorchPolicy(get_preprocessor(obs_space)(obs_space).observation_space, act_space, config)
