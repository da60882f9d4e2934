"""Cutting fragments into [B, T] sequences, the TrainBatch layout and minibatch rows."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule.env_runners.fragment import Fragment
from rlmodule.learners.batch import LOSS_MASK, build_train_batch
from rlmodule.learners.learner import minibatch_rows
from rlmodule.learners.sequences import cut_sequences


def _frag(n, start, state=True, module_id="default_policy", nested=False):
    """Step ``t`` of this fragment has obs value ``start + t`` everywhere, so the flat
    position of every value is readable."""
    steps = np.arange(start, start + n, dtype=np.float32)
    state_in = None
    if state:
        state_in = {"h": np.stack([np.full((1, 2), s) for s in steps]), "c": -np.stack([np.full((1, 2), s) for s in steps])}
        if nested:
            state_in = {"actor": state_in, "critic": {k: v * 10 for k, v in state_in.items()}}
    return Fragment(
        obs={"a": steps[:, None].repeat(3, 1), "b": steps.astype(np.int64)} if nested else steps[:, None].repeat(3, 1),
        actions=steps.astype(np.int64),
        rewards=np.ones(n, np.float32),
        action_logp=-steps,
        action_dist_inputs=np.stack([steps, -steps], 1),
        vf_preds=steps / 10,
        terminated=True,
        truncated=False,
        bootstrap_value=0.0,
        state_in=state_in,
        module_id=module_id,
    )


def test_cut_sequences_cuts_at_max_seq_len_and_never_crosses_fragments():
    cut = cut_sequences([5, 2, 0, 4], max_seq_len=2)
    # fragment 0: steps 0..4 -> [0,1] [2,3] [4]; fragment 1: 5..6; fragment 3: 7..10
    np.testing.assert_array_equal(cut.starts, [0, 2, 4, 5, 7, 9])
    np.testing.assert_array_equal(cut.seq_lens, [2, 2, 1, 2, 2, 2])
    np.testing.assert_array_equal(cut.mask()[2], [True, False])
    padded = cut.pad(np.arange(11) + 1)
    np.testing.assert_array_equal(padded, [[1, 2], [3, 4], [5, 0], [6, 7], [8, 9], [10, 11]])


def test_cut_sequences_rejects_bad_max_seq_len():
    with pytest.raises(ValueError, match="max_seq_len"):
        cut_sequences([3], 0)


def test_recurrent_train_batch_pads_masks_and_takes_state_at_sequence_start():
    frags = [_frag(5, 0.0), _frag(3, 100.0)]
    extra = {"advantages": np.arange(8, dtype=np.float32)}
    batch = build_train_batch(frags, extra, max_seq_len=4)
    assert batch.sequences and batch.num_rows == 3 and batch.num_steps == 8
    np.testing.assert_array_equal(batch.inputs["seq_lens"], [4, 1, 3])
    obs = batch.inputs["obs"]
    assert obs.shape == (3, 4, 3)
    np.testing.assert_array_equal(obs[:, :, 0], [[0, 1, 2, 3], [4, 0, 0, 0], [100, 101, 102, 0]])
    # The state recorded before each sequence's first step: steps 0, 4 and 100.
    np.testing.assert_array_equal(batch.inputs["state_in"]["h"][:, 0, 0], [0, 4, 100])
    np.testing.assert_array_equal(batch.inputs["state_in"]["c"][:, 0, 0], [0, -4, -100])
    assert batch.inputs["state_in"]["h"].shape == (3, 1, 2)
    np.testing.assert_array_equal(batch.targets[LOSS_MASK], [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]])
    np.testing.assert_array_equal(batch.targets["advantages"], [[0, 1, 2, 3], [4, 0, 0, 0], [5, 6, 7, 0]])
    np.testing.assert_array_equal(batch.targets["action_dist_inputs"][2, :, 1], [-100, -101, -102, 0])
    np.testing.assert_array_equal(batch.row_steps, [4, 1, 3])


def test_nested_obs_and_state_are_cut_leaf_by_leaf():
    batch = build_train_batch([_frag(3, 0.0, nested=True)], {}, max_seq_len=2)
    np.testing.assert_array_equal(batch.inputs["obs"]["b"], [[0, 1], [2, 0]])
    assert batch.inputs["obs"]["b"].dtype == np.int64
    np.testing.assert_array_equal(batch.inputs["state_in"]["critic"]["h"][:, 0, 0], [0, 20])


def test_feed_forward_batch_is_flat_and_drops_missing_dist_inputs():
    frags = [_frag(2, 0.0, state=False), _frag(3, 10.0, state=False)]
    frags[1].action_dist_inputs = None
    batch = build_train_batch(frags, {}, max_seq_len=None)
    assert not batch.sequences and batch.num_rows == 5
    np.testing.assert_array_equal(batch.inputs["obs"][:, 0], [0, 1, 10, 11, 12])
    assert "action_dist_inputs" not in batch.targets and LOSS_MASK not in batch.targets


def test_recurrent_batch_without_state_in_names_the_module():
    with pytest.raises(ValueError, match="'pol'.*state_in"):
        build_train_batch([_frag(2, 0.0, state=False)], {}, max_seq_len=4, module_id="pol")


def test_minibatch_rows_cover_every_row_once_with_balanced_steps():
    rng = np.random.default_rng(0)
    perm, bounds = minibatch_rows(np.ones(2048, np.int64), 256, rng)
    assert sorted(perm.tolist()) == list(range(2048))
    assert [e - s for s, e in bounds] == [256] * 8
    perm2, _ = minibatch_rows(np.ones(2048, np.int64), 256, rng)
    assert not np.array_equal(perm, perm2)  # reshuffled every epoch
    _, bounds = minibatch_rows(np.ones(1000, np.int64), 128, rng)
    sizes = [e - s for s, e in bounds]
    assert len(sizes) == 8 and sum(sizes) == 1000 and max(sizes) - min(sizes) <= 1
    _, bounds = minibatch_rows(np.ones(10, np.int64), 256, rng)
    assert bounds == [(0, 10)]


def test_minibatch_rows_of_sequences_hold_about_minibatch_size_valid_steps():
    rng = np.random.default_rng(0)
    seq_lens = rng.integers(1, 21, size=300)
    perm, bounds = minibatch_rows(seq_lens, 256, rng)
    steps = [int(seq_lens[perm[s:e]].sum()) for s, e in bounds]
    assert sum(steps) == seq_lens.sum()
    assert len(steps) == round(seq_lens.sum() / 256)
    assert all(abs(s - 256) <= 20 for s in steps), steps
