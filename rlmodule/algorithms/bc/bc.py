"""BC: each ``train()`` draws ``train_batch_size`` dataset steps per module (with the
module's learner's seeded Generator) and runs the BC learner's minibatch epochs on them.

Feed-forward modules get individual steps, drawn without replacement. Recurrent
modules get whole sequences: episodes cut into pieces of ``max_seq_len`` steps, each
starting from the module's initial state, drawn until ``train_batch_size`` steps are
reached. Training never steps the environment; episode returns come from evaluation
(``.evaluation(evaluation_interval=..., evaluation_duration=...)`` or ``evaluate()``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import gymnasium as gym
import numpy as np

from rlmodule.algorithms.algorithm import Algorithm
from rlmodule.env_runners.fragment import Fragment
from rlmodule.env_runners.utils import TensorOps
from rlmodule.offline.dataset import OfflineData, read_offline_data
from rlmodule.rl_module import RLModule
from rlmodule.spaces import map_structure


class BC(Algorithm):
    """Behaviour cloning on ``config.input_`` (see :class:`~rlmodule.algorithms.bc.BCConfig`)."""

    @classmethod
    def get_default_config(cls) -> Any:
        from rlmodule.algorithms.bc.bc_config import BCConfig

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
        from rlmodule.checkpoint import build_weights
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
        ops = TensorOps(learner.module)
        initial = ops.to_numpy(learner.module.get_initial_state())
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
