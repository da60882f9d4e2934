"""Helpers of the learner tests: PPO modules, configs and synthetic rollouts."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import gymnasium as gym
import numpy as np

from rlmodule.acting import sample_actions, value_predictions
from rlmodule.algorithms.ppo import PPOCatalog, PPOConfig
from rlmodule.env_runners.fragment import Fragment
from rlmodule.model_config import MODEL_DEFAULTS
from rlmodule.rl_module import SingleAgentRLModuleSpec
from rlmodule.tree import map_structure

OBS_DIM = 4
SMALL = {"fcnet_hiddens": [16, 16], "lstm_cell_size": 8, "max_seq_len": 4}


def ppo_module(
    framework: str = "torch",
    model: Optional[Dict[str, Any]] = None,
    obs_dim: int = OBS_DIM,
    action_space: Optional[gym.Space] = None,
):
    """A PPO module on ``Box(obs_dim)`` observations and ``action_space`` (default
    ``Discrete(2)``) actions."""
    if framework == "torch":
        from rlmodule.algorithms.ppo import PPOTorchRLModule as cls
    else:
        from rlmodule.algorithms.ppo import PPOTfRLModule as cls
    spec = SingleAgentRLModuleSpec(
        module_class=cls,
        observation_space=gym.spaces.Box(-1.0, 1.0, (obs_dim,), np.float32),
        action_space=action_space if action_space is not None else gym.spaces.Discrete(2),
        model_config_dict={**MODEL_DEFAULTS, **SMALL, **(model or {})},
        catalog_class=PPOCatalog,
    )
    return spec.build()


#: The settings these tests were written for, pinned: PPOConfig's tuned defaults may change.
PINNED = dict(
    lr=1e-3, lr_schedule=None, gamma=0.99, lambda_=0.95, train_batch_size=1024, sgd_minibatch_size=256,
    num_sgd_iter=10, vf_clip_param=10.0, grad_clip=None,
)


def ppo_config(**training: Any) -> PPOConfig:
    config = PPOConfig()
    config.model = {**MODEL_DEFAULTS, **SMALL}
    config.seed = 0
    for key, value in PINNED.items():
        setattr(config, key, value)
    for key, value in training.items():
        setattr(config, key, value)
    return config


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach()
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)


def tensors(module: Any, batch: Dict[str, Any]) -> Dict[str, Any]:
    """``batch``'s numpy leaves as the module's framework tensors."""
    if module.framework == "torch":
        import torch

        return map_structure(torch.as_tensor, batch)
    import tensorflow as tf

    return map_structure(tf.convert_to_tensor, batch)


def rollout(
    module: Any,
    num_envs: int = 16,
    episode_len: int = 1,
    rng: Optional[np.random.Generator] = None,
    good_action: int = 1,
    truncate: bool = False,
    reward_fn: Optional[Callable[[np.ndarray], np.ndarray]] = None,
) -> List[Fragment]:
    """``num_envs`` episodes of ``episode_len`` steps each, acting with ``module``:
    random observations, reward 1 when the action is ``good_action`` else 0 (or
    ``reward_fn(actions)``). Episodes end by termination (bootstrap 0), or by truncation
    with ``bootstrap_value`` 0.5."""
    rng = rng or np.random.default_rng(0)
    stateful = module.is_stateful()
    state = None
    if stateful:
        state = map_structure(lambda s: np.repeat(_np(s)[None], num_envs, 0), module.get_initial_state())
    cols: Dict[str, list] = {k: [] for k in ("obs", "actions", "rewards", "logp", "dist", "vf", "state")}
    for _ in range(episode_len):
        obs = rng.uniform(-1, 1, (num_envs, OBS_DIM)).astype(np.float32)
        if stateful:
            out = module.forward_exploration(tensors(module, {"obs": obs[:, None], "state_in": state}))
            flat = {k: v[:, 0] for k, v in out.items() if k in ("action_dist_inputs", "vf_preds")}
        else:
            batch = tensors(module, {"obs": obs})
            out = module.forward_exploration(batch)
            flat = {**out, "vf_preds": value_predictions(module, batch, out)}
        actions, logp = sample_actions(module, flat, explore=True)
        actions, logp = _np(actions), _np(logp)
        cols["obs"].append(obs)
        cols["actions"].append(actions)
        rewards = reward_fn(actions) if reward_fn is not None else actions == good_action
        cols["rewards"].append(np.asarray(rewards, np.float32))
        cols["logp"].append(logp.astype(np.float32))
        cols["dist"].append(_np(flat["action_dist_inputs"]).astype(np.float32))
        cols["vf"].append(_np(flat["vf_preds"]).astype(np.float32))
        if stateful:
            cols["state"].append(state)
            state = map_structure(_np, out["state_out"])
    fragments = []
    for e in range(num_envs):
        fragments.append(
            Fragment(
                obs=np.stack([o[e] for o in cols["obs"]]),
                actions=np.stack([a[e] for a in cols["actions"]]),
                rewards=np.stack([r[e] for r in cols["rewards"]]),
                action_logp=np.stack([x[e] for x in cols["logp"]]),
                action_dist_inputs=np.stack([x[e] for x in cols["dist"]]),
                vf_preds=np.stack([x[e] for x in cols["vf"]]),
                terminated=not truncate,
                truncated=truncate,
                bootstrap_value=0.5 if truncate else 0.0,
                state_in=_stack_env(cols["state"], e) if stateful else None,
                env_index=e,
                episode_id=e,
            )
        )
    return fragments


def _stack_env(states: List[Any], e: int) -> Any:
    """Env ``e``'s states over time: nested dicts of ``[L, ...]``."""
    first = states[0]
    if isinstance(first, dict):
        return {k: _stack_env([s[k] for s in states], e) for k in first}
    return np.stack([np.asarray(s)[e] for s in states])


def good_action_prob(module: Any, good_action: int = 1, n: int = 256) -> float:
    """Mean probability of ``good_action`` on random observations."""
    obs = np.random.default_rng(123).uniform(-1, 1, (n, OBS_DIM)).astype(np.float32)
    if module.is_stateful():
        state = map_structure(lambda s: np.repeat(_np(s)[None], n, 0), module.get_initial_state())
        logits = _np(module.forward_inference(tensors(module, {"obs": obs[:, None], "state_in": state}))["action_dist_inputs"])[:, 0]
    else:
        logits = _np(module.forward_inference(tensors(module, {"obs": obs}))["action_dist_inputs"])
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return float(p[:, good_action].mean())
