"""Migrated model classes against their legacy originals, run by real RLlib 2.60 policies.

Each case pairs a legacy fixture (``fixtures/legacy/models/<fixture>.py``: a custom
model, and for policy-level behaviour a ``PPOTorchPolicy`` subclass) with its migration:
``fixtures/migrated/models/<fixture>.py`` (what ``rlmigrate`` emits), or for a policy
whose logic a human moves into the module (the codemod leaves TODOs there),
``fixtures/completed/models/<fixture>.py``. The legacy policy is built standalone
(design.md); the migrated class is built from the legacy model config with
``SingleAgentRLModuleSpec`` and takes the legacy ``state_dict`` with ``strict=True``.
``compat.RLModulePolicy`` over it must then act like the legacy policy, and
``compat.parity.check`` must pass - and fail, naming the quantity, once a weight is
perturbed.
"""

from __future__ import annotations

import ast
import functools
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.legacy_helpers import (
    assert_legacy_attributes_match,
    assert_parity_fails_on,
    legacy_custom_model_policy,
    migrated_module as build_migrated_module,
    perturb_parameter,
    ray_preprocessed,
    stack_observations,
)

from compat import LegacyPolicyRLModule, RLModulePolicy
from compat.parity import check

pytestmark = pytest.mark.legacy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BOX3 = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
MASKED_OBS = gym.spaces.Dict(
    {"action_mask": gym.spaces.Box(0.0, 1.0, (4,), np.float32), "observations": gym.spaces.Box(-1.0, 1.0, (6,), np.float32)}
)


@dataclass(frozen=True)
class Case:
    """One legacy fixture and its migration.

    Attributes:
        model: the model class (the same name in both files).
        obs_space, action_space: the environment's (raw) spaces.
        model_config: the user's legacy ``model`` dict (``custom_model`` is added).
        policy: the legacy policy class in the fixture (default ``PPOTorchPolicy``).
        perturb: ``(parameter, quantity)``: perturbing the parameter must make the
            parity check fail on the quantity.
    """

    model: str
    obs_space: gym.Space
    action_space: gym.Space
    model_config: Dict[str, Any] = field(default_factory=dict)
    policy: Optional[str] = None
    perturb: tuple = ()

    @property
    def recurrent(self) -> bool:
        return self.model == "LSTMModel"

    @property
    def migration(self) -> str:
        """The fixtures directory of the finished migration."""
        return "completed" if self.policy else "migrated"


CASES: Dict[str, Case] = {
    "value_caching": Case(
        "ValueCachingModel", gym.spaces.Tuple((gym.spaces.Discrete(3), BOX4)), gym.spaces.Discrete(3),
        {"custom_model_config": {"hiddens": [32, 16]}}, perturb=("value_head.bias", "vf_preds"),
    ),
    "masked_actions": Case(
        "MaskedActionsModel", MASKED_OBS, gym.spaces.Discrete(4), {"fcnet_hiddens": [32, 32]},
        perturb=("internal_model._logits._model.0.bias", "action_dist_inputs"),
    ),
    "diag_gaussian": Case(
        "GaussianModel", BOX3, gym.spaces.Box(-2.0, 2.0, (2,), np.float32),
        {"custom_model_config": {"hidden_size": 32}}, perturb=("log_std", "action_dist_inputs"),
    ),
    "lstm_model": Case(
        "LSTMModel", BOX3, gym.spaces.Discrete(2), {"max_seq_len": 8, "custom_model_config": {"fc_size": 16, "cell_size": 8}},
        perturb=("lstm.weight_hh_l0", "state_out"),
    ),
    "temperature_policy": Case(
        "TemperatureModel", BOX4, gym.spaces.Discrete(3), policy="TemperaturePolicy", perturb=("logits.bias", "action_dist_inputs"),
    ),
    "epsilon_greedy_policy": Case(
        "EpsilonGreedyModel", BOX4, gym.spaces.Discrete(3), policy="EpsilonGreedyPolicy", perturb=("vf.2.bias", "vf_preds"),
    ),
}
FEED_FORWARD = sorted(name for name, case in CASES.items() if not case.recurrent)
# Legacy TorchPolicyV2 cannot score actions of an action_sampler_fn policy (it raises).
SCORABLE = sorted(name for name in CASES if CASES[name].policy != "EpsilonGreedyPolicy")


def fixture_module(side: str, name: str) -> Any:
    return importlib.import_module(f"fixtures.{side}.models.{name}")


