"""Migrated pattern fixtures against their legacy originals, run by real RLlib 2.60 policies.

The fixtures under ``fixtures/legacy/patterns/`` exercise the codemod's class finding,
constructor rewriting, model extras, indirect subclasses and value-function variants;
``fixtures/migrated/patterns/`` holds what ``rlmigrate`` emits for them. As in
``tests/test_compat_equivalents.py``, every legacy model class there (including the class
``class_finding.make_model_class`` defines inside a function) is built as the custom
model of a standalone legacy ``PPOTorchPolicy``; its migration is built from the legacy
model config with ``SingleAgentRLModuleSpec``, takes the legacy ``state_dict`` with
``strict=True``, and ``compat.parity.check`` must pass - and fail, naming the quantity,
once a weight is perturbed.
"""

from __future__ import annotations

import ast
import functools
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
import pytest

from tests.legacy_helpers import (
    assert_legacy_attributes_match,
    assert_parity_fails_on,
    legacy_custom_model_policy,
    migrated_module as build_migrated_module,
    perturb_parameter,
)

from compat import RLModulePolicy
from compat.parity import check

pytestmark = pytest.mark.legacy

PATTERNS = Path(__file__).resolve().parents[2] / "fixtures" / "legacy" / "patterns"
BOX = {n: gym.spaces.Box(-1.0, 1.0, (n,), np.float32) for n in (3, 4, 5, 6)}
DICT_OBS = gym.spaces.Dict({"id": gym.spaces.Discrete(4), "pos": BOX[3]})
MULTI_DISCRETE_OBS = gym.spaces.MultiDiscrete([2, 3])
GAUSSIAN = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
MASKED_OBS = gym.spaces.Dict({"action_mask": gym.spaces.Box(0.1, 1.0, (3,), np.float32), "features": BOX[4]})
#: Legacy bases of the fixtures that cannot act alone (no recurrent core): no case of their own.
ABSTRACT = {"RecurrentBase"}


@dataclass(frozen=True)
class Case:
    """One legacy model class of a pattern fixture and its migration.

    Attributes:
        fixture: the module under ``fixtures/{legacy,migrated}/patterns/``.
        model: the class name (the same in both files), or, with ``factory``, the
            name of the function that returns it.
        obs_space, action_space: the environment's (raw) spaces.
        model_config: the user's legacy ``model`` dict (``custom_model`` is added).
        factory_args: the factory's arguments (the class is ``model(*factory_args)``).
        acting_only: the legacy policy is built as an evaluation policy
            (``in_evaluation=True``: no loss on a dummy batch), for a legacy class that
            legacy PPO cannot train (see the case).
        perturb: ``(parameter, quantity)``: perturbing the parameter must make the
            parity check fail on the quantity.
        steps: rollout length for a stateful model (each side carries its own state).
        delta: the perturbation (a recurrent bias needs more than a weight of the head).
    """

    fixture: str
    model: str
    obs_space: gym.Space
    action_space: gym.Space
    model_config: Dict[str, Any] = field(default_factory=dict)
    factory_args: Optional[Tuple[Any, ...]] = None
    acting_only: bool = False
    perturb: tuple = ()
    steps: int = 1
    delta: float = 0.1


