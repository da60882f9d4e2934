"""Ray-free copies of RLlib 2.60's legacy (ModelV2) built-in torch models and layers.

Custom legacy models often nest ``FullyConnectedNetwork``, ``VisionNetwork``,
``ComplexInputNetwork``, ``SlimFC`` ... inside themselves. The classes here re-implement
``ray.rllib.models.torch.{misc,fcnet,visionnet,complex_input_net,recurrent_net}`` line by
line (one file each, under ray's name), so migrated code keeps the legacy parameter
names and order (a legacy ``state_dict`` loads with ``strict=True``), the legacy
numerics and, under the same ``torch.manual_seed``, even the legacy initial weights.
Nothing here imports ``ray``.

Model surface (``TorchModelV2``): ``forward(input_dict, state, seq_lens) -> (out,
state)``, ``value_function()``, ``get_initial_state()``, ``__call__`` (restores Dict/Tuple
observations from the flat preprocessed ``obs``, adds ``obs_flat``, returns the input
state when ``forward`` returns none), ``num_outputs``, ``obs_space``, ``action_space``,
``model_config``, ``name``.

Differences from legacy, all deliberate:

* ``model_config`` is completed with ``rlmodule.model_config.MODEL_DEFAULTS`` (legacy
  read a missing key as ``None``; e.g. a dict without ``vf_share_layers`` gave a separate
  value branch there and a shared one here). Algorithms always passed complete dicts, and
  the partial dicts ``ComplexInputNetwork`` builds internally are reproduced exactly.
  The caller's dict is not mutated (legacy ``VisionNetwork`` wrote ``conv_filters`` in).
* No ``view_requirements``, ``AttentionWrapper``, ``Repeated`` spaces, custom-model
  registry, or Atari ``GenericPixelPreprocessor`` (a ``(210, 160, 3)`` Box; it resizes
  with OpenCV); the preprocessors' every-100th-call ``obs_space.contains`` check is
  skipped.
* ``LSTMWrapper`` sizes its LSTM with Python ints (legacy's numpy-int sum crashes
  torch>=2.13's ``nn.LSTM`` when ``lstm_use_prev_action`` is set); ``add_time_dimension``
  with ``framework="np", time_major=True`` swaps axes 0 and 1 (legacy's
  ``ndarray.transpose(0, 1)`` fails on 3D+ arrays).
* Legacy bugs that are kept: ``VisionNetwork.value_function`` raises ``IndexError`` with
  ``post_fcnet_hiddens`` and ``vf_share_layers=True``, and ``no_final_linear`` with
  ``post_fcnet_hiddens`` fails in ``forward`` (the FC layers see ``[B, C, 1, 1]``).

LSTM: legacy ``ModelCatalog`` built ``use_lstm`` models as a dynamic subclass
``<Model>_as_LSTMWrapper(LSTMWrapper, <Model>)``; ``lstm_wrapped(<Model>)`` builds the same
class (``get_model_v2`` does it for ``use_lstm=True``)::

    model = lstm_wrapped(FullyConnectedNetwork)(obs_space, action_space, num_outputs,
                                                {"use_lstm": True, ...}, "model")
    state = [s.expand(B, -1) for s in model.get_initial_state()]
    out, state = model({"obs": obs_flat}, state, seq_lens)  # obs_flat: [B * T, obs_dim]

Files (ray's module in brackets): ``misc`` layers and initializers [models.torch.misc];
``torch_modelv2`` the ``TorchModelV2`` base [models.torch.torch_modelv2]; ``fcnet``,
``visionnet``, ``complex_input_net``, ``recurrent_net`` (``RecurrentNetwork``,
``LSTMWrapper``, ``lstm_wrapped``) the models [models.torch.*]; ``catalog``
``get_model_v2`` [models.catalog]; ``rnn_sequencing`` ``add_time_dimension``
[policy.rnn_sequencing]; ``spaces`` ``flatten_space`` / ``one_hot``. The observation
preprocessing they re-export (``restore_original_dimensions``, ``flatten_space_obs``,
``preprocessed_obs_space``) lives in ``compat.preprocessing``. Migrated code imports every
name from ``compat.legacy_torch_models`` itself (the path ``rlmigrate`` emits).
"""

from compat.legacy_torch_models.catalog import get_model_v2
from compat.legacy_torch_models.complex_input_net import ComplexInputNetwork
from compat.legacy_torch_models.fcnet import FullyConnectedNetwork
from compat.legacy_torch_models.misc import (
    AppendBiasLayer,
    SlimConv2d,
    SlimFC,
    get_activation_fn,
    normc_initializer,
    same_padding,
)
from compat.legacy_torch_models.recurrent_net import LSTMWrapper, RecurrentNetwork, lstm_wrapped
from compat.legacy_torch_models.rnn_sequencing import add_time_dimension
from compat.legacy_torch_models.torch_modelv2 import TorchModelV2
from compat.legacy_torch_models.visionnet import VisionNetwork
from compat.preprocessing import flatten_space_obs, preprocessed_obs_space, restore_original_dimensions
from rlmodule.models.cnn import get_filter_config

__all__ = [
    "AppendBiasLayer",
    "ComplexInputNetwork",
    "FullyConnectedNetwork",
    "LSTMWrapper",
    "RecurrentNetwork",
    "SlimConv2d",
    "SlimFC",
    "TorchModelV2",
    "VisionNetwork",
    "add_time_dimension",
    "flatten_space_obs",
    "get_activation_fn",
    "get_filter_config",
    "get_model_v2",
    "lstm_wrapped",
    "normc_initializer",
    "preprocessed_obs_space",
    "restore_original_dimensions",
    "same_padding",
]
