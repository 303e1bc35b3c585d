"""``rnnkit train TASK ... --nproc N``: the same command on N local processes, started by
torchrun's own machinery (``torch.distributed.run``) from within this process.

It is exactly ``torchrun --standalone --nproc-per-node N -m rnnkit train TASK ...`` (a
rendezvous on a free local port, one worker per rank, the whole group stopped as soon as
one worker fails): :func:`launch` builds torchrun's arguments and calls its ``run``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence

from rnnkit.errors import RnnkitError


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (what each worker runs)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(
    nproc: int, argv: Sequence[str], *, max_restarts: int = 0, module: str = "rnnkit"
) -> None:
    """Run ``python -m MODULE ARGV`` on ``nproc`` local ranks under torchrun's launcher.

    Args:
        nproc: the number of processes (>= 2).
        argv: the rnnkit command line of every worker (``["train", "adding", ...]``).
        max_restarts: torchrun's ``--max-restarts``: how often the whole group is
            restarted after a worker fails.
        module: the module each worker runs (``rnnkit``; the tests use a wrapper).

    Raises:
        RnnkitError: already inside a torchrun job, or a worker failed (its own message
            is on stderr above; this one names the ranks and their exit codes).
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if os.environ.get("TORCHELASTIC_RUN_ID") or int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise RnnkitError("--nproc: this process already runs under torchrun; drop --nproc")
    args = torchrun.parse_args(
        [
            "--standalone",
            f"--nproc-per-node={nproc}",
            f"--max-restarts={max_restarts}",
            "--module",
            module,
            *argv,
        ]
    )
    # torchrun's agent installs its own handlers for these and leaves them in place: the
    # rnnkit process gets its own back afterwards (Ctrl-C is KeyboardInterrupt again)
    names = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    sigs = [getattr(signal, n) for n in names if hasattr(signal, n)]
    saved = {s: h for s in sigs if (h := signal.getsignal(s)) is not None}
    try:
        torchrun.run(args)
    except SignalException:  # Ctrl-C or SIGTERM: torchrun has stopped the workers
        raise KeyboardInterrupt from None
    except ChildFailedError as e:
        stopped = -signal.SIGTERM  # the workers torchrun stopped because another failed
        failures = sorted(e.failures.items())
        causes = [(r, f) for r, f in failures if f.exitcode != stopped] or failures
        said = ", ".join(f"rank {rank} exit code {f.exitcode}" for rank, f in causes)
        others = (
            f"; torchrun stopped the other {len(failures) - len(causes)}"
            if len(causes) < len(failures)
            else ""
        )
        raise RnnkitError(
            f"--nproc {nproc}: the distributed run failed ({said}{others}); the workers' own "
            "messages are above"
        ) from None
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in saved.items():
                signal.signal(sig, handler)


__all__ = ["launch", "strip_nproc"]
