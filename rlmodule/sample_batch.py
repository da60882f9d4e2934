"""SampleBatch: the legacy column names, as constants only.

Migrated code that read ``SampleBatch.OBS``, ``SampleBatch.ACTIONS``, ... keeps reading
the same strings (ray 2.60's values; batches here are dicts keyed by them, see
:class:`rlmodule.columns.Columns`). There are no SampleBatch objects: calling the class
raises a TypeError saying so (the codemod maps the import only in files that use
nothing but these constants).
"""

from __future__ import annotations

from typing import Any, NoReturn


class SampleBatch:
    """Column-name constants with ray 2.60's ``SampleBatch`` string values."""

    OBS = "obs"
    CUR_OBS = "obs"
    NEXT_OBS = "new_obs"
    ACTIONS = "actions"
    REWARDS = "rewards"
    TERMINATEDS = "terminateds"
    TRUNCATEDS = "truncateds"
    DONES = "dones"  # ray < 2.3; batches here have terminateds / truncateds instead
    INFOS = "infos"
    SEQ_LENS = "seq_lens"
    T = "t"
    ACTION_DIST_INPUTS = "action_dist_inputs"
    ACTION_DIST = "action_dist"
    ACTION_PROB = "action_prob"
    ACTION_LOGP = "action_logp"
    VF_PREDS = "vf_preds"
    VALUES_BOOTSTRAPPED = "values_bootstrapped"
    EPS_ID = "eps_id"
    ENV_ID = "env_id"
    AGENT_INDEX = "agent_index"
    UNROLL_ID = "unroll_id"
    PREV_ACTIONS = "prev_actions"
    PREV_REWARDS = "prev_rewards"
    OBS_EMBEDS = "obs_embeds"
    RETURNS_TO_GO = "returns_to_go"
    ATTENTION_MASKS = "attention_masks"

    def __new__(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "rlmodule.sample_batch.SampleBatch only names columns (SampleBatch.OBS, ...): batches here are "
            "dicts of arrays keyed by those names - see MIGRATION.md#imports-without-an-equivalent"
        )
