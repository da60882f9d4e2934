"""BCLearner: behaviour cloning, maximum likelihood of the dataset's actions.

The loss, written once for torch and tf2 against the backend's ops shim, is
``-E[log pi(a_data | s)]`` over the minibatch's valid steps (recurrent batches: the
``[B, T]`` sequences flattened to ``n = B * T`` with ``loss_mask``).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from rlmodule.columns import Columns
from rlmodule.learners.batch import LOSS_MASK
from rlmodule.learners.learner import Learner, Tensor


class BCLearner(Learner):
    """BC for one module; settings are the :class:`Learner` ones (``lr``,
    ``sgd_minibatch_size``, ``num_sgd_iter``, ``grad_clip``, ``seed``, ``model``).

    Stats of :meth:`update`: ``total_loss`` (= ``policy_loss``), ``policy_loss``
    (``-mean log pi(a_data|s)``), ``entropy`` (of pi; ``-mean log pi(a_data|s)`` where no
    closed form exists), ``curr_lr``, ``num_steps_trained``, ``num_minibatches``.
    """

    def compute_loss(self, ops: Any, batch: Mapping[str, Tensor], fwd_out: Mapping[str, Tensor], coeffs: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """``policy_loss = -mean(log pi(actions | obs))`` on ``n`` steps (``[n]`` log-probs)."""
        mask = batch.get(LOSS_MASK)
        pi = self.action_distribution(ops, fwd_out)
        logp = pi.logp(batch[Columns.ACTIONS])
        policy_loss = -ops.mean(logp, mask)
        try:
            entropy = ops.mean(pi.entropy(), mask)
        except NotImplementedError:
            entropy = policy_loss
        return {"policy_loss": policy_loss, "entropy": ops.stop_gradient(entropy), "total_loss": policy_loss}
