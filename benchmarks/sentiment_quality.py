"""Sentiment quality benchmark: ``rnnkit train sentiment`` (the default config) against
TF-IDF + logistic regression on the same split, and the published anchor.

For each seed (the seed also draws the train/val/test split), trains the README's main
job exactly as ``rnnkit train sentiment --seed S`` does, and prints our test accuracy,
the baseline's on the same test split, the anchor, the epochs run and the wall time of
the whole command (data, tokenizer, training, test and baseline).

Usage::

    OMP_NUM_THREADS=2 python3 benchmarks/sentiment_quality.py [--seeds 0,1,2]
        [--out docs/benchmarks/sentiment.md] [--set key=value ...]

Writes the table (with this command, the machine and its load) to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import rnnkit.api as api
from rnnkit.config import parse_overrides
from rnnkit.io import write_text


def run_seed(seed: int, root: Path, overrides: dict) -> dict:
    """Train the default sentiment model with ``seed``; the figures of its report."""
    t0 = time.time()
    run = api.train("sentiment", out=root / f"seed{seed}", verbose=False, seed=seed, **overrides)
    wall = time.time() - t0
    r = run.report or {}
    return {
        "seed": seed,
        "accuracy": r["test"]["accuracy"],
        "f1": r["test"]["f1"],
        "roc_auc": r["test"]["roc_auc"],
        "baseline": r["baselines"]["tfidf_logreg"]["accuracy"],
        "anchor": r["anchor"]["accuracy"],
        "epochs": r["epochs"],
        "best_epoch": r["best_epoch"],
        "stopped": r.get("stopped", ""),
        "wall_s": wall,
        "backend": r.get("backend"),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| seed | rnnkit LSTM acc | TF-IDF + LR acc (same split) | anchor | LSTM F1 | LSTM AUC "
        "| epochs (best), stop | wall time |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['seed']} | **{r['accuracy']:.4f}** | {r['baseline']:.4f} | {r['anchor']:.2f} "
        f"| {r['f1']:.4f} | {r['roc_auc']:.4f} | {r['epochs']} ({r['best_epoch']}), "
        f"{r['stopped']} "
        f"| {r['wall_s']:.0f} s |"
        for r in rows
    ]
    if len(rows) > 1:
        acc = [r["accuracy"] for r in rows]
        base = [r["baseline"] for r in rows]
        wall = [r["wall_s"] for r in rows]
        lines.append(
            f"| mean | **{statistics.mean(acc):.4f}** | {statistics.mean(base):.4f} | "
            f"{rows[0]['anchor']:.2f} | | | | {statistics.mean(wall):.0f} s |"
        )
    return head + "\n".join(lines) + "\n"


def write_doc(path: str, rows: list[dict], seeds: list[int], load_before: float) -> None:
    """The markdown report (rewritten after every seed, so a cut-short run still has one)."""
    done = len(rows)
    pending = "" if done == len(seeds) else f" ({len(seeds) - done} seed(s) not yet finished)"
    command = "OMP_NUM_THREADS=2 python3 " + " ".join(sys.argv)
    doc = (
        "# Sentiment: the README's main job against its baseline\n\n"
        "`rnnkit train sentiment` with its default configuration (Embedding(10000, 128) with "
        "16 dims started at naive-Bayes log-count ratios -> 2-layer LSTM(128) -> max pooling "
        "-> Dense(1); built-in Rotten Tomatoes snippets, stratified 80/10/10 split drawn by "
        "the seed) against TF-IDF (word 1-2-grams, sub-linear tf) + logistic regression with "
        "C picked on the same validation split, scored on the same test split. The anchor is "
        "BENCHMARKS.md's TF-IDF + LR figure (80/20 split). Wall time is the whole command: "
        "data, tokenizer, training with early stopping, test and baseline.\n\n"
        f"{table(rows)}{pending}\n"
        f"Command: `{command}`\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, backend {rows[0]['backend']}; load average "
        f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after (a shared machine: wall "
        "times are pessimistic).\n"
    )
    write_text(path, doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--out", default="docs/benchmarks/sentiment.md", help="markdown file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides (default: none, the default config)",
    )
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    overrides.setdefault("train", {}).setdefault("progress", "false")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    load_before = os.getloadavg()[0]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            rows.append(run_seed(seed, Path(tmp), overrides))
            r = rows[-1]
            print(
                f"seed {seed}: LSTM {r['accuracy']:.4f}  TF-IDF+LR {r['baseline']:.4f}  "
                f"anchor {r['anchor']:.2f}  epochs {r['epochs']} (best {r['best_epoch']})  "
                f"{r['wall_s']:.0f} s",
                flush=True,
            )
            write_doc(args.out, rows, seeds, load_before)
    print(table(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
