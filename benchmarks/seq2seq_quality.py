"""Sequence-to-sequence quality benchmark: ``rnnkit train translate`` and ``rnnkit train
g2p`` (their default configs) against their baselines on the same split, and the
published anchors beside them.

translate: corpus BLEU and chrF (sacrebleu, signatures printed) of the default
encoder-decoder on the built-in Ding German->English sentences (split by source
sentence), against ``copy_source`` and the IBM Model 1 ``word_by_word`` dictionary;
a few held-out sentences with their reference and output. g2p: word and phoneme error
rates on held-out CMUdict words against ``nearest_spelling``, with the CMUdict anchors
(Rao et al. 2015; Yao & Zweig 2015).

Each task is trained exactly as ``rnnkit train TASK --seed S`` does (``--set`` adds
overrides, e.g. ``train.max_minutes=65`` to bound a run on a slow machine), or, with
``--from-run TASK=RUN_DIR``, the report of a run trained beforehand by that command is
read instead (the run's own config is printed, so the table says what was trained).

Usage::

    OMP_NUM_THREADS=1 python3 benchmarks/seq2seq_quality.py [--tasks translate,g2p]
        [--seed 0] [--set key=value ...] [--from-run translate=runs/de-en ...]
        [--out docs/benchmarks/seq2seq.md]

Writes the tables (with the commands, the machine and its load) to ``--out``.
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
from typing import Any

import torch

import rnnkit.api as api
from rnnkit.config import parse_overrides
from rnnkit.io import write_text

TASKS = ("translate", "g2p")
SAMPLES = 6  # held-out translations shown under the table


def train_or_read(task: str, seed: int, root: Path, overrides: dict, run_dir: str) -> dict:
    """The report of a default run of ``task`` (trained now, or read from ``run_dir``), with
    the benchmark's own wall time when it trained."""
    if run_dir:
        report = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
        return {"report": report, "run_dir": Path(run_dir), "wall_s": report["wall_time_s"]}
    t0 = time.time()
    run = api.train(task, out=root / task, verbose=False, seed=seed, **overrides)
    return {"report": run.report or {}, "run_dir": root / task, "wall_s": time.time() - t0}


def model_line(report: dict) -> str:
    """The trained model in words, from the run's resolved config."""
    m, d, t = report["config"]["model"], report["config"]["data"], report["config"]["train"]
    bi = "bidirectional " if m["bidirectional"] else ""
    decoder = d["decoder_cell"] or (m["cell"] if m["cell"] in ("lstm", "gru") else "lstm")
    return (
        f"{bi}{m['cell'].upper()} encoder {m['num_layers']}x{m['hidden_size']}, "
        f"{decoder.upper()} decoder, {d['attention']} attention, embeddings "
        f"{m['embedding_dim']}, dropout {m['dropout']}; label smoothing "
        f"{d['label_smoothing']}, teacher forcing {d['teacher_forcing']} -> "
        f"{d['teacher_forcing_final']}; beam {d['beam_size']}, length penalty "
        f"{d['length_penalty']}; {t['epochs']} epochs max, batch {t['batch_size']}, "
        f"{t['optimizer']} lr {t['lr']}, early stopping {t['early_stopping']}"
        + (f", train.max_minutes {t['max_minutes']}" if t.get("max_minutes") else "")
    )


def run_line(r: dict) -> str:
    """Epochs, stop reason, wall time and backend of a run's report."""
    rep = r["report"]
    return (
        f"{rep['epochs']} epoch(s) run, best {rep['best_epoch']}, stopped by "
        f"{rep.get('stopped') or '?'}; wall time {r['wall_s']:.0f} s on a shared, loaded "
        f"machine (data, vocabularies, training, test decoding, baselines); encoder backend "
        f"{rep.get('backend')}"
    )


def translate_table(r: dict) -> str:
    rep = r["report"]
    test, base, anchor = rep["test"], rep["baselines"], rep["anchor"]
    rows = [
        ("rnnkit default (beam search)", test),
        ("copy the source", base["copy_source"]),
        ("word by word (IBM Model 1 dictionary of the training pairs)", base["word_by_word"]),
    ]
    lines = [
        "| system (same test split) | BLEU | chrF |",
        "|---|---|---|",
        *(f"| {name} | {s['bleu']:.2f} | {s['chrf']:.2f} |" for name, s in rows),
        f"| anchor, other data: RNNsearch-50 WMT'14 En->Fr (Bahdanau et al. 2015) | "
        f"{anchor['bleu_rnnsearch_en_fr']:.2f} | |",
        f"| anchor, other data: local attention WMT'14 En->De (Luong et al. 2015) | "
        f"{anchor['bleu_luong_en_de']:.2f} ({anchor['bleu_luong_en_de_ensemble']:.1f} "
        "ensemble) | |",
    ]
    return (
        "\n".join(lines) + f"\n\nBLEU signature `{anchor['bleu_signature']}`; chrF signature "
        f"`{anchor['chrf_signature']}`.\n"
    )


