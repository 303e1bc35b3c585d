"""``rnnkit translate RUN_DIR TEXT... | --file FILE``: the translation of each text by a
trained ``translate`` run, one line per text.

It is ``rnnkit predict`` for the runs whose task translates (the ``translate``
capability), with the decoding at hand: ``--beam-size`` (1 = greedy) and
``--length-penalty`` replace the run's ``data.beam_size`` / ``data.length_penalty`` for
this command only (the run directory is not changed). ``--json`` adds the beam score and
the attention weights (one row per output token and EOS, one column per source
sub-word)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rnnkit.tools.commands import predict

if TYPE_CHECKING:
    from rnnkit.api import Run


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``translate`` and its options."""
    p = subparsers.add_parser(
        "translate",
        help="translate texts with a trained translate run",
        description="Translate each TEXT (or each non-empty line of --file) with the best "
        "weights of a translate run directory; prints one translation per line.",
        epilog='example:\n  rnnkit translate runs/de-en "Alle Augen waren auf sie gerichtet."',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_input_arguments(
        p, run_help="a run directory of rnnkit train translate", what="text"
    )
    p.add_argument(
        "--beam-size",
        type=int,
        default=None,
        metavar="K",
        help="beam width (default: the run's data.beam_size; 1 = greedy)",
    )
    p.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        metavar="A",
        help="rank finished beams by log p / length ** A (default: the run's)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``rnnkit predict`` on a run with the ``translate`` capability, decoded as asked."""

    def configure(run_: Run) -> None:
        set_decoding = getattr(run_.task, "set_decoding", None)
        if set_decoding is not None:
            set_decoding(args.beam_size, args.length_penalty)

    return predict.run(
        args, capability="translate", command="rnnkit translate", configure=configure
    )
