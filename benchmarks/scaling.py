"""The main job's cost by precision and by process count: fp32 against bf16, 1 against 2 processes.

Each row is one real ``rnnkit train sentiment`` on the built-in data (the default model:
2-layer LSTM, hidden 128, embedding 128; seed 0), run as its own process, one after
another, so nothing else shares the machine with it:

* ``fp32`` and ``bf16`` (``train.precision``), one process with ``--threads`` threads,
  ``--epochs`` epochs: seconds per epoch (median over the epochs), sequences/s and the
  test accuracy of the best epoch;
* ``1 process x 1 thread`` and ``2 processes x 1 thread`` (``--nproc 2``: DDP over gloo;
  the global batch is the same, each rank gets half): seconds per epoch and sequences/s
  over ``--scale-epochs`` epochs, as a ratio.

    python3 benchmarks/scaling.py                           # ~6 minutes on 2 cores
    python3 benchmarks/scaling.py --out docs/benchmarks/scaling.md

On a machine with C cores the 2-process row can at best halve the time of the
1-thread row; against the 2-thread fp32 row it competes for the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _timing import machine

from rnnkit.io import write_text


def train(
    out: Path,
    *,
    epochs: int,
    threads: int,
    nproc: int = 1,
    precision: str = "fp32",
    extra: tuple[str, ...] = (),
) -> tuple[float, float, float, float]:
    """One ``rnnkit train sentiment`` run; returns (seconds/epoch, seq/s, test accuracy, wall s)."""
    cmd = [
        sys.executable, "-m", "rnnkit", "train", "sentiment", "--out", str(out),
        "--epochs", str(epochs), "--seed", "0",
        "--set", f"train.precision={precision}", "train.tensorboard=false", *extra,
    ]  # fmt: skip
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    report = json.loads((out / "report.json").read_text())
    seconds = statistics.median(r["seconds"] for r in rows)
    speed = statistics.median(r["sequences_per_s"] for r in rows)
    return seconds, speed, report["test"]["accuracy"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the precision rows")
    parser.add_argument("--scale-epochs", type=int, default=1, help="epochs of the DDP rows")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown here")
    parser.add_argument(
        "--rows", nargs="+", type=int, default=[1, 2, 3, 4], help="which rows (1-4) to run"
    )
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="more config for every run"
    )
    args = parser.parse_args()
    head = machine(torch.device("cpu"))
    print(head, flush=True)
    lines = [
        "# The main job by precision and by process count",
        "",
        f"Machine: {head}",
        f"Command: `python3 benchmarks/scaling.py --epochs {args.epochs} "
        f"--scale-epochs {args.scale_epochs} --threads {args.threads}"
        + (" --set " + " ".join(args.set) if args.set else "")
        + "`",
        "",
        "| run | processes x threads | epochs | s / epoch | sequences/s | test accuracy | "
        "wall s | load average after |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    runs = [
        ("fp32", 1, args.threads, "fp32", args.epochs),
        ("bf16", 1, args.threads, "bf16", args.epochs),
        ("fp32, 1 thread", 1, 1, "fp32", args.scale_epochs),
        ("fp32, DDP", 2, 1, "fp32", args.scale_epochs),
    ]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, nproc, threads, precision, epochs) in enumerate(runs):
            if i + 1 not in args.rows:
                continue
            out = Path(tmp) / f"run{i}"
            res = train(
                out, epochs=epochs, threads=threads, nproc=nproc, precision=precision,
                extra=tuple(args.set),
            )  # fmt: skip
            results[name] = res
            sec, speed, acc, wall = res
            lines.append(
                f"| {name} | {nproc} x {threads} | {epochs} | {sec:.1f} | {speed:.0f} | "
                f"{acc:.4f} | {wall:.0f} | {os.getloadavg()[0]:.2f} |"
            )
            print(lines[-1], flush=True)
    lines.append("")
    fp32, bf16 = results.get("fp32"), results.get("bf16")
    one, two = results.get("fp32, 1 thread"), results.get("fp32, DDP")
    if fp32 and bf16:
        lines.append(
            f"bf16 / fp32 time per epoch: {bf16[0] / fp32[0]:.2f}; test accuracy change "
            f"{(bf16[2] - fp32[2]) * 100:+.2f} points."
        )
    if one and two:
        lines.append(
            f"2 processes / 1 process (1 thread each) time per epoch: {two[0] / one[0]:.2f} "
            f"(speed-up {one[0] / two[0]:.2f}x)."
        )
    if fp32 and two:
        lines.append(f"2 x 1 thread / 1 process x {args.threads} threads: {two[0] / fp32[0]:.2f}.")
    text = "\n".join(lines) + "\n"
    if args.out:
        write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
