"""Throughput of ``rlmigrate migrate --check -j 2`` next to its floor, as JSON.

Builds a repository of at least 2,000 files: 10% legacy RLlib code (the codemod
fixtures, each copied under several names) and 90% ordinary Python (files of the
standard library, which never mention RLlib). The floor is what any libcst tool must
pay: ``libcst.parse_module(text).code`` for the same files, in this process.

Targets: the whole repository at least 3x faster than the floor (untouched files are
skipped by a byte pre-filter) and the legacy files alone within 2x of the floor.

Memory: peak memory per source byte of migrating one large legacy file (the fixtures
concatenated to ``LARGE_BYTES``), beside libcst's own parse + codegen of the same file
(the floor); target within 1.5x. Each side runs in a fresh subprocess, on a thread with
the stack the workers use, and reports its peak resident memory (``VmHWM``; not
``ru_maxrss``, which keeps the parent's peak across ``exec``) less its resident memory
before the work; the sides alternate over ``MEMORY_ROUNDS`` rounds and the smallest
figure of each counts. Timings alternate the same way over ``TIME_ROUNDS`` rounds (the
floor, then ours) and the median of each side counts.
``comparisons`` holds the same figures as tables for ``run_all.py``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import libcst as cst

ROOT = Path(__file__).resolve().parents[1]
LEGACY_FIXTURES = ROOT / "fixtures" / "legacy"
TOTAL_FILES = 2000
LEGACY_SHARE = 0.10
MAX_BYTES = 40_000
LARGE_BYTES = 512 * 1024
MEMORY_ROUNDS = 2
TIME_ROUNDS = 3

# Run in a fresh interpreter: argv = side ("ours" | "floor"), path. Prints the peak
# resident memory growth (bytes) of the one file's migration or parse.
_MEMORY_CHILD = """
import re, sys, threading
from pathlib import Path
import libcst
from codemods.migrate import migrate_path
from codemods.repo_index import build_repo_index
from codemods.rules import select_rules
from codemods.workers import RECURSION_LIMIT, STACK_BYTES

side, path = sys.argv[1], sys.argv[2]
data = Path(path).read_bytes()
rules, repo = select_rules(None), build_repo_index([data])

def work():
    if side == "ours":
        result = migrate_path((path, path), rules, repo)
        assert result.status == "changed", result.error
    else:
        libcst.parse_module(data).code

sys.setrecursionlimit(RECURSION_LIMIT)
threading.stack_size(STACK_BYTES)
def status_kb(field):
    return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))

before = status_kb("VmRSS")
thread = threading.Thread(target=work)
thread.start()
thread.join()
print((status_kb("VmHWM") - before) * 1024)
"""


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
    command = [sys.executable, "-m", "rlmigrate", "migrate", "--check", "--no-progress", "-j", str(jobs), str(path)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"rlmigrate failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def interleaved_medians(floor: Callable[[], float], ours: Callable[[], float]) -> Tuple[float, float]:
    """Median seconds of each side over ``TIME_ROUNDS`` rounds of floor, then ours."""
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(TIME_ROUNDS):
        times[0].append(floor())
        times[1].append(ours())
    return statistics.median(times[0]), statistics.median(times[1])


def build_large_legacy_file(path: Path) -> int:
    """The legacy fixtures (UTF-8, LF, no BOM) concatenated up to ``LARGE_BYTES``."""
    sources = [data for data in _legacy_sources() if b"\r" not in data and not data.startswith(b"\xef\xbb\xbf")]
    sources = [data for data in sources if _utf8(data)]
    chunks, size = [], 0
    while size < LARGE_BYTES:
        for data in sources:
            chunks.append(data + b"\n")
            size += len(data) + 1
    path.write_bytes(b"".join(chunks))
    return size


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def peak_memory_growth(side: str, path: Path) -> int:
    """Peak resident memory growth (bytes) of one side, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, side, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


def memory_per_source_byte(path: Path, size: int) -> Dict[str, float]:
    """Smallest growth per source byte of each side over alternating rounds."""
    growth: Dict[str, List[int]] = {"ours": [], "floor": []}
    for _ in range(MEMORY_ROUNDS):
        for side in ("floor", "ours"):
            growth[side].append(peak_memory_growth(side, path))
    return {side: round(min(values) / size, 1) for side, values in growth.items()}


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
        floor_all, ours_all = interleaved_medians(lambda: floor_seconds(every), lambda: rlmigrate_seconds(repo))
        floor_legacy, ours_legacy = interleaved_medians(
            lambda: floor_seconds(files["legacy"]), lambda: rlmigrate_seconds(legacy_only)
        )
        large = Path(tmp) / "large_legacy.py"
        large_size = build_large_legacy_file(large)
        memory = memory_per_source_byte(large, large_size)
    memory_ratio = round(memory["ours"] / memory["floor"], 2)
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
        "large_legacy_file_memory": {
            "bytes": large_size,
            "rlmigrate_peak_bytes_per_source_byte": memory["ours"],
            "floor_libcst_parse_codegen_peak_bytes_per_source_byte": memory["floor"],
            "ratio_vs_floor": memory_ratio,
            "target_ratio_at_most": 1.5,
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
            {
                "title": f"Peak memory per source byte, one large legacy file ({large_size // 1024} KiB)",
                "ours": "migrating it (one worker's work)", "baseline": "libcst parse + codegen",
                "unit": "bytes / source byte", "ratio": "ours / baseline",
                "rows": [{"case": f"{large_size // 1024} KiB legacy file", "ours": memory["ours"],
                          "baseline": memory["floor"], "ratio": memory_ratio,
                          "target": {"op": "<=", "value": 1.5}}],
            },
        ],
    }, indent=2))


if __name__ == "__main__":
    main()
