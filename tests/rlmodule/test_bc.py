"""BC: dataset reading and its errors, the BC loss, BCConfig/BCConfigTest, recurrent
and multi-agent training (fast; the learning test is tests/test_bc_learning.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import gymnasium as gym
import numpy as np
import pytest

from rlmodule import MultiAgentRLModuleSpec, SingleAgentRLModuleSpec
from rlmodule.algorithms.bc import BC, BCConfig
from rlmodule.envs import MultiAgentCartPole
from rlmodule.offline import DatasetError, read_offline_data
from rlmodule.testing import BCConfigTest

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
ACT_SPACE = gym.spaces.Discrete(2)
SPACES = {"default_policy": (OBS_SPACE, ACT_SPACE)}


def expert_columns(n: int = 400, episode_len: int = 50, seed: int = 0) -> Dict[str, np.ndarray]:
    """CartPole-shaped data whose action is a function of the observation: ``obs[2] > 0``."""
    obs = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    return {"obs": obs, "actions": (obs[:, 2] > 0).astype(np.int64), "eps_id": np.arange(n) // episode_len}


def write_npz(path: Path, **columns: Any) -> str:
    np.savez(path, **columns)
    return str(path)


def write_jsonl(path: Path, lines: List[Dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def as_lists(columns: Dict[str, np.ndarray]) -> Dict[str, Any]:
    return {k: v.tolist() for k, v in columns.items()}


def bc_config(data: Any, tmp_path: Path, config: Any = None) -> Any:
    config = config if config is not None else BCConfig()
    return (
        config.environment("CartPole-v1").offline_data(input_=data)
        .training(train_batch_size=200, sgd_minibatch_size=50, model={"fcnet_hiddens": [32]})
        .debugging(seed=0, log_dir=str(tmp_path / "logs"))
    )


# --- reading ---------------------------------------------------------------------------------
def test_npz_is_read_with_episode_boundaries_from_eps_id_and_dones(tmp_path):
    cols = expert_columns(n=10, episode_len=4)
    terminateds = np.zeros(10, bool)
    terminateds[[0]] = True  # step 0 ends an episode: a new one starts at step 1
    path = write_npz(tmp_path / "d.npz", obs=cols["obs"].astype(np.float64), actions=cols["actions"].astype(np.int32),
                     eps_id=cols["eps_id"], terminateds=terminateds, rewards=np.ones(10))
    data = read_offline_data(path, SPACES)["default_policy"]
    assert data.obs.dtype == np.float32 and data.obs.shape == (10, 4)
    assert data.actions.dtype == np.int64 and data.actions.tolist() == cols["actions"].tolist()
    assert data.episode_starts.tolist() == [0, 1, 4, 8]
    assert data.episode_bounds().tolist() == [[0, 1], [1, 4], [4, 8], [8, 10]]
    assert data.sources == [path]


def test_jsonl_lines_concatenate_and_episodes_continue_across_lines(tmp_path):
    cols = as_lists(expert_columns(n=12, episode_len=5))
    first = {"type": "SampleBatch", **{k: v[:7] for k, v in cols.items()}}
    second = {k: v[7:] for k, v in cols.items()}  # no "type": accepted too
    path = write_jsonl(tmp_path / "d.jsonl", [first, second])
    data = read_offline_data(path, SPACES)["default_policy"]
    assert data.obs.shape == (12, 4) and data.actions.tolist() == cols["actions"]
    assert data.episode_starts.tolist() == [0, 5, 10]  # episode 1 spans both lines


def test_files_without_boundary_columns_are_one_episode_each(tmp_path):
    cols = expert_columns(n=6)
    a = write_npz(tmp_path / "a.npz", obs=cols["obs"], actions=cols["actions"])
    b = write_jsonl(tmp_path / "b.jsonl", [as_lists({"obs": cols["obs"], "actions": cols["actions"]})])
    data = read_offline_data([a, b], SPACES)["default_policy"]
    assert len(data) == 12 and data.episode_starts.tolist() == [0, 6]


def test_missing_column_names_file_column_and_columns_present(tmp_path):
    cols = expert_columns(n=5)
    path = write_npz(tmp_path / "d.npz", obs=cols["obs"], action=cols["actions"])
    with pytest.raises(DatasetError, match=r"d\.npz: missing column 'actions' \(columns present: \['action', 'obs'\]\)"):
        read_offline_data(path, SPACES)


def test_obs_shape_mismatch_names_file_column_and_both_shapes(tmp_path):
    path = write_npz(tmp_path / "d.npz", obs=np.zeros((5, 3), np.float32), actions=np.zeros(5, np.int64))
    with pytest.raises(DatasetError, match=r"d\.npz: column 'obs' has shape \(5, 3\) but the observation space .* needs \(N, 4\)"):
        read_offline_data(path, SPACES)


def test_obs_dtype_mismatch_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"obs": [["a", "b", "c", "d"]], "actions": [0]}])
    with pytest.raises(DatasetError, match=r"d\.jsonl, line 1: column 'obs' has dtype <U1 but the observation space .* needs numbers"):
        read_offline_data(path, SPACES)


def test_actions_outside_the_action_space_name_the_row(tmp_path):
    path = write_npz(tmp_path / "d.npz", obs=np.zeros((4, 4), np.float32), actions=np.array([0, 1, 2, 1]))
    with pytest.raises(DatasetError, match=r"d\.npz: column 'actions' row 2 is 2, outside the action space Discrete\(2\)"):
        read_offline_data(path, SPACES)
    box = {"default_policy": (OBS_SPACE, gym.spaces.Box(-1.0, 1.0, (1,), np.float32))}
    path = write_npz(tmp_path / "box.npz", obs=np.zeros((3, 4), np.float32), actions=np.array([[0.5], [np.nan], [0.0]]))
    with pytest.raises(DatasetError, match=r"row 1 is \[nan\], outside the action space Box"):
        read_offline_data(path, box)


def test_float_actions_for_a_discrete_space_are_an_error(tmp_path):
    path = write_npz(tmp_path / "d.npz", obs=np.zeros((2, 4), np.float32), actions=np.array([0.0, 1.0]))
    with pytest.raises(DatasetError, match=r"column 'actions' has dtype float64 but the action space Discrete\(2\) needs integers"):
        read_offline_data(path, SPACES)


def test_columns_of_different_lengths_name_line_column_and_shapes(tmp_path):
    good = as_lists(expert_columns(n=3))
    bad = {"obs": [[0.0] * 4] * 3, "actions": [0, 1], "eps_id": [0, 0, 0]}
    path = write_jsonl(tmp_path / "d.jsonl", [good, bad])
    with pytest.raises(DatasetError, match=r"d\.jsonl, line 2: column 'obs' has shape \(3, 4\) but 'actions' has shape \(2,\)"):
        read_offline_data(path, SPACES)


def test_ragged_json_and_bad_json_lines_are_errors(tmp_path):
    ragged = write_jsonl(tmp_path / "r.jsonl", [{"obs": [[0.0] * 4, [0.0] * 3], "actions": [0, 1]}])
    with pytest.raises(DatasetError, match=r"r\.jsonl, line 1: column 'obs' is ragged"):
        read_offline_data(ragged, SPACES)
    broken = tmp_path / "b.jsonl"
    broken.write_text(json.dumps(as_lists(expert_columns(n=2))) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"b\.jsonl, line 2: not valid JSON"):
        read_offline_data(str(broken), SPACES)


def test_unknown_format_and_missing_file_are_errors(tmp_path):
    (tmp_path / "d.csv").write_text("obs,actions\n")
    with pytest.raises(DatasetError, match=r"d\.csv: unknown dataset format"):
        read_offline_data(str(tmp_path / "d.csv"), SPACES)
    with pytest.raises(DatasetError, match=r"no such file .*nope\.npz"):
        read_offline_data(str(tmp_path / "nope.npz"), SPACES)


def _npz_bytes(tmp_path: Path) -> bytes:
    return Path(write_npz(tmp_path / "good.npz", **expert_columns(n=20))).read_bytes()


@pytest.mark.parametrize(
    "name, make, says",
    [
        ("empty", lambda data: b"", r"empty file \(0 bytes\)"),
        ("truncated", lambda data: data[: len(data) // 2], r"truncated or corrupt \.npz archive"),
        ("corrupt", lambda data: data[:100] + b"\0" * 10 + data[110:], r"truncated or corrupt \.npz archive"),
        ("text", lambda data: b"obs,actions\n0,1\n", r"not an \.npz archive"),
    ],
)
def test_unreadable_npz_files_name_the_file_and_say_why(tmp_path, name, make, says):
    path = tmp_path / f"{name}.npz"
    path.write_bytes(make(_npz_bytes(tmp_path)))
    with pytest.raises(DatasetError, match=rf"{name}\.npz: {says}"):
        read_offline_data(str(path), SPACES)


def test_a_single_npy_array_saved_as_npz_is_named(tmp_path):
    path = tmp_path / "one.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((3, 4)))
    with pytest.raises(DatasetError, match=r"one\.npz: not an \.npz archive \(a single \.npy array; save columns with numpy\.savez\)"):
        read_offline_data(str(path), SPACES)


def test_non_utf8_jsonl_names_file_line_and_byte_offset(tmp_path):
    first = (json.dumps(as_lists(expert_columns(n=2))) + "\n").encode()
    path = tmp_path / "d.jsonl"
    path.write_bytes(first + b'{"obs": [[0.0, 0.0, 0.0, 0.0]], "actions": [0], "note": "caf\xe9"}\n')
    offset = path.read_bytes().index(b"\xe9")
    with pytest.raises(DatasetError, match=rf"d\.jsonl, line 2: not UTF-8 text \(byte 0xe9 at byte offset {offset} of the file\)"):
        read_offline_data(str(path), SPACES)


def test_files_with_no_rows_are_named(tmp_path):
    npz = write_npz(tmp_path / "zero.npz", obs=np.zeros((0, 4), np.float32), actions=np.zeros(0, np.int64))
    with pytest.raises(DatasetError, match=r"zero\.npz: no rows \(every column has length 0\)"):
        read_offline_data(npz, SPACES)
    jsonl = write_jsonl(tmp_path / "zero.jsonl", [{"obs": [], "actions": []}, {"obs": [], "actions": []}])
    with pytest.raises(DatasetError, match=r"zero\.jsonl: no rows \(every column has length 0\)"):
        read_offline_data(jsonl, SPACES)


def test_uint64_actions_outside_the_space_report_their_real_value(tmp_path):
    actions = np.array([0, 1, 2**64 - 1], np.uint64)
    path = write_npz(tmp_path / "d.npz", obs=np.zeros((3, 4), np.float32), actions=actions)
    with pytest.raises(DatasetError, match=r"d\.npz: column 'actions' row 2 is 18446744073709551615, outside the action space Discrete\(2\)"):
        read_offline_data(path, SPACES)


def test_out_of_space_actions_name_the_files_row_when_rows_go_to_several_modules(tmp_path):
    spaces = {"p0": (OBS_SPACE, ACT_SPACE), "p1": (OBS_SPACE, ACT_SPACE)}
    path = write_npz(
        tmp_path / "d.npz", obs=np.zeros((4, 4), np.float32), actions=np.array([0, 1, 0, 5]),
        module_id=np.array(["p0", "p1", "p0", "p1"]),
    )
    with pytest.raises(DatasetError, match=r"d\.npz: column 'actions' row 3 is 5, outside the action space Discrete\(2\)"):
        read_offline_data(path, spaces)


def test_a_bad_file_leaves_the_loaded_dataset_unchanged(tmp_path):
    good = write_npz(tmp_path / "good.npz", **expert_columns(n=50))
    algo = bc_config(good, tmp_path).build()
    try:
        before = algo.dataset
        bad = write_npz(tmp_path / "bad.npz", obs=np.zeros((5, 4), np.float32))
        with pytest.raises(DatasetError, match="missing column 'actions'"):
            algo.load_dataset([good, bad])
        assert algo.dataset is before and len(algo.dataset["default_policy"]) == 50
    finally:
        algo.stop()


def test_a_bad_dataset_fails_the_build(tmp_path):
    bad = write_npz(tmp_path / "bad.npz", obs=np.zeros((5, 2), np.float32), actions=np.zeros(5, np.int64))
    with pytest.raises(DatasetError, match=r"bad\.npz: column 'obs' has shape \(5, 2\)"):
        bc_config(bad, tmp_path).build()


# --- config ----------------------------------------------------------------------------------
def test_offline_data_round_trips_through_to_dict_and_from_dict(tmp_path):
    config = BCConfig().offline_data(input_=["a.npz", tmp_path / "b.jsonl"]).training(lr=3e-4, num_sgd_iter=2)
    settings = config.to_dict()
    assert settings["input_"] == ["a.npz", str(tmp_path / "b.jsonl")]
    again = BCConfig.from_dict(settings)
    assert again.input_ == config.input_ and again.lr == 3e-4 and again.num_sgd_iter == 2
    with pytest.raises(TypeError, match=r"offline_data\(input_=\.\.\.\): expected a file path"):
        BCConfig.from_dict({"input_": 3})
    with pytest.raises(KeyError, match="unknown setting"):
        BCConfig.from_dict({"inputs": "a.npz"})


def test_input_is_set_with_offline_data_not_training():
    with pytest.raises(TypeError, match=r"\.offline_data\(input_=\.\.\.\)"):
        BCConfig().training(input_="a.npz")
    with pytest.raises(TypeError, match=r"input_\['p0'\]"):
        BCConfig().offline_data(input_={"p0": []})


def test_the_default_module_is_the_ppo_layout_module(tmp_path):
    algo = bc_config(write_npz(tmp_path / "d.npz", **expert_columns(n=20)), tmp_path).build()
    try:
        assert type(algo.module).__name__ == "PPOTorchRLModule"
    finally:
        algo.stop()


def test_train_without_a_dataset_names_offline_data(tmp_path):
    algo = BCConfig().environment("CartPole-v1").debugging(log_dir=str(tmp_path)).build()
    try:
        with pytest.raises(ValueError, match=r"BC\.train\(\): no dataset .*\.offline_data\(input_=path\)"):
            algo.train()
    finally:
        algo.stop()


def test_bc_config_test_without_a_dataset_trains_nothing_and_warns(tmp_path):
    # As RLlib's BCAlgorithmTest (the specification's blocks build and train it).
    algo = BCConfigTest().environment("CartPole-v1").debugging(log_dir=str(tmp_path)).build()
    try:
        with pytest.warns(UserWarning, match=r"\.offline_data\(input_=path\)"):
            result = algo.train()
    finally:
        algo.stop()
    assert result["learners"] == {} and result["num_env_steps_trained_this_iter"] == 0


# --- training --------------------------------------------------------------------------------
def test_bc_config_test_loss_decreases_on_a_tiny_dataset_torch(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=400))
    algo = bc_config(path, tmp_path, BCConfigTest()).training(lr=1e-2).build()
    try:
        assert type(algo.module).__name__ == "DiscreteBCTorchModule"
        losses = [algo.train()["learners"]["default_policy"]["policy_loss"] for _ in range(15)]
        result = algo.train()
    finally:
        algo.stop()
    assert losses[-1] < 0.6 * losses[0], losses
    assert result["num_env_steps_trained_this_iter"] == 200 and result["num_env_steps_sampled_this_iter"] == 0
    assert result["learners"]["default_policy"]["num_steps_trained"] == 200


def test_training_is_deterministic_for_a_seed(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=300))
    runs = []
    for _ in range(2):
        algo = bc_config(path, tmp_path).build()
        runs.append([algo.train()["learners"]["default_policy"]["policy_loss"] for _ in range(3)])
        algo.stop()
    assert runs[0] == runs[1]


def test_evaluation_episodes_report_returns(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=200))
    algo = bc_config(path, tmp_path).evaluation(evaluation_interval=1, evaluation_duration=2).build()
    try:
        result = algo.train()
    finally:
        algo.stop()
    assert result["evaluation"]["env_runners"]["num_episodes"] >= 2
    assert result["evaluation"]["env_runners"]["episode_return_mean"] > 0


@pytest.mark.tf
def test_bc_trains_a_tf2_module(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=400))
    algo = bc_config(path, tmp_path, BCConfigTest().framework("tf2")).build()
    try:
        assert type(algo.module).__name__ == "DiscreteBCTfModule"
        losses = [algo.train()["learners"]["default_policy"]["policy_loss"] for _ in range(10)]
    finally:
        algo.stop()
    assert losses[-1] < losses[0], losses


def test_recurrent_modules_train_on_sequences_cut_at_episode_boundaries(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=300, episode_len=30))
    config = bc_config(path, tmp_path).training(model={"use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 8})
    algo = config.build()
    try:
        fragments = algo._draw("default_policy")
        assert sum(len(f) for f in fragments) >= 200
        obs = algo.dataset["default_policy"].obs
        for f in fragments:
            start = int(np.flatnonzero((obs == f.obs[0]).all(axis=1))[0])
            assert len(f) <= 8 and start // 30 == (start + len(f) - 1) // 30  # one episode each
            assert f.state_in is not None
        stats = algo.train()["learners"]["default_policy"]
    finally:
        algo.stop()
    assert np.isfinite(stats["policy_loss"]) and stats["num_steps_trained"] >= 200


def multi_agent_config(data: Any, tmp_path: Path) -> BCConfig:
    return (
        BCConfig().environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=lambda agent_id, episode=None, **kw: f"p{agent_id}")
        .offline_data(input_=data)
        .training(train_batch_size=100, sgd_minibatch_size=50, model={"fcnet_hiddens": [16]})
        .debugging(seed=0, log_dir=str(tmp_path / "logs"))
    )


def test_multi_agent_datasets_per_module_id(tmp_path):
    p0 = write_npz(tmp_path / "p0.npz", **expert_columns(n=150, seed=0))
    p1 = write_jsonl(tmp_path / "p1.jsonl", [as_lists(expert_columns(n=120, seed=1))])
    algo = multi_agent_config({"p0": p0, "p1": [p1]}, tmp_path).build()
    try:
        assert {k: len(v) for k, v in algo.dataset.items()} == {"p0": 150, "p1": 120}
        result = algo.train()
    finally:
        algo.stop()
    assert sorted(result["learners"]) == ["p0", "p1"]
    assert result["num_env_steps_trained_this_iter"] == 200


def test_multi_agent_module_id_column_and_multi_agent_batch_lines(tmp_path):
    cols = expert_columns(n=8)
    ids = np.array(["p0", "p1"] * 4)
    npz = write_npz(tmp_path / "d.npz", module_id=ids, **cols)
    line = {"type": "MultiAgentBatch", "policy_batches": {"p1": as_lists(expert_columns(n=3)), "p0": as_lists(expert_columns(n=2))}}
    jsonl = write_jsonl(tmp_path / "d.jsonl", [line])
    spaces = {"p0": (OBS_SPACE, ACT_SPACE), "p1": (OBS_SPACE, ACT_SPACE)}
    data = read_offline_data([npz, jsonl], spaces)
    assert {k: len(v) for k, v in data.items()} == {"p0": 6, "p1": 7}
    assert data["p0"].obs[:4].tolist() == cols["obs"][0::2].tolist()
    with pytest.raises(DatasetError, match=r"module id 'p2' is not one of the algorithm's modules \['p0', 'p1'\]"):
        read_offline_data(write_npz(tmp_path / "x.npz", module_id=np.array(["p2"] * 8), **cols), spaces)


def test_multi_agent_modules_without_rows_are_named(tmp_path):
    p0 = write_npz(tmp_path / "p0.npz", **expert_columns(n=50))
    with pytest.raises(DatasetError, match=r"no rows for module\(s\) \['p1'\]"):
        multi_agent_config({"p0": p0}, tmp_path).build()


def test_specification_multi_agent_spec_builds_and_trains(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=100))
    config = (
        BCConfigTest().environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .rl_module(rl_module_spec=MultiAgentRLModuleSpec(module_specs=SingleAgentRLModuleSpec()))
        .offline_data(input_=path).training(train_batch_size=50, model={"fcnet_hiddens": [32, 32]})
        .debugging(seed=0, log_dir=str(tmp_path))
    )
    algo = config.build()
    try:
        assert isinstance(algo, BC)
        assert algo.train()["learners"]["default_policy"]["num_steps_trained"] == 50
    finally:
        algo.stop()


def test_checkpoint_restores_training_exactly(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=300))
    algo = bc_config(path, tmp_path).build()
    try:
        algo.train()
        checkpoint = algo.save(str(tmp_path / "ckpt"))
        expected = algo.train()["learners"]["default_policy"]["policy_loss"]
    finally:
        algo.stop()
    restored = BC.from_checkpoint(checkpoint)
    try:
        assert restored.config.input_ == path and len(restored.dataset["default_policy"]) == 300
        assert restored.train()["learners"]["default_policy"]["policy_loss"] == expected
    finally:
        restored.stop()


def test_a_file_without_module_ids_for_several_modules_is_an_error(tmp_path):
    path = write_npz(tmp_path / "d.npz", **expert_columns(n=10))
    spaces = {"p0": (OBS_SPACE, ACT_SPACE), "p1": (OBS_SPACE, ACT_SPACE)}
    with pytest.raises(DatasetError, match=r"d\.npz: no 'module_id' column, and the algorithm has several modules"):
        read_offline_data(path, spaces)
