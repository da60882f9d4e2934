"""Interleaved CPU-time timing shared by the benchmark scripts."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Tuple

import torch


def time_calls(
    fns: Dict[str, Tuple[Callable[[], Any], bool]], *, target_s: float = 0.03, repeats: int = 60
) -> Dict[str, float]:
    """Fastest microseconds per call of each function over ``repeats`` rounds. The
    functions are timed in turn within every round, so drift in machine load hits
    them alike. The clock is this thread's CPU time and the figure the minimum, which
    filters out the host's scheduling noise (as timeit does). ``fns`` maps a name to
    ``(function, grad_enabled)``: autograd's global mode is set outside the timed loop."""
    loops = {}
    for name, (fn, grad) in fns.items():
        torch.set_grad_enabled(grad)
        for _ in range(200):
            fn()
        n = 100
        while True:  # calibrate each loop to about target_s
            start = time.perf_counter()
            for _ in range(n):
                fn()
            elapsed = time.perf_counter() - start
            if elapsed > target_s / 4:
                break
            n *= 2
        loops[name] = max(1, int(n * target_s / elapsed))
    samples: Dict[str, list] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, grad) in fns.items():
            torch.set_grad_enabled(grad)
            n = loops[name]
            start = time.thread_time()
            for _ in range(n):
                fn()
            samples[name].append((time.thread_time() - start) / n * 1e6)
    torch.set_grad_enabled(True)
    return {name: min(values) for name, values in samples.items()}
