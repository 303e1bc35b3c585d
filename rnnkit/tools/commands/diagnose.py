"""``rnnkit diagnose``: the vanishing gradient, seen.

Trains each cell briefly on the adding problem and plots ``|| dL/dh_t ||`` against the
time step ``t`` on a log scale, at initialisation and after training, one picture for all
cells. A gradient that reaches the first steps only as a vanishing fraction of its size at
the last step is what keeps the Elman RNN from learning long-range dependencies.
"""

from __future__ import annotations

import argparse

from rnnkit.errors import RnnkitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diagnose",
        help="plot the gradient flow through time of several cells",
        description="Compare how far the gradient reaches back in time for several cells on "
        "the adding problem, at initialisation and after some training.",
    )
    p.add_argument("--length", type=int, default=50, help="sequence length T (default 50)")
    p.add_argument(
        "--cells", default="rnn,lstm,gru", help="comma-separated cells (default rnn,lstm,gru)"
    )
    p.add_argument("--out", default="gradflow.png", help="the PNG to write (default gradflow.png)")
    p.add_argument("--hidden-size", type=int, default=64, help="hidden units (default 64)")
    p.add_argument("--steps", type=int, default=1000, help="training steps per cell (default 1000)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per step (default 32)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed of data and init (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.diagnostics.gradflow import compare_cells, decay_ratio, plot_curves
    from rnnkit.models.stack import RECURRENT

    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if not cells:
        raise RnnkitError("--cells is empty; expected e.g. rnn,lstm,gru")
    unknown = [c for c in cells if c not in RECURRENT]
    if unknown:
        raise RnnkitError(
            f"--cells: unknown cell(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(RECURRENT))}"
        )
    for name in ("length", "hidden_size", "batch_size"):
        if getattr(args, name) < (2 if name == "length" else 1):
            flag = "--" + name.replace("_", "-")
            raise RnnkitError(f"{flag} must be at least {2 if name == 'length' else 1}")
    if args.steps < 0:
        raise RnnkitError(f"--steps must be >= 0, got {args.steps}")
    if not str(args.out).lower().endswith(".png"):
        raise RnnkitError(f"--out must name a .png file, got {args.out!r}")
    results = compare_cells(
        cells,
        length=args.length,
        hidden_size=args.hidden_size,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    print(f"adding problem, T={args.length}, hidden {args.hidden_size}, {args.steps} Adam steps")
    print(f"{'cell':<8} {'|dL/dh_1|/|dL/dh_T| init':>26} {'after training':>16} {'test MSE':>10}")
    for cell, r in results.items():
        init, trained = decay_ratio(r["init"]), decay_ratio(r["trained"])
        print(f"{cell:<8} {init:>26.2e} {trained:>16.2e} {r['mse']:>10.4f}")
    print("(predicting 1 scores MSE 0.167; solved: MSE < 0.01)")
    plot_curves(
        {},
        args.out,
        title=f"gradient flow through time, adding problem T={args.length}",
        panels={
            "fresh initialisation": {c: r["init"] for c, r in results.items()},
            f"after {args.steps} training steps": {
                f"{c} (MSE {r['mse']:.3f})": r["trained"] for c, r in results.items()
            },
        },
    )
    print(f"wrote {args.out}")
    return 0