#: Case id -> case; the id is the model class's name (plus a suffix for a variant).
CASES: Dict[str, Case] = {
    # AliasedBase(nn.Module, TMV2): nn.Module.__call__ shadows ModelV2.__call__, so legacy
    # PPO's loss (model(train_batch)) raises; the class only ever acted (forward called as
    # forward(input_dict, state, seq_lens), without ModelV2's observation restoring - the
    # same for a Box space).
    "AliasedBase": Case(
        "class_finding", "AliasedBase", BOX[4], gym.spaces.Discrete(3), acting_only=True,
        perturb=("encoder.fc.weight", "action_dist_inputs"),
    ),
    "Inner": Case(
        "class_finding", "make_model_class", BOX[3], gym.spaces.Discrete(4), factory_args=(4,),
        perturb=("out.bias", "action_dist_inputs"),
    ),
    "KwargsModel": Case(
        "constructors", "KwargsModel", BOX[5], GAUSSIAN,
        {"custom_model_config": {"hidden_size": 16, "activation": "relu"}},
        perturb=("value_head._model.0.bias", "vf_preds"),
    ),
    # The dropout kwarg KwargsModel pops: legacy policies act in eval mode (no dropout),
    # and so must the migrated module's acting forwards.
    "KwargsModel-dropout": Case(
        "constructors", "KwargsModel", BOX[5], gym.spaces.Discrete(3),
        {"custom_model_config": {"hidden_size": 16, "dropout": 0.5}},
        perturb=("value_head._model.0.bias", "vf_preds"),
    ),
    "ConfiguredByModelConfig": Case(
        "constructors", "ConfiguredByModelConfig", gym.spaces.Discrete(5), gym.spaces.Discrete(3),
        {"fcnet_hiddens": [8], "custom_model_config": {"scale": 0.5}}, perturb=("layer.weight", "action_dist_inputs"),
    ),
    "PassThrough": Case(
        "constructors", "PassThrough", BOX[4], gym.spaces.Discrete(2),
        {"custom_model_config": {"hidden_size": 8, "dropout": 0.0}}, perturb=("head._model.0.bias", "action_dist_inputs"),
    ),
    "CentralizedCritic": Case(
        "extra_model_api", "CentralizedCritic", MULTI_DISCRETE_OBS, gym.spaces.MultiDiscrete([3, 2]),
        perturb=("pi.bias", "action_dist_inputs"),
    ),
    "Wider": Case(
        "indirect_subclass", "Wider", BOX[6], gym.spaces.MultiDiscrete([3, 2]),
        {"custom_model_config": {"hidden_size": 12}}, perturb=("wide.bias", "action_dist_inputs"),
    ),
    "LazyValueHead": Case(
        "value_function_variants", "LazyValueHead", DICT_OBS, gym.spaces.Discrete(3), perturb=("vf.bias", "vf_preds"),
    ),
    "DelegatingModel": Case(
        "value_function_variants", "DelegatingModel", BOX[4], GAUSSIAN, {"fcnet_hiddens": [16, 16]},
        perturb=("torch_sub_model._value_branch._model.0.bias", "vf_preds"),
    ),
    # A black-wrapped constructor (comments, annotations, keyword-only option): the
    # codemod crashed on it before, leaving the file unmigrated.
    "WrappedSignature": Case(
        "wrapped_signature", "WrappedSignature", BOX[4], gym.spaces.Discrete(2),
        {"custom_model_config": {"hidden": 16}}, perturb=("value.bias", "vf_preds"),
    ),
    # Every signature shape (issue 16): annotations, keyword-only options, **kwargs, a nested
    # class, a decorated helper, comments inside an aligned signature, class attributes.
    "AnnotatedModel": Case(
        "signature_shapes", "AnnotatedModel", BOX[4], gym.spaces.Discrete(3),
        {"custom_model_config": {"hidden": 8, "value_scale": 0.5}}, perturb=("value.bias", "vf_preds"),
    ),
    "NestedHelperModel": Case(
        "signature_shapes", "NestedHelperModel", BOX[3], gym.spaces.Discrete(2),
        {"custom_model_config": {"hidden": 6}}, perturb=("head.logits.bias", "action_dist_inputs"),
    ),
    "AlignedSignatureModel": Case(
        "signature_shapes", "AlignedSignatureModel", BOX[5], GAUSSIAN,
        {"custom_model_config": {"width": 10, "bias": False}}, perturb=("logits.weight", "action_dist_inputs"),
    ),
    # Stateful models (issue 16): a TorchModelV2 carrying a GRU state through forward(), a
    # RecurrentNetwork overriding forward() (Dict obs, action mask), a RecurrentNetwork base
    # without forward_rnn and its subclass; 10-step rollouts.
    "GRUStateModel": Case(
        "stateful_models", "GRUStateModel", BOX[4], gym.spaces.Discrete(3),
        {"max_seq_len": 10, "custom_model_config": {"hidden": 8}}, perturb=("gru.bias_hh_l0", "action_dist_inputs"),
        steps=10, delta=1.0,
    ),
    "MaskedDictLSTM": Case(
        "stateful_models", "MaskedDictLSTM", MASKED_OBS, gym.spaces.Discrete(3),
        {"max_seq_len": 10, "lstm_cell_size": 8}, perturb=("lstm.bias_hh_l0", "action_dist_inputs"), steps=10,
    ),
    "RecurrentLeaf": Case(
        "stateful_models", "RecurrentLeaf", BOX[3], gym.spaces.Discrete(2), {"max_seq_len": 10},
        perturb=("rnn.bias_hh_l0", "action_dist_inputs"), steps=10, delta=1.0,
    ),
    # Stateless, but its forward asks for its (empty) initial state.
    "AsksForItsState": Case(
        "stateful_models", "AsksForItsState", BOX[4], gym.spaces.Discrete(2), perturb=("vf.bias", "vf_preds"),
    ),
    # Subclasses of the built-in FullyConnectedNetwork (issue 16).
    "ScaledFCN": Case(
        "builtin_subclass", "ScaledFCN", BOX[4], gym.spaces.Discrete(3),
        {"fcnet_hiddens": [16, 8], "custom_model_config": {"scale": 0.25}},
        perturb=("_logits._model.0.bias", "action_dist_inputs"),
    ),
    "FeatureHeadFCN": Case(
        "builtin_subclass", "FeatureHeadFCN", BOX[5], GAUSSIAN, {"fcnet_hiddens": [8]},
        perturb=("_value_branch._model.0.bias", "vf_preds"),
    ),
    # Names that clash with the RLModule's (self.config, a setup() helper) and ABC first.
    "ConfiguredModel": Case(
        "clashing_names", "ConfiguredModel", BOX[3], gym.spaces.Discrete(2), perturb=("vf.bias", "vf_preds"),
    ),
    "NoValueModel": Case(
        "value_function_variants", "NoValueModel", BOX[3], gym.spaces.Discrete(3),
        perturb=("logits.bias", "action_dist_inputs"),
    ),
}


