"""BCConfig: behaviour cloning from an offline dataset of (obs, action) pairs.

``BCConfig().environment("CartPole-v1").offline_data(input_="expert.npz").training(lr=...)``.
The environment supplies the spaces (the dataset is validated against them) and the
evaluation episodes; training never samples it. The dataset formats are described in
:mod:`rlmodule.offline.dataset`.

The default module is the PPO-layout actor-critic module (``PPOTorchRLModule`` /
``PPOTfRLModule`` built by ``PPOCatalog`` from ``model``), the layout of legacy
BC/MARWIL models: ``fcnet_hiddens``, ``use_lstm`` and the rest of the ``model`` dict
mean what they meant, and legacy BC/MARWIL weights port like PPO's. BC trains the policy
only (legacy MARWIL with ``beta=0``); the value branch stays untrained.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from rlmodule.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from rlmodule.rl_module import SingleAgentRLModuleSpec


class BCConfig(AlgorithmConfig):
    """Settings: the base ones (``lr`` 1e-3, ``train_batch_size`` 2000: rows drawn from
    the dataset per ``train()``), ``sgd_minibatch_size`` (256), ``num_sgd_iter`` (1
    pass over each drawn batch) and ``input_`` (set by :meth:`offline_data`)."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        if algo_class is None:
            from rlmodule.algorithms.bc.bc import BC as algo_class
        super().__init__(algo_class=algo_class)
        self.lr = 1e-3
        self.train_batch_size = 2000
        self.sgd_minibatch_size = 256
        self.num_sgd_iter = 1
        self.input_: Any = None

    def offline_data(self, *, input_: Any = NotProvided) -> "BCConfig":
        """``input_``: a dataset file (``.npz`` or ``.jsonl``), a list of them, or for
        multi-agent a dict ``{module_id: file or list of files}`` (files may instead
        carry a ``module_id`` column); ``None`` clears it. Files are read and validated
        when the algorithm is built."""
        if input_ is not NotProvided:
            self.input_ = _check_input(input_)
        return self

    def training(self, **kwargs: Any) -> "BCConfig":
        if "input_" in kwargs:
            raise TypeError("training(input_=...): set the dataset with .offline_data(input_=...)")
        return super().training(**kwargs)

    def _set_training_setting(self, key: str, value: Any) -> None:
        if key == "input_":  # from_dict(): "input_" is validated by offline_data()
            self.offline_data(input_=value)
        else:
            super()._set_training_setting(key, value)

    def get_default_rl_module_spec(self) -> SingleAgentRLModuleSpec:
        """PPOTorchRLModule (torch) or PPOTfRLModule (tf2), built by PPOCatalog."""
        from rlmodule.algorithms.ppo.ppo_catalog import PPOCatalog

        if self.framework_str == "torch":
            from rlmodule.algorithms.ppo.torch_ppo_rl_module import PPOTorchRLModule as module_class
        else:
            from rlmodule.algorithms.ppo.tf_ppo_rl_module import PPOTfRLModule as module_class
        return SingleAgentRLModuleSpec(module_class=module_class, catalog_class=PPOCatalog)


def _check_input(input_: Any) -> Any:
    """``None``, a path, a non-empty list of paths, or a dict of those; paths as ``str``."""
    if input_ is None:
        return None
    if isinstance(input_, Mapping):
        if not input_:
            raise ValueError("offline_data(input_={}): give at least one module id's dataset")
        return {str(module_id): _check_paths(paths, f"input_[{module_id!r}]") for module_id, paths in input_.items()}
    return _check_paths(input_, "input_")


def _check_paths(paths: Any, where: str) -> Any:
    if isinstance(paths, (str, os.PathLike)):
        return os.fspath(paths)
    if isinstance(paths, (list, tuple)) and paths and all(isinstance(p, (str, os.PathLike)) for p in paths):
        return [os.fspath(p) for p in paths]
    raise TypeError(f"offline_data({where}=...): expected a file path or a non-empty list of paths, got {paths!r}")