@functools.lru_cache(maxsize=None)
def legacy_policy(name: str) -> Any:
    """The legacy policy of case ``name`` (weights seeded; built once per process)."""
    case, legacy = CASES[name], fixture_module("legacy", name)
    return legacy_custom_model_policy(
        f"equivalents_{name}", getattr(legacy, case.model), case.obs_space, case.action_space, case.model_config,
        getattr(legacy, case.policy) if case.policy else None,
    )


def migrated_module(name: str) -> Any:
    """The migrated class of case ``name``, built from the legacy policy's model config,
    holding the legacy weights."""
    case = CASES[name]
    module_class = getattr(fixture_module(case.migration, name), case.model)
    return build_migrated_module(module_class, case.obs_space, case.action_space, legacy_policy(name))


def legacy_side(name: str) -> Any:
    """What parity.check compares against: the policy, or for behaviour that lives in
    policy overrides, the whole policy as an RLModule."""
    policy = legacy_policy(name)
    return LegacyPolicyRLModule.wrap(policy) if CASES[name].policy else policy


def sample_raw(space: gym.Space, n: int, seed: int) -> List[Any]:
    """``n`` raw observations; action masks are 0/1 with at least one allowed action."""
    space.seed(seed)
    rng = np.random.default_rng(seed)
    obs = [space.sample() for _ in range(n)]
    if space is MASKED_OBS:
        for o in obs:
            o["action_mask"] = (rng.uniform(size=4) < 0.5).astype(np.float32)
            o["action_mask"][rng.integers(4)] = 1.0
    return obs


def assert_extras_agree(ours: Dict[str, np.ndarray], legacy: Dict[str, np.ndarray], explore: bool) -> None:
    # The migrated inference forward computes no value (as the built-in PPO module);
    # legacy PPO reported vf_preds in both modes.
    expected_keys = sorted(legacy) if explore else sorted(set(legacy) - {"vf_preds"})
    assert sorted(ours) == expected_keys
    for key in expected_keys:
        assert ours[key].dtype == legacy[key].dtype and ours[key].shape == legacy[key].shape, key
        np.testing.assert_allclose(ours[key], legacy[key], rtol=1e-6, atol=1e-6, err_msg=key)


# --- the fixtures themselves ---------------------------------------------------------------
def _fixture_names(side: str) -> List[str]:
    return sorted(p.stem for p in (FIXTURES / side / "models").glob("*.py"))


def _ray_imports(path: Path) -> List[int]:
    """Line numbers of the imports of ``ray`` in ``path`` that no TODO(rlmigrate) flags."""
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        flagged = node.lineno > 1 and "TODO(rlmigrate)" in lines[node.lineno - 2]
        if any(n == "ray" or n.startswith("ray.") for n in names) and not flagged:
            found.append(node.lineno)
    return found


def test_every_fixture_has_a_case_and_a_migration():
    assert _fixture_names("legacy") == _fixture_names("migrated") == sorted(CASES)
    assert _fixture_names("completed") == sorted(name for name, case in CASES.items() if case.policy)


@pytest.mark.parametrize("name", sorted(CASES))
def test_migrations_import_nothing_from_ray(name):
    """The codemod's output only where it flags the line; a finished migration never."""
    assert _ray_imports(FIXTURES / "migrated" / "models" / f"{name}.py") == []
    if CASES[name].policy:
        assert _ray_imports(FIXTURES / "completed" / "models" / f"{name}.py") == []
    assert _ray_imports(FIXTURES / "legacy" / "models" / f"{name}.py")  # the check sees ray imports


# --- weights and constructor arguments -----------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_legacy_state_dict_loads_strictly_and_the_legacy_attributes_match(name):
    assert_legacy_attributes_match(migrated_module(name), legacy_policy(name).model)


# --- the adapter policy against the legacy policy ------------------------------------------
@pytest.mark.parametrize("name", FEED_FORWARD)
def test_adapter_acts_like_the_legacy_policy_deterministically(name):
    case, policy = CASES[name], legacy_policy(name)
    adapter = RLModulePolicy(migrated_module(name))
    raw = sample_raw(case.obs_space, 16, seed=1)
    flat = ray_preprocessed(case.obs_space, raw)
    a_legacy, s_legacy, e_legacy = policy.compute_actions(flat, explore=False)
    for obs in (stack_observations(raw), flat):  # raw observations, or legacy-preprocessed ones
        a_ours, s_ours, e_ours = adapter.compute_actions(obs, explore=False)
        assert a_ours.dtype == a_legacy.dtype and a_ours.shape == a_legacy.shape
        np.testing.assert_allclose(a_ours, a_legacy, rtol=1e-6, atol=1e-6)
        assert s_ours == s_legacy == []
        assert_extras_agree(e_ours, e_legacy, explore=False)
        assert not e_ours["action_logp"].any()  # logp 0 for deterministic actions


