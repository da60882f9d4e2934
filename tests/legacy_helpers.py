"""Legacy RLlib objects for the compat tests (ray 2.60, the oracle)."""

import torch


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
