"""Speech recognition quality benchmark: ``rnnkit train speech`` (its default config)
in domain, on espeak-ng voices it never heard, and out of domain, on the recorded
speaker of the asterisk sound packages, beside the averaged-MFCC nearest-neighbour
baseline scored the same way.

The default run is trained exactly as ``rnnkit train speech --seed S`` does (``--set``
adds overrides), or, with ``--from-run RUN_DIR``, the report of a run trained beforehand
by that command is read instead. Printed: character and word error rates (beam search
and greedy decoding), the baseline's, the training wall time (on a shared, loaded
machine: not a speed figure), and the transcripts of the asterisk speaker's digits.

Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/speech_quality.py [--seed 0] [--set key=value ...]
        [--from-run RUN_DIR] [--out docs/benchmarks/speech.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

import rnnkit.api as api
from rnnkit.config import parse_overrides
from rnnkit.data.speech import DIGITS
from rnnkit.io import write_text

DIGIT_CLIPS = Path("/usr/share/asterisk/sounds/en/digits")


def train_or_read(seed: int, root: Path, overrides: dict, run_dir: str) -> dict:
    """The report of a default run (trained now, or read from ``run_dir``) and its wall time."""
    if run_dir:
        report = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
        return {"report": report, "run_dir": Path(run_dir), "wall_s": report["wall_time_s"]}
    t0 = time.time()
    run = api.train("speech", out=root / "speech", verbose=False, seed=seed, **overrides)
    return {"report": run.report or {}, "run_dir": root / "speech", "wall_s": time.time() - t0}


def table(report: dict) -> str:
    """In-domain and asterisk error rates of the model and the baseline, side by side."""
    t, b = report["test"], report["baselines"]["mfcc_nearest"]
    beam = report["config"]["data"]["beam_size"]
    rows = [
        (f"rnnkit default, CTC beam search (width {beam})", t["cer"], t["wer"],
         t.get("asterisk_cer"), t.get("asterisk_wer")),
        ("rnnkit default, CTC greedy", t.get("cer_greedy", t["cer"]),
         t.get("wer_greedy", t["wer"]), None, None),
        ("baseline: nearest training utterance by averaged MFCCs", b["cer"], b["wer"],
         b.get("asterisk_cer"), b.get("asterisk_wer")),
    ]  # fmt: skip

    def pct(v: float | None) -> str:
        return "" if v is None else f"{v:.1%}"

    lines = [
        "| system | CER, unseen espeak voices | WER, unseen espeak voices | CER, asterisk "
        "recorded speaker | WER, asterisk recorded speaker |",
        "|---|---|---|---|---|",
        *(f"| {name} | {pct(c)} | {pct(w)} | {pct(ac)} | {pct(aw)} |"
          for name, c, w, ac, aw in rows),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def digit_transcripts(run_dir: Path) -> str:
    """What the model hears in the asterisk speaker's single digits."""
    names = [*(str(i) for i in range(10)), "oh"]  # the clips of DIGITS
    clips = [str(DIGIT_CLIPS / f"{n}.wav") for n in names]
    out = api.load(run_dir).predict(clips)
    cells = [f"{w} -> `{o['transcript']}`" for w, o in zip(DIGITS, out)]
    return "Asterisk digits, said -> transcribed: " + "; ".join(cells) + ".\n"


def model_line(report: dict) -> str:
    m, d, t = report["config"]["model"], report["config"]["data"], report["config"]["train"]
    bi = "bidirectional " if m["bidirectional"] else ""
    return (
        f"{bi}{m['cell'].upper()} {m['num_layers']}x{m['hidden_size']} over {d['n_mels']} "
        f"log-mel bands, convolutional front-end subsampling x{m['subsample']} "
        f"({m['conv_channels']} channels), SpecAugment masks {d.get('spec_augment', 0)}; "
        f"{t['epochs']} epochs max, batch {t['batch_size']}, {t['optimizer']} lr {t['lr']}, "
        f"early stopping {t['early_stopping']}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--from-run", default="", metavar="RUN_DIR")
    p.add_argument("--out", default="docs/benchmarks/speech.md")
    p.add_argument("--note", default="", help="a paragraph written under the tables")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="rnnkit-speech-bench-") as tmp:
        r = train_or_read(args.seed, Path(tmp), parse_overrides(args.set), args.from_run)
        rep = r["report"]
        digits = digit_transcripts(r["run_dir"])
    argv_shown = " ".join('"..."' if " " in a else a for a in sys.argv[1:])
    cpu = platform.processor() or platform.machine()
    before = " (the run was trained before it)" if args.from_run else ""
    doc = "\n".join(
        [
            "# Speech: spoken digit strings, unseen synthetic voices and a recorded speaker\n",
            f"Data: {rep['data']}.\n",
            f"Model: {model_line(rep)}. {rep['epochs']} epoch(s) run, best "
            f"{rep['best_epoch']}, stopped by {rep.get('stopped') or '?'}; wall time "
            f"{r['wall_s']:.0f} s on a shared, loaded machine (generating or reading the "
            f"cached audio, features, training, test decoding, baselines; load average "
            f"{load:.1f} when this script started{before} on {os.cpu_count()} cores, {cpu}, "
            f"torch {torch.__version__}, "
            f"{torch.get_num_threads()} thread(s)); recurrent backend {rep.get('backend')}.\n",
            table(rep),
            digits,
            *([f"## What this says\n\n{args.note}\n"] if args.note else []),
            f"Command: `OMP_NUM_THREADS=1 python3 benchmarks/speech_quality.py {argv_shown}`\n",
        ]
    )
    write_text(args.out, doc)
    print(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
