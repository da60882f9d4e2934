"""``compute_single_action`` of the adapter policy vs RLlib 2.60's legacy PPOTorchPolicy.

Same network (fcnet_hiddens [64, 64], CartPole-sized: Box(4) -> Discrete(2)), same
weights, one thread, explore=False and explore=True, in the same run: the legacy
policy, ``RLModulePolicy`` over our PPO module (weights ported from the legacy model),
and ``RLModulePolicy`` over the legacy model itself (``ModelV2RLModule``). Prints JSON
(microseconds of thread CPU time per call, fastest of interleaved rounds).

Target: the adapter over the PPO module costs less than a quarter of the legacy policy.
Without ray[rllib] (the legacy extra) it prints ``{"skipped": reason}`` instead.
"""

from __future__ import annotations

import json
import platform
import warnings

import gymnasium as gym
import numpy as np
import torch

from timing import time_calls


def main() -> dict:
    warnings.filterwarnings("ignore")
    try:
        from ray.rllib.algorithms.ppo import PPOConfig as LegacyPPOConfig
        from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
    except ImportError as error:
        reason = f"the baseline, ray[rllib] (the legacy extra), is not importable: {error}"
        return {"benchmark": "compute_single_action", "skipped": reason}

    from compat import ModelV2RLModule, RLModulePolicy
    from compat.port_weights import LEGACY_FCNET_TO_PPO, port_weights
    from rlmodule import SingleAgentRLModuleSpec
    from rlmodule.algorithms.ppo import PPOConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    act_space = gym.spaces.Discrete(2)
    config = (
        LegacyPPOConfig()
        .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
        .framework("torch")
        .training(model={"fcnet_hiddens": [64, 64]})
        .to_dict()
    )
    legacy = PPOTorchPolicy(obs_space, act_space, config)
    spec = PPOConfig().framework("torch").get_default_rl_module_spec()
    spec.update(
        SingleAgentRLModuleSpec(observation_space=obs_space, action_space=act_space, model_config_dict=dict(config["model"])),
        override=False,
    )
    ppo_module = spec.build()
    port_weights(legacy.model, ppo_module, mapping=LEGACY_FCNET_TO_PPO)
    adapter = RLModulePolicy(ppo_module)
    wrapped = RLModulePolicy(ModelV2RLModule.wrap(legacy.model, action_dist_class=legacy.dist_class))
    obs = obs_space.sample()
    np.testing.assert_allclose(
        adapter.compute_single_action(obs, explore=False)[2]["action_dist_inputs"],
        legacy.compute_single_action(obs, explore=False)[2]["action_dist_inputs"],
        atol=1e-5,
    )
    results = {
        "benchmark": "compute_single_action",
        "network": "fcnet_hiddens [64, 64], Box(4) -> Discrete(2)",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "unit": "microseconds of thread CPU time per call (fastest of interleaved rounds)",
        "by_explore": {},
    }
    for explore in (False, True):
        us = time_calls(
            {
                "legacy": (lambda: legacy.compute_single_action(obs, explore=explore), True),
                "adapter_ppo_module": (lambda: adapter.compute_single_action(obs, explore=explore), True),
                "adapter_wrapped_legacy_model": (lambda: wrapped.compute_single_action(obs, explore=explore), True),
            },
            repeats=30,
        )
        results["by_explore"][str(explore)] = {
            **{f"{k}_us": round(v, 1) for k, v in us.items()},
            "ratio_adapter_ppo_module_vs_legacy": round(us["adapter_ppo_module"] / us["legacy"], 3),
            "ratio_adapter_wrapped_vs_legacy": round(us["adapter_wrapped_legacy_model"] / us["legacy"], 3),
        }
    results["target_ratio_max"] = 0.25
    results["meets_target"] = all(
        row["ratio_adapter_ppo_module_vs_legacy"] < 0.25 for row in results["by_explore"].values()
    )
    results["comparisons"] = [
        {
            "title": f"`compute_single_action`: RLModulePolicy {label} vs the legacy policy",
            "ours": f"`RLModulePolicy` {label}", "baseline": "RLlib 2.60 legacy `PPOTorchPolicy`",
            "unit": "µs per call", "ratio": "ours / baseline",
            "rows": [
                {
                    "case": f"explore={explore}",
                    "ours": row[f"{key}_us"],
                    "baseline": row["legacy_us"],
                    "ratio": row[ratio],
                    "target": {"op": "<", "value": 0.25} if key == "adapter_ppo_module" else None,
                }
                for explore, row in results["by_explore"].items()
            ],
        }
        for label, key, ratio in (
            ("over our PPO module", "adapter_ppo_module", "ratio_adapter_ppo_module_vs_legacy"),
            ("over the wrapped legacy model", "adapter_wrapped_legacy_model", "ratio_adapter_wrapped_vs_legacy"),
        )
    ]
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
