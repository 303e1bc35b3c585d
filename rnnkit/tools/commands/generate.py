"""``rnnkit generate RUN_DIR``: sample text from a trained run that can generate (charlm).

The prime is read once; then one symbol at a time is sampled and fed back with the
carried state (the prefix is never read again). The prime must use only symbols of the
run's vocabulary: unknown characters are refused, listed, rather than silently mapped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from rnnkit.errors import RnnkitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="sample text from a trained charlm run",
        description="Sample text from a character-level language model run directory.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of `rnnkit train charlm`")
    p.add_argument(
        "--prime", default=None, help="text to start from, read once (default: a newline)"
    )
    p.add_argument("--length", type=int, default=500, help="symbols to generate (default 500)")
    p.add_argument(
        "--temperature", type=float, default=0.8, help="softmax temperature; 0 = greedy (0.8)"
    )
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest only")
    p.add_argument(
        "--top-p", type=float, default=None, help="sample within the nucleus of mass p only"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampling (default 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--out", default=None, help="also write the text to this file")
    p.set_defaults(run=run)


def generate_text(
    run_dir: str | Path,
    prime: str = "\n",
    length: int = 500,
    *,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> str:
    """The prime followed by ``length`` sampled symbols from the run in ``run_dir`` (a task
    with the ``generate`` capability, e.g. charlm): :func:`rnnkit.load`, then
    ``Task.generate``."""
    from rnnkit.api import load
    from rnnkit.runs import read_config
    from rnnkit.tasks import get_task_class

    if length < 1:
        raise RnnkitError(f"--length must be at least 1, got {length}")
    if not prime:
        raise RnnkitError("--prime is empty; give at least one character to start from")
    get_task_class(read_config(run_dir).task).require("generate", "rnnkit generate")
    run_ = load(run_dir, device=device)
    return run_.task.generate(
        run_.model,
        prime,
        length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=torch.Generator().manual_seed(seed),
    )


def run(args: argparse.Namespace) -> int:
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise RnnkitError(f"--device must be cpu or cuda, got {args.device!r}")
    if args.out:
        from rnnkit.rundir import check_output

        check_output(args.out, "--out")  # before the work: never a file of a run
    try:
        text = generate_text(
            args.run_dir,
            "\n" if args.prime is None else args.prime,
            args.length,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
            device=args.device,
        )
    except RnnkitError as e:
        if args.prime is not None or "outside the vocabulary" not in str(e):
            raise
        raise RnnkitError(
            f"{e} (no --prime was given, and the default, a newline, is not among the "
            f"characters the run was trained on: give --prime with some of them)"
        ) from None
    if args.out:
        from rnnkit.io import write_text
        from rnnkit.rundir import writing_outputs

        with writing_outputs(args.out):  # into a run: while no training writes it
            write_text(args.out, text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
