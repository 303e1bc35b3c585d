"""``rnnkit evaluate RUN_DIR``: the task's metrics of a trained run on a split of its data,
or on other data in the same format (``--data``)."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` and its options."""
    p = subparsers.add_parser(
        "evaluate",
        help="print a trained run's metrics on a split or on other data",
        description="Evaluate the best weights of a run directory on its test split (or "
        "--split), or on --data in the same format. The saved preprocessing is kept.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by rnnkit train")
    p.add_argument(
        "--data", metavar="NAME|PATH", help="evaluate on this built-in dataset or file instead"
    )
    p.add_argument(
        "--split", choices=("train", "val", "test"), default="test", help="default: test"
    )
    p.add_argument("--device", metavar="cpu|cuda", default=None, help="default: cpu")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the run, evaluate, print one ``metric value`` line each (or JSON)."""
    from rnnkit.api import load

    metrics = load(args.run_dir, device=args.device).evaluate(args.data, args.split)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{args.run_dir}  split={args.split}" + (f"  data={args.data}" if args.data else ""))
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        print(f"  {key:<{width}}  {value:.6g}")
    return 0
