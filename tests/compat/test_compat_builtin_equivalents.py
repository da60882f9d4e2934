"""Legacy built-in models -> our PPO module with ported weights, behind RLModulePolicy.

For the legacy ``VisionNetwork`` and the LSTM wrapper (``use_lstm=True``) around
``FullyConnectedNetwork`` or ``VisionNetwork``, our PPO module built from the same
``model`` dict, with the legacy weights ported by ``port_weights``, must agree with the
legacy PPOTorchPolicy (ray 2.60, the oracle) through ``compat.RLModulePolicy``;
``compat.parity.check`` must pass, and fail naming the diverged quantity once one
ported weight is perturbed.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Tuple

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.legacy_helpers import legacy_policy

from compat import RLModulePolicy
from compat.parity import check
from compat.port_weights import (
    LEGACY_LSTM_TO_PPO,
    LEGACY_LSTM_UNUSED,
    LEGACY_VISIONNET_TO_PPO,
    PortReport,
    port_weights,
)
from rlmodule import SingleAgentRLModuleSpec
from rlmodule.algorithms.ppo import PPOCatalog, PPOTorchRLModule

pytestmark = pytest.mark.legacy

ACTIONS = gym.spaces.Discrete(4)
VECTOR = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
IMAGE16 = gym.spaces.Box(0.0, 1.0, (16, 16, 3), np.float32)
SMALL_FILTERS = [[8, [4, 4], 2], [16, [3, 3], 2], [32, [4, 4], 1]]  # 16x16 -> 8x8 -> 4x4 -> 1x1

# name -> (observation space, legacy ``model`` dict). Legacy PPO defaults
# vf_share_layers=False: the VisionNetwork then has a separate value conv stack.
CASES: Dict[str, Tuple[gym.spaces.Box, Dict[str, Any]]] = {
    "vision42_default": (gym.spaces.Box(0.0, 1.0, (42, 42, 3), np.float32), {}),
    "vision84_shared_vf": (gym.spaces.Box(0.0, 1.0, (84, 84, 3), np.float32), {"vf_share_layers": True}),
    "vision16_filters": (IMAGE16, {"conv_filters": SMALL_FILTERS, "vf_share_layers": False}),
    "lstm_small": (VECTOR, {"use_lstm": True, "lstm_cell_size": 32, "fcnet_hiddens": [16], "max_seq_len": 20}),
    "lstm_default": (VECTOR, {"use_lstm": True}),
    "lstm_vision16": (IMAGE16, {"use_lstm": True, "lstm_cell_size": 16, "conv_filters": SMALL_FILTERS}),
}
VISION = [c for c in CASES if c.startswith("vision")]
LSTM = [c for c in CASES if c.startswith("lstm")]
STEPS = 5


@functools.lru_cache(maxsize=None)
def legacy(case: str) -> Any:
    """The legacy policy of ``case`` (seeded; read-only, so shared between tests)."""
    obs_space, model = CASES[case]
    return legacy_policy(obs_space, ACTIONS, model)


def ported(case: str) -> Tuple[PPOTorchRLModule, PortReport]:
    """A fresh PPO module from the legacy policy's own model dict, legacy weights ported.
    The LSTM wrapper feeds logits and value from one LSTM: ours shares its encoder."""
    policy = legacy(case)
    model = dict(policy.config["model"])
    if model["use_lstm"]:
        model["vf_share_layers"] = True
    spec = SingleAgentRLModuleSpec(
        module_class=PPOTorchRLModule,
        observation_space=CASES[case][0],
        action_space=ACTIONS,
        model_config_dict=model,
        catalog_class=PPOCatalog,
    )
    module = spec.build()
    if model["use_lstm"]:
        report = port_weights(policy.model, module, LEGACY_LSTM_TO_PPO, ignore=LEGACY_LSTM_UNUSED)
    else:
        report = port_weights(policy.model, module, LEGACY_VISIONNET_TO_PPO)
    return module, report


def observations(case: str, n: int, seed: int) -> np.ndarray:
    space = CASES[case][0]
    space.seed(seed)
    return np.stack([space.sample() for _ in range(n)])


def assert_same(ours: np.ndarray, theirs: np.ndarray, what: str, atol: float = 1e-5) -> float:
    """Same shape and dtype, values within ``atol``; returns the max abs error."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), what
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=atol, err_msg=what)
    return float(np.abs(ours.astype(np.float64) - theirs).max(initial=0.0))


