"""The rlmigrate command: help, the console script, usage errors and the demo."""

import json
import subprocess
import sys
from pathlib import Path

from codemods.cli import main


def test_help_lists_the_sub_commands(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    for command in ("migrate", "parity", "demo"):
        assert command in text


def test_console_script_is_installed_and_prints_help():
    script = Path(sys.executable).parent / "rlmigrate"  # installed next to the venv's python
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "rlmigrate" in result.stdout


def test_migrate_without_a_path_is_a_usage_error(capsys):
    assert main(["migrate"]) == 2
    assert "give at least one PATH" in capsys.readouterr().err


def test_demo_builds_runs_checkpoints_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "All steps passed" in printed and str(out) in printed
    summary = json.loads((out / "demo_summary.json").read_text())
    assert len(summary) == 5
    assert all(step.get("outputs identical", step.get("outputs identical after reload")) for step in summary[2:])
    for name in ("checkpoint_torch", "checkpoint_tf", "checkpoint_multi_agent"):
        assert (out / name / "rl_module_metadata.json").is_file()
