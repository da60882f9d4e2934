"""Subclasses of RLlib's TF ``FullyConnectedNetwork`` migrated onto
``compat.migrated_builtins.TfFullyConnectedNetworkRLModule`` (``rlmigrate``'s ``models``
rule): with the legacy Keras weights copied in, they compute what the legacy subclass
of ray 2.60's TF FullyConnectedNetwork computes (``fixtures/legacy/tf_models/builtin_subclass.py``
and its migration)."""

from __future__ import annotations

import copy
import importlib
from typing import Any, Dict, Tuple

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Dict as DictSpace, Discrete

from tests.legacy_helpers import ray_preprocessed, stack_observations

from rlmodule import SingleAgentRLModuleSpec

pytestmark = [pytest.mark.tf, pytest.mark.legacy]
tf = pytest.importorskip("tensorflow")

MASKED_OBS = DictSpace({"action_mask": Box(0.0, 1.0, (3,), np.float32), "features": Box(-1.0, 1.0, (4,), np.float32)})
#: case -> (class, observation space, action space, legacy model dict)
CASES: Dict[str, Tuple[str, gym.Space, gym.Space, Dict[str, Any]]] = {
    "masked": ("MaskedFCN", MASKED_OBS, Discrete(3), {"fcnet_hiddens": [8, 8]}),
    "shared_layers": ("NamedFCN", Box(-1.0, 1.0, (5,), np.float32), Discrete(2), {"fcnet_hiddens": [16], "vf_share_layers": True}),
    "gaussian_no_final_linear": (
        "NamedFCN", Box(-1.0, 1.0, (3,), np.float32), Box(-1.0, 1.0, (2,), np.float32),
        {"fcnet_hiddens": [8, 4], "no_final_linear": True, "fcnet_activation": "relu"},
    ),
}


def sides(name: str) -> Tuple[Any, Any, np.ndarray, Any]:
    """(legacy model, migrated module with its weights, legacy-preprocessed batch, raw batch)."""
    from ray.rllib.models.catalog import MODEL_DEFAULTS, ModelCatalog
    from ray.rllib.models.preprocessors import get_preprocessor

    cls_name, obs_space, action_space, model_config = CASES[name]
    legacy_cls = getattr(importlib.import_module("fixtures.legacy.tf_models.builtin_subclass"), cls_name)
    migrated_cls = getattr(importlib.import_module("fixtures.migrated.tf_models.builtin_subclass"), cls_name)
    config = {**copy.deepcopy(MODEL_DEFAULTS), **copy.deepcopy(model_config)}
    _, num_outputs = ModelCatalog.get_action_dist(action_space, config, framework="tf2")
    prep = get_preprocessor(obs_space)(obs_space)
    legacy = legacy_cls(prep.observation_space, action_space, int(num_outputs), config, "default_model")
    obs_space.seed(3)
    raw = [obs_space.sample() for _ in range(16)]
    flat = ray_preprocessed(obs_space, raw)
    legacy({"obs": tf.constant(flat)}, [], None)
    module = SingleAgentRLModuleSpec(
        module_class=migrated_cls, observation_space=obs_space, action_space=action_space, model_config_dict=model_config
    ).build()
    batch = stack_observations(raw)
    module.forward_train({"obs": batch})
    ours, theirs = module.base_model.weights, legacy.base_model.weights
    assert [w.path.split("/")[-2:] for w in ours] == [w.path.split("/")[-2:] for w in theirs]  # same layers, same names
    module.base_model.set_weights(legacy.base_model.get_weights())
    return legacy, module, flat, batch


def legacy_outputs(legacy: Any, flat: np.ndarray) -> Dict[str, np.ndarray]:
    logits, _ = legacy({"obs": tf.constant(flat)}, [], None)
    return {"action_dist_inputs": logits.numpy(), "vf_preds": legacy.value_function().numpy()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_migrated_subclass_computes_what_the_legacy_one_computes(name):
    legacy, module, flat, batch = sides(name)
    expected = legacy_outputs(legacy, flat)
    assert module.num_outputs == legacy.num_outputs
    for out in (module.forward_train({"obs": batch}), module.forward_exploration({"obs": batch})):
        for key, value in expected.items():
            np.testing.assert_allclose(np.asarray(out[key]), value, rtol=1e-6, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(
        np.asarray(module.forward_inference({"obs": batch})["action_dist_inputs"]), expected["action_dist_inputs"],
        rtol=1e-6, atol=1e-6,
    )


@pytest.mark.parametrize("layer,key", [("value_out", "vf_preds"), ("fc_out", "action_dist_inputs")])
def test_a_perturbed_weight_breaks_the_equivalence(layer, key):
    legacy, module, flat, batch = sides("masked")
    kernel = module.base_model.get_layer(layer).kernel
    kernel.assign(kernel + 0.5)
    out = module.forward_train({"obs": batch})
    assert np.abs(np.asarray(out[key]) - legacy_outputs(legacy, flat)[key]).max() > 1e-2


def test_free_log_std_is_refused_not_ignored():
    from fixtures.migrated.tf_models.builtin_subclass import NamedFCN

    spec = SingleAgentRLModuleSpec(
        module_class=NamedFCN, observation_space=Box(-1.0, 1.0, (3,), np.float32),
        action_space=Box(-1.0, 1.0, (2,), np.float32), model_config_dict={"free_log_std": True},
    )
    with pytest.raises(NotImplementedError, match="free_log_std"):
        spec.build()