def compare_step(
    policy: Any, adapter: RLModulePolicy, obs: np.ndarray, states: Tuple[Any, Any]
) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """One step from each side's own state (``(legacy, ours)``; None: initial): outputs
    with and without exploration and log-likelihoods agree. Returns the new states."""
    s_legacy, s_ours = states
    a_l, next_legacy, e_l = policy.compute_actions(obs, state_batches=s_legacy, explore=False)
    a_o, next_ours, e_o = adapter.compute_actions(obs, state_batches=s_ours, explore=False)
    assert_same(a_o, a_l, "deterministic actions", atol=0)
    assert not e_o["action_logp"].any() and not e_l["action_logp"].any()  # logp 0
    assert set(e_o) == set(e_l)  # vf_preds too: from compute_values(), as legacy reports it in every mode
    for key in e_o:
        assert_same(e_o[key], e_l[key], key)
    torch.manual_seed(11)
    a_l, _, e_l = policy.compute_actions(obs, state_batches=s_legacy, explore=True)
    torch.manual_seed(11)
    a_o, _, e_o = adapter.compute_actions(obs, state_batches=s_ours, explore=True)
    assert_same(a_o, a_l, "sampled actions", atol=0)
    assert set(e_o) == set(e_l)
    for key in e_l:
        assert_same(e_o[key], e_l[key], key)
    logp_l = policy.compute_log_likelihoods(a_l, obs, state_batches=s_legacy).numpy()
    logp_o = adapter.compute_log_likelihoods(a_l, obs, state_batches=s_ours).numpy()
    assert_same(logp_o, logp_l, "log-likelihoods")
    return next_legacy, next_ours


@pytest.mark.parametrize("case", VISION)
def test_ported_vision_module_agrees_with_the_legacy_policy(case):
    module, report = ported(case)
    how = {e.target_name: e.how for e in report.entries}
    assert how["pi.net.0.weight"] == "mapping+reshape"  # the legacy 1x1 logits conv
    separate_vf = not legacy(case).config["model"]["vf_share_layers"]
    assert how["vf.net.0.weight"] == ("order+reshape" if separate_vf else "order")
    assert not report.ignored and not report.source_only and not report.target_only
    compare_step(legacy(case), RLModulePolicy(module), observations(case, 8, seed=1), (None, None))


@pytest.mark.parametrize("case", LSTM)
def test_ported_lstm_module_agrees_step_by_step_with_carried_state(case):
    policy = legacy(case)
    module, report = ported(case)
    assert [n for n, _ in report.ignored] == [n for n in policy.model.state_dict() if "_value_branch_separate" in n]
    adapter = RLModulePolicy(module)
    cell = policy.config["model"]["lstm_cell_size"]
    initial = adapter.get_initial_state()
    assert len(initial) == len(policy.get_initial_state()) == 2 and not any(s.any() for s in initial)
    n = 6
    s_legacy = [np.repeat(s[None], n, axis=0) for s in policy.get_initial_state()]
    s_ours = None  # the adapter starts from the module's initial state
    for step in range(STEPS):
        s_legacy, s_ours = compare_step(policy, adapter, observations(case, n, seed=10 + step), (s_legacy, s_ours))
        assert len(s_ours) == len(s_legacy) == 2  # [h, c], legacy order
        for ours, theirs in zip(s_ours, s_legacy):
            # ours keeps the layer axis, [B, 1, cell]; legacy's is [B, cell]
            assert ours.dtype == theirs.dtype and theirs.shape == (n, cell) and ours.shape == (n, 1, cell)
            assert_same(ours.reshape(theirs.shape), theirs, f"state_out at step {step}")
        assert np.abs(s_ours[0]).max() > 0.01  # the state moves: it is really carried


