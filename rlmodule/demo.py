"""``rlmigrate demo`` (for now): the specification's examples, end to end.

Builds single- and multi-agent modules from specs (torch and tf), runs the three
forwards, samples actions from both output styles, saves checkpoints and reloads
them, and checks the reloaded modules compute the same outputs. Writes the
checkpoints and a JSON summary into the output directory it names at the end.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import gymnasium as gym
import numpy as np


def _step(log: List[Dict[str, Any]], title: str, fn: Callable[[], Dict[str, Any]]) -> None:
    start = time.perf_counter()
    print(f"[{len(log) + 1}] {title} ...", flush=True)
    facts = fn()
    facts["seconds"] = round(time.perf_counter() - start, 3)
    for key, value in facts.items():
        print(f"      {key}: {value}", flush=True)
    log.append({"step": title, **facts})


def run_demo(out_dir: str = "demo_out") -> int:
    """Run every step; returns 0 on success (a failed check raises)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out
    import torch

    from rlmodule import MultiAgentRLModule, MultiAgentRLModuleSpec, SingleAgentRLModuleSpec
    from rlmodule.action_sampling import sample_actions
    from rlmodule.testing import DiscreteBCTfModule, DiscreteBCTorchModule

    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    batch_np = {"obs": np.stack([obs, obs * 0.5]).astype(np.float32)}
    log: List[Dict[str, Any]] = []
    made: Dict[str, Any] = {}

    def build(cls, framework: str) -> Dict[str, Any]:
        spec = SingleAgentRLModuleSpec(
            module_class=cls,
            observation_space=env.observation_space,
            action_space=env.action_space,
            model_config_dict={"fcnet_hiddens": [64]},
        )
        module = spec.build()
        batch = {"obs": torch.as_tensor(batch_np["obs"])} if framework == "torch" else batch_np
        outputs = {phase: getattr(module, f"forward_{phase}")(batch) for phase in ("train", "exploration", "inference")}
        explore_actions, explore_logp = sample_actions(module, outputs["exploration"], explore=True)
        greedy_actions, _ = sample_actions(module, outputs["inference"], explore=False)
        made[framework] = (module, batch)
        return {
            "module": type(module).__name__,
            "action_dist_inputs shape": tuple(outputs["inference"]["action_dist_inputs"].shape),
            "sampled actions": np.asarray(explore_actions).tolist(),
            "their logp": [round(float(x), 4) for x in np.asarray(explore_logp)],
            "greedy actions": np.asarray(greedy_actions).tolist(),
        }

    def checkpoint(framework: str) -> Dict[str, Any]:
        module, batch = made[framework]
        path = module.save_to_checkpoint(out / f"checkpoint_{framework}")
        reloaded = type(module).from_checkpoint(path)
        before = np.asarray(module.forward_inference(batch)["action_dist_inputs"])
        after = np.asarray(reloaded.forward_inference(batch)["action_dist_inputs"])
        np.testing.assert_array_equal(before, after)
        return {"saved to": path, "files": sorted(p.name for p in Path(path).iterdir()), "outputs identical": True}

    def multi_agent() -> Dict[str, Any]:
        spec = MultiAgentRLModuleSpec(
            module_specs={
                "module_1": SingleAgentRLModuleSpec(
                    module_class=DiscreteBCTorchModule,
                    observation_space=gym.spaces.Box(-1, 1, (10,)),
                    action_space=gym.spaces.Discrete(2),
                    model_config_dict={"fcnet_hiddens": [32]},
                ),
                "module_2": SingleAgentRLModuleSpec(
                    module_class=DiscreteBCTfModule,
                    observation_space=gym.spaces.Box(-1, 1, (5,)),
                    action_space=gym.spaces.Discrete(2),
                    model_config_dict={"fcnet_hiddens": [16]},
                ),
            }
        )
        marl = spec.build()
        batch = {
            "module_1": {"obs": torch.zeros(3, 10)},
            "module_2": {"obs": np.zeros((4, 5), np.float32)},
        }
        outputs = marl.forward_exploration(batch)
        path = marl.save_to_checkpoint(out / "checkpoint_multi_agent")
        reloaded = MultiAgentRLModule.from_checkpoint(path)
        again = reloaded.forward_exploration(batch)
        for mid in batch:
            np.testing.assert_array_equal(
                np.asarray(outputs[mid]["action_dist_inputs"]), np.asarray(again[mid]["action_dist_inputs"])
            )
        return {
            "module ids": sorted(marl.keys()),
            "frameworks": {mid: m.framework for mid, m in marl.items()},
            "saved to": path,
            "outputs identical after reload": True,
        }

    _step(log, "build a torch module from a SingleAgentRLModuleSpec and run the three forwards",
          lambda: build(DiscreteBCTorchModule, "torch"))
    _step(log, "build the same module in TensorFlow (Keras 3)", lambda: build(DiscreteBCTfModule, "tf"))
    _step(log, "save the torch module to a checkpoint (safetensors) and reload it", lambda: checkpoint("torch"))
    _step(log, "save the tf module to a checkpoint (Keras weights) and reload it", lambda: checkpoint("tf"))
    _step(log, "build a multi-agent module (torch + tf), forward, checkpoint and reload", multi_agent)
    (out / "demo_summary.json").write_text(json.dumps(log, indent=2, default=str))
    print(f"\nAll steps passed. Output directory: {out}")
    return 0
