"""Small legacy and RLModule models for the ``rlmigrate parity`` tests.

``TwoLayerModel`` is a legacy FCNet-style custom TorchModelV2 (one hidden layer, a
logits layer, a value layer, features cached for ``value_function``). The RLModule
``TwoLayerRLModule`` registers tensors of the same names, so weights port by name; its
variants are migrations with a bug (a perturbed initialisation, a perturbed forward).
``FlatObsRLModule`` is ``TwoLayerRLModule`` for Dict / Tuple observations, flattened as
legacy RLlib's preprocessor did for ``obs_flat``. ``PlainTorchModel`` is neither a ModelV2
nor an RLModule.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
from torch import nn
from torch.nn import functional as F

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


class PerturbedInitRLModule(TwoLayerRLModule):
    """TwoLayerRLModule with 0.1 added to the first logit's bias after initialisation
    (porting the legacy weights overwrites it)."""

    def setup(self):
        super().setup()
        with torch.no_grad():
            self.logits.bias[0] += 0.1


class PerturbedForwardRLModule(TwoLayerRLModule):
    """A migration bug that survives weight porting: the first logit is off by 0.1."""

    def _forward_train(self, batch):
        out = super()._forward_train(batch)
        out[Columns.ACTION_DIST_INPUTS] = out[Columns.ACTION_DIST_INPUTS] + torch.tensor([0.1, 0.0, 0.0])
        return out

    def _forward_inference(self, batch):
        return {Columns.ACTION_DIST_INPUTS: self._forward_train(batch)[Columns.ACTION_DIST_INPUTS]}


def _flatten(obs, space):
    """As legacy RLlib's preprocessors: Box / MultiBinary leaves flattened, Discrete and
    MultiDiscrete ones one-hot, in the space's order."""
    if isinstance(space, gym.spaces.Dict):
        return torch.cat([_flatten(obs[k], s) for k, s in space.spaces.items()], -1)
    if isinstance(space, gym.spaces.Tuple):
        return torch.cat([_flatten(o, s) for o, s in zip(obs, space.spaces)], -1)
    if isinstance(space, gym.spaces.Discrete):
        return F.one_hot(obs.long() - int(space.start), int(space.n)).float()
    if isinstance(space, gym.spaces.MultiDiscrete):  # one-hot per component, concatenated
        return torch.cat([F.one_hot(obs[:, i].long(), int(n)).float() for i, n in enumerate(space.nvec)], -1)
    return obs.float().reshape(obs.shape[0], -1)


class FlatObsRLModule(TwoLayerRLModule):
    """TwoLayerRLModule on flattened Dict / Tuple observations."""

    def setup(self):
        space = self.config.observation_space
        hidden = _hidden(self.config.model_config_dict)
        self.hidden = nn.Linear(int(gym.spaces.flatdim(space)), hidden)
        self.logits = nn.Linear(hidden, int(self.config.action_space.n))
        self.value = nn.Linear(hidden, 1)

    def _forward_inference(self, batch):
        return {Columns.ACTION_DIST_INPUTS: self._forward_train(batch)[Columns.ACTION_DIST_INPUTS]}

    def _forward_train(self, batch):
        obs = _flatten(batch[Columns.OBS], self.config.observation_space)
        features = torch.tanh(self.hidden(obs))
        return {Columns.ACTION_DIST_INPUTS: self.logits(features), Columns.VF_PREDS: self.value(features)[..., 0]}


class PlainTorchModel(nn.Module):
    """A torch module with neither a ModelV2 nor an RLModule base."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 16)