def g2p_table(r: dict) -> str:
    rep = r["report"]
    test, base, anchor = rep["test"], rep["baselines"]["nearest_spelling"], rep["anchor"]
    lines = [
        "| system | WER | PER |",
        "|---|---|---|",
        f"| rnnkit default (beam search), our split | {test['wer']:.2%} | {test['per']:.2%} |",
        f"| nearest spelling (same split) | {base['wer']:.2%} | {base['per']:.2%} |",
        f"| anchor: DBLSTM-CTC (Rao et al. 2015), standard split | "
        f"{anchor['wer_dblstm_ctc']:.1%} | |",
        f"| anchor: DBLSTM-CTC + joint n-gram (Rao et al. 2015) | "
        f"{anchor['wer_dblstm_ctc_plus_ngram']:.1%} | |",
        f"| anchor: alignment-based bi-LSTM (Yao & Zweig 2015) | "
        f"{anchor['wer_bilstm_aligned']:.1%} | |",
    ]
    return "\n".join(lines) + "\n"


def samples(run_dir: Path, n: int = SAMPLES) -> str:
    """The first ``n`` held-out test sentences: source, reference(s), rnnkit's output."""
    run = api.load(run_dir)
    test = run.task._examples("test")[:n]  # type: ignore[attr-defined]
    outputs = run.predict([e.source for e in test])
    rows = ["| source (test split) | reference | rnnkit |", "|---|---|---|"]
    for e, out in zip(test, outputs):
        cells = [e.source, " / ".join(e.refs), out["output"]]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def write_doc(path: str, results: dict[str, dict], load_before: float, extra: str) -> None:
    """The markdown report (rewritten after each task, so a cut-short run still has one)."""
    argv = [a if a == sys.argv[0] or not a.count(" ") else '"..."' for a in sys.argv]
    command = "OMP_NUM_THREADS=1 python3 " + " ".join(argv)  # a --note paragraph as "..."
    parts = ["# Sequence to sequence: translate and g2p against their baselines\n"]
    titles = {
        "translate": ("## Translation: German -> English, Ding sentence pairs", translate_table),
        "g2p": ("## Pronunciation: CMUdict grapheme-to-phoneme", g2p_table),
    }
    for task, r in results.items():
        title, table = titles[task]
        data, model = r["report"]["data"], model_line(r["report"])
        parts += [f"{title}\n", f"Data: {data}. Model: {model}. {run_line(r)}.\n", table(r)]
        if r.get("samples"):
            parts += ["Held-out sentences (the first of the test split):\n", r["samples"]]
    parts += [
        f"Command: `{command}`\n",
        extra,
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s); load average "
        f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after. A shared machine: "
        "wall times are pessimistic and no speed figure is claimed.\n",
    ]
    write_text(path, "\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="translate,g2p", help="comma-separated tasks")
    parser.add_argument("--seed", type=int, default=0, help="seed (draws the split too)")
    parser.add_argument("--out", default="docs/benchmarks/seq2seq.md", help="markdown file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides"
    )
    parser.add_argument(
        "--from-run",
        action="append",
        default=[],
        metavar="TASK=RUN_DIR",
        help="read the report of a run trained beforehand instead of training",
    )
    parser.add_argument("--note", default="", help="a paragraph added to the report")
    args = parser.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    if bad := [t for t in tasks if t not in TASKS]:
        parser.error(f"--tasks: unknown {', '.join(bad)}; expected {', '.join(TASKS)}")
    from_run: dict[str, str] = {}
    for item in args.from_run:
        task, sep, path = item.partition("=")
        if not sep or task not in TASKS or not (Path(path) / "report.json").is_file():
            parser.error(f"--from-run {item}: expected TASK=RUN_DIR of a finished run")
        from_run[task] = path
    overrides: dict[str, Any] = parse_overrides(args.set)
    overrides.setdefault("train", {}).setdefault("progress", "false")
    load_before = os.getloadavg()[0]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            r = train_or_read(task, args.seed, Path(tmp), overrides, from_run.get(task, ""))
            if task == "translate":
                r["samples"] = samples(r["run_dir"])
                print(translate_table(r))
                print(r["samples"])
            else:
                print(g2p_table(r))
            print(run_line(r), flush=True)
            results[task] = r
            write_doc(args.out, results, load_before, args.note + "\n" if args.note else "")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
