"""Worker processes that survive any one file: a crash, a hang or a deep recursion.

Every file is migrated in a child process, on a thread with a large stack and a raised
recursion limit (libcst recurses once per nesting level, in Python and in its native
parser). A worker that dies (a segfault) or runs past the per-file timeout is killed and
replaced; its current file comes back as an error and the rest of its batch is redone.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple

STACK_BYTES = 512 * 1024 * 1024  # address space only: pages are touched as the stack grows
RECURSION_LIMIT = 200_000

Task = Callable[[Any], Any]
Item = Tuple[int, Any]


def _serve(conn: Connection, setup: Callable[[], Task]) -> None:
    task = setup()
    while True:
        batch = conn.recv()
        if batch is None:
            return
        for index, item in batch:
            conn.send((index, task(item)))


def _worker_main(conn: Connection, setup: Callable[[], Task]) -> None:
    faulthandler.disable()  # a crash is reported as that file's error, not as a stack dump
    sys.setrecursionlimit(RECURSION_LIMIT)
    threading.stack_size(STACK_BYTES)
    thread = threading.Thread(target=_serve, args=(conn, setup))
    thread.start()
    thread.join()


@dataclass
class _Worker:
    process: Any
    conn: Connection
    batch: Deque[Item] = field(default_factory=deque)
    deadline: float = 0.0


def _crash_reason(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"the worker process crashed ({signal.Signals(-exitcode).name})"
        except ValueError:
            pass
    return f"the worker process exited unexpectedly (exit status {exitcode})"


class IsolatedPool:
    """Runs ``task(item)`` for each item in ``jobs`` child processes; ``setup()`` runs
    once per worker and returns the task. ``failed(item, reason)`` makes the result of
    an item whose worker crashed or timed out."""

    def __init__(self, setup: Callable[[], Task], failed: Callable[[Any, str], Any], jobs: int, timeout: float):
        self.setup, self.failed, self.jobs, self.timeout = setup, failed, jobs, timeout
        self.context = multiprocessing.get_context()

    def run(self, items: Sequence[Any], on_result: Optional[Callable[[Any], None]] = None) -> List[Any]:
        """Results in input order; ``on_result`` is called as each one arrives."""
        results: List[Any] = [None] * len(items)
        pending: Deque[Item] = deque(enumerate(items))
        chunk = max(1, min(64, len(items) // (self.jobs * 8)))
        workers = [self._start() for _ in range(min(self.jobs, len(items)))]
        done = 0
        try:
            while done < len(items):
                for position, worker in enumerate(workers):
                    if not worker.batch and pending:
                        self._send(workers, position, [pending.popleft() for _ in range(min(chunk, len(pending)))])
                for _, index, result in self._collect(workers, pending):
                    results[index] = result
                    done += 1
                    if on_result:
                        on_result(result)
        finally:
            for worker in workers:
                self._stop(worker)
        return results

    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(child, self.setup), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def _send(self, workers: List[_Worker], position: int, batch: List[Item]) -> None:
        worker = workers[position]
        try:
            worker.conn.send(batch)
        except OSError:  # died while idle: a fresh one takes the batch
            self._stop(worker, kill=True)
            worker = workers[position] = self._start()
            worker.conn.send(batch)
        worker.batch.extend(batch)
        worker.deadline = time.monotonic() + self.timeout

    def _collect(self, workers: List[_Worker], pending: Deque[Item]):
        """Wait for results; replace workers that died or ran past their deadline."""
        busy = [w for w in workers if w.batch]
        ready = wait([w.conn for w in busy], timeout=max(0.0, min(w.deadline for w in busy) - time.monotonic()))
        out = []
        for position, worker in enumerate(workers):
            if not worker.batch:
                continue
            if worker.conn in ready:
                received, dead = self._receive(worker)
                out += received
                if not dead:
                    continue
                reason = None
            elif time.monotonic() >= worker.deadline:
                reason = f"timed out after {self.timeout:g} s (--timeout)"
            else:
                continue
            out += self._replace(workers, position, pending, reason)
        return out

    def _receive(self, worker: _Worker) -> Tuple[List[Tuple[_Worker, int, Any]], bool]:
        """The results ``worker`` has sent, and whether its connection is closed (it died)."""
        out: List[Tuple[_Worker, int, Any]] = []
        try:
            while worker.batch and (not out or worker.conn.poll()):
                index, result = worker.conn.recv()
                worker.batch.popleft()
                worker.deadline = time.monotonic() + self.timeout
                out.append((worker, index, result))
        except (EOFError, OSError):
            return out, True
        return out, False

    def _replace(self, workers: List[_Worker], position: int, pending: Deque[Item], reason: Optional[str]):
        """Kill worker ``position`` and start another; its current item fails, the rest
        of its batch goes back to ``pending``."""
        worker = workers[position]
        self._stop(worker, kill=True)
        workers[position] = self._start()
        if not worker.batch:
            return []
        index, item = worker.batch.popleft()
        pending.extendleft(reversed(worker.batch))
        return [(worker, index, self.failed(item, reason or _crash_reason(worker.process.exitcode)))]

    @staticmethod
    def _stop(worker: _Worker, kill: bool = False) -> None:
        if kill or worker.batch:
            worker.process.kill()
        else:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
