"""Every code block of the specification runs (imports mapped, errata applied).

Blocks that use the same module for both frameworks run for torch and for tf (the
``DiscreteBCTorchModule`` import swapped for ``DiscreteBCTfModule``). Legacy "before"
blocks run against the real RLlib 2.60 legacy stack (the ``legacy`` extra).
"""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlmodule import MultiAgentRLModule, RLModule, SpecCheckError
from rlmodule.specs import SpecType, TensorSpec
from rlmodule.annotations import override
from tests.rlmodule.spec_blocks import BLOCKS, Block, compile_block, run_block, spec_lines

FRAMEWORKS = ["torch", "tf"]


def _run_for(name: str, framework: str) -> dict:
    """Run a block; for tf, with the tf BC module in place of the torch one."""
    block = BLOCKS[name]
    if framework == "tf":
        block = Block(
            block.name,
            block.start,
            block.end,
            block.first_line,
            errata=block.errata
            + [("from ray.rllib.core.testing.torch.bc_module import DiscreteBCTorchModule",
                "from ray.rllib.core.testing.tf.bc_module import DiscreteBCTfModule as DiscreteBCTorchModule")],
        )
    namespace: dict = {}
    exec(compile_block(block), namespace)
    return namespace


def _obs(space: gym.Space, batch: int = 3) -> np.ndarray:
    return np.stack([space.sample() for _ in range(batch)]).astype(np.float32)


def test_every_code_line_of_the_specification_is_in_a_block():
    covered = set()
    for block in BLOCKS.values():
        covered.update(range(block.start, block.end + 1))
    code = re.compile(r"^(import |from \S+ import|class |def |config = |spec = |algo_config = )")
    uncovered = [(i, line) for i, line in enumerate(spec_lines(), 1) if code.match(line) and i not in covered]
    assert uncovered == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_single_agent_spec_builds_a_working_module(framework):
    ns = _run_for("single_agent_spec", framework)
    module = ns["module"]
    assert module.framework == ("torch" if framework == "torch" else "tf2")
    out = module.forward_inference({"obs": _obs(ns["env"].observation_space)
                                    if framework == "tf" else torch.as_tensor(_obs(ns["env"].observation_space))})
    assert tuple(out["action_dist_inputs"].shape) == (3, 2)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_multi_agent_spec_builds_one_module_per_id(framework):
    ns = _run_for("multi_agent_spec", framework)
    marl = ns["marl_module"]
    assert isinstance(marl, MultiAgentRLModule)
    assert sorted(marl.keys()) == ["module_1", "module_2"]
    to_tensor = torch.as_tensor if framework == "torch" else (lambda x: x)
    batch = {
        "module_1": {"obs": to_tensor(np.zeros((4, 10), np.float32))},
        "module_2": {"obs": to_tensor(np.zeros((2, 5), np.float32))},
    }
    out = marl.forward_exploration(batch)
    assert tuple(out["module_1"]["action_dist_inputs"].shape) == (4, 2)
    assert tuple(out["module_2"]["action_dist_inputs"].shape) == (2, 2)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bc_config_build_fills_the_partial_spec(framework):
    ns = _run_for("bc_config_build", framework)
    module = ns["algo"].get_module()
    assert module.config.observation_space == gym.make("CartPole-v1").observation_space
    assert module.config.model_config_dict["fcnet_hiddens"] == [32, 32]
    assert module.config.model_config_dict["fcnet_activation"] == "tanh"  # MODEL_DEFAULTS merged
    assert ns["algo"].train()["training_iteration"] == 1


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bc_config_multi_agent_broadcasts_the_spec(framework):
    ns = _run_for("bc_config_multi_agent", framework)
    config = ns["config"].multi_agent(policies={"p0", "p1"}, policy_mapping_fn=lambda aid, ep, **kw: f"p{aid}")
    algo = config.build()
    assert sorted(algo.module.keys()) == ["p0", "p1"]
    assert algo.get_module("p1").config.model_config_dict["fcnet_hiddens"] == [32, 32]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_as_multi_agent_wraps_under_the_default_id(framework):
    ns = _run_for("as_multi_agent", framework)
    assert list(ns["marl_module"].keys()) == ["default_policy"]
    assert ns["marl_module"]["default_policy"] is ns["module"]


