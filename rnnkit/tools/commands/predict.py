"""``rnnkit predict RUN_DIR INPUT... | --file FILE``: the trained model's prediction for
each raw input, one line per input (the task formats it: label and probability for
classifiers)."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator
from pathlib import Path


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
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by rnnkit train")
    p.add_argument("inputs", metavar="INPUT", nargs="*", help="raw inputs, e.g. texts")
    p.add_argument(
        "--file",
        metavar="FILE",
        help="a UTF-8 file with one input per line (read and predicted 512 lines at a time)",
    )
    p.add_argument("--device", metavar="cpu|cuda", default=None, help="default: cpu")
    p.add_argument("--json", action="store_true", help="print one JSON object per input")
    p.set_defaults(run=run)


BATCH_LINES = 512  # --file inputs are read and predicted this many at a time
MAX_LINE_CHARS = 1_000_000  # bytes; a longer line is refused (an endless or binary file)


def iter_inputs(path: str, batch: int = BATCH_LINES) -> Iterator[list[str]]:
    """The non-empty lines of ``path`` (UTF-8), ``batch`` at a time, read lazily so that a
    file of any size is predicted at constant memory; one clear error naming the line for
    bytes that are not UTF-8, a NUL byte (a binary file) or a line over
    ``MAX_LINE_CHARS`` bytes (e.g. ``/dev/zero``)."""
    from rnnkit.errors import RnnkitError

    file = Path(path)
    if not file.exists():
        raise RnnkitError(f"--file {path}: no such file")
    if file.is_dir():
        raise RnnkitError(f"--file {path} is a directory; expected a text file, one input a line")
    lines: list[str] = []
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
                lines.append(line)
            if len(lines) == batch:
                yield lines
                lines = []
    if lines:
        yield lines


def run(args: argparse.Namespace) -> int:
    """Load the run and print the task's prediction for every input (``--file``: in
    batches, as they are read)."""
    from rnnkit.api import load
    from rnnkit.errors import RnnkitError

    if args.file and args.inputs:
        raise RnnkitError("give inputs either as arguments or with --file, not both")
    batches = iter_inputs(args.file) if args.file else iter([list(args.inputs)])
    first = next(batches, [])  # read (and check) the first batch before loading the run
    if not first:
        raise RnnkitError("nothing to predict: give INPUT arguments or --file FILE")
    run_ = load(args.run_dir, device=args.device)
    for inputs in itertools.chain([first], batches):
        predictions = run_.predict(inputs)
        for text, pred in zip(inputs, predictions, strict=True):
            if args.json:
                print(json.dumps({"input": text, **pred}))
            else:
                print(run_.task.format_prediction(text, pred))
    return 0
