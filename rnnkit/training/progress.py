"""Progress of a training epoch when the output is a log, not a terminal.

On a terminal the loop draws a tqdm bar. Redirected to a file or a pipe (``nohup``, a
batch scheduler, ``| tee``) a bar would be either nothing or hundreds of carriage-return
updates, so instead :class:`ProgressLines` writes one plain line at a steady interval::

    epoch 2/10  41% 120/290 batches  loss 0.5123  312 seq/s  1m05s elapsed, ~1m33s left

The interval is 30 seconds, or ``RNNKIT_PROGRESS_SECONDS``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from rnnkit.errors import positive_env

DEFAULT_SECONDS = 30.0


def interval_from_env() -> float:
    """Seconds between lines: ``RNNKIT_PROGRESS_SECONDS`` or 30; a clear error if bad."""
    return positive_env("RNNKIT_PROGRESS_SECONDS", DEFAULT_SECONDS)


def _clock(seconds: float) -> str:
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"


class ProgressLines:
    """One line of progress every ``every`` seconds (call :meth:`due`, then :meth:`show`).

    Args:
        total: batches in the epoch (``None`` or 0 when unknown).
        desc: the line's start, e.g. ``"epoch 2/10"``.
        every: seconds between lines.
        file: where to write (stderr).
        clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        *,
        every: float = DEFAULT_SECONDS,
        file: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total or 0
        self.desc = desc
        self.every = every
        self.file = file if file is not None else sys.stderr
        self.clock = clock
        self.start = clock()
        self.next_at = self.start + every

    def due(self) -> bool:
        """Whether a line is due now (cheap: call it every batch)."""
        return self.clock() >= self.next_at

    def show(self, done: int, loss: float, sequences_per_s: float) -> None:
        """Write the line for ``done`` batches finished and schedule the next one."""
        now = self.clock()
        elapsed = now - self.start
        parts = [self.desc]
        if self.total:
            parts.append(f"{100 * done / self.total:.0f}% {done}/{self.total} batches")
        else:
            parts.append(f"{done} batches")
        parts += [f"loss {loss:.4f}", f"{sequences_per_s:.0f} seq/s"]
        timing = f"{_clock(elapsed)} elapsed"
        if self.total and done:
            timing += f", ~{_clock(elapsed * (self.total - done) / done)} left"
        parts.append(timing)
        print("  ".join(parts), file=self.file, flush=True)
        self.next_at = now + self.every
