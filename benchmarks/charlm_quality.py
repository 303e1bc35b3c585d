"""Character-level language model quality on the built-in Hamlet text.

A real ``rnnkit train charlm`` run (through :func:`rnnkit.api.train`) within a wall-time
budget, then a sample from ``rnnkit generate``; prints validation and test bits per
character beside the unigram/bigram baselines and the published anchors, and writes the
result to docs/benchmarks/charlm.results.md.

    OMP_NUM_THREADS=1 python3 benchmarks/charlm_quality.py              # ~12 min CPU
    OMP_NUM_THREADS=1 python3 benchmarks/charlm_quality.py --minutes 1   # a smoke run
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

import rnnkit
from rnnkit.tools.commands.generate import generate_text

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="training time budget")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks/charlm.results.md"))
    args = parser.parse_args()
    overrides = {
        "model.hidden_size": args.hidden_size,
        "model.num_layers": args.layers,
        "model.dropout": 0.2,
        "data.bptt": 100,
        "train.batch_size": 16,
        "train.lr": 2e-3,
        "train.epochs": args.epochs,
        "train.early_stopping": 3,
        "train.max_minutes": args.minutes,
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hamlet"
        start = time.perf_counter()
        run = rnnkit.api.train("charlm", out=out, verbose=True, **overrides)
        seconds = time.perf_counter() - start
        sample = generate_text(out, "HAMLET\n", 400, temperature=0.7, seed=0)
    report = run.report
    val, test = report["val"]["bpc"], report["test"]["bpc"]
    anchor = report["anchor"]
    rows = [
        "| model | val bpc | test bpc | test nats/char |",
        "|---|---|---|---|",
        f"| rnnkit LSTM {args.layers}x{args.hidden_size}, bptt 100, {report['epochs']} epochs "
        f"({report['stopped']}, {seconds / 60:.1f} min) | {val:.3f} | {test:.3f} | "
        f"{test * math.log(2):.3f} |",
    ]
    for name, b in report["baselines"].items():
        rows.append(f"| baseline: {name} (fitted on the training text) | - | {b['bpc']:.3f} | "
                    f"{b['loss']:.3f} |")  # fmt: skip
    rows.append(
        f"| anchor: char-rnn, tiny-shakespeare (1 MB), validation | "
        f"{anchor['tiny_shakespeare_val_bpc']:.2f} | - | "
        f"{anchor['tiny_shakespeare_val_nats_per_char']:.2f} |"
    )
    rows.append(f"| anchor: LSTM on PTB-char | - | {anchor['ptb_char_lstm_bpc']:.2f} | - |")
    text = "\n".join(rows)
    command = "OMP_NUM_THREADS=1 python3 benchmarks/charlm_quality.py " + " ".join(sys.argv[1:])
    header = (
        f"Command: `{command.strip()}`  \n"
        f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} thread(s), torch "
        f"{torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"throughput {report['throughput']['timesteps_per_s']:.0f} characters/s in training\n"
    )
    body = f"{header}\n{text}\n\nSample (`--prime 'HAMLET\\n' --temperature 0.7 --seed 0`):\n\n"
    body += "```\n" + sample + "\n```\n"
    print(body)
    Path(args.out).write_text(body, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
