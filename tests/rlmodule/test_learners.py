"""PPO learner end to end (torch): learning, NaN check, state round trip, determinism,
schedules, gradient clipping, the learner_class hook, action_dist objects."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rlmodule.env_runners.fragment import Fragment
from rlmodule.learners import Learner, NonFiniteLossError, PPOLearner, make_learner
from rlmodule.rl_module import RLModuleConfig
from rlmodule.torch import TorchRLModule
from tests.rlmodule.learners_helpers import OBS_DIM, good_action_prob, ppo_config, ppo_module, rollout


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _train_bandit(module, updates, episode_len=1, **settings):
    config = ppo_config(**{"lr": 3e-3, "sgd_minibatch_size": 32, "num_sgd_iter": 4, "grad_clip": 1.0, **settings})
    learner = make_learner(module, config)
    rng = np.random.default_rng(0)
    stats = None
    for i in range(updates):
        stats = learner.update(rollout(module, num_envs=32, episode_len=episode_len, rng=rng), timestep=i * 32)
    return learner, stats


STAT_KEYS = {
    "total_loss", "policy_loss", "vf_loss", "vf_explained_var", "entropy", "mean_kl_loss",
    "curr_kl_coeff", "curr_lr", "curr_entropy_coeff", "grad_norm", "num_steps_trained", "num_minibatches",
}


def test_bandit_learns_the_good_action():
    torch.manual_seed(0)
    module = ppo_module("torch")
    before = good_action_prob(module)
    learner, stats = _train_bandit(module, updates=10, lr=1e-2)
    after = good_action_prob(module)
    assert isinstance(learner, PPOLearner)
    assert STAT_KEYS <= stats.keys()
    assert all(isinstance(v, (int, float)) and np.isfinite(v) for v in stats.values())
    assert stats["num_steps_trained"] == 32 * 4 and stats["num_minibatches"] == 4
    assert after > before + 0.3, (before, after)


@pytest.mark.parametrize("separate_critic", [False, True])
def test_recurrent_bandit_learns_on_sequences(separate_critic):
    # max_seq_len 4, episodes of 6 steps; a separate critic has nested state {actor, critic}.
    torch.manual_seed(0)
    module = ppo_module("torch", {"use_lstm": True, "vf_share_layers": not separate_critic})
    assert module.is_stateful()
    before = good_action_prob(module)
    _, stats = _train_bandit(module, updates=6, episode_len=6)
    assert stats["num_steps_trained"] == 32 * 6 * 4  # valid steps only, padding excluded
    assert good_action_prob(module) > before + 0.25


def test_continuous_actions_move_toward_the_rewarded_value():
    torch.manual_seed(0)
    module = ppo_module("torch", action_space=gym.spaces.Box(-2.0, 2.0, (2,), np.float32))
    learner = make_learner(module, ppo_config(lr=1e-2, num_sgd_iter=4, sgd_minibatch_size=64, grad_clip=1.0))
    obs = torch.zeros(1, OBS_DIM)
    mean_before = module.forward_inference({"obs": obs})["action_dist_inputs"][0, :2].numpy()
    rng = np.random.default_rng(0)
    for i in range(10):
        frags = rollout(module, 64, rng=rng, reward_fn=lambda a: -((a - 1.0) ** 2).sum(-1))
        assert frags[0].actions.shape == (1, 2)
        stats = learner.update(frags, i)
        assert np.isfinite(stats["total_loss"]) and stats["entropy"] != 0.0
    mean_after = module.forward_inference({"obs": obs})["action_dist_inputs"][0, :2].numpy()
    assert np.all(np.abs(mean_after - 1.0) < np.abs(mean_before - 1.0) - 0.2), (mean_before, mean_after)


def test_nan_reward_raises_naming_module_and_term_and_keeps_weights():
    torch.manual_seed(0)
    module = ppo_module("torch")
    learner = make_learner(module, ppo_config(sgd_minibatch_size=16, num_sgd_iter=2))
    learner.update(rollout(module, 32), timestep=0)  # Adam has state now
    weights, state = _weights(module), learner.get_state()
    frags = rollout(module, 32, rng=np.random.default_rng(5))
    frags[3].rewards[0] = np.nan
    with pytest.raises(FloatingPointError, match=r"module 'default_policy': (policy_loss|vf_loss) is nan"):
        learner.update(frags, timestep=32)
    _assert_same_weights(weights, _weights(module))
    after = learner.get_state()
    for k, v in state.items():
        if k.startswith("optimizer/"):
            np.testing.assert_array_equal(after[k], v, err_msg=k)


@pytest.mark.parametrize("bad, term", [(np.nan, "policy_loss"), (np.inf, "grad_norm")])
def test_bad_obs_late_in_the_update_rolls_back_earlier_steps(bad, term):
    # An inf observation gives a finite loss (tanh saturates) but a NaN gradient (0 * inf).
    torch.manual_seed(0)
    module = ppo_module("torch")
    learner = make_learner(module, ppo_config(sgd_minibatch_size=8, num_sgd_iter=3))
    frags = rollout(module, 32)
    frags[17].obs[0, 2] = bad
    weights = _weights(module)
    calls = []
    step = learner.backend.train_step
    learner.backend.train_step = lambda *a: calls.append(1) or step(*a)
    with pytest.raises(NonFiniteLossError) as info:
        learner.update(frags, timestep=0)
    assert len(calls) > 1  # some minibatches were applied before the bad one
    assert info.value.module_id == "default_policy" and term in info.value.terms
    assert f"module 'default_policy': {term} is nan" in str(info.value)
    _assert_same_weights(weights, _weights(module))
    assert not learner.backend.optimizer.state  # Adam state as before the update: empty


def test_state_round_trip_continues_bit_identically(tmp_path):
    from safetensors.numpy import load_file, save_file

    torch.manual_seed(0)
    module = ppo_module("torch")
    config = ppo_config(sgd_minibatch_size=16, num_sgd_iter=3, lr=1e-3, kl_coeff=0.3)
    learner = make_learner(module, config)
    rng = np.random.default_rng(0)
    first, second = rollout(module, 32, rng=rng), rollout(module, 32, rng=rng)
    learner.update(first, timestep=0)
    state, weights = learner.get_state(), _weights(module)
    assert all(isinstance(k, str) and isinstance(v, (np.ndarray, float, int)) for k, v in state.items())
    assert "kl_coeff" in state and any(k.endswith("/exp_avg_sq") for k in state)
    # What a checkpoint does: arrays to safetensors, scalars to JSON.
    save_file({k: v for k, v in state.items() if isinstance(v, np.ndarray)}, str(tmp_path / "s.safetensors"))
    (tmp_path / "s.json").write_text(json.dumps({k: v for k, v in state.items() if not isinstance(v, np.ndarray)}))
    restored = {**load_file(str(tmp_path / "s.safetensors")), **json.loads((tmp_path / "s.json").read_text())}
    stats_a = learner.update(second, timestep=32)

    torch.manual_seed(99)  # a different initialisation, then overwritten
    module_b = ppo_module("torch")
    module_b.load_state_dict(weights)
    learner_b = make_learner(module_b, config)
    learner_b.set_state(restored)
    stats_b = learner_b.update(second, timestep=32)
    assert stats_a == stats_b
    _assert_same_weights(_weights(module), _weights(module_b))


def test_same_seeds_same_results_and_seed_changes_shuffling():
    def run(seed):
        torch.manual_seed(0)
        module = ppo_module("torch")
        learner = make_learner(module, ppo_config(sgd_minibatch_size=16, num_sgd_iter=2, seed=seed))
        frags = rollout(module, 32, rng=np.random.default_rng(0))
        return learner.update(frags, timestep=0), _weights(module)

    (s1, w1), (s2, w2), (s3, _) = run(0), run(0), run(1)
    assert s1 == s2
    _assert_same_weights(w1, w2)
    assert s1["total_loss"] != s3["total_loss"]


def test_lr_schedule_sets_adam_lr_and_zero_lr_freezes_weights():
    torch.manual_seed(0)
    module = ppo_module("torch")
    config = ppo_config(lr=1.0, num_sgd_iter=1, sgd_minibatch_size=64,
                        entropy_coeff=0.5, entropy_coeff_schedule=[[0, 0.1], [100, 0.0]])
    config.lr_schedule = [[0, 1e-3], [100, 0.0]]
    learner = make_learner(module, config)
    stats = learner.update(rollout(module, 32), timestep=50)
    assert stats["curr_lr"] == pytest.approx(5e-4)
    assert stats["curr_entropy_coeff"] == pytest.approx(0.05)
    assert learner.backend.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)
    weights = _weights(module)
    stats = learner.update(rollout(module, 32), timestep=500)
    assert stats["curr_lr"] == 0.0 and stats["curr_entropy_coeff"] == 0.0
    _assert_same_weights(weights, _weights(module))


def test_grad_clip_bounds_the_applied_gradient_and_reports_the_raw_norm():
    torch.manual_seed(0)
    module = ppo_module("torch")
    learner = make_learner(module, ppo_config(grad_clip=1e-3, num_sgd_iter=1, sgd_minibatch_size=64))
    stats = learner.update(rollout(module, 32), timestep=0)
    applied = torch.sqrt(sum((p.grad**2).sum() for p in module.parameters() if p.grad is not None))
    assert stats["grad_norm"] > 1e-2
    assert float(applied) == pytest.approx(1e-3, rel=1e-3)


def test_kl_coeff_adapts_after_update():
    torch.manual_seed(0)
    module = ppo_module("torch")
    up = make_learner(module, ppo_config(kl_coeff=0.2, kl_target=1e-9, lr=1e-2, num_sgd_iter=4, sgd_minibatch_size=16))
    assert up.update(rollout(module, 32), 0)["curr_kl_coeff"] == pytest.approx(0.3)
    down = make_learner(module, ppo_config(kl_coeff=0.2, kl_target=1e3))
    assert down.update(rollout(module, 32), 0)["curr_kl_coeff"] == pytest.approx(0.1)
    off = make_learner(module, ppo_config(kl_coeff=0.2, use_kl_loss=False))
    stats = off.update(rollout(module, 32), 0)
    assert stats["curr_kl_coeff"] == 0.2 and stats["mean_kl_loss"] == 0.0


def test_fragments_of_other_modules_are_ignored():
    torch.manual_seed(0)
    module = ppo_module("torch")
    learner = make_learner(module, ppo_config(), module_id="pol_a")
    frags = rollout(module, 8)
    weights = _weights(module)
    stats = learner.update(frags, timestep=0)  # all fragments are "default_policy"'s
    assert stats["num_steps_trained"] == 0
    _assert_same_weights(weights, _weights(module))
    for f in frags[:3]:
        f.module_id = "pol_a"
    assert learner.update(frags, timestep=0)["num_steps_trained"] == 3 * learner.num_epochs


def test_learner_class_hook():
    class SquaredValueLearner(Learner):
        def compute_loss(self, ops, batch, fwd_out, coeffs):
            loss = ops.mean(ops.square(fwd_out["vf_preds"] - 1.0), batch.get("loss_mask"))
            return {"total_loss": loss}

    torch.manual_seed(0)
    module = ppo_module("torch")
    learner = make_learner(module, ppo_config(lr=1e-2, num_sgd_iter=20, sgd_minibatch_size=64), learner_class=SquaredValueLearner)
    assert type(learner) is SquaredValueLearner
    first = learner.update(rollout(module, 32), 0)["total_loss"]
    last = learner.update(rollout(module, 32), 1)["total_loss"]
    assert set(learner.update(rollout(module, 32), 2)) >= {"total_loss", "grad_norm", "curr_lr"}
    assert last < first / 4


class DistObjectModule(TorchRLModule):
    """Early-alpha style: forward_train returns a torch.distributions object."""

    def setup(self):
        self.pi = nn.Linear(OBS_DIM, 2)
        self.v = nn.Linear(OBS_DIM, 1)

    def _forward_train(self, batch):
        obs = batch["obs"]
        return {"action_dist": torch.distributions.Categorical(logits=self.pi(obs)), "vf_preds": self.v(obs)[:, 0]}

    _forward_exploration = _forward_inference = _forward_train


def test_module_returning_a_torch_distribution_trains():
    torch.manual_seed(0)
    module = DistObjectModule(RLModuleConfig(gym.spaces.Box(-1, 1, (OBS_DIM,), np.float32), gym.spaces.Discrete(2)))
    learner = make_learner(module, ppo_config(lr=3e-2, num_sgd_iter=4, sgd_minibatch_size=32))
    obs = np.random.default_rng(0).uniform(-1, 1, (256, OBS_DIM)).astype(np.float32)

    def prob_good():
        with torch.no_grad():
            return float(module.forward_inference({"obs": torch.as_tensor(obs)})["action_dist"].probs[:, 1].mean())

    before = prob_good()
    rng = np.random.default_rng(1)
    for i in range(8):
        with torch.no_grad():
            out = module.forward_exploration({"obs": torch.as_tensor(obs)})
            actions = out["action_dist"].sample()
            logp = out["action_dist"].log_prob(actions)
        a = actions.numpy()
        frags = [
            Fragment(obs=obs[j:j + 1], actions=a[j:j + 1], rewards=(a[j:j + 1] == 1).astype(np.float32),
                     action_logp=logp.numpy()[j:j + 1], action_dist_inputs=None, vf_preds=out["vf_preds"].numpy()[j:j + 1],
                     terminated=True, truncated=False, bootstrap_value=0.0)
            for j in rng.permutation(256)[:64]
        ]
        stats = learner.update(frags, i)
        assert stats["mean_kl_loss"] >= 0.0
    assert prob_good() > before + 0.1
