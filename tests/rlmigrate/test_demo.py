"""``rlmigrate demo``: the whole product on the bundled legacy project, as a user runs it.

One real run (``rlmigrate demo --out DIR`` in a subprocess, default settings) is
shared by the tests of its output; the others check help, refusals and failures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.legacy

ROOT = Path(__file__).resolve().parents[2]
RLMIGRATE = str(Path(sys.executable).parent / "rlmigrate")
POLICIES = ("boltzmann", "recurrent")
GOLDEN = ROOT / "fixtures" / "migrated" / "demo_project"  # the codemod's expected output for the project


def assert_migrated_as_the_golden_fixture(out: Path) -> None:
    """The demo's migrated tree is exactly the codemod's golden output for the project."""
    expected = sorted(GOLDEN.rglob("*.py"))
    assert expected
    for path in expected:
        assert (out / "migrated_project" / path.relative_to(GOLDEN)).read_bytes() == path.read_bytes()


def rlmigrate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([RLMIGRATE, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    done = rlmigrate("demo", "--out", str(out), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout, json.loads((out / "demo_report.json").read_text())


# --- one real run -------------------------------------------------------------------------
@pytest.mark.slow
def test_the_run_shows_four_steps_in_order_and_names_the_output_directory(demo):
    out, printed, _ = demo
    positions = [printed.index(f"[{i}/4]") for i in range(1, 5)]
    assert positions == sorted(positions)
    assert printed.index("All four steps passed") > positions[-1]
    assert f"Output directory: {out}" in printed


@pytest.mark.slow
def test_step_1_shows_the_codemod_diff_its_report_and_the_hand_completed_todos(demo):
    out, printed, report = demo
    assert "-class PoleModel(TorchModelV2, nn.Module):" in printed and "+class PoleModel(TorchRLModule):" in printed
    diff = (out / "migration.diff").read_text()
    assert diff and diff in printed.replace("\n    ", "\n")  # the printed diff is the saved one, indented
    migration = report["steps"]["migrate"]
    assert migration["migration"]["errors"] == 0 and migration["migration"]["changed"] == 3
    anchors = {t["see"] for t in migration["todos"]}
    assert anchors == {"MIGRATION.md#imports-without-an-equivalent", "MIGRATION.md#custom-policies"}
    saved = json.loads((out / "migration_report.json").read_text())
    assert saved["summary"]["todos"] == len(migration["todos"]) == 6
    assert "# rlmigrate report" in (out / "migration_report.md").read_text()
    assert_migrated_as_the_golden_fixture(out)
    completed = list((out / "completed_project").rglob("*.py"))
    assert completed and not any("TODO(rlmigrate)" in p.read_text() or "import ray" in p.read_text() or "from ray" in p.read_text() for p in completed)
    assert "+class BoltzmannPoleModel(PoleModel):" in (out / "todo_completion.diff").read_text()


@pytest.mark.slow
def test_step_2_ports_every_legacy_tensor_by_name(demo):
    _, _, report = demo
    ported = report["steps"]["port"]["ported"]
    assert sorted(ported) == list(POLICIES)
    assert ported["boltzmann"]["module"] == "BoltzmannPoleModel" and ported["recurrent"]["module"] == "PoleLSTM"
    assert all(p["paired_by"] == ["name"] and p["tensors"] >= 6 for p in ported.values())
    assert report["steps"]["port"]["legacy_training"]["env_steps"] > 0


@pytest.mark.slow
def test_step_3_parity_holds_and_catches_the_unfinished_migration(demo):
    out, _, report = demo
    saved = json.loads((out / "parity_report.json").read_text())
    for policy_id in POLICIES:
        facts = report["steps"]["parity"]["policies"][policy_id]
        assert facts["ok"] and saved[policy_id]["ok"]
        assert facts["max_abs"]["action_dist_inputs"] <= 1e-6 and facts["max_abs"]["vf_preds"] <= 1e-5
        returns = facts["greedy_returns"]
        assert returns["legacy"] == returns["migrated"] and len(returns["legacy"]) == 10
    assert "state_out" in report["steps"]["parity"]["policies"]["recurrent"]["max_abs"]
    # Before the action_distribution_fn TODO is done, the module acts on unscaled logits.
    before = report["steps"]["parity"]["policies"]["boltzmann"]["before_todos_done"]
    assert not before["ok"] and "action_dist_inputs" in before["failed"]
    assert report["steps"]["parity"]["policies"]["recurrent"]["before_todos_done"]["ok"]


@pytest.mark.slow
def test_step_4_training_raises_the_return_and_the_checkpoint_reloads_elsewhere(demo):
    out, _, report = demo
    train = report["steps"]["train"]
    assert len(train["curve"]) == 30 and train["reloaded_identical"]
    returns = [point["returns"] for point in train["curve"] if point["returns"]]
    assert returns[-1]["boltzmann"] > returns[0]["boltzmann"] + 100  # sampling with the temperature
    assert returns[-1]["recurrent"] > returns[0]["recurrent"]
    assert train["evaluation_after"]["boltzmann"] >= train["evaluation_before"]["boltzmann"]
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A fresh process loads the checkpoint with the migrated package importable.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1] + '/completed_project');"
        "from rlmodule.algorithms.algorithm import Algorithm;"
        "a = Algorithm.from_checkpoint(sys.argv[1] + '/checkpoint', trusted_modules=['my_project']);"
        "print(a.iteration, type(a.get_module('boltzmann')).__name__, type(a.get_module('recurrent')).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["30", "BoltzmannPoleModel", "PoleLSTM"]


@pytest.mark.slow
def test_the_summary_report_lists_every_file_it_wrote(demo):
    out, _, report = demo
    assert sorted(report["files"]) == sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    markdown = (out / "demo_report.md").read_text()
    for heading in ("## 1. Migrate", "## 2. Port", "## 3. Parity", "## 4. Train further"):
        assert heading in markdown


# --- help, refusals, failures ---------------------------------------------------------------
def test_help_explains_each_step():
    done = rlmigrate("demo", "--help")
    assert done.returncode == 0
    for step in ("1. migrate", "2. port", "3. parity", "4. train", "--iterations", "--out", "--until"):
        assert step in done.stdout


def test_until_migrate_runs_the_first_step_only_and_reports_it(tmp_path):
    out = tmp_path / "demo_out"
    done = rlmigrate("demo", "--until", "migrate", "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "[1/4]" in done.stdout and "[2/4]" not in done.stdout
    assert "Steps up to migrate (1 of 4) passed" in done.stdout and f"Output directory: {out}" in done.stdout
    report = json.loads((out / "demo_report.json").read_text())
    assert list(report["steps"]) == ["migrate"] and report["steps"]["migrate"]["todos_left"] == 0
    assert sorted(report["files"]) == sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    markdown = (out / "demo_report.md").read_text()
    assert "## 1. Migrate" in markdown and "## 2. Port" not in markdown and "`--until migrate`" in markdown
    assert_migrated_as_the_golden_fixture(out)


def test_bad_settings_are_usage_errors():
    done = rlmigrate("demo", "--iterations", "0")
    assert done.returncode == 2 and "--iterations" in done.stderr
    done = rlmigrate("demo", "--until", "deploy")
    assert done.returncode == 2 and "--until" in done.stderr


def test_without_the_legacy_extra_the_demo_says_what_to_install(tmp_path, monkeypatch):
    from rlmigrate.demo import steps

    real_import = steps.importlib.import_module

    def no_ray(name, *args):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args)

    monkeypatch.setattr(steps.importlib, "import_module", no_ray)
    with pytest.raises(steps.DemoError, match=r'pip install "rlmodule-migrate\[legacy\]"'):
        steps.run_demo(steps.DemoSettings(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_directory_that_is_not_a_demo_output_is_never_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    done = rlmigrate("demo", "--out", str(out))
    assert done.returncode == 1
    assert str(out) in done.stderr and "demo_report.json" in done.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"


def test_a_failed_run_leaves_the_earlier_output_untouched(tmp_path, monkeypatch):
    from rlmigrate.demo import steps

    out = tmp_path / "demo_out"
    out.mkdir()
    (out / "demo_report.json").write_text("{}")  # an earlier demo output
    monkeypatch.setattr(steps, "LEGACY_WEIGHTS", tmp_path / "no_weights")
    (tmp_path / "no_weights").mkdir()
    try:
        with pytest.raises(steps.DemoError, match=r"no_weights/boltzmann\.safetensors: no legacy weights"):
            steps.run_demo(steps.DemoSettings(out))
    finally:
        steps.forget_project()
    assert [p.name for p in out.iterdir()] == ["demo_report.json"]
    partial = tmp_path / ".demo_out.partial"
    assert (partial / "migration.diff").is_file()  # kept for a look, replaced by the next run
