"""A legacy model without ``__init__`` (``fixtures/{legacy,migrated}/inherited_init/``):
the migrated class, built from a spec, has the attributes the inherited
``ModelV2.__init__`` set (its ``setup()`` calls ``legacy_model_args``), and its forwards
compute what the legacy ``forward`` computes.

A legacy torch policy cannot host this model (``TorchModelV2.__init__`` never runs
``nn.Module.__init__``, so ``model.parameters()`` raises), so ``compat.parity`` has no
legacy policy to compare with: the legacy model is built with the arguments a policy
passes and called as a policy calls it (``model(input_dict)``, flattened observations).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.legacy_helpers import ray_preprocessed, stack_observations

pytestmark = pytest.mark.legacy

OBS = gym.spaces.Dict({"action_mask": gym.spaces.Box(0.0, 1.0, (4,), np.float32), "features": gym.spaces.Box(-1.0, 1.0, (3,), np.float32)})
ACTIONS = gym.spaces.Discrete(3)  # num_outputs 3: forward slices the mask by self.num_outputs


def observations(n: int):
    OBS.seed(0)
    rng = np.random.default_rng(0)
    raw = [OBS.sample() for _ in range(n)]
    for o in raw:
        o["action_mask"] = (rng.uniform(size=4) < 0.5).astype(np.float32)
        o["action_mask"][rng.integers(3)] = 1.0
    return raw


def test_the_migrated_model_without_init_builds_from_a_spec_and_computes_what_the_legacy_model_does():
    from ray.rllib.models.preprocessors import get_preprocessor

    from fixtures.legacy.inherited_init.parameter_free import RandomMaskedModel as Legacy
    from fixtures.migrated.inherited_init.parameter_free import RandomMaskedModel as Migrated
    from rlmodule import SingleAgentRLModuleSpec

    module = SingleAgentRLModuleSpec(
        module_class=Migrated, observation_space=OBS, action_space=ACTIONS, model_config_dict={}
    ).build()
    legacy = Legacy(get_preprocessor(OBS)(OBS).observation_space, ACTIONS, 3, module.model_config, "default_model")
    assert (module.num_outputs, module.name, module.action_space) == (legacy.num_outputs, legacy.name, legacy.action_space) == (3, "default_model", ACTIONS)
    assert module.obs_space == legacy.obs_space and module.obs_space.original_space == OBS

    raw = observations(16)
    legacy_logits, _ = legacy({"obs": torch.as_tensor(ray_preprocessed(OBS, raw))})
    batch = {"obs": stack_observations(raw)}
    for forward in (module.forward_inference, module.forward_exploration, module.forward_train):
        out = forward(batch)
        torch.testing.assert_close(out["action_dist_inputs"], legacy_logits, atol=0.0, rtol=0.0)
        if "vf_preds" in out:
            torch.testing.assert_close(out["vf_preds"], legacy.value_function())
    dist = module.get_exploration_action_dist_cls().from_logits(module.forward_exploration(batch)["action_dist_inputs"])
    actions = dist.sample().numpy()
    allowed = np.stack([o["action_mask"][:3] for o in raw])
    assert (allowed[np.arange(16), actions] == 1.0).all()  # only the actions the mask allows
