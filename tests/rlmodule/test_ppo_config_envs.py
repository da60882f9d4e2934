"""PPOConfig's default env count is 32 in all, split over the remote env runners."""

from rlmodule.algorithms.ppo import PPOConfig


def test_default_envs_are_split_over_the_remote_runners():
    assert PPOConfig().num_envs_per_env_runner == 32
    assert PPOConfig().env_runners(num_env_runners=1).num_envs_per_env_runner == 32
    assert PPOConfig().env_runners(num_env_runners=2).num_envs_per_env_runner == 16
    assert PPOConfig().rollouts(num_rollout_workers=4).num_envs_per_env_runner == 8
    assert PPOConfig().env_runners(num_env_runners=2).env_runners(num_env_runners=0).num_envs_per_env_runner == 32
    assert PPOConfig().env_runners(num_env_runners=64).num_envs_per_env_runner == 1


def test_a_set_env_count_is_kept():
    assert PPOConfig().env_runners(num_env_runners=2, num_envs_per_env_runner=4).num_envs_per_env_runner == 4
    assert PPOConfig().env_runners(num_envs_per_env_runner=8).env_runners(num_env_runners=2).num_envs_per_env_runner == 8


def test_the_split_survives_a_dict_round_trip():
    config = PPOConfig.from_dict(PPOConfig().env_runners(num_env_runners=2).to_dict())
    assert (config.num_env_runners, config.num_envs_per_env_runner) == (2, 16)
