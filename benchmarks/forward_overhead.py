"""RLModule forward overhead vs the raw network; prints JSON.

A 2x64 MLP (CartPole-sized: 4 -> 64 -> 64 -> 2) as a TorchRLModule with spec
checks on (input ``{"obs": TensorSpec("b, h", h=4, framework="torch")}``, output
``["action_dist_inputs"]``), timed on ``forward_inference`` against the same
``nn.Sequential`` called directly, at batch sizes 1 and 256. The raw call is timed
inside ``torch.no_grad()`` (as the module's inference runs), and with autograd on
for reference. All variants are timed in turn within each repeat.
When ray[rllib] is installed, RLlib's own TorchRLModule wrapping the same network is
timed too. Figures are microseconds of thread CPU time per call (fastest of 60
interleaved rounds), one thread.

Target: ``ratio_vs_raw_no_grad`` at batch 1 <= 1.3. ``ratio_vs_raw_bare`` compares
against the network with autograd switched off globally (no per-call context cost),
the strictest baseline. ``comparisons`` holds the same figures as tables for
``run_all.py``.
"""

from __future__ import annotations

import json
import platform
from typing import Any, Callable, Dict, List

import gymnasium as gym
import torch
from torch import nn

from rlmodule import SingleAgentRLModuleSpec, TensorSpec
from rlmodule.torch import TorchRLModule
from timing import time_calls

OBS_DIM, HIDDEN, N_ACTIONS = 4, 64, 2


def make_net() -> nn.Module:
    return nn.Sequential(
        nn.Linear(OBS_DIM, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, N_ACTIONS)
    )


class MLPModule(TorchRLModule):
    """The benchmark network as an RLModule, with input and output specs."""

    def setup(self) -> None:
        self.net = make_net()

    def input_specs_inference(self):
        return {"obs": TensorSpec("b, h", h=OBS_DIM, framework="torch")}

    def output_specs_inference(self):
        return ["action_dist_inputs"]

    def _forward_inference(self, batch):
        return {"action_dist_inputs": self.net(batch["obs"])}

    _forward_exploration = _forward_train = _forward_inference


def rllib_module_call(net: nn.Module, obs: torch.Tensor) -> Callable[[], Any]:
    """RLlib 2.60's TorchRLModule around the same network (ImportError without ray[rllib])."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule as RayTorchRLModule

    class RayMLP(RayTorchRLModule):
        def setup(self):
            self.net = net

        def _forward(self, batch, **kwargs):
            return {"action_dist_inputs": self.net(batch["obs"])}

    module = RLModuleSpec(
        module_class=RayMLP,
        observation_space=gym.spaces.Box(-1, 1, (OBS_DIM,)),
        action_space=gym.spaces.Discrete(N_ACTIONS),
    ).build()
    batch = {"obs": obs}
    return lambda: module.forward_inference(batch)


def main() -> Dict[str, Any]:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    module = SingleAgentRLModuleSpec(
        module_class=MLPModule,
        observation_space=gym.spaces.Box(-1, 1, (OBS_DIM,)),
        action_space=gym.spaces.Discrete(N_ACTIONS),
    ).build()
    net = module.net
    rllib_missing = None
    results: Dict[str, Any] = {
        "benchmark": "forward_overhead",
        "network": f"MLP {OBS_DIM}-{HIDDEN}-{HIDDEN}-{N_ACTIONS} (tanh)",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "unit": "microseconds of thread CPU time per call (fastest of 60 interleaved rounds)",
        "by_batch_size": {},
    }
    for batch_size in (1, 256):
        obs = torch.randn(batch_size, OBS_DIM)
        batch = {"obs": obs}

        def raw_no_grad() -> Any:
            with torch.no_grad():
                return net(obs)

        fns = {
            "module": (lambda: module.forward_inference(batch), True),
            "raw_no_grad": (raw_no_grad, True),
            "raw_with_grad": (lambda: net(obs), True),
            # Strictest baseline: autograd off globally, so the raw call pays no
            # per-call context cost at all (and the module runs under the same mode).
            "module_grad_off": (lambda: module.forward_inference(batch), False),
            "raw_bare": (lambda: net(obs), False),
        }
        try:
            fns["rllib"] = (rllib_module_call(net, obs), True)
        except ImportError as error:
            rllib_missing = f"ray[rllib] (the legacy extra) is not importable: {error}"
        us = time_calls(fns)
        row = {
            "rlmodule_forward_inference_us": round(us["module"], 2),
            "rlmodule_grad_off_globally_us": round(us["module_grad_off"], 2),
            "raw_no_grad_us": round(us["raw_no_grad"], 2),
            "raw_with_grad_us": round(us["raw_with_grad"], 2),
            "ratio_vs_raw_no_grad": round(us["module"] / us["raw_no_grad"], 3),
            "ratio_vs_raw_with_grad": round(us["module"] / us["raw_with_grad"], 3),
            "raw_bare_grad_off_globally_us": round(us["raw_bare"], 2),
            "ratio_vs_raw_bare": round(us["module_grad_off"] / us["raw_bare"], 3),
        }
        if "rllib" in us:
            row["rllib_2_60_forward_inference_us"] = round(us["rllib"], 2)
            row["rllib_ratio_vs_raw_no_grad"] = round(us["rllib"] / us["raw_no_grad"], 3)
            row["ratio_vs_rllib_2_60"] = round(us["module"] / us["rllib"], 3)
        results["by_batch_size"][str(batch_size)] = row
    results["target_batch1_ratio_max"] = 1.3
    results["meets_target"] = results["by_batch_size"]["1"]["ratio_vs_raw_no_grad"] <= 1.3
    results["comparisons"] = comparisons(results["by_batch_size"], rllib_missing)
    return results


def comparisons(by_batch: Dict[str, Dict[str, float]], rllib_missing: str | None) -> List[Dict[str, Any]]:
    """The figures as ``run_all.py`` tables (microseconds per call, by batch size)."""

    def rows(ours: str, baseline: str, ratio: str, target_batch1: float | None = None) -> List[Dict[str, Any]]:
        return [
            {
                "case": f"batch {size}",
                "ours": row[ours],
                "baseline": row.get(baseline),
                "ratio": row.get(ratio),
                "target": {"op": "<=", "value": target_batch1} if size == "1" and target_batch1 else None,
            }
            for size, row in by_batch.items()
        ]

    ours = "RLModule `forward_inference` (spec checks on)"
    return [
        {
            "title": "RLModule forward overhead vs the raw network",
            "ours": ours, "baseline": "raw `nn.Sequential` in `torch.no_grad()`",
            "unit": "µs per call", "ratio": "ours / baseline",
            "rows": rows("rlmodule_forward_inference_us", "raw_no_grad_us", "ratio_vs_raw_no_grad", 1.3),
        },
        {
            "title": "RLModule forward overhead vs the raw network, autograd off globally",
            "ours": ours + ", autograd off", "baseline": "raw `nn.Sequential`, autograd off",
            "unit": "µs per call", "ratio": "ours / baseline",
            "rows": rows("rlmodule_grad_off_globally_us", "raw_bare_grad_off_globally_us", "ratio_vs_raw_bare"),
        },
        {
            "title": "Our RLModule vs RLlib 2.60's RLModule around the same network",
            "ours": ours, "baseline": "RLlib 2.60 `TorchRLModule.forward_inference`",
            "unit": "µs per call", "ratio": "ours / baseline",
            "rows": rows("rlmodule_forward_inference_us", "rllib_2_60_forward_inference_us", "ratio_vs_rllib_2_60"),
            **({"baseline_missing": rllib_missing} if rllib_missing else {}),
        },
    ]


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
