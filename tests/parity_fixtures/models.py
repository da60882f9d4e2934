"""Small legacy and RLModule models for the ``rlmigrate parity`` tests.

``TwoLayerModel`` is a legacy FCNet-style custom TorchModelV2 (one hidden layer, a
logits layer, a value layer, features cached for ``value_function``). The RLModule
``TwoLayerRLModule`` registers tensors of the same names, so weights port by name.
"""

from __future__ import annotations

import torch
from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
from torch import nn

from rlmodule.columns import Columns
from rlmodule.torch import TorchRLModule


def _hidden(model_config) -> int:
    return int((model_config.get("fcnet_hiddens") or [16])[0])


class TwoLayerModel(TorchModelV2, nn.Module):
    def __init__(self, obs_space, action_space, num_outputs, model_config, name):
        TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        nn.Module.__init__(self)
        hidden = _hidden(model_config)
        self.hidden = nn.Linear(int(obs_space.shape[0]), hidden)
        self.logits = nn.Linear(hidden, num_outputs)
        self.value = nn.Linear(hidden, 1)
        self._features = None

    def forward(self, input_dict, state, seq_lens):
        self._features = torch.tanh(self.hidden(input_dict["obs_flat"].float()))
        return self.logits(self._features), state

    def value_function(self):
        return self.value(self._features).reshape(-1)


class PerturbedInitModel(TwoLayerModel):
    """TwoLayerModel with 0.1 added to the first logit's bias after initialisation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with torch.no_grad():
            self.logits.bias[0] += 0.1


class WithUnusedHeadModel(TwoLayerModel):
    """TwoLayerModel plus a head nothing reads (like the LSTM wrapper's value branch)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unused_head = nn.Linear(4, 4)


class TwoLayerRLModule(TorchRLModule):
    """The same network as an RLModule (same tensor names: ports by name)."""

    def setup(self):
        obs_size = int(self.config.observation_space.shape[0])
        hidden = _hidden(self.config.model_config_dict)
        self.hidden = nn.Linear(obs_size, hidden)
        self.logits = nn.Linear(hidden, int(self.config.action_space.n))
        self.value = nn.Linear(hidden, 1)

    def _forward_inference(self, batch):
        return {Columns.ACTION_DIST_INPUTS: self.logits(torch.tanh(self.hidden(batch[Columns.OBS].float())))}

    def _forward_exploration(self, batch):
        return self._forward_train(batch)

    def _forward_train(self, batch):
        features = torch.tanh(self.hidden(batch[Columns.OBS].float()))
        return {Columns.ACTION_DIST_INPUTS: self.logits(features), Columns.VF_PREDS: self.value(features)[..., 0]}