def test_torch_bc_module_block_returns_a_torch_distribution():
    ns = run_block("torch_bc_module", {})
    cls = ns["DiscreteBCTorchModule"]
    from rlmodule import SingleAgentRLModuleSpec

    module = SingleAgentRLModuleSpec(
        module_class=cls,
        observation_space=gym.spaces.Box(-1, 1, (4,)),
        action_space=gym.spaces.Discrete(3),
        model_config_dict={"fcnet_hiddens": [8]},
    ).build()
    out = module.forward_exploration({"obs": torch.zeros(5, 4)})
    assert isinstance(out["action_dist"], torch.distributions.Categorical)
    assert out["action_dist"].sample().shape == (5,)


def test_tf_bc_module_block_returns_our_tf_categorical():
    ns = run_block("tf_bc_module", {"TfCategorical": __import__("rlmodule.tf", fromlist=["TfCategorical"]).TfCategorical})
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.tf import TfCategorical

    module = SingleAgentRLModuleSpec(
        module_class=ns["DiscreteBCTfModule"],
        observation_space=gym.spaces.Box(-1, 1, (4,)),
        action_space=gym.spaces.Discrete(3),
        model_config_dict={"fcnet_hiddens": [8]},
    ).build()
    out = module.forward_inference({"obs": np.zeros((5, 4), np.float32)})
    assert isinstance(out["action_dist"], TfCategorical)
    assert tuple(out["action_dist"].sample().shape) == (5,)


def _spec_override_class(block_name: str, obs_dim: int = 10):
    """The block's spec overrides on top of the spec's own BC module (the elided ``...``)."""
    base = run_block("torch_bc_module", {})["DiscreteBCTorchModule"]
    ns = run_block(
        block_name,
        {"TorchRLModule": base, "override": override, "SpecType": SpecType, "TensorSpec": TensorSpec, "torch": torch},
    )
    from rlmodule import SingleAgentRLModuleSpec

    return SingleAgentRLModuleSpec(
        module_class=ns["DiscreteBCTorchModule"],
        observation_space=gym.spaces.Box(-1, 1, (obs_dim,)),
        action_space=gym.spaces.Discrete(2),
        model_config_dict={"fcnet_hiddens": [8]},
    ).build()


def test_spec_block_obs_and_action_dist():
    module = _spec_override_class("spec_obs_and_action_dist")
    assert "action_dist" in module.forward_exploration({"obs": torch.zeros(2, 10)})
    with pytest.raises(SpecCheckError, match=r"forward_exploration\(\) input is missing key \['obs'\]"):
        module.forward_exploration({"observations": torch.zeros(2, 10)})


def test_spec_block_nested_keys():
    module = _spec_override_class("spec_nested_keys")
    checker, _ = module._compile_specs()["exploration"]
    good = {"obs": {"global": torch.zeros(1, 2), "local": torch.zeros(1, 3)}, "action_mask": torch.ones(1, 2)}
    checker.check(good)
    with pytest.raises(SpecCheckError, match=r"missing key \['obs'\]\['local'\]"):
        module.forward_exploration({"obs": {"global": torch.zeros(1, 2)}, "action_mask": torch.ones(1, 2)})
    with pytest.raises(SpecCheckError, match=r"missing key \['action_mask'\]"):
        module.forward_exploration({"obs": good["obs"]})


def test_spec_block_tensor_spec():
    module = _spec_override_class("spec_tensor_spec", obs_dim=10)
    assert module.forward_exploration({"obs": torch.zeros(7, 10)})["action_dist"].logits.shape == (7, 2)
    with pytest.raises(SpecCheckError, match=r"input\['obs'\]: dimension 'h' is 5, expected 10"):
        module.forward_exploration({"obs": torch.zeros(7, 5)})
    with pytest.raises(SpecCheckError, match=r"expected a torch tensor"):
        module.forward_exploration({"obs": np.zeros((7, 10), np.float32)})


def test_spec_block_type_spec():
    module = _spec_override_class("spec_type_spec")
    module.forward_exploration({"obs": torch.zeros(1, 10)})
    module._forward_exploration = lambda batch: {"action_dist": torch.distributions.Normal(0.0, 1.0)}
    with pytest.raises(SpecCheckError, match=r"output\['action_dist'\]: expected an instance of Categorical"):
        module.forward_exploration({"obs": torch.zeros(1, 10)})


