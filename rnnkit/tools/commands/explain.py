"""``rnnkit explain RUN_DIR INPUT``: one self-contained HTML report explaining one input.

The report shows the prediction, the input's tokens / time steps coloured by their
Integrated Gradients attribution (with the completeness check), gradient x input,
heatmaps of the hidden states and gates of every recurrent layer over time and, for
character models, the characters the most selective neurons fire on. ``--png-dir`` also
writes each figure as a PNG. Files are written atomically and never overwritten without
``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  rnnkit explain runs/sentiment-1 "not as good as the trailer promised" --out why.html
  rnnkit explain runs/tsclass-1 test:0 --png-dir figs/
  rnnkit explain runs/tsclass-1 test:2 --data new_series.ts
"""


def input_help() -> str:
    """ "INPUT by task:" from each task that can explain (its ``explain_help``); imports
    the tasks, so it runs only when the help is shown."""
    from rnnkit.tasks import get_task_class, tasks_with

    names = tasks_with("explain")
    width = max(map(len, names), default=0) + 3
    lines = [f"  {n:<{width}}{get_task_class(n).explain_help}" for n in names]
    return "INPUT by task:\n" + "\n".join(lines) + "\n"


class _Help(argparse.Action):
    """``-h``: the help, its epilog listing each task's INPUT (read from the tasks now)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kw: object) -> None:
        parser.epilog = input_help() + "\n" + EXAMPLES
        parser.print_help()
        parser.exit()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``explain`` and its options."""
    p = subparsers.add_parser(
        "explain",
        help="explain one input to a trained run as an HTML report",
        description="Explain one input to a trained run as one self-contained HTML report "
        "(attributions, completeness check, state and gate heatmaps, neuron firing).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,  # -h is _Help: the tasks are imported only when help is asked for
    )
    p.add_argument("-h", "--help", action=_Help, nargs=0, help="show this help and exit")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by rnnkit train")
    p.add_argument(
        "input",
        metavar="INPUT",
        help="what to explain: a text, or test:INDEX for time series (see below)",
    )
    p.add_argument(
        "--out",
        metavar="REPORT.html",
        default=None,
        help="where to write the report (default: RUN_DIR/explain.html)",
    )
    p.add_argument("--png-dir", metavar="DIR", default=None, help="also write each figure as PNG")
    p.add_argument(
        "--data",
        metavar="NAME|PATH",
        default=None,
        help="time-series runs: take test:INDEX from this data (same format as in training; "
        "the run's scaling is kept) instead of the run's own",
    )
    p.add_argument(
        "--steps",
        metavar="N",
        type=int,
        default=None,
        help="Integrated Gradients integration steps (default: chosen so that the "
        "completeness gap is within 1%%)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing report and PNG files"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Explain ``args.input`` for ``args.run_dir``; print where the report went."""
    from rnnkit.errors import RnnkitError
    from rnnkit.explain.explainer import explain_run
    from rnnkit.explain.explanation import save_pngs
    from rnnkit.explain.report import write_report

    if args.steps is not None and args.steps < 1:
        raise RnnkitError(f"--steps: expected a positive number of steps, got {args.steps}")
    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else run_dir / "explain.html"
    if out.is_dir():
        raise RnnkitError(f"--out {out} is a directory; expected a file name like report.html")
    from rnnkit.rundir import check_output, writing_outputs

    check_output(out, "--out")  # never a file of a run (config.yaml, tokenizer.json ...)
    if out.exists() and not args.overwrite:  # refuse before the (slower) work
        raise RnnkitError(f"report {out} already exists; pass --overwrite or choose another --out")
    pngs = Path(args.png_dir) / "figure.png" if args.png_dir else None
    with writing_outputs(out, pngs):  # into a run: while no training writes it
        ex = explain_run(run_dir, args.input, data=args.data, n_steps=args.steps)
        if ex.truncated:
            print(f"note: INPUT: {ex.truncated}; explained on that part", file=sys.stderr)
        if args.png_dir:
            paths = save_pngs(ex, args.png_dir, overwrite=args.overwrite)
            print(f"wrote {len(paths)} PNG file(s) to {args.png_dir}")
        write_report(ex, out, overwrite=args.overwrite)
    ig = ex.integrated_gradients
    print(f"prediction: {ex.prediction}")
    if ig is not None:
        print(
            f"integrated gradients: sum {ig.total:+.4f} vs f(x)-f(baseline) "
            f"{ig.output - ig.baseline_output:+.4f}, delta {ig.delta:+.2e} "
            f"({ig.n_steps} points)"
        )
    print(f"report: {out}")
    return 0
