"""APPOTfRLModule."""

import tensorflow as tf

from rlmodule.algorithms.appo.appo_rl_module import APPORLModule
from rlmodule.tf.tf_rl_module import TfRLModule


class APPOTfRLModule(TfRLModule, APPORLModule):
    """Keras APPO module; weights (targets included) exist from construction."""

    def setup(self) -> None:
        APPORLModule.setup(self)
        self._forward_train(self.sample_batch())
        self.sync_target_networks(tau=1.0)
        for target, _ in self.get_target_network_pairs():
            target.trainable = False
        self.built = True

    def _no_grad(self, fn, batch):
        return tf.nest.map_structure(tf.stop_gradient, fn(batch))

    def sync_target_networks(self, tau: float = 1.0) -> None:
        for target, source in self.get_target_network_pairs():
            for t, s in zip(target.weights, source.weights):
                t.assign(tau * s + (1.0 - tau) * t)