def test_shared_encoder_multi_agent_example():
    ns = run_block("shared_encoder_classes", {})
    run_block("shared_encoder_spec", ns)
    module = ns["module"]
    assert sorted(module.keys()) == ["local_2d", "local_5d"]
    assert module["local_2d"].encoder is module["local_5d"].encoder  # truly shared
    out = module.forward_train(
        {
            "local_2d": {"obs": {"global": torch.zeros(3, 2), "local": torch.zeros(3, 2)}},
            "local_5d": {"obs": {"global": torch.zeros(4, 2), "local": torch.zeros(4, 5)}},
        }
    )
    assert out["local_2d"]["action_dist"].logits.shape == (3, 2)
    assert out["local_5d"]["action_dist"].logits.shape == (4, 5)
    out["local_5d"]["action_dist"].logits.sum().backward()
    assert module["local_2d"].encoder[0].weight.grad is not None


def test_migrated_rl_module_block_defines_a_torch_rl_module():
    from rlmodule.rl_module import RLModuleConfig
    from rlmodule.torch import TorchRLModule

    ns = run_block("migrated_rl_module", {"TorchRLModule": TorchRLModule, "RLModuleConfig": RLModuleConfig})
    assert issubclass(ns["MyRLModule"], RLModule)
    assert ns["TorchCategorical"].__module__ == "rlmodule.torch.distributions"


@pytest.mark.legacy
@pytest.mark.parametrize("name", ["legacy_make_model", "legacy_make_model_and_action_dist", "legacy_action_fns"])
def test_legacy_before_blocks_run_against_real_rllib(name):
    from typing import List, Tuple

    from ray.rllib.models.modelv2 import ModelV2
    from ray.rllib.policy.torch_policy_v2 import TorchPolicyV2
    from ray.rllib.utils.annotations import DeveloperAPI, OverrideToImplementCustomLogic
    from ray.rllib.utils.typing import TensorType

    ns = run_block(
        name,
        {
            "DeveloperAPI": DeveloperAPI,
            "OverrideToImplementCustomLogic": OverrideToImplementCustomLogic,
            "ModelV2": ModelV2,
            "TensorType": TensorType,
            "Tuple": Tuple,
            "List": List,
        },
    )
    assert issubclass(ns["CustomPolicy"], TorchPolicyV2)


def _ppo_prelude():
    """Names the two "extend PPO" blocks use without importing them (elisions)."""
    from rlmodule import RLModuleConfig, SingleAgentRLModuleSpec
    from rlmodule.algorithms.ppo import PPOCatalog, PPOConfig, PPOTorchRLModule

    # The text's PPORLModule is framework-neutral; the torch module makes it buildable.
    return {
        "PPORLModule": PPOTorchRLModule,
        "PPOCatalog": PPOCatalog,
        "RLModuleConfig": RLModuleConfig,
        "SingleAgentRLModuleSpec": SingleAgentRLModuleSpec,
        "algo_config": PPOConfig().environment("CartPole-v1").training(model={"fcnet_hiddens": [16]}),
    }


def test_extend_ppo_module_block_builds_the_subclass_through_the_config():
    ns = run_block("extend_ppo_module", _ppo_prelude())
    config = ns["algo_config"]
    module = config.get_rl_module_spec(config.make_env()).build()
    assert type(module) is ns["MyPPORLModule"]
    out = module.forward_exploration({"obs": torch.zeros(2, 4)})
    assert out["action_dist_inputs"].shape == (2, 2)
    assert module.compute_values({"obs": torch.zeros(2, 4)}).shape == (2,)


def test_extend_ppo_catalog_block_puts_the_catalog_in_the_spec():
    ns = run_block("extend_ppo_catalog", _ppo_prelude())
    config = ns["algo_config"]
    spec = config.get_rl_module_spec(config.make_env())
    assert spec.catalog_class is ns["MyAwesomeCatalog"]
    # The text's override is a stub returning None; building says what it must return.
    with pytest.raises(TypeError, match=r"get_actor_critic_encoder_config\(\) must return a model config"):
        spec.build()


def test_enable_rl_modules_ppo_block(capsys):
    ns = run_block("enable_rl_modules_ppo", {})
    printed = capsys.readouterr().out
    result = ns["result"]
    assert result["training_iteration"] == 2 and "episode_return_mean" in printed
    assert result["num_env_steps_sampled"] >= 2 * ns["config"].train_batch_size
    assert result["learners"]["default_policy"]["num_steps_trained"] > 0
    ns["algorithm"].stop()
