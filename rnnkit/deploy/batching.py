"""Micro-batching of concurrent requests: one model call for the inputs of many requests.

::

    request threads ──submit(items)──► queue ──► worker: the first job, then more jobs
        until ``window_s`` has passed or ``max_batch`` items are gathered
        ──► fn(all items) once ──► each job gets its slice of the results

If the batched call fails (one request's input is refused), each job of that batch is
run alone, so only the bad request gets the error. ``close()`` lets the queued jobs
finish, then stops the worker (graceful shutdown).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnkit.errors import RnnkitError


@dataclass
class _Job:
    items: list[Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Any] | None = None
    error: BaseException | None = None


class Batcher:
    """Run ``fn(items) -> results`` (one result per item, in order) on batches gathered
    from concurrent :meth:`submit` calls.

    Args:
        fn: the batched function (e.g. ``task.predict`` on the loaded model).
        window_s: how long the worker waits for more requests after the first one.
        max_batch: items per call, at most (a single larger request runs alone).

    Attributes:
        calls, items, largest: model calls made, items run, the largest batch so far.
    """

    def __init__(self, fn: Callable[[list[Any]], list[Any]], window_s: float, max_batch: int):
        self.fn, self.window_s, self.max_batch = fn, window_s, max_batch
        self.calls = self.items = self.largest = 0
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="rnnkit-batcher", daemon=True)
        self._thread.start()

    def submit(self, items: list[Any], timeout: float) -> list[Any]:
        """The results of ``items`` (blocking); the error of their call is raised here."""
        if self._closed:
            raise RnnkitError("the server is shutting down; retry on another instance")
        job = _Job(list(items))
        self._queue.put(job)
        if not job.done.wait(timeout):
            raise TimeoutError(f"the model did not answer within {timeout:g} s")
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs, then stop the worker."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        """``{"calls", "items", "largest", "window_ms", "max_batch"}``."""
        return {
            "calls": self.calls,
            "items": self.items,
            "largest": self.largest,
            "window_ms": 1000 * self.window_s,
            "max_batch": self.max_batch,
        }

    # ------------------------------------------------------------------ worker
    def _loop(self) -> None:
        stop = False
        while not stop:
            job = self._queue.get()
            if job is None:
                return
            jobs, n = [job], len(job.items)
            deadline = time.monotonic() + self.window_s
            while n < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    more = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if more is None:  # close(): run what was gathered, then stop
                    stop = True
                    break
                jobs.append(more)
                n += len(more.items)
            self._run(jobs)

    def _call(self, items: list[Any]) -> list[Any]:
        out = self.fn(items)
        if len(out) != len(items):
            raise RuntimeError(f"batched call gave {len(out)} results for {len(items)} items")
        self.calls += 1
        self.items += len(items)
        self.largest = max(self.largest, len(items))
        return out

    def _run(self, jobs: list[_Job]) -> None:
        try:
            out = self._call([x for j in jobs for x in j.items])
        except BaseException as e:
            if len(jobs) == 1:
                jobs[0].error = e
                jobs[0].done.set()
                return
            for j in jobs:  # one bad request must not fail the others: each alone
                self._run([j])
            return
        start = 0
        for j in jobs:
            j.result = out[start : start + len(j.items)]
            start += len(j.items)
            j.done.set()
