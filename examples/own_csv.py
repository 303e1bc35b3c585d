"""A text classifier on your own CSV file, from Python.

    python3 examples/own_csv.py --data reviews.csv --text-column review --label-column stars
    python3 examples/own_csv.py --smoke      # writes a small CSV of its own and trains on it

Any label column works (two classes or more); the report compares the model with TF-IDF +
logistic regression trained on the same split. The same from the command line:
``rnnkit train sentiment --data reviews.csv --set data.text_column=review ...``.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
from pathlib import Path

import rnnkit


def write_toy_csv(path: Path, n: int = 240, seed: int = 0) -> None:
    """Short 'reviews' whose label follows their words: a stand-in for a user's file."""
    rng = random.Random(seed)
    good = ["great", "moving", "funny", "brilliant", "warm", "sharp"]
    bad = ["dull", "boring", "flat", "clumsy", "tedious", "empty"]
    filler = ["the", "film", "story", "was", "and", "a", "cast", "plot", "quite", "its"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "verdict"])
        for _ in range(n):
            label = rng.choice(["good", "bad"])
            words = rng.sample(filler, 5) + rng.sample(good if label == "good" else bad, 2)
            rng.shuffle(words)
            writer.writerow([" ".join(words), label])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="your CSV file")
    parser.add_argument("--text-column", default="review")
    parser.add_argument("--label-column", default="verdict")
    parser.add_argument("--smoke", action="store_true", help="a toy CSV, tiny model")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rnnkit-csv-"))
    data = args.data
    if data is None:
        data = root / "toy.csv"
        write_toy_csv(data)

    small = {"hidden_size": 16, "embedding_dim": 16, "num_layers": 1}
    run = rnnkit.train(
        "sentiment",
        out=root / "run",
        verbose=not args.smoke,
        data={"name": str(data), "text_column": args.text_column,
              "label_column": args.label_column},
        model=small if args.smoke else {},
        train={"epochs": 8, "lr": 0.01, "progress": False} if args.smoke else {},
    )  # fmt: skip
    print("test:", {k: round(v, 3) for k, v in run.report["test"].items()})
    print("TF-IDF + LR:", run.report["baselines"])
    for row in run.predict(["a brilliant and funny story", "tedious, flat and dull"]):
        print(row["label"], round(row["probability"], 3))


if __name__ == "__main__":
    main()