def fixture_module(side: str, fixture: str) -> Any:
    return importlib.import_module(f"fixtures.{side}.patterns.{fixture}")


def model_class(side: str, name: str) -> Any:
    case = CASES[name]
    obj = getattr(fixture_module(side, case.fixture), case.model)
    return obj if case.factory_args is None else obj(*case.factory_args)


@functools.lru_cache(maxsize=None)
def has_value_function(name: str) -> bool:
    """Whether the legacy class overrides ``ModelV2.value_function`` (which raises). A
    model without one runs in a PPO policy without a critic (``use_critic=False``, no
    ``vf_preds``); the policy adapter then reports no ``vf_preds`` either."""
    from ray.rllib.models.modelv2 import ModelV2

    return model_class("legacy", name).value_function is not ModelV2.value_function


def _no_critic_policy_class() -> Any:
    """A PPO policy for a model without a value function: legacy PPO calls
    ``model.value_function()`` in ``extra_action_out`` and bootstraps values in
    ``postprocess_trajectory`` even with ``use_critic=False``; this one does neither
    (plain discounted returns as advantages)."""
    from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
    from ray.rllib.evaluation.postprocessing import compute_advantages

    class NoCriticPPOTorchPolicy(PPOTorchPolicy):
        def extra_action_out(self, input_dict, state_batches, model, action_dist):
            return {}

        def postprocess_trajectory(self, sample_batch, other_agent_batches=None, episode=None):
            return compute_advantages(sample_batch, 0.0, self.config["gamma"], use_gae=False, use_critic=False)

    return NoCriticPPOTorchPolicy


@functools.lru_cache(maxsize=None)
def legacy_policy(name: str) -> Any:
    """The legacy policy of case ``name`` (weights seeded; built once per process)."""
    case = CASES[name]
    if not has_value_function(name):
        policy_cls, training = _no_critic_policy_class(), {"use_critic": False, "use_gae": False}
    else:
        policy_cls, training = None, {}
    return legacy_custom_model_policy(
        f"patterns_{name}", model_class("legacy", name), case.obs_space, case.action_space, case.model_config,
        policy_cls, {"in_evaluation": True} if case.acting_only else None, **training,
    )


def migrated_module(name: str) -> Any:
    """The migrated class of case ``name``, built from the legacy policy's model config,
    holding the legacy weights."""
    case = CASES[name]
    return build_migrated_module(model_class("migrated", name), case.obs_space, case.action_space, legacy_policy(name))


def parity(name: str, module: Any) -> Any:
    return check(legacy_policy(name), RLModulePolicy(module), num_samples=32, steps=CASES[name].steps)


