"""Quality on the long-range memory tasks: adding, copy memory, sequential MNIST.

Each case is a real ``rnnkit train`` run (through :func:`rnnkit.api.train`) with a step
and wall-time budget; the table says whether the task was solved within that budget and
prints the published anchor beside our figure. Results go to
docs/benchmarks/memory.results.md (summarised in docs/benchmarks/memory.md).

    OMP_NUM_THREADS=1 python3 benchmarks/memory_tasks.py            # all cases (~20 min CPU)
    OMP_NUM_THREADS=1 python3 benchmarks/memory_tasks.py --only adding --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

import rnnkit
from rnnkit.data.synthetic import copy_baseline_loss
from rnnkit.runs import read_metrics

ROOT = Path(__file__).resolve().parents[1]


def adding_case(
    cell: str, length: int, epochs: int, minutes: float, lr: float = 1e-2, hidden: int = 64
) -> dict:
    return {
        "task": "adding",
        "label": f"adding T={length}, {cell} {hidden}, lr {lr:g}",
        "overrides": {
            "model.cell": cell,
            "model.hidden_size": hidden,
            "model.num_layers": 1,
            "data.length": length,
            "data.train_size": 5000,  # 100 steps of 50 per epoch
            "data.val_size": 500,
            "data.test_size": 1000,
            "train.batch_size": 50,
            "train.lr": lr,
            "train.epochs": epochs,
            "train.early_stopping": 0,
            "train.max_minutes": minutes,
        },
        "metric": "mse",
        "solved": lambda m: m < 0.01,
        "anchor": "predict 1: 0.167; LSTM solves T=100-500, 0.164 at T=600 (TCN paper)",
    }


def copy_case(length: int, epochs: int, minutes: float) -> dict:
    return {
        "task": "copy",
        "label": f"copy T={length}, lstm",
        "overrides": {
            "model.cell": "lstm",
            "model.hidden_size": 128,
            "model.num_layers": 1,
            "data.length": length,
            "data.train_size": 5000,
            "data.val_size": 500,
            "data.test_size": 1000,
            "train.batch_size": 50,
            "train.lr": 2e-3,
            "train.epochs": epochs,
            "train.early_stopping": 0,
            "train.max_minutes": minutes,
        },
        "metric": "loss_per_step",
        "solved": lambda m: m < 0.1 * copy_baseline_loss(length),
        "anchor": f"guessing {copy_baseline_loss(length):.4f} per step; LSTM ~guessing at "
        "T=1000 (TCN paper)",
    }


def smnist_case(mode: str, epochs: int, minutes: float) -> dict:
    return {
        "task": "smnist",
        "label": f"sequential MNIST ({mode}), lstm, 5k digits",
        "overrides": {
            "model.cell": "lstm",
            "model.hidden_size": 128,
            "model.num_layers": 1,
            "data.mode": mode,
            "train.batch_size": 64,
            "train.lr": 2e-3,
            "train.epochs": epochs,
            "train.max_minutes": minutes,
        },
        "metric": "accuracy",
        "solved": lambda m: m > 0.9,
        "anchor": "full MNIST pixel-wise: LSTM 98.2%, IRNN 95% (60k training digits)",
    }


def run_case(case: dict, out: Path) -> dict:
    start = time.perf_counter()
    run = rnnkit.api.train(case["task"], out=out, verbose=False, **case["overrides"])
    seconds = time.perf_counter() - start
    rows = read_metrics(out)
    metric = case["metric"]
    first_solved = next(
        (r["epoch"] for r in rows if case["solved"](r.get(f"val.{metric}", float("nan")))), None
    )
    steps_to_solve = (
        sum(r.get("steps", 0) for r in rows if r["epoch"] <= first_solved)
        if first_solved is not None
        else None
    )
    report = run.report
    return {
        "label": case["label"],
        "metric": metric,
        "test": report["test"][metric],
        "baseline": next(iter(report["baselines"].values())).get(metric),
        "solved": case["solved"](report["test"][metric]),
        "first_solved_epoch": first_solved,
        "steps_to_solve": steps_to_solve,
        "epochs": report["epochs"],
        "stopped": report["stopped"],
        "seconds": seconds,
        "anchor": case["anchor"],
    }


def table(results: list[dict]) -> str:
    lines = [
        "| case | metric | ours (test) | trivial baseline | solved | reached at | epochs run "
        "| time | anchor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        reached = "-"
        if r["first_solved_epoch"] is not None:
            reached = f"epoch {r['first_solved_epoch']} ({r['steps_to_solve']} steps)"
        base = "-" if r["baseline"] is None else f"{r['baseline']:.4f}"
        lines.append(
            f"| {r['label']} | {r['metric']} | {r['test']:.4f} | {base} | "
            f"{'yes' if r['solved'] else 'no'} | {reached} | {r['epochs']} ({r['stopped']}) | "
            f"{r['seconds']:.0f} s | {r['anchor']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["adding", "copy", "smnist"], action="append")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (a smoke run)")
    parser.add_argument("--adding-lengths", default="100,200,400", help="LSTM adding lengths")
    parser.add_argument("--adding-lr", type=float, default=1e-2, help="Adam lr (adding)")
    parser.add_argument("--adding-hidden", type=int, default=64, help="hidden units (adding)")
    parser.add_argument("--no-rnn", action="store_true", help="skip the Elman RNN adding case")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="scale the time budgets")
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="scale the epoch caps")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks/memory.results.md"))
    args = parser.parse_args()
    q, m, e = args.quick, args.budget_scale, args.epochs_scale
    lengths = [int(t) for t in args.adding_lengths.split(",") if t]
    budget = {100: 4, 200: 5, 400: 5}
    adding = [
        adding_case(
            "lstm",
            t,
            2 if q else round(25 * e),
            0.5 if q else budget.get(t, 5) * m,
            lr=args.adding_lr,
            hidden=args.adding_hidden,
        )
        for t in lengths
    ]
    if not args.no_rnn:
        adding.append(adding_case("rnn", 100, 1 if q else round(25 * e), 0.5 if q else 3 * m))
    cases = {
        "adding": adding,
        "copy": [copy_case(100, 1 if q else round(40 * e), 0.5 if q else 5 * m)],
        "smnist": [smnist_case("row", 1 if q else round(10 * e), 0.5 if q else 4 * m)],
    }
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for group in args.only or list(cases):
            for i, case in enumerate(cases[group]):
                r = run_case(case, Path(tmp) / f"{group}{i}")
                results.append(r)
                print(json.dumps({k: v for k, v in r.items()}), flush=True)
    text = table(results)
    print(text)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/memory_tasks.py " + " ".join(sys.argv[1:])
    header = (
        f"Command: `{command.strip()}`  \n"
        f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} thread(s), torch "
        f"{torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
    )
    Path(args.out).write_text(header + "\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
