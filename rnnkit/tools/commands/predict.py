"""``rnnkit predict RUN_DIR INPUT... | --file FILE``: the trained model's prediction for
each raw input, one line per input (the task formats it: label and probability for
classifiers).

An input longer than the model reads (a text over ``data.max_length`` tokens, more values
than a forecaster's ``data.context``) is never cut silently: each such input gets a
``note:`` line on stderr naming it and what the model reads (and ``"truncated"`` in its
``--json`` object), or, with ``--refuse-long``, the command stops with an error before it
prints the prediction of that input's batch."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnnkit.api import Run


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``predict`` and its options."""
    p = subparsers.add_parser(
        "predict",
        help="predict raw inputs with a trained run",
        description="Predict each INPUT (or each non-empty line of --file) with the best "
        "weights of a run directory; prints one line per input.",
        epilog='example:\n  rnnkit predict runs/sentiment-1 "a gripping thriller" "dull"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(p, run_help="a run directory written by rnnkit train", what="input")
    p.set_defaults(run=run)


def add_input_arguments(p: argparse.ArgumentParser, *, run_help: str, what: str) -> None:
    """The arguments of ``predict`` and of the commands that run it (``translate``):
    RUN_DIR, the inputs (``what`` names one), ``--file``, ``--device``, ``--json`` and
    ``--refuse-long``."""
    p.add_argument("run_dir", metavar="RUN_DIR", help=run_help)
    p.add_argument("inputs", metavar=what.upper(), nargs="*", help=f"raw {what}s")
    p.add_argument(
        "--file",
        metavar="FILE",
        help=f"a UTF-8 file with one {what} per line (read and predicted 512 lines at a time)",
    )
    p.add_argument("--device", metavar="cpu|cuda", default=None, help="default: cpu")
    p.add_argument("--json", action="store_true", help=f"print one JSON object per {what}")
    p.add_argument(
        "--refuse-long",
        action="store_true",
        help=f"refuse any {what} longer than the model reads (default: predict on the part "
        "it reads, with a note naming it)",
    )


BATCH_LINES = 512  # --file inputs are read and predicted this many at a time
MAX_LINE_CHARS = 1_000_000  # bytes; a longer line is refused (an endless or binary file)
MAX_NOTES = 10  # notes about cut inputs printed one by one; the rest are counted at the end


def iter_inputs(path: str, batch: int = BATCH_LINES) -> Iterator[list[str]]:
    """The non-empty lines of ``path`` (UTF-8), ``batch`` at a time, read lazily so that a
    file of any size is predicted at constant memory; one clear error naming the line for
    bytes that are not UTF-8, a NUL byte (a binary file) or a line over
    ``MAX_LINE_CHARS`` bytes (e.g. ``/dev/zero``)."""
    for numbered in iter_numbered_inputs(path, batch):
        yield [line for _, line in numbered]


def iter_numbered_inputs(path: str, batch: int = BATCH_LINES) -> Iterator[list[tuple[int, str]]]:
    """As :func:`iter_inputs`, each line with its line number (1-based) in ``path``."""
    from rnnkit.errors import RnnkitError

    file = Path(path)
    if not file.exists():
        raise RnnkitError(f"--file {path}: no such file")
    if file.is_dir():
        raise RnnkitError(f"--file {path} is a directory; expected a text file, one input a line")
    lines: list[tuple[int, str]] = []
    with file.open("rb") as f:  # bytes, decoded line by line: errors name the right line
        for lineno in itertools.count(1):
            raw = f.readline(MAX_LINE_CHARS + 1)
            if not raw:
                break
            if len(raw) > MAX_LINE_CHARS and not raw.endswith(b"\n"):
                raise RnnkitError(
                    f"--file {path} line {lineno}: longer than {MAX_LINE_CHARS:,} bytes; "
                    "expected one input a line"
                )
            if b"\x00" in raw:
                raise RnnkitError(f"--file {path} line {lineno}: a NUL byte (a binary file?)")
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise RnnkitError(
                    f"--file {path} line {lineno}: not UTF-8 text (byte {e.start + 1} of the line)"
                ) from None
            if line.strip():
                lines.append((lineno, line))
            if len(lines) == batch:
                yield lines
                lines = []
    if lines:
        yield lines


def run(
    args: argparse.Namespace,
    *,
    capability: str = "predict",
    command: str = "rnnkit predict",
    configure: Callable[[Run], None] | None = None,
) -> int:
    """Load the run and print the task's prediction for every input (``--file``: in
    batches, as they are read).

    ``rnnkit translate`` runs the same: its task must have ``capability`` (the error names
    ``command``), and ``configure`` adjusts the loaded run (the beam width) before the
    first prediction."""
    from rnnkit.api import load
    from rnnkit.errors import RnnkitError

    if args.file and args.inputs:
        raise RnnkitError("give inputs either as arguments or with --file, not both")
    if args.file:
        batches = iter_numbered_inputs(args.file)
    else:
        batches = iter([[(i, text) for i, text in enumerate(args.inputs, 1)]])
    first = next(batches, [])  # read (and check) the first batch before loading the run
    if not first:
        raise RnnkitError("nothing to predict: give INPUT arguments or --file FILE")
    run_ = load(args.run_dir, device=args.device)
    run_.task.require(capability, command)
    if configure is not None:
        configure(run_)
    cut = 0
    for numbered in itertools.chain([first], batches):
        inputs = [text for _, text in numbered]
        cuts = run_.task.input_cuts(inputs)
        for (n, _), what in zip(numbered, cuts, strict=True):
            if not what:
                continue
            where = f"--file {args.file} line {n}" if args.file else f"INPUT {n}"
            if args.refuse_long:
                raise RnnkitError(
                    f"{where}: {what}; refused (--refuse-long): shorten it, or drop "
                    f"--refuse-long to predict on the part the model reads"
                )
            cut += 1
            if cut <= MAX_NOTES:
                print(f"note: {where}: {what}; predicted on that part", file=sys.stderr)
        predictions = run_.predict(inputs)
        for text, pred, what in zip(inputs, predictions, cuts, strict=True):
            if args.json:
                print(json.dumps({"input": text, **pred, **({"truncated": what} if what else {})}))
            else:
                print(run_.task.format_prediction(text, pred))
    if cut > MAX_NOTES:
        print(
            f"note: {cut} inputs in all were longer than the model reads ({cut - MAX_NOTES} "
            f"not named above); --refuse-long refuses such inputs",
            file=sys.stderr,
        )
    return 0