# --- the table covers every legacy model class of the pattern fixtures ----------------------
def _legacy_model_classes() -> List[str]:
    """Names of the classes in ``fixtures/legacy/patterns/*.py`` (at any depth) that derive,
    directly or through another fixture class, from a legacy ModelV2 base."""
    bases, seen = {"TorchModelV2", "ModelV2", "TMV2", "RecurrentNetwork", "FullyConnectedNetwork"}, {}
    for path in sorted(PATTERNS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                seen[node.name] = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
    found: set = set()
    while True:
        new = {n for n, b in seen.items() if n not in found and set(b) & (bases | found)}
        if not new:
            return sorted(found - ABSTRACT)
        found |= new


def test_every_legacy_pattern_model_has_a_case():
    covered = set()
    for name, case in CASES.items():
        cls = model_class("legacy", name).__name__
        assert cls == model_class("migrated", name).__name__ == name.split("-")[0]
        covered.add(cls)
    assert sorted(covered) == _legacy_model_classes()


# --- weights and constructor arguments -----------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_legacy_state_dict_loads_strictly_and_the_legacy_attributes_match(name):
    assert_legacy_attributes_match(migrated_module(name), legacy_policy(name).model)


# --- the parity harness --------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_parity_check_passes(name):
    report = parity(name, migrated_module(name))
    assert report.ok, report.summary()
    compared = {q for q, r in report.quantities.items() if not r.skipped}
    assert {"action_dist_inputs", "deterministic_actions", "logp", "sampled_actions"} <= compared
    assert ("vf_preds" in compared) == has_value_function(name)
    assert report.quantities["action_dist_inputs"].max_abs <= 1e-6


@pytest.mark.parametrize("name", sorted(CASES))
def test_parity_check_names_a_perturbed_weight(name):
    parameter, quantity = CASES[name].perturb
    module = migrated_module(name)
    perturb_parameter(module, parameter, CASES[name].delta)
    assert_parity_fails_on(parity(name, module), quantity)


# --- stateful models: training forwards over whole sequences ----------------------------------
@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.steps > 1))
def test_forward_train_over_sequences_matches_the_legacy_model_on_padded_rows(name):
    """``forward_train`` on ``[B, T, ...]`` observations from the initial state equals the
    legacy model called as a legacy policy's loss calls it: ``B * T`` padded rows (the
    observations preprocessed by ray's own preprocessor), the state ``[B, ...]``,
    ``seq_lens`` ``[B]``; a sequence shorter than ``T`` is padded."""
    import torch
    from ray.rllib.models.preprocessors import get_preprocessor

    from rlmodule.tree import combine, map_structure

    case, policy, module = CASES[name], legacy_policy(name), migrated_module(name)
    b, t = 3, 6
    space = case.obs_space
    space.seed(1)
    samples = [space.sample() for _ in range(b * t)]
    preprocessor = get_preprocessor(space)(space)
    rows = torch.as_tensor(np.stack([preprocessor.transform(o) for o in samples]), dtype=torch.float32)
    seq_lens = torch.tensor([t, t - 2, 1], dtype=torch.int32)
    initial = [torch.as_tensor(np.stack([np.asarray(s)] * b)) for s in policy.get_initial_state()]
    with torch.no_grad():
        legacy_logits, legacy_state = policy.model({"obs": rows}, [s.clone() for s in initial], seq_lens)
        legacy_values = policy.model.value_function()
        obs = map_structure(lambda x: x.reshape(b, t, *x.shape[1:]), combine(np.stack, samples))
        state_in = {f"state_{i}": s for i, s in enumerate(initial)}
        out = module.forward_train({"obs": obs, "state_in": state_in, "seq_lens": seq_lens})
    logits = out["action_dist_inputs"].reshape(b * t, -1)
    valid = torch.arange(t)[None, :] < seq_lens[:, None]  # padded steps are the loss's masked ones
    torch.testing.assert_close(logits[valid.reshape(-1)], legacy_logits[valid.reshape(-1)], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(
        out["vf_preds"].reshape(-1)[valid.reshape(-1)], legacy_values[valid.reshape(-1)], atol=1e-6, rtol=1e-6
    )
    for i, legacy in enumerate(legacy_state):
        torch.testing.assert_close(out["state_out"][f"state_{i}"], legacy, atol=1e-6, rtol=1e-6)
