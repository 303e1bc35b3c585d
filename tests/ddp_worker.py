"""``rnnkit`` in float64, for the distributed tests: ``python tests/ddp_worker.py train ...``
or the same script under ``torchrun``. Float64 everywhere (default dtype) makes the
one-process and the DDP runs comparable to a tight tolerance. Several commands separated
by ``--then`` run one after the other in the same processes (one launch, less start-up)."""

from __future__ import annotations

import sys

import torch


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
    sys.exit(main_all(sys.argv[1:]))
