"""Time-series quality benchmark: our default models against baselines and published anchors.

Trains each task with its default config (``rnnkit train forecast`` / ``rnnkit train
tsclass --data NAME``) and prints our test figure beside the simple baseline computed on
the same split and the published anchor:

    airline           test RMSE (12 steps ahead, and one step ahead vs the anchor)
    GunPoint, ItalyPowerDemand, ArrowHead, JapaneseVowels    test accuracy vs LSTM-FCN

Usage::

    OMP_NUM_THREADS=2 python3 benchmarks/timeseries_quality.py [--only airline,GunPoint]
        [--seed 0] [--out docs/benchmarks/timeseries.md]

Writes the table (with this command and the machine) to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

import rnnkit.api as api
from rnnkit.io import write_text

CLASSIFICATION = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "JapaneseVowels")


def _clock() -> tuple[float, float]:
    return time.time(), time.process_time()


def _since(t: tuple[float, float]) -> str:
    """``wall / CPU`` seconds since ``t`` (CPU time counts every thread of this process)."""
    return f"{time.time() - t[0]:.0f} / {time.process_time() - t[1]:.0f}"


def run_forecast(seed: int, root: Path) -> list[list[str]]:
    t0 = _clock()
    run = api.train("forecast", out=root / "airline", verbose=False, seed=seed)
    r = run.report
    wall = _since(t0)
    sn, nv = r["baselines"]["seasonal_naive"], r["baselines"]["naive"]
    anchor = r["anchor"]["rmse_h1"]
    return [
        ["airline", "RMSE, 1-12 steps", f"{r['test']['rmse']:.1f}",
         f"seasonal naive {sn['rmse']:.1f}, naive {nv['rmse']:.1f}", "-", wall],
        ["airline", "RMSE, 1 step", f"{r['test']['rmse_h1']:.1f}",
         f"seasonal naive {sn['rmse_h1']:.1f}, naive {nv['rmse_h1']:.1f}", f"{anchor}",
         "(same run)"],
        ["airline", "MASE / sMAPE", f"{r['test']['mase']:.3f} / {r['test']['smape']:.2f}%",
         f"seasonal naive {sn['mase']:.3f} / {sn['smape']:.2f}%", "-", "(same run)"],
    ]  # fmt: skip


def run_tsclass(name: str, seed: int, root: Path) -> list[str]:
    t0 = _clock()
    run = api.train("tsclass", out=root / name, verbose=False, seed=seed, data={"source": name})
    r = run.report
    wall = _since(t0)
    base = r["baselines"]
    parts = [f"1-NN {base['1nn_euclidean']['accuracy']:.3f}"] if "1nn_euclidean" in base else []
    parts.append(f"majority {base['majority']['accuracy']:.3f}")
    anchor = r["anchor"]["accuracy"] if r["anchor"] else "-"
    return [name, "accuracy", f"{r['test']['accuracy']:.3f}", ", ".join(parts), f"{anchor}",
            wall]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="", help="comma-separated subset (airline, GunPoint, ...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/benchmarks/timeseries.md")
    args = p.parse_args(argv)
    only = {s.strip().lower() for s in args.only.split(",") if s.strip()}
    wanted = lambda name: not only or name.lower() in only  # noqa: E731

    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if wanted("airline"):
            rows += run_forecast(args.seed, root)
            print(*rows[-3:], sep="\n", flush=True)
        for name in CLASSIFICATION:
            if wanted(name):
                rows.append(run_tsclass(name, args.seed, root))
                print(rows[-1], flush=True)

    header = ["data", "metric", "rnnkit (default config)", "baselines, same split",
              "anchor", "wall / CPU s"]  # fmt: skip
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    command = "OMP_NUM_THREADS=2 python3 benchmarks/timeseries_quality.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = "\n".join(
        [
            "# Time-series quality",
            "",
            f"Command: `{command.strip()}`  ",
            f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch "
            f"{torch.__version__}, seed {args.seed}, load average at the end "
            f"{os.getloadavg()[0]:.1f} (a shared machine: wall time grows with the load, CPU "
            "time much less). Each row is one training run of the task's default config.",
            "",
            *table,
            "",
            "Anchors: airline, LSTM(4) with look-back 1 on a 67/33 split, one-step-ahead test "
            "RMSE 47.5 (Brownlee's widely followed tutorial); classification, LSTM-FCN "
            "(Karim et al. 2017) test accuracy; JapaneseVowels from MLSTM-FCN (Karim et al. "
            "2019). Baselines are computed on the very same test windows / series.",
            "",
        ]
    )
    print("\n".join(table))
    if args.out:
        write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
