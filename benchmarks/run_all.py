"""Run every benchmark script and write one JSON file and one Markdown report.

Usage (from anywhere; ``make bench`` runs it)::

    python benchmarks/run_all.py [--only NAME[,NAME]] [--out DIR]

A benchmark is every ``*.py`` file in this directory except the names in ``HELPERS``:
adding a benchmark means adding one script. Each runs as a subprocess (cwd this
directory, the same interpreter) and must print exactly one JSON document on stdout
(human chatter goes to stderr). The document may hold:

- ``"skipped": "reason"``: nothing was measured (e.g. its baseline is not installed);
- ``"comparisons"``: a list of tables, ours side by side with a baseline::

      {"title": str, "ours": str, "baseline": str, "unit": str (of both columns),
       "ratio": str (what the ratio column divides, e.g. "ours / baseline"),
       "rows": [{"case": str, "ours": float | None, "baseline": float | None,
                 "ratio": float | None, "target": {"op": "<=", "value": 1.3} | None}],
       "baseline_missing": str (optional: why the baseline column is empty),
       "note": str (optional)}

  Whether a row meets its target is decided here, from its ratio. A script without
  ``comparisons`` is reported as a flat table of its figures.

Environment variables named ``BENCH_*`` reach the scripts and are recorded in the
report; ``BENCH_SEEDS=N`` makes ``train_cartpole.py`` train N seeds instead of 3 (the
default is the full measurement).

Writes ``DIR/latest.json`` (machine info, ``BENCH_*`` overrides, per-script status,
wall seconds and full output) and ``DIR/latest.md`` (DIR: ``benchmarks/results`` by default), each
atomically. Exits 1 if any script failed, 2 on unknown ``--only`` names.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import operator
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
HELPERS = frozenset({"timing.py", "run_all.py"})  # modules here that are not benchmarks
PROGRESS_EVERY_S = 30.0
STDERR_TAIL_LINES = 20
OPS: Dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
OP_SIGNS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def discover(directory: Path = HERE) -> List[Path]:
    """The benchmark scripts in ``directory``: every ``*.py`` not in ``HELPERS``, by name."""
    return sorted(p for p in directory.glob("*.py") if p.name not in HELPERS)


def select(scripts: Sequence[Path], only: Optional[str]) -> List[Path]:
    """The scripts named in ``only`` (comma-separated, with or without ``.py``), or all.
    Raises ``ValueError`` naming the unknown names and the available ones."""
    if not only:
        return list(scripts)
    wanted = [name.strip().removesuffix(".py") for name in only.split(",") if name.strip()]
    by_stem = {p.stem: p for p in scripts}
    unknown = [name for name in wanted if name not in by_stem]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(by_stem)}")
    return [by_stem[name] for name in dict.fromkeys(wanted)]


def machine_info() -> Dict[str, Any]:
    """Platform, CPU, interpreter and library versions (None: not installed), UTC date."""

    def version(dist: str) -> Optional[str]:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    cpu_model = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "ray": version("ray"),
        "stable_baselines3": version("stable-baselines3"),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def parse_output(returncode: int, stdout: str, stderr: str) -> Dict[str, Any]:
    """A script's outcome from its exit status and output: ``status`` ("ok", "skipped"
    or "failed"), ``reason`` (why not ok, else None) and ``result`` (its JSON or None)."""
    tail = stderr.strip().splitlines()[-STDERR_TAIL_LINES:]
    if returncode != 0:
        last = tail[-1] if tail else "no output on stderr"
        return {"status": "failed", "reason": f"exit status {returncode}: {last}", "result": None, "stderr_tail": tail}
    try:
        result = json.loads(stdout)
    except json.JSONDecodeError as error:
        reason = f"stdout is not one JSON document ({error.msg} at line {error.lineno})"
        return {"status": "failed", "reason": reason, "result": None, "stderr_tail": tail}
    if not isinstance(result, dict):
        return {"status": "failed", "reason": "stdout JSON is not an object", "result": None, "stderr_tail": tail}
    if result.get("skipped"):
        return {"status": "skipped", "reason": str(result["skipped"]), "result": result}
    return {"status": "ok", "reason": None, "result": result}


def run_script(path: Path, index: int, total: int) -> Dict[str, Any]:
    """Run one benchmark script, reporting progress on stderr every ``PROGRESS_EVERY_S``
    seconds; its outcome (see ``parse_output``) plus ``wall_seconds``."""
    print(f"[{index}/{total}] {path.name} ...", file=sys.stderr, flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, path.name], cwd=path.parent, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    while True:
        try:
            stdout, stderr = process.communicate(timeout=PROGRESS_EVERY_S)
            break
        except subprocess.TimeoutExpired:  # output so far is kept for the next call
            print(f"    {path.name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    wall = round(time.perf_counter() - start, 1)
    outcome = {**parse_output(process.returncode, stdout, stderr), "wall_seconds": wall}
    detail = f": {outcome['reason']}" if outcome["reason"] else ""
    print(f"[{index}/{total}] {path.name} {outcome['status']} in {wall:.0f} s{detail}", file=sys.stderr, flush=True)
    return outcome


def row_met(row: Dict[str, Any]) -> Optional[bool]:
    """Whether a comparison row's ratio meets its target; None without either."""
    target, ratio = row.get("target"), row.get("ratio")
    if not target or ratio is None:
        return None
    return OPS[target["op"]](ratio, target["value"])


