"""Rank 0 writes the run directory; every other rank writes into a private scratch one.

The training loop writes as it goes (config, weights, metrics, checkpoint, TensorBoard,
report). Under DDP only rank 0 may write the real run directory, so :func:`rank_run_dir`
gives each other rank a temporary directory, deleted when training ends: the loop's
code stays the same on every rank and nothing of those ranks reaches the disk of the run.
On ``--resume``, rank 0 sends the files the loop reads back (``checkpoint.pt``,
``metrics.jsonl``) to the others, so only rank 0 needs to see the run directory (no
shared file system is assumed across nodes).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rnnkit.distributed.context import broadcast_object, current
from rnnkit.errors import RnnkitError


@contextmanager
def rank_run_dir(run_dir: Path, shared: Sequence[str] = ()) -> Iterator[Path]:
    """The directory this rank writes: ``run_dir`` on rank 0, a scratch directory elsewhere.

    Args:
        run_dir: the run directory (rank 0's).
        shared: names of files in ``run_dir`` that rank 0 copies into every other rank's
            scratch directory first (those that exist on rank 0).

    Yields:
        The directory this rank's loop writes into.
    """
    ctx = current()
    if not ctx.enabled:
        yield run_dir
        return
    payload: dict[str, bytes] | str = {}
    if ctx.is_main:
        try:
            payload = {n: (run_dir / n).read_bytes() for n in shared if (run_dir / n).is_file()}
        except OSError as e:
            payload = f"{run_dir}: could not read what resuming needs ({e})"
    payload = broadcast_object(payload if shared else {})
    if isinstance(payload, str):
        raise RnnkitError(payload)
    if ctx.is_main:
        yield run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"rnnkit-rank{ctx.rank}-"))
    try:
        for name, data in payload.items():
            (scratch / name).write_bytes(data)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


__all__ = ["rank_run_dir"]