@pytest.mark.parametrize("case", sorted(CASES))
def test_parity_check_passes_for_the_ported_module(case):
    module, _ = ported(case)
    report = check(legacy(case), RLModulePolicy(module), num_samples=32, steps=STEPS, seed=2)
    assert report.ok, report.summary()
    assert report.quantities["action_dist_inputs"].max_abs < 1e-5
    assert report.quantities["vf_preds"].max_abs < 1e-5
    if case in LSTM:
        assert report.steps == STEPS and report.quantities["state_out"].ok
        assert len(report.quantities["state_out"].per_step_max_abs) == STEPS


@pytest.mark.parametrize(
    "case, parameter, diverged",
    [
        ("vision42_default", "pi.net.0.bias", "action_dist_inputs"),
        ("vision42_default", "vf.net.0.bias", "vf_preds"),
        ("vision16_filters", "encoder.critic_encoder.cnn.convs.2.bias", "vf_preds"),
        ("lstm_small", "pi.net.0.bias", "action_dist_inputs"),
        ("lstm_small", "vf.net.0.bias", "vf_preds"),
        ("lstm_small", "encoder.actor_encoder.rnn.bias_hh_l0", "state_out"),
    ],
)
def test_a_perturbed_weight_fails_naming_the_quantity(case, parameter, diverged):
    module, _ = ported(case)
    with torch.no_grad():
        module.get_parameter(parameter)[0] += 0.5
    report = check(legacy(case), RLModulePolicy(module), num_samples=32, steps=3, seed=4)
    assert not report.ok and diverged in report.failed
    assert report.summary().splitlines()[0].startswith("PARITY FAILED: ")
    assert diverged in report.summary().splitlines()[0]
    assert any(line.strip().startswith(f"FAIL {diverged}") for line in report.summary().splitlines())
    assert report.quantities["legacy.compute_actions"].ok  # the legacy side is consistent
    if parameter.endswith(("pi.net.0.bias", "vf.net.0.bias")):
        assert report.failed[0] == diverged
        assert report.quantities[diverged].max_abs == pytest.approx(0.5, abs=1e-5)
    if parameter == "vf.net.0.bias" or "critic" in parameter:  # the value alone moves
        assert report.failed == ["vf_preds"]
    if "rnn" in parameter:  # a recurrent weight moves everything downstream of the state
        assert {"state_out", "action_dist_inputs", "vf_preds"} <= set(report.failed)


def test_adapter_accepts_legacy_shaped_lstm_state():
    """Serving code that carries the legacy policy's [B, cell] states can feed them in."""
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.algorithms.ppo import PPOCatalog, PPOTorchRLModule

    obs_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    module = SingleAgentRLModuleSpec(
        module_class=PPOTorchRLModule, observation_space=obs_space, action_space=gym.spaces.Discrete(2),
        model_config_dict={"use_lstm": True, "lstm_cell_size": 8, "fcnet_hiddens": [16], "vf_share_layers": True},
        catalog_class=PPOCatalog,
    ).build()
    adapter = RLModulePolicy(module)
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype(np.float32)
    _, state, first = adapter.compute_actions(obs, explore=False)
    legacy_shaped = [s.reshape(3, -1) for s in state]
    _, _, a = adapter.compute_actions(obs, state_batches=state, explore=False)
    _, _, b = adapter.compute_actions(obs, state_batches=legacy_shaped, explore=False)
    assert legacy_shaped[0].shape == (3, 8)
    np.testing.assert_array_equal(a["action_dist_inputs"], b["action_dist_inputs"])
    assert not np.allclose(a["action_dist_inputs"], first["action_dist_inputs"])
