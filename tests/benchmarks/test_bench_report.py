"""benchmarks/run_all.py: discovery, outcome parsing and the JSON/Markdown report,
from small synthetic per-script results (no benchmark is run)."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
_spec = importlib.util.spec_from_file_location("bench_run_all", BENCHMARKS / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)

MACHINE = {
    "platform": "Linux-test", "cpu_model": "Test CPU", "cpu_count": 2, "python": "3.11.0",
    "torch": "2.13.0+cpu", "ray": None, "stable_baselines3": "2.9.2", "date": "2025-01-01T00:00:00+00:00",
}


def comparison(title, rows, **extra):
    return {"title": title, "ours": "ours fn", "baseline": "base fn", "unit": "µs", "ratio": "ours / baseline",
            "rows": rows, **extra}


def ok(result, wall=3.0):
    return {"status": "ok", "reason": None, "result": result, "wall_seconds": wall}


@pytest.fixture
def outcomes():
    fast = comparison("Fast path", [
        {"case": "batch 1", "ours": 10.0, "baseline": 40.0, "ratio": 0.25, "target": {"op": "<=", "value": 0.3}},
        {"case": "batch 256", "ours": 50.0, "baseline": 40.0, "ratio": 1.25, "target": {"op": "<=", "value": 1.2}},
        {"case": "batch 1024", "ours": 90.0, "baseline": 80.0, "ratio": 1.125, "target": None},
    ])
    missing = comparison("Versus the legacy library", [
        {"case": "batch 1", "ours": 10.0, "baseline": None, "ratio": None, "target": {"op": "<", "value": 0.5}},
    ], baseline_missing="ray is not importable: No module named 'ray'")
    return {
        "alpha.py": ok({"comparisons": [fast, missing]}),
        "broken.py": {**run_all.parse_output(1, "", "Traceback ...\nRuntimeError: boom\n"), "wall_seconds": 1.0},
        "legacy.py": {**run_all.parse_output(0, json.dumps({"skipped": "ray[rllib] missing"}), ""), "wall_seconds": 2.0},
        "plain.py": ok({"files": 12, "nested": {"speed": 1234.5}, "runs": [{"s": 0.5}]}),
    }


def test_discover_takes_every_script_but_the_helpers(tmp_path):
    for name in ("b_bench.py", "a_bench.py", "timing.py", "run_all.py", "notes.md", "data.json"):
        (tmp_path / name).write_text("")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "nested.py").write_text("")
    assert [p.name for p in run_all.discover(tmp_path)] == ["a_bench.py", "b_bench.py"]


def test_discover_on_the_real_directory_excludes_helpers():
    names = [p.name for p in run_all.discover()]
    assert "forward_overhead.py" in names and "train_cartpole.py" in names
    assert not set(names) & run_all.HELPERS


def test_select_subset_in_given_order_and_rejects_unknown(tmp_path):
    scripts = [tmp_path / n for n in ("a.py", "b.py", "c.py")]
    assert run_all.select(scripts, None) == scripts
    assert [p.name for p in run_all.select(scripts, "c, a.py,c")] == ["c.py", "a.py"]
    with pytest.raises(ValueError, match="unknown benchmark.*zzz.*available: a, b, c"):
        run_all.select(scripts, "a,zzz")


def test_parse_output_statuses():
    assert run_all.parse_output(0, '{"x": 1}\n', "chatter") == {"status": "ok", "reason": None, "result": {"x": 1}}
    failed = run_all.parse_output(2, "", "line 1\nImportError: no torch\n")
    assert failed["status"] == "failed" and failed["result"] is None
    assert "exit status 2" in failed["reason"] and "ImportError: no torch" in failed["reason"]
    assert failed["stderr_tail"] == ["line 1", "ImportError: no torch"]
    two_docs = run_all.parse_output(0, '{"a": 1}\n{"b": 2}\n', "")
    assert two_docs["status"] == "failed" and "not one JSON document" in two_docs["reason"]
    assert run_all.parse_output(0, "[1, 2]", "")["status"] == "failed"
    skipped = run_all.parse_output(0, '{"skipped": "no sb3"}', "")
    assert (skipped["status"], skipped["reason"]) == ("skipped", "no sb3")


@pytest.mark.parametrize(
    "op, value, ratio, met",
    [("<=", 1.3, 1.3, True), ("<", 0.25, 0.25, False), (">=", 3.0, 15.4, True), (">", 0.7, 0.6, False)],
)
def test_row_met(op, value, ratio, met):
    assert run_all.row_met({"ratio": ratio, "target": {"op": op, "value": value}}) is met


def test_row_met_without_target_or_ratio_is_none():
    assert run_all.row_met({"ratio": 1.0, "target": None}) is None
    assert run_all.row_met({"ratio": None, "target": {"op": "<", "value": 1}}) is None


def test_json_report_annotates_met_and_keeps_failures(outcomes):
    report = run_all.build_report(outcomes, MACHINE, 12.34, {})
    assert report["machine"] == MACHINE and report["total_seconds"] == 12.3
    assert list(report["scripts"]) == list(outcomes)
    fast, missing = report["scripts"]["alpha.py"]["result"]["comparisons"]
    assert [row["met"] for row in fast["rows"]] == [True, False, None]
    assert [row["met"] for row in missing["rows"]] == [None]
    assert "met" not in outcomes["alpha.py"]["result"]["comparisons"][0]["rows"][0]  # input left alone
    assert report["scripts"]["broken.py"]["status"] == "failed"
    assert report["scripts"]["broken.py"]["result"] is None
    assert report["scripts"]["legacy.py"]["status"] == "skipped"
    json.dumps(report)  # serialisable as is


def test_markdown_report(outcomes):
    md = run_all.build_markdown(run_all.build_report(outcomes, MACHINE, 12.0, {"BENCH_SEEDS": "1"}))
    lines = md.splitlines()
    assert lines[0].startswith("# ")
    assert "Linux-test" in md and "2 CPUs" in md and "torch 2.13.0+cpu" in md and "ray not installed" in md
    assert "Overrides: `BENCH_SEEDS=1`." in lines
    assert "| alpha.py | ok | 3 | 1 met, 1 not met |" in lines
    assert "| broken.py | **failed** | 1 | — |" in lines
    assert "| legacy.py | skipped | 2 | — |" in lines
    # one table per comparison, ours and baseline side by side with ratio, target and verdict
    assert "### Fast path" in lines and "### Versus the legacy library" in lines
    assert "| case | ours: ours fn (µs) | baseline: base fn (µs) | ratio (ours / baseline) | target | met |" in lines
    assert "| batch 1 | 10 | 40 | 0.25 | ≤ 0.3 | met |" in lines
    assert "| batch 256 | 50 | 40 | 1.25 | ≤ 1.2 | **not met** |" in lines
    assert "| batch 1024 | 90 | 80 | 1.125 | — | — |" in lines
    assert "| batch 1 | 10 | — | — | < 0.5 | — |" in lines
    assert "Baseline not measured: ray is not importable: No module named 'ray'." in lines
    # failures and skips carry their reasons; results without comparisons become a flat table
    assert "**Failed**: exit status 1: RuntimeError: boom" in lines
    assert "Skipped: ray[rllib] missing" in lines
    assert "| nested.speed | 1,234 |" in lines and "| runs.0.s | 0.5 |" in lines
    # every table row has as many cells as its header
    for line in lines:
        if line.startswith("| case |"):
            assert line.count("|") == 7


def test_overrides_keep_only_bench_variables():
    assert run_all.overrides({"BENCH_SEEDS": "1", "PATH": "/bin", "BENCHMARK": "x"}) == {"BENCH_SEEDS": "1"}
    report = run_all.build_report({}, MACHINE, 1.0, {})
    assert "Overrides: none (full measurement)." in run_all.build_markdown(report).splitlines()


def test_cells_escape_pipes():
    assert run_all.fmt("a|b") == "a\\|b"
    assert run_all.fmt(None) == "—" and run_all.fmt(True) == "yes"


def test_write_atomically_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out" / "latest.md"
    run_all.write_atomically(path, "old\n")
    run_all.write_atomically(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["latest.md"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file written here


def test_main_rejects_unknown_only_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_all.main(["--only", "no_such_benchmark"])
    assert exit_info.value.code == 2
    assert "no_such_benchmark" in capsys.readouterr().err


def test_main_runs_scripts_as_subprocesses_and_reports_failures(tmp_path, monkeypatch, capsys):
    """Synthetic scripts: one fine (importing a helper next to it), one crashing, one
    skipping; the run completes, writes both files and exits 1."""
    (tmp_path / "timing.py").write_text("VALUE = 2.0\n")
    (tmp_path / "good.py").write_text(
        "import json, sys, time\nfrom timing import VALUE\nprint('chatter', file=sys.stderr)\ntime.sleep(0.3)\n"
        "print(json.dumps({'comparisons': [{'title': 'T', 'ours': 'o', 'baseline': 'b', 'unit': 's',"
        " 'ratio': 'ours / baseline', 'rows': [{'case': 'c', 'ours': 1.0, 'baseline': VALUE, 'ratio': 0.5,"
        " 'target': {'op': '<=', 'value': 0.6}}]}]}))\n"
    )
    (tmp_path / "bad.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "skip.py").write_text("print('{\"skipped\": \"no baseline\"}')\n")
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    monkeypatch.setattr(run_all, "PROGRESS_EVERY_S", 0.1)
    out = tmp_path / "results"
    assert run_all.main(["--out", str(out)]) == 1
    report = json.loads((out / "latest.json").read_text())
    assert {name: s["status"] for name, s in report["scripts"].items()} == {
        "bad.py": "failed", "good.py": "ok", "skip.py": "skipped",
    }
    assert "RuntimeError: boom" in report["scripts"]["bad.py"]["reason"]
    assert report["scripts"]["good.py"]["result"]["comparisons"][0]["rows"][0]["met"] is True
    assert all(s["wall_seconds"] >= 0 for s in report["scripts"].values())
    assert "| c | 1 | 2 | 0.5 | ≤ 0.6 | met |" in (out / "latest.md").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["latest.json", "latest.md"]
    err = capsys.readouterr().err
    assert "[1/3] bad.py" in err and "[3/3] skip.py skipped" in err and "    good.py: " in err

    assert run_all.main(["--out", str(out), "--only", "good"]) == 0
    assert list(json.loads((out / "latest.json").read_text())["scripts"]) == ["good.py"]
