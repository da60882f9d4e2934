"""The two sides of a parity check, each normalised to a torch RLModule that acts through
:class:`rlmodule.acting.Actor` (the acting path the env runners and ``RLModulePolicy``
use)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import gymnasium as gym
import torch

from compat.legacy_policy_rl_module import LegacyPolicyRLModule, policy_hooks
from compat.modelv2_rl_module import ModelV2RLModule
from compat.parity.observations import batch_size
from compat.rl_module_policy import RLModulePolicy
from rlmodule.acting import Actor, action_dist_class, sample_actions
from rlmodule.columns import Columns
from rlmodule.rl_module import RLModule
from rlmodule.tree import map_structure

ROLES = ("legacy", "candidate")


class Side:
    """One side: a torch RLModule (``module``, acting through ``actor``) plus, for legacy
    policies, the policy itself (``policy``) for the ``compute_actions`` cross-check.

    A side is a legacy policy (anything with ``compute_actions`` and ``model``; its model
    runs as :class:`~compat.ModelV2RLModule`, or the whole policy as
    :class:`~compat.LegacyPolicyRLModule` when its class overrides one of
    :data:`~compat.legacy_policy_rl_module.POLICY_HOOKS`), a legacy torch ModelV2
    (``forward`` and ``value_function``), a torch RLModule, or an
    :class:`~compat.RLModulePolicy` (its ``module``).
    """

    def __init__(self, role: str, obj: Any) -> None:
        self.role = role
        self.policy: Any = None
        kind = type(obj).__name__
        try:
            if isinstance(obj, RLModule):
                module, self.description = obj, f"{kind} (RLModule)"
            elif isinstance(obj, RLModulePolicy):
                module = obj.module
                self.description = f"RLModulePolicy over {type(module).__name__}"
            elif hasattr(obj, "compute_actions") and hasattr(obj, "model"):
                hooks = policy_hooks(obj)
                if hooks:  # its behaviour is not all in its model: run the whole policy
                    module = LegacyPolicyRLModule.wrap(obj)
                    self.description = f"{kind} (legacy policy, run whole: it overrides {', '.join(hooks)})"
                else:
                    module = ModelV2RLModule.wrap(obj.model, action_dist_class=getattr(obj, "dist_class", None))
                    self.policy = obj
                    self.description = f"{kind} (legacy policy; model {type(obj.model).__name__})"
            elif hasattr(obj, "value_function") and hasattr(obj, "forward"):
                module = ModelV2RLModule.wrap(obj)
                self.description = f"{kind} (legacy ModelV2)"
            else:
                raise TypeError(
                    f"check(): {role} is a {kind}, which is not supported; expected a legacy policy "
                    "(with compute_actions and model), a legacy torch ModelV2 (with forward and "
                    "value_function), an RLModule or an RLModulePolicy"
                )
        except TypeError as e:
            if str(e).startswith("check():"):
                raise
            raise TypeError(f"check(): {role} ({kind}): {e}") from None
        if getattr(module, "framework", None) != "torch" or not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"check(): {role} is a {getattr(module, 'framework', None)!r} RLModule ({type(module).__name__}); "
                "parity checks run torch modules only"
            )
        config = module.config
        if config is None or config.observation_space is None or config.action_space is None:
            raise TypeError(f"check(): {role} ({type(module).__name__}) has no observation/action space in its config")
        self.module = module
        self.actor = Actor(module, f"check(): {role} ({type(module).__name__})")
        self.observation_space: gym.Space = config.observation_space
        self.action_space: gym.Space = config.action_space
        self.stateful = self.actor.stateful
        self.device = next((p.device for p in module.parameters()), torch.device("cpu"))

    def rollout(self, obs_steps: Sequence[Any], phase: str) -> List[Dict[str, Any]]:
        """Per step (``obs_steps``: torch observations ``[N, ...]``) the acting forward's
        output (tensors), with ``vf_preds`` from ``compute_values()`` in the exploration
        phase when the forward leaves them out; recurrent sides carry their state from the
        initial state and their per-step outputs lose the time axis."""
        actor, explore = self.actor, phase == "exploration"
        outs: List[Dict[str, Any]] = []
        state = None
        for obs in obs_steps:
            if self.stateful and state is None:
                n = batch_size(obs)
                state = map_structure(
                    lambda s: torch.as_tensor(s, device=self.device).expand((n,) + tuple(torch.as_tensor(s).shape)),
                    self.module.get_initial_state(),
                )
            out = actor.forward(actor.batch(obs, state), explore=explore, values=explore)
            if self.stateful:
                if Columns.STATE_OUT not in out:
                    raise ValueError(f"check(): {self.role} ({type(self.module).__name__}) is stateful but returned no state_out")
                out = actor.drop_time_axis(out)
                state = out[Columns.STATE_OUT]
            outs.append(out)
        return outs

    def dist(self, out: Mapping[str, Any], explore: bool) -> Tuple[Any, Optional[torch.Tensor], str]:
        """``(distribution class or object, inputs or None, note)`` of one step's output;
        ``(None, None, why)`` when there is none."""
        if Columns.ACTION_DIST_INPUTS in out:
            return action_dist_class(self.module, explore=explore), out[Columns.ACTION_DIST_INPUTS], ""
        if Columns.ACTION_DIST in out and not self.stateful:
            return out[Columns.ACTION_DIST], None, ""
        return None, None, f"{self.role} returns no {Columns.ACTION_DIST_INPUTS!r} or {Columns.ACTION_DIST!r}"

    def deterministic_actions(self, out: Mapping[str, Any]) -> Tuple[Any, str]:
        """``(actions, "")`` the inference output acts with (``to_deterministic()``), or
        ``(None, why)`` when the output has neither actions nor a distribution."""
        if Columns.ACTIONS not in out:
            dist, _, why = self.dist(out, explore=False)
            if dist is None:
                return None, why
        return sample_actions(self.module, out, explore=False)[0], ""