@pytest.mark.parametrize("name", FEED_FORWARD)
def test_adapter_samples_like_the_legacy_policy_under_the_same_seed(name):
    case, policy = CASES[name], legacy_policy(name)
    adapter = RLModulePolicy(migrated_module(name))
    flat = ray_preprocessed(case.obs_space, sample_raw(case.obs_space, 16, seed=2))
    torch.manual_seed(7)
    a_legacy, _, e_legacy = policy.compute_actions(flat, explore=True)
    torch.manual_seed(7)
    a_ours, _, e_ours = adapter.compute_actions(flat, explore=True)
    np.testing.assert_allclose(a_ours, a_legacy, rtol=1e-6, atol=1e-6)
    assert_extras_agree(e_ours, e_legacy, explore=True)


@pytest.mark.parametrize("name", SCORABLE)
def test_log_likelihoods_agree(name):
    case, policy = CASES[name], legacy_policy(name)
    adapter = RLModulePolicy(migrated_module(name))
    flat = ray_preprocessed(case.obs_space, sample_raw(case.obs_space, 16, seed=3))
    states = [np.stack([s] * 16) for s in policy.get_initial_state()] or None
    torch.manual_seed(3)
    actions = policy.compute_actions(flat, state_batches=states, explore=True)[0]  # valid (unmasked) actions
    legacy = policy.compute_log_likelihoods(actions, flat, state_batches=states).numpy()
    ours = adapter.compute_log_likelihoods(actions, flat, state_batches=states).numpy()
    np.testing.assert_allclose(ours, legacy, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("explore", [False, True])
def test_recurrent_rollout_with_carried_state(explore):
    case, policy = CASES["lstm_model"], legacy_policy("lstm_model")
    adapter = RLModulePolicy(migrated_module("lstm_model"))
    assert adapter.is_recurrent() and adapter.num_state_tensors() == 2
    legacy_state = [np.stack([s] * 3) for s in policy.get_initial_state()]
    our_state = [np.stack([s] * 3) for s in adapter.get_initial_state()]
    for s_o, s_l in zip(our_state, legacy_state):
        np.testing.assert_array_equal(s_o, s_l)
    for step in range(5):
        obs = np.stack(sample_raw(case.obs_space, 3, seed=10 + step))
        torch.manual_seed(step)
        a_l, legacy_state, e_l = policy.compute_actions(obs, state_batches=legacy_state, explore=explore)
        torch.manual_seed(step)
        a_o, our_state, e_o = adapter.compute_actions(obs, state_batches=our_state, explore=explore)
        np.testing.assert_array_equal(a_o, a_l)
        assert_extras_agree(e_o, e_l, explore=explore)
        assert len(our_state) == len(legacy_state) == 2
        for s_o, s_l in zip(our_state, legacy_state):
            np.testing.assert_allclose(s_o, s_l, rtol=1e-6, atol=1e-6, err_msg=f"step {step}")


# --- the parity harness --------------------------------------------------------------------
def parity(name: str, module: Any) -> Any:
    steps = 5 if CASES[name].recurrent else 1
    return check(legacy_side(name), RLModulePolicy(module), num_samples=32, steps=steps)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parity_check_passes(name):
    report = parity(name, migrated_module(name))
    assert report.ok, report.summary()
    compared = [q for q, r in report.quantities.items() if not r.skipped]
    assert {"action_dist_inputs", "vf_preds", "deterministic_actions", "logp", "sampled_actions"} <= set(compared)
    assert ("state_out" in compared) == CASES[name].recurrent
    assert report.quantities["action_dist_inputs"].max_abs <= 1e-6


@pytest.mark.parametrize("name", sorted(CASES))
def test_parity_check_names_a_perturbed_weight(name):
    parameter, quantity = CASES[name].perturb
    module = migrated_module(name)
    perturb_parameter(module, parameter)
    assert_parity_fails_on(parity(name, module), quantity)
