"""ResultLogger: every ``train()`` result as JSON lines, CSV and TensorBoard scalars.

Files under the run's log directory:

- ``result.json``: one JSON object per iteration (the full nested result);
- ``progress.csv``: one row per iteration, columns are the flattened keys
  (``env_runners/episode_return_mean``, ...); when a later result brings new keys the
  file is rewritten with the wider header, so no value is ever dropped;
- ``events.out.tfevents.*``: TensorBoard scalars under the same flattened names.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

RESULTS_ENV_VAR = "RLMODULE_RESULTS_DIR"


def default_log_dir(algorithm_name: str, env: Any) -> str:
    """``$RLMODULE_RESULTS_DIR`` (default ``~/rlmodule_results``) /
    ``<Algo>_<env>_<timestamp>``."""
    root = os.environ.get(RESULTS_ENV_VAR) or os.path.join(os.path.expanduser("~"), "rlmodule_results")
    env_name = env if isinstance(env, str) else getattr(env, "__name__", type(env).__name__)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    return os.path.join(root, f"{algorithm_name}_{env_name}_{stamp}")


def flatten_result(result: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}``; only numbers, bools and strings are kept."""
    flat: Dict[str, Any] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_result(value, f"{name}/"))
        elif isinstance(value, (bool, int, float, str)) or value is None:
            flat[name] = value
        elif hasattr(value, "item") and getattr(value, "size", 2) == 1:  # numpy / tensor scalars
            flat[name] = value.item()
    return flat


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)


class ResultLogger:
    """Appends results to ``log_dir``; ``close()`` flushes TensorBoard."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._columns: List[str] = []
        self._rows: List[Dict[str, Any]] = []
        self._writer: Optional[Any] = None

    def log(self, result: Mapping[str, Any], step: int) -> None:
        """Write one result; ``step`` is the TensorBoard x-axis (env steps sampled)."""
        with open(self.log_dir / "result.json", "a") as f:
            f.write(json.dumps(result, default=_json_default) + "\n")
        flat = flatten_result(result)
        self._write_csv(flat)
        self._write_tensorboard(flat, step)

    def _write_csv(self, flat: Dict[str, Any]) -> None:
        self._rows.append(flat)
        new = [key for key in flat if key not in self._columns]
        path = self.log_dir / "progress.csv"
        if new or not path.exists():
            self._columns += new
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, self._columns)
                writer.writeheader()
                writer.writerows(self._rows)
        else:
            with open(path, "a", newline="") as f:
                csv.DictWriter(f, self._columns).writerow(flat)

    def _write_tensorboard(self, flat: Dict[str, Any], step: int) -> None:
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.log_dir), flush_secs=30)
        for key, value in flat.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self._writer.add_scalar(key, value, global_step=step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
