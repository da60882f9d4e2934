"""RLlib 2.60 RLModules that run one of OUR modules: RLlib's learners, env runners and
connectors drive them as any RLlib ``TorchRLModule``.

``setup()`` builds our module from the spaces RLlib passes and the class / model config
recorded in RLlib's ``model_config`` (:func:`compat.rllib.adapter_model_config`) and
registers it as the submodule ``inner``: RLlib's weights are ours under ``inner.``
(``adapter.state_dict()["inner.<our name>"]``). What passes through:

* the three forwards (ours check their specs and switch eval / no-grad as usual); RLlib's
  keyword arguments to them (the env runner passes the timestep ``t``) are not passed on;
* ``compute_values(batch)`` (RLlib's ``ValueFunctionAPI``): ours, or where ours has none
  the ``vf_preds`` of its ``forward_train`` (``[B]``, ``[B, T]`` with a time axis);
* the train / exploration / inference distribution classes: ours (RLlib calls
  ``from_logits``, ``sample``, ``logp``, ``entropy``, ``kl``, ``to_deterministic``);
* recurrent state: ``get_initial_state()`` (``{key: [L, H]}``, no batch dim); RLlib's
  connectors add ``state_in`` (``{key: [B, L, H]}``) and the time axis ``[B, T, ...]``
  (``T = model_config["max_seq_len"]`` in training, 1 when acting) and read our
  ``state_out`` - the same key names and layout as ours. In training RLlib also adds
  ``seq_lens`` (``[B]``; ours runs each row's valid steps only, zeros after them) and a
  ``loss_mask`` that keeps the zero-padded steps out of its losses;
* ``inference_only`` (RLlib's env-runner copies): ours has no inference-only form, so
  the whole module is built, ``forward_train`` refuses as RLlib's base class does, and
  the full state is synced.

:class:`RLlibTargetAdapter` adds RLlib's ``TargetNetworkAPI`` for our APPO modules.
Both classes live at module level, so pickling them (RLlib ships specs to remote actors
and into checkpoints) stores a reference, ``compat.rllib.adapter.RLlibAdapter``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from ray.rllib.core.rl_module.apis import TargetNetworkAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.apis.target_network_api import TARGET_NETWORK_ACTION_DIST_INPUTS
from ray.rllib.core.rl_module.torch import TorchRLModule

from compat.rllib.spec import our_spec
from rlmodule.acting import has_compute_values
from rlmodule.columns import Columns
from rlmodule.rl_module import RLModule


class RLlibAdapter(TorchRLModule, ValueFunctionAPI):
    """An RLlib ``TorchRLModule`` + ``ValueFunctionAPI`` holding our module as ``inner``."""

    inner: RLModule

    def setup(self) -> None:
        spec = our_spec(self.model_config, self.observation_space, self.action_space)
        self.inner = spec.build()

    def _forward_inference(self, batch: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
        return self.inner.forward_inference(batch)

    def _forward_exploration(self, batch: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
        return self.inner.forward_exploration(batch)

    def _forward_train(self, batch: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
        return self.inner.forward_train(batch)

    def compute_values(self, batch: Dict[str, Any], embeddings: Optional[Any] = None) -> Any:
        """``V(obs)`` ``[B]`` (``[B, T]`` with a time axis); gradients follow the caller
        (RLlib's PPO loss differentiates it). ``embeddings`` is ignored: ours recompute."""
        inner = self.inner
        if has_compute_values(inner):
            return inner.compute_values(batch)
        out = inner.forward_train(batch)
        if Columns.VF_PREDS not in out:
            raise KeyError(
                f"{type(inner).__name__} has no compute_values() and its forward_train() returns "
                f"no {Columns.VF_PREDS!r} (keys: {sorted(out)}); RLlib's PPO / APPO need values"
            )
        return out[Columns.VF_PREDS]

    def get_train_action_dist_cls(self) -> type:
        return self.inner.get_train_action_dist_cls()

    def get_exploration_action_dist_cls(self) -> type:
        return self.inner.get_exploration_action_dist_cls()

    def get_inference_action_dist_cls(self) -> type:
        return self.inner.get_inference_action_dist_cls()

    def get_initial_state(self) -> Dict[str, Any]:
        return self.inner.get_initial_state()


class RLlibTargetAdapter(RLlibAdapter, TargetNetworkAPI):
    """:class:`RLlibAdapter` + RLlib's ``TargetNetworkAPI`` for our APPO modules, whose
    ``setup()`` builds the target networks (``old_encoder``, ``old_pi``) already.

    Our ``get_target_network_pairs()`` lists ``(target, main)``; RLlib's lists
    ``(main, target)``: this class reverses each pair. RLlib's learner syncs them on its
    own schedule (``target_network_update_freq``, ``tau``); our
    ``sync_target_networks`` is not called by RLlib.
    """

    def setup(self) -> None:
        super().setup()
        if not hasattr(self.inner, "_old_action_dist_inputs"):
            raise TypeError(
                f"RLlibTargetAdapter: {type(self.inner).__name__} is not an APPO module (an "
                "APPORLModule with target networks old_encoder / old_pi); use RLlibAdapter"
            )

    def make_target_networks(self) -> None:
        """Ours exist since ``setup()``; set them to the main networks, as RLlib's
        ``make_target_network`` initialises a target from its main net."""
        self.inner.sync_target_networks(tau=1.0)

    def get_target_network_pairs(self) -> List[Tuple[torch.nn.Module, torch.nn.Module]]:
        """``[(main, target), ...]`` (RLlib's order)."""
        return [(main, target) for target, main in self.inner.get_target_network_pairs()]

    def forward_target(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        """The target policy's ``action_dist_inputs`` as
        ``{"target_network_action_dist_inputs": [B, A]}``, without gradient."""
        with torch.no_grad():
            return {TARGET_NETWORK_ACTION_DIST_INPUTS: self.inner._old_action_dist_inputs(batch)}
