"""Are the attributions faithful? Deleting the top-attributed tokens vs deleting random ones.

Over the test split of the built-in Rotten Tomatoes snippets, for every review of at
least ``K_MAX + 1`` tokens, the tokens with the largest attribution towards the predicted
class (Integrated Gradients, and gradient x input) are deleted, k = 1, 3, 5, and the
model re-reads the shorter review; the same is done for ``--draws`` random sets of k
tokens. Faithful attributions change the prediction more than random deletions:

- mean drop: mean of ``p(predicted class | review) - p(predicted class | review minus k)``;
- mean |change|: the same without the sign;
- flip rate: how often the predicted class changes.

The model is either an existing run (``--run RUN_DIR``, e.g. one made by the default
``rnnkit train sentiment``) or, without ``--run``, one the benchmark trains itself with
the default sentiment config cut to ``--epochs`` epochs (said in the output).

    python3 benchmarks/faithfulness.py --out docs/benchmarks/faithfulness.md
    python3 benchmarks/faithfulness.py --run runs/sentiment-1 --limit 300
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

import rnnkit
from rnnkit.explain.attributions import (
    DEFAULT_RTOL,
    grad_x_input,
    gradients_in_eval,
    integrated_gradients,
)
from rnnkit.explain.explainer import class_scalar
from rnnkit.io import write_text
from rnnkit.tasks.resolve import default_config

KS = (1, 3, 5)
K_MAX = max(KS)
METHODS = ("integrated_gradients", "grad_x_input", "random")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default=None, help="an existing sentiment run directory")
    p.add_argument("--epochs", type=int, default=4, help="epochs when training here")
    p.add_argument(
        "--keep-run", default=None, help="when training here, keep the run in this directory"
    )
    p.add_argument("--limit", type=int, default=0, help="at most this many reviews (0 = all)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="Integrated Gradients steps (default: chosen per review as rnnkit explain "
        "does, until the completeness gap is within 1%%)",
    )
    p.add_argument("--draws", type=int, default=5, help="random deletions per review and k")
    p.add_argument("--seed", type=int, default=0, help="seed of the random deletions")
    p.add_argument("--out", default=None, help="write the markdown table here")
    return p.parse_args(argv)


def delete(ids: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
    """``ids`` (T,) without the positions in ``drop`` (k,)."""
    keep = torch.ones(len(ids), dtype=torch.bool)
    keep[drop] = False
    return ids[keep]


def pad(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids ``(N, T)`` and lengths ``(N,)`` of ``seqs``."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    out = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def examples(task, limit: int):
    """``(ids (T,), label)`` of the test reviews with more than ``K_MAX`` tokens."""
    n = 0
    for batch in task.batches("test"):
        for row in range(len(batch)):
            length = int(batch.lengths[row])
            if length <= K_MAX:
                continue
            yield batch.inputs[row, :length], int(batch.targets[row])
            n += 1
            if limit and n >= limit:
                return


def measure(run, args) -> dict:
    model = run.model.eval()
    num_classes = int(model.num_classes)
    gen = torch.Generator().manual_seed(args.seed)
    stats = {(m, k): {"drop": 0.0, "abs": 0.0, "flip": 0.0, "n": 0} for m in METHODS for k in KS}
    deltas, steps, correct, n = [], [], 0, 0
    t0 = time.perf_counter()
    for ids, label in examples(run.task, args.limit):
        T = len(ids)
        lengths = torch.tensor([T])
        with torch.no_grad():
            probs = model.probabilities(model(ids[None], lengths))[0]  # (C,)
        cls = int(probs.argmax())
        correct += int(cls == label)

        def fn(emb, lengths, cls=cls):
            return class_scalar(model.forward_from_embeddings(emb, lengths), num_classes, cls)

        with torch.no_grad():
            x = model.embed(ids[None])  # (1, T, E)
            base = model.embed(torch.zeros_like(ids[None]))
        with gradients_in_eval(model):
            ig = integrated_gradients(fn, x, base, extra=(lengths,), n_steps=args.steps)
            gxi = grad_x_input(fn, x, extra=(lengths,))
        deltas.append(ig.relative_delta)
        steps.append(ig.n_steps)
        variants, keys = [], []
        for k in KS:
            for method, scores in (
                ("integrated_gradients", ig.scores),
                ("grad_x_input", gxi.scores),
            ):
                variants.append(delete(ids, torch.topk(scores, k).indices))
                keys.append((method, k))
            for _ in range(args.draws):
                variants.append(delete(ids, torch.randperm(T, generator=gen)[:k]))
                keys.append(("random", k))
        batch, blens = pad(variants)
        with torch.no_grad():
            p = model.probabilities(model(batch, blens))  # (V, C)
        for (method, k), pv in zip(keys, p):
            s = stats[(method, k)]
            drop = float(probs[cls] - pv[cls])
            s["drop"] += drop
            s["abs"] += abs(drop)
            s["flip"] += float(int(pv.argmax()) != cls)
            s["n"] += 1
        n += 1
    seconds = time.perf_counter() - t0
    return {
        "stats": stats,
        "deltas": deltas,
        "steps": steps,
        "accuracy": correct / max(n, 1),
        "n": n,
        "s": seconds,
    }


def table(result: dict) -> str:
    lines = [
        "| k | deleted tokens | mean drop of p(pred) | mean abs change | flip rate |",
        "|---|---|---|---|---|",
    ]
    for k in KS:
        for method in METHODS:
            s = result["stats"][(method, k)]
            n = max(s["n"], 1)
            name = {"random": "random (mean of draws)"}.get(method, f"top-{k} by {method}")
            lines.append(
                f"| {k} | {name} | {s['drop'] / n:+.4f} | {s['abs'] / n:.4f} | "
                f"{s['flip'] / n:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python3 benchmarks/faithfulness.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rnnkit-faithfulness-") as tmp:
        if args.run:
            run = rnnkit.load(args.run)
            m, t = run.config.model, run.config.train
            source = (
                f"the existing run `{args.run}` ({m.cell} {m.num_layers}x{m.hidden_size}, "
                f"embedding {m.embedding_dim}, train.epochs={t.epochs})"
            )
        else:
            out = Path(args.keep_run) if args.keep_run else Path(tmp) / "sentiment"
            run = rnnkit.train(
                "sentiment", out=out, verbose=True, train={"epochs": args.epochs, "progress": False}
            )
            source = (
                f"trained here: the default `rnnkit train sentiment` config with "
                f"train.epochs={args.epochs} (the default is "
                f"{default_config('sentiment').train.epochs} with early stopping)"
            )
        train_s = time.perf_counter() - t0
        result = measure(run, args)
        test_acc = (run.report or {}).get("test", {}).get("accuracy")
    deltas = torch.tensor(result["deltas"])
    steps = torch.tensor(result["steps"], dtype=torch.float64)
    within = float((deltas <= DEFAULT_RTOL).double().mean())
    how = f"{args.steps} steps" if args.steps else "steps chosen per review (as rnnkit explain)"
    acc = "n/a" if test_acc is None else f"{test_acc:.3f}"
    text = "\n".join(
        [
            "# Faithfulness of the attributions (sentiment)",
            "",
            "Deleting the k tokens with the largest attribution towards the predicted class vs",
            f"deleting k random tokens ({args.draws} draws per review), on the test reviews of",
            f"the built-in Rotten Tomatoes snippets with more than {K_MAX} tokens.",
            "Faithful attributions change the prediction more than random deletions.",
            "",
            f"- command: `{command}`",
            f"- model: {source}; test accuracy {acc}",
            f"- reviews: {result['n']} (accuracy on them {result['accuracy']:.3f}); "
            f"Integrated Gradients with {how}, baseline [PAD] embeddings",
            f"- integration steps: median {steps.median():.0f}, max {steps.max():.0f}",
            f"- completeness gap |delta| / max(|f(x) - f(x')|, 1): median {deltas.median():.2e}, "
            f"max {deltas.max():.2e}; within the {DEFAULT_RTOL} tolerance for {within:.1%} of "
            "the reviews",
            f"- time: training/loading {train_s:.0f} s, attributions and deletions "
            f"{result['s']:.0f} s; torch {torch.__version__}, {torch.get_num_threads()} threads",
            "",
            table(result),
            "",
        ]
    )
    print(text)
    if args.out:
        write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
