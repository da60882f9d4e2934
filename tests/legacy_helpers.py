"""Legacy RLlib objects for the compat tests (ray 2.60, the oracle)."""

from typing import Any, List, Mapping, Optional

import numpy as np
import torch

from rlmodule.tree import combine


def stack_observations(raw: List[Any]) -> Any:
    """A list of raw observations -> one batch (dict / tuple of ``[B, ...]``)."""
    return combine(np.stack, raw)


def ray_preprocessed(space: Any, raw: List[Any]) -> np.ndarray:
    """What a legacy policy receives: ray's own preprocessor applied per observation."""
    from ray.rllib.models.preprocessors import get_preprocessor

    prep = get_preprocessor(space)(space)
    return np.stack([np.asarray(prep.transform(o)) for o in raw])


def legacy_policy(
    obs_space, act_space, model, policy_cls: Any = None, overrides: Optional[Mapping[str, Any]] = None, **training: Any
):
    """A standalone legacy policy (``policy_cls``, default ``PPOTorchPolicy``) given the
    preprocessed observation space (with ``original_space``), as the legacy env runner
    gives it; weights seeded. ``training`` are further ``PPOConfig.training()`` options,
    ``overrides`` entries of the final config dict (e.g. ``in_evaluation``)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
    from ray.rllib.models.preprocessors import get_preprocessor

    config = (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
        .framework("torch")
        .training(model=model, **training)
        .to_dict()
    )
    config.update(overrides or {})
    torch.manual_seed(0)
    return (policy_cls or PPOTorchPolicy)(get_preprocessor(obs_space)(obs_space).observation_space, act_space, config)


def legacy_custom_model_policy(
    registered_name: str, model_cls: Any, obs_space, act_space, model_config: Optional[Mapping[str, Any]] = None,
    policy_cls: Any = None, overrides: Optional[Mapping[str, Any]] = None, **training: Any,
):
    """:func:`legacy_policy` with ``model_cls`` registered as the custom model
    ``registered_name`` (the user's legacy ``model`` dict is ``model_config``)."""
    from ray.rllib.models import ModelCatalog

    ModelCatalog.register_custom_model(registered_name, model_cls)
    model = {"custom_model": registered_name, **dict(model_config or {})}
    return legacy_policy(obs_space, act_space, model, policy_cls, overrides, **training)


def migrated_module(module_class: Any, obs_space, act_space, policy) -> Any:
    """``module_class`` (a migrated model class) built from the legacy policy's model
    config with ``SingleAgentRLModuleSpec``, holding the legacy weights (``strict=True``)."""
    from rlmodule import SingleAgentRLModuleSpec

    spec = SingleAgentRLModuleSpec(
        module_class=module_class,
        observation_space=obs_space,
        action_space=act_space,
        model_config_dict=dict(policy.config["model"]),
    )
    module = spec.build()
    module.load_state_dict(policy.model.state_dict(), strict=True)
    return module


def assert_legacy_attributes_match(module: Any, legacy_model: Any) -> None:
    """A migrated module has the legacy model's parameters (same names, same order)
    and the attributes legacy code read (``num_outputs``, ``model_config``, ...)."""
    assert list(module.state_dict()) == list(legacy_model.state_dict())
    assert type(module).__name__ == type(legacy_model).__name__
    assert module.num_outputs == legacy_model.num_outputs
    assert module.model_config == legacy_model.model_config
    assert module.name == legacy_model.name
    assert module.obs_space == legacy_model.obs_space
    assert getattr(module.obs_space, "original_space", None) == getattr(legacy_model.obs_space, "original_space", None)


def perturb_parameter(module: Any, parameter: str, delta: float = 0.1) -> None:
    """Shift the first entry of ``module``'s ``parameter`` by ``delta``."""
    with torch.no_grad():
        module.get_parameter(parameter).view(-1)[0] += delta


def assert_parity_fails_on(report: Any, quantity: str) -> None:
    """The parity report failed, naming ``quantity`` (with a clear divergence)."""
    assert not report.ok and quantity in report.failed, report.summary()
    assert quantity in report.summary().splitlines()[0]  # "PARITY FAILED: <quantities> diverged"
    assert report.quantities[quantity].max_abs > 1e-3
    if quantity == "vf_preds":  # a value-head weight moves nothing else
        assert report.failed == ["vf_preds"], report.summary()
