"""BC, behaviour cloning from an offline dataset of (obs, action) pairs: :class:`BCConfig`
and the :class:`BC` algorithm (the config builds the algorithm and the algorithm makes
its default config, so both live here).

``BCConfig().environment("CartPole-v1").offline_data(input_="expert.npz").training(lr=...)``.
The environment supplies the spaces (the dataset is validated against them) and the
evaluation episodes; training never samples it. The dataset formats are described in
:mod:`rlmodule.offline.dataset`.

The default module is the PPO-layout actor-critic module (``PPOTorchRLModule`` /
``PPOTfRLModule`` built by ``PPOCatalog`` from ``model``), the layout of legacy
BC/MARWIL models: ``fcnet_hiddens``, ``use_lstm`` and the rest of the ``model`` dict
mean what they meant, and legacy BC/MARWIL weights port like PPO's. BC trains the policy
only (legacy MARWIL with ``beta=0``); the value branch stays untrained.

Each ``train()`` draws ``train_batch_size`` dataset steps per module (with the
module's learner's seeded Generator) and runs the BC learner's minibatch epochs on them.

Feed-forward modules get individual steps, drawn without replacement. Recurrent
modules get whole sequences: episodes cut into pieces of ``max_seq_len`` steps, each
starting from the module's initial state, drawn until ``train_batch_size`` steps are
reached. Training never steps the environment; episode returns come from evaluation
(``.evaluation(evaluation_interval=..., evaluation_duration=...)`` or ``evaluate()``).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import gymnasium as gym
import numpy as np

from rlmodule.algorithms.algorithm import Algorithm
from rlmodule.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from rlmodule.algorithms.ppo.ppo_catalog import PPOCatalog
from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule
from rlmodule.backend import backend
from rlmodule.env_runners.fragment import Fragment
from rlmodule.offline.dataset import OfflineData, read_offline_data
from rlmodule.rl_module import RLModule, SingleAgentRLModuleSpec, build_weights
from rlmodule.tree import map_structure


class BCConfig(AlgorithmConfig):
    """Settings: the base ones (``lr`` 1e-3, ``train_batch_size`` 2000: rows drawn from
    the dataset per ``train()``), ``sgd_minibatch_size`` (256), ``num_sgd_iter`` (1
    pass over each drawn batch) and ``input_`` (set by :meth:`offline_data`)."""

    def __init__(self, algo_class: Optional[type] = None) -> None:
        super().__init__(algo_class=algo_class or BC)
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
        module_class = backend(self.framework_str).rl_module_class(PPORLModule)
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


class BC(Algorithm):
    """Behaviour cloning on ``config.input_`` (see :class:`~rlmodule.algorithms.bc.BCConfig`)."""

    @classmethod
    def get_default_config(cls) -> Any:
        return BCConfig()

    def setup(self) -> None:
        """The env runner (for evaluation only), one BC learner per module, and the
        dataset, read and validated against each module's spaces."""
        super().setup()
        self.dataset: Dict[str, OfflineData] = {}
        if self.config.input_ is not None:
            self.dataset = self.load_dataset(self.config.input_)

    def make_learner(self, module: RLModule, module_id: str) -> Any:
        """A BCLearner; Keras modules that create weights lazily (the DiscreteBC tf
        module) run one forward on sampled observations first."""
        from rlmodule.learners.bc_learner import BCLearner

        build_weights(module)
        return (self.config.learner_class or BCLearner)(module, self.config, module_id)

    def load_dataset(self, input_: Any) -> Dict[str, OfflineData]:
        """``{module_id: OfflineData}`` read from ``input_`` (``offline_data``'s forms);
        every module needs rows. Raises :class:`~rlmodule.offline.DatasetError`."""
        from rlmodule.offline.dataset import DatasetError

        modules = self.modules()
        spaces = {mid: (_space(m, "observation"), _space(m, "action")) for mid, m in modules.items()}
        data = read_offline_data(input_, spaces)
        empty = [mid for mid in modules if mid not in data or len(data[mid]) == 0]
        if empty:
            raise DatasetError(
                f"offline_data(input_={input_!r}): no rows for module(s) {empty}; every module needs data "
                f"(modules: {sorted(modules)}, modules with rows: {sorted(m for m in data if len(data[m]))})"
            )
        return data

    def training_step(self) -> Dict[str, Any]:
        if not self.dataset:
            raise ValueError(
                f"{type(self).__name__}.train(): no dataset to learn from; set one with "
                f".offline_data(input_=path) on the config (a .npz or .jsonl file; see rlmodule.offline.dataset)"
            )
        fragments = [f for module_id in self.learners for f in self._draw(module_id)]
        stats = self.update(fragments)
        steps = sum(len(f) for f in fragments)
        return {"learners": stats, "num_env_steps_trained_this_iter": steps, "num_agent_steps_trained_this_iter": steps}

    def _draw(self, module_id: str) -> List[Fragment]:
        """One update's fragments for ``module_id``: ``train_batch_size`` steps (fewer if
        the dataset is smaller), drawn with the learner's Generator."""
        learner = self.learners[module_id]
        data = self.dataset[module_id]
        size = self.config.train_batch_size
        if not learner.stateful:
            rows = np.sort(learner.rng.choice(len(data), size=min(size, len(data)), replace=False))
            return [_fragment(data.obs[rows], data.actions[rows], module_id, None)]
        pieces = _pieces(data, learner.max_seq_len)
        order = learner.rng.permutation(len(pieces))
        lengths = pieces[order, 1] - pieces[order, 0]
        take = order[: int(np.searchsorted(np.cumsum(lengths), size)) + 1]
        initial = backend(learner.module).to_numpy(learner.module.get_initial_state())
        fragments = []
        for start, end in pieces[np.sort(take)]:
            state_in = map_structure(lambda x: np.repeat(np.asarray(x)[None], end - start, axis=0), initial)
            fragments.append(_fragment(data.obs[start:end], data.actions[start:end], module_id, state_in))
        return fragments


def _pieces(data: OfflineData, max_seq_len: int) -> np.ndarray:
    """``[P, 2]`` (start, end) of every episode cut into pieces of at most ``max_seq_len``."""
    pieces: List[Tuple[int, int]] = []
    for start, end in data.episode_bounds():
        pieces.extend((s, min(s + max_seq_len, end)) for s in range(int(start), int(end), max_seq_len))
    return np.asarray(pieces, dtype=np.int64).reshape(-1, 2)


def _fragment(obs: np.ndarray, actions: np.ndarray, module_id: str, state_in: Any) -> Fragment:
    n = len(actions)
    zeros = np.zeros(n, np.float32)
    return Fragment(
        obs=obs, actions=actions, rewards=zeros, action_logp=zeros, action_dist_inputs=None, vf_preds=zeros,
        terminated=False, truncated=False, bootstrap_value=0.0, state_in=state_in, module_id=module_id,
    )


def _space(module: RLModule, kind: str) -> gym.Space:
    return getattr(module.config, f"{kind}_space")
