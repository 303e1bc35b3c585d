"""``rnnkit predict RUN_DIR INPUT... | --file FILE``: the trained model's prediction for
each raw input, one line per input (the task formats it: label and probability for
classifiers)."""

from __future__ import annotations

import argparse
import json
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
    p.add_argument("--file", metavar="FILE", help="a UTF-8 file with one input per line")
    p.add_argument("--device", metavar="cpu|cuda", default=None, help="default: cpu")
    p.add_argument("--json", action="store_true", help="print one JSON object per input")
    p.set_defaults(run=run)


def read_inputs(path: str) -> list[str]:
    """The non-empty lines of ``path`` (UTF-8), with clear errors."""
    from rnnkit.errors import RnnkitError

    file = Path(path)
    if not file.is_file():
        raise RnnkitError(f"--file {path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RnnkitError(f"--file {path}: not UTF-8 text (byte {e.start})") from None
    return [line for line in text.splitlines() if line.strip()]


def run(args: argparse.Namespace) -> int:
    """Load the run and print the task's prediction for every input."""
    from rnnkit.api import load
    from rnnkit.errors import RnnkitError

    if args.file and args.inputs:
        raise RnnkitError("give inputs either as arguments or with --file, not both")
    inputs = read_inputs(args.file) if args.file else list(args.inputs)
    if not inputs:
        raise RnnkitError("nothing to predict: give INPUT arguments or --file FILE")
    run_ = load(args.run_dir, device=args.device)
    predictions = run_.predict(inputs)
    for text, pred in zip(inputs, predictions, strict=True):
        if args.json:
            print(json.dumps({"input": text, **pred}))
        else:
            print(run_.task.format_prediction(text, pred))
    return 0