def with_met(result: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a script's result whose comparison rows carry ``met`` (see ``row_met``)."""
    if "comparisons" not in result:
        return result
    comparisons = [
        {**c, "rows": [{**row, "met": row_met(row)} for row in c["rows"]]} for c in result["comparisons"]
    ]
    return {**result, "comparisons": comparisons}


def overrides(environ: Dict[str, str]) -> Dict[str, str]:
    """The ``BENCH_*`` variables of ``environ``: settings that shorten the measurement."""
    return {key: value for key, value in sorted(environ.items()) if key.startswith("BENCH_")}


def build_report(
    scripts: Dict[str, Dict[str, Any]], machine: Dict[str, Any], total_seconds: float, bench_env: Dict[str, str]
) -> Dict[str, Any]:
    """The JSON report: machine info, ``BENCH_*`` overrides, total wall seconds and, per
    script (by file name), its outcome with ``met`` added to every comparison row."""
    annotated = {
        name: {**outcome, "result": with_met(outcome["result"]) if outcome["result"] else None}
        for name, outcome in scripts.items()
    }
    return {"machine": machine, "overrides": bench_env, "total_seconds": round(total_seconds, 1), "scripts": annotated}


def fmt(value: Any) -> str:
    """A table cell: numbers to 4 significant digits (thousands separated), None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def fmt_target(target: Optional[Dict[str, Any]]) -> str:
    return "—" if not target else f"{OP_SIGNS[target['op']]} {fmt(target['value'])}"


def fmt_met(met: Optional[bool]) -> str:
    return "—" if met is None else ("met" if met else "**not met**")


def comparison_table(comparison: Dict[str, Any]) -> List[str]:
    """Markdown lines of one comparison: a heading, the table, the missing-baseline
    reason and the note if any."""
    unit = f" ({comparison['unit']})" if comparison.get("unit") else ""
    lines = [
        f"### {comparison['title']}",
        "",
        f"| case | ours: {fmt(comparison['ours'])}{unit} | baseline: {fmt(comparison['baseline'])}{unit} "
        f"| ratio ({fmt(comparison['ratio'])}) | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in comparison["rows"]:
        cells = [row["case"], row.get("ours"), row.get("baseline"), row.get("ratio")]
        lines.append(
            "| " + " | ".join(fmt(c) for c in cells) + f" | {fmt_target(row.get('target'))} | {fmt_met(row.get('met'))} |"
        )
    if comparison.get("baseline_missing"):
        lines += ["", f"Baseline not measured: {fmt(comparison['baseline_missing'])}."]
    if comparison.get("note"):
        lines += ["", fmt(comparison["note"])]
    return lines + [""]


def flatten(value: Any, prefix: str = "") -> List[Tuple[str, Any]]:
    """``(dotted key, scalar)`` pairs of a JSON value, lists indexed by position."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return [(prefix, value)]
    return [pair for key, v in items for pair in flatten(v, f"{prefix}.{key}" if prefix else str(key))]


def target_counts(result: Optional[Dict[str, Any]]) -> str:
    """"N met, M not met" over a result's comparison rows with targets ("—" if none)."""
    mets = [row["met"] for c in (result or {}).get("comparisons", []) for row in c["rows"] if row.get("met") is not None]
    if not mets:
        return "—"
    return f"{sum(mets)} met, {len(mets) - sum(mets)} not met"


def machine_line(machine: Dict[str, Any]) -> str:
    versions = ", ".join(
        f"{name} {machine.get(key) or 'not installed'}"
        for name, key in (("torch", "torch"), ("ray", "ray"), ("stable-baselines3", "stable_baselines3"))
    )
    return (
        f"{machine['platform']}, {machine.get('cpu_model') or 'unknown CPU'}, {machine['cpu_count']} CPUs, "
        f"Python {machine['python']}, {versions}"
    )


def build_markdown(report: Dict[str, Any]) -> str:
    """The Markdown report: header with the machine line, a summary table of the scripts
    (status, wall seconds, targets) and, per script, its comparison tables."""
    machine = report["machine"]
    lines = [
        "# Benchmarks: latest run",
        "",
        f"Run {machine['date']} by `benchmarks/run_all.py`, {report['total_seconds']:.0f} s in all.",
        f"Machine: {machine_line(machine)}.",
        "Overrides: " + (", ".join(f"`{k}={v}`" for k, v in report["overrides"].items()) or "none (full measurement)") + ".",
        "",
        "| script | status | wall time (s) | targets |",
        "|---|---|---|---|",
    ]
    for name, outcome in report["scripts"].items():
        status = outcome["status"] if outcome["status"] != "failed" else "**failed**"
        lines.append(f"| {name} | {status} | {outcome['wall_seconds']:.0f} | {target_counts(outcome['result'])} |")
    lines.append("")
    for name, outcome in report["scripts"].items():
        lines += [f"## {name}", ""]
        result = outcome["result"]
        if outcome["status"] == "failed":
            lines += [f"**Failed**: {fmt(outcome['reason'])}", ""]
        elif outcome["status"] == "skipped":
            lines += [f"Skipped: {fmt(outcome['reason'])}", ""]
        elif "comparisons" in result:
            for comparison in result["comparisons"]:
                lines += comparison_table(comparison)
        else:
            lines += ["| figure | value |", "|---|---|"]
            lines += [f"| {fmt(key)} | {fmt(value)} |" for key, value in flatten(result)]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a
    rename, so readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's files are private (0600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="NAME[,NAME]", help="run only these scripts (file names, .py optional)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        scripts = select(discover(HERE), args.only)
    except ValueError as error:
        parser.error(str(error))  # exits 2
    machine = machine_info()
    start = time.perf_counter()
    outcomes = {path.name: run_script(path, i, len(scripts)) for i, path in enumerate(scripts, 1)}
    report = build_report(outcomes, machine, time.perf_counter() - start, overrides(dict(os.environ)))
    json_path, md_path = args.out / "latest.json", args.out / "latest.md"
    write_atomically(json_path, json.dumps(report, indent=2) + "\n")
    write_atomically(md_path, build_markdown(report))
    print(f"wrote {json_path} and {md_path} ({report['total_seconds']:.0f} s)", file=sys.stderr)
    return 1 if any(o["status"] == "failed" for o in outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
