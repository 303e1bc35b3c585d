"""``rnnkit`` in float64, for the distributed tests: ``python tests/ddp_worker.py train ...``
or the same script under ``torchrun``. Float64 everywhere (default dtype) makes the
one-process and the DDP runs comparable to a tight tolerance. Several commands separated
by ``--then`` run one after the other in the same processes (one launch, less start-up)."""

from __future__ import annotations

import os
import sys

import torch

# fault injection for the tests: the worker of this global rank ends abruptly (exit code 9,
# as if killed) when this training epoch starts, in the first attempt of the job only
EXIT_RANK, EXIT_EPOCH = "DDP_TEST_EXIT_RANK", "DDP_TEST_EXIT_EPOCH"


def _exit_at_epoch() -> None:
    from rnnkit.training import loop

    rank, epoch = int(os.environ[EXIT_RANK]), int(os.environ[EXIT_EPOCH])
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    run_epoch = loop.run_epoch

    def dying_run_epoch(session, e, shown=None):  # noqa: ANN001, ANN202
        if first_attempt and e == epoch and session.dist.rank == rank:
            os._exit(9)
        return run_epoch(session, e, shown)

    loop.run_epoch = dying_run_epoch


def main(argv: list[str]) -> int:
    """Run the rnnkit command line ``argv`` with float64 as torch's default dtype."""
    from rnnkit.tools.cli import main as rnnkit_main

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return rnnkit_main(argv)
    finally:
        torch.set_default_dtype(before)


def main_all(argv: list[str]) -> int:
    """Each ``--then``-separated command of ``argv`` in turn; the first failing exit code."""
    commands: list[list[str]] = [[]]
    for arg in argv:
        if arg == "--then":
            commands.append([])
        else:
            commands[-1].append(arg)
    for command in commands:
        if code := main(command):
            return code
    return 0


if __name__ == "__main__":
    if os.environ.get(EXIT_RANK):
        _exit_at_epoch()
    sys.exit(main_all(sys.argv[1:]))
