"""PPOTorchRLModule: the PPO layout as a torch module."""

from typing import Any, Dict, Mapping

from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule
from rlmodule.models.actor_critic_logic import encoder_batch
from rlmodule.models.base import CRITIC, ENCODER_OUT
from rlmodule.torch.torch_rl_module import TorchRLModule


class PPOTorchRLModule(TorchRLModule, PPORLModule):
    """``encoder`` (actor-critic), ``pi`` and ``vf`` heads as torch sub-modules.

    The acting forwards call the sub-modules' ``forward()`` directly: nn.Module's call
    dispatch costs about as much as a small head's matmul. Forward hooks on ``encoder``,
    ``pi`` and ``vf`` therefore fire in ``forward_train`` only. They read the sub-modules
    from ``_modules`` (no nn.Module.__getattr__; see ``TorchMLP.forward``).
    ``_forward_exploration`` of a recurrent module computes what ``_forward_train``
    computes without calling it: a subclass that changes ``_forward_train`` overrides it
    too.
    """

    def _forward_inference(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """``action_dist_inputs`` ``[B, A]`` (``[B, T, A]`` and ``state_out`` if recurrent)."""
        modules = self._modules
        encoded = modules["encoder"].forward_actor(encoder_batch(batch))
        return self._head_outputs(encoded, modules["pi"].forward)

    def _forward_exploration(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """Feed-forward: as ``_forward_inference``. Recurrent: as ``_forward_train``, also
        ``vf_preds`` ``[B, T]``."""
        if not self._recurrent:
            return self._forward_inference(batch)
        modules = self._modules
        encoded = modules["encoder"].forward(encoder_batch(batch))
        return self._head_outputs(encoded, modules["pi"].forward, modules["vf"].forward)

    def compute_values(self, batch: Mapping[str, Any]) -> Any:
        """As :meth:`PPORLModule.compute_values`, without nn.Module call dispatch."""
        modules = self._modules
        encoded = modules["encoder"].forward_critic(encoder_batch(batch))
        return modules["vf"].forward(encoded[ENCODER_OUT][CRITIC])[..., 0]
