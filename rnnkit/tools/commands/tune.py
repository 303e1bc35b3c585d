"""``rnnkit tune TASK``: search a task's hyper-parameters (Optuna), one run per trial.

Every trial is a run directory of its own under the study directory; the study resumes
when the command is given the same ``--out`` again; the best config is written as YAML
for ``rnnkit train --config``; the test split is read once, for the best trial, at the
end (see :mod:`rnnkit.tune.study`).
"""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  rnnkit tune sentiment --trials 30 --minutes 60 --out runs/rt-tune
  rnnkit tune tsclass --data path/to/MyData --trials 20 --set train.epochs=100
  rnnkit tune sentiment --out runs/rt-tune --trials 40     # continue: 10 more trials
  rnnkit train sentiment --config runs/rt-tune/best.yaml   # train the best config

--set and --config keys are fixed for every trial and left out of the search. The study
directory holds study.json, journal.log (Optuna's storage), trials/NNNN/ (run
directories), best.yaml, summary.md, importance.png and report.json.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tune`` and its options."""
    from rnnkit.tasks import TASKS

    p = subparsers.add_parser(
        "tune",
        help="search a task's hyper-parameters (Optuna TPE + median pruning)",
        description="Search the hyper-parameters of a task over the search space it "
        "declares: a TPE sampler, a median pruner fed by the monitored validation metric "
        "each epoch, one run directory per trial, the best config as YAML, the test split "
        "read once for the best trial.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("task", metavar="TASK", help=f"the task: {', '.join(sorted(TASKS))}")
    p.add_argument("--data", metavar="NAME|PATH", help="the data (as for rnnkit train)")
    p.add_argument("--config", metavar="FILE.yaml", help="a YAML file of fixed config keys")
    p.add_argument(
        "--trials", metavar="N", type=int, default=20,
        help="complete or pruned trials the study should hold (default 20)",
    )  # fmt: skip
    p.add_argument(
        "--minutes", metavar="M", type=float, default=0.0,
        help="wall-clock budget of this call for the trials (default 0 = none)",
    )  # fmt: skip
    p.add_argument(
        "--out", metavar="STUDY_DIR", help="the study directory (default: runs/TASK-tune-TIME); "
        "an existing study is continued",
    )  # fmt: skip
    p.add_argument("--epochs", metavar="N", type=int, help="sets train.epochs for every trial")
    p.add_argument("--device", metavar="cpu|cuda", help="sets device (default cpu)")
    p.add_argument(
        "--seed", metavar="N", type=int, help="sets seed (the trials' and the sampler's)"
    )
    p.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", nargs="+", action="extend", default=[],
        help="fixed config keys for every trial, e.g. --set data.max_length=400",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run (or continue) the study; print a line per trial, the summary and the best."""
    from rnnkit.tune.study import options_from, tune

    options = options_from(
        args.task, data=args.data, config=args.config, overrides=args.overrides,
        epochs=args.epochs, seed=args.seed, device=args.device,
    )  # fmt: skip
    tune(options, args.out, trials=args.trials, minutes=args.minutes, verbose=not args.quiet)
    return 0
