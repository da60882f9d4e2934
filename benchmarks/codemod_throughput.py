"""Throughput of ``rlmigrate migrate --check -j 2`` next to its floor, as JSON.

Builds a repository of at least 2,000 files: 10% legacy RLlib code (the codemod
fixtures, each copied under several names) and 90% ordinary Python (files of the
standard library, which never mention RLlib). The floor is what any libcst tool must
pay: ``libcst.parse_module(text).code`` for the same files, in this process.

Targets: the whole repository at least 3x faster than the floor (untouched files are
skipped by a byte pre-filter) and the legacy files alone within 2x of the floor.
``comparisons`` holds the same figures as tables for ``run_all.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import libcst as cst

ROOT = Path(__file__).resolve().parents[1]
LEGACY_FIXTURES = ROOT / "fixtures" / "legacy"
TOTAL_FILES = 2000
LEGACY_SHARE = 0.10
MAX_BYTES = 40_000


def _legacy_sources() -> List[bytes]:
    skip = ("untouched",)
    return [p.read_bytes() for p in sorted(LEGACY_FIXTURES.rglob("*.py")) if p.parts[-2] not in skip]


def _ordinary_sources(count: int) -> List[bytes]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py")):
        data = path.read_bytes()
        if len(data) > MAX_BYTES or b"rllib" in data or b"try_import_" in data or b"ModelV2" in data:
            continue
        try:
            cst.parse_module(data)
        except Exception:
            continue
        sources.append(data)
        if len(sources) == count:
            break
    if len(sources) < count:  # repeat: a large repository has similar files too
        sources = (sources * (count // max(1, len(sources)) + 1))[:count]
    return sources


def build_repository(directory: Path) -> Dict[str, List[Path]]:
    n_legacy = int(TOTAL_FILES * LEGACY_SHARE)
    legacy = _legacy_sources()
    files: Dict[str, List[Path]] = {"legacy": [], "ordinary": []}
    for i in range(n_legacy):
        path = directory / "legacy" / f"pkg_{i % 10}" / f"model_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(legacy[i % len(legacy)])
        files["legacy"].append(path)
    for i, data in enumerate(_ordinary_sources(TOTAL_FILES - n_legacy)):
        path = directory / "ordinary" / f"pkg_{i % 40}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files["ordinary"].append(path)
    return files


def floor_seconds(paths: List[Path]) -> float:
    """libcst parse + codegen of every file, one process (the cheapest libcst pass)."""
    texts = [p.read_bytes() for p in paths]
    start = time.perf_counter()
    for data in texts:
        cst.parse_module(data).code
    return time.perf_counter() - start


def rlmigrate_seconds(path: Path, jobs: int = 2) -> float:
    command = [sys.executable, "-m", "codemods.cli", "migrate", "--check", "--no-progress", "-j", str(jobs), str(path)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"rlmigrate failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def _rates(seconds: float, lines: int, files: int) -> Dict[str, float]:
    return {"seconds": round(seconds, 3), "files_per_s": round(files / seconds, 1), "kloc_per_s": round(lines / 1000 / seconds, 1)}


def _lines(paths: List[Path]) -> int:
    return sum(p.read_bytes().count(b"\n") for p in paths)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rlmigrate-bench-") as tmp:
        repo = Path(tmp) / "repo"
        files = build_repository(repo)
        every = files["legacy"] + files["ordinary"]
        legacy_only = Path(tmp) / "legacy_only"
        shutil.copytree(repo / "legacy", legacy_only)
        lines_all, lines_legacy = _lines(every), _lines(files["legacy"])
        floor_all, floor_legacy = floor_seconds(every), floor_seconds(files["legacy"])
        ours_all, ours_legacy = rlmigrate_seconds(repo), rlmigrate_seconds(legacy_only)
    n_all, n_legacy = len(every), len(files["legacy"])
    print(json.dumps({
        "files": n_all,
        "legacy_files": n_legacy,
        "kloc": round(lines_all / 1000, 1),
        "whole_repository": {
            "rlmigrate_check_j2": _rates(ours_all, lines_all, n_all),
            "floor_libcst_parse_codegen_1_process": _rates(floor_all, lines_all, n_all),
            "speedup_vs_floor": round(floor_all / ours_all, 2),
            "target_speedup_at_least": 3.0,
        },
        "legacy_files_only": {
            "rlmigrate_check_j2": _rates(ours_legacy, lines_legacy, n_legacy),
            "floor_libcst_parse_codegen_1_process": _rates(floor_legacy, lines_legacy, n_legacy),
            "slowdown_vs_floor": round(ours_legacy / floor_legacy, 2),
            "target_slowdown_at_most": 2.0,
        },
        "comparisons": [
            {
                "title": f"Codemod throughput over the whole repository ({n_all} files, {n_legacy} legacy)",
                "ours": "`rlmigrate migrate --check -j 2`", "baseline": "libcst parse + codegen, 1 process",
                "unit": "s", "ratio": "baseline / ours: speed-up",
                "rows": [{"case": f"{n_all} files", "ours": round(ours_all, 2), "baseline": round(floor_all, 2),
                          "ratio": round(floor_all / ours_all, 2), "target": {"op": ">=", "value": 3.0}}],
            },
            {
                "title": "Codemod throughput over the legacy files alone",
                "ours": "`rlmigrate migrate --check -j 2`", "baseline": "libcst parse + codegen, 1 process",
                "unit": "s", "ratio": "ours / baseline: slowdown",
                "rows": [{"case": f"{n_legacy} legacy files", "ours": round(ours_legacy, 2),
                          "baseline": round(floor_legacy, 2), "ratio": round(ours_legacy / floor_legacy, 2),
                          "target": {"op": "<=", "value": 2.0}}],
            },
        ],
    }, indent=2))


if __name__ == "__main__":
    main()
