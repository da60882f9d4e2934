"""DiscreteBCTfModule: the specification's TensorFlow BC module."""

import tensorflow as tf

from rlmodule.testing.bc_module import DiscreteBCModuleBase
from rlmodule.tf.distributions import TfCategorical
from rlmodule.tf.tf_rl_module import TfRLModule


class DiscreteBCTfModule(DiscreteBCModuleBase, TfRLModule):
    """Dense(hidden, relu) -> Dense(n_actions)."""

    def setup(self) -> None:
        input_dim, hidden_dim, output_dim = self._sizes()
        self.policy = tf.keras.Sequential(
            [tf.keras.layers.Dense(hidden_dim, activation="relu"), tf.keras.layers.Dense(output_dim)]
        )
        self.input_dim = input_dim

    def _default_action_dist_cls(self):
        return TfCategorical
