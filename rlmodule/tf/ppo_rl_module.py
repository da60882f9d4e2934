"""PPOTfRLModule: the PPO layout as a Keras 3 model."""

from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule
from rlmodule.tf.tf_rl_module import TfRLModule


class PPOTfRLModule(TfRLModule, PPORLModule):
    """``encoder`` (actor-critic), ``pi`` and ``vf`` heads as Keras layers; weights are
    created at construction (one forward on a sampled observation)."""

    def setup(self) -> None:
        PPORLModule.setup(self)
        self._forward_train(self.sample_batch())
        self.built = True
