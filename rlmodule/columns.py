"""Batch key names shared by modules, env runners and learners.

The strings equal the legacy ``SampleBatch`` keys, so data and habits carry over.
"""


class Columns:
    """Names of the batch columns (``batch[Columns.OBS]`` is ``batch["obs"]``)."""

    OBS = "obs"  # [B, *obs_shape] (or [B, T, *obs_shape] for stateful modules)
    NEXT_OBS = "new_obs"
    ACTIONS = "actions"  # [B, *action_shape]
    REWARDS = "rewards"  # [B]
    TERMINATEDS = "terminateds"  # [B] bool
    TRUNCATEDS = "truncateds"  # [B] bool
    SEQ_LENS = "seq_lens"  # [B] int, valid steps per sequence
    STATE_IN = "state_in"  # dict of [B, ...] tensors
    STATE_OUT = "state_out"  # dict of [B, ...] tensors
    ACTION_DIST = "action_dist"  # a Distribution object (early-alpha style output)
    ACTION_DIST_INPUTS = "action_dist_inputs"  # [B, dist_input_dim]
    ACTION_LOGP = "action_logp"  # [B]
    ACTION_PROB = "action_prob"  # [B]
    VF_PREDS = "vf_preds"  # [B]


OBS = Columns.OBS
NEXT_OBS = Columns.NEXT_OBS
ACTIONS = Columns.ACTIONS
REWARDS = Columns.REWARDS
TERMINATEDS = Columns.TERMINATEDS
TRUNCATEDS = Columns.TRUNCATEDS
SEQ_LENS = Columns.SEQ_LENS
STATE_IN = Columns.STATE_IN
STATE_OUT = Columns.STATE_OUT
ACTION_DIST = Columns.ACTION_DIST
ACTION_DIST_INPUTS = Columns.ACTION_DIST_INPUTS
ACTION_LOGP = Columns.ACTION_LOGP
ACTION_PROB = Columns.ACTION_PROB
VF_PREDS = Columns.VF_PREDS
