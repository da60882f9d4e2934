"""The rlmigrate command: help, the console script, usage errors (the demo: test_demo.py)."""

import subprocess
import sys
from pathlib import Path

from rlmigrate.cli import main


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
