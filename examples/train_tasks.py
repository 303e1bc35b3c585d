"""Train built-in tasks from Python with ``rnnkit.train`` and use the runs they return.

    python3 examples/train_tasks.py                 # sentiment, forecast, tsclass, charlm
    python3 examples/train_tasks.py --smoke         # tiny sizes, seconds (what CI runs:
                                                    # forecast and charlm)
    python3 examples/train_tasks.py --tasks forecast,charlm

Every call is the Python twin of ``rnnkit train TASK --set key=value ...``: the keyword
sections (``model={...}``, ``train={...}``, ``data={...}``) take the same keys as the config
(``rnnkit train --list-keys TASK`` lists them). The returned :class:`rnnkit.Run` holds the
model with its best weights, the restored task and the report.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import rnnkit

# Tiny settings for --smoke: enough to run every step of each task in seconds.
SMOKE = {
    "sentiment": {"model": {"hidden_size": 8, "embedding_dim": 8, "num_layers": 1},
                  "data": {"max_length": 16, "vocab_size": 500}},
    "forecast": {"model": {"hidden_size": 8}, "data": {"context": 12, "horizon": 6}},
    "tsclass": {"model": {"hidden_size": 8}, "data": {"source": "ItalyPowerDemand"}},
    "charlm": {"model": {"hidden_size": 16, "num_layers": 1, "embedding_dim": 8},
               "data": {"bptt": 16}, "train": {"max_minutes": 0.05}},
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one epoch")
    parser.add_argument("--tasks", help="comma-separated (default: all four; with --smoke "
                        "forecast and charlm: the others have their own smoke runs in "
                        "own_csv.py and plain_torch.py)")
    parser.add_argument("--out", type=Path, help="folder for the run directories")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-examples-"))

    tasks = args.tasks or ("forecast,charlm" if args.smoke else ",".join(SMOKE))
    for task in tasks.split(","):
        sections = SMOKE[task] if args.smoke else {}
        train = {"progress": False, **({"epochs": 1} if args.smoke else {})}
        train.update(sections.get("train", {}))
        run = rnnkit.train(
            task,
            out=root / task,
            overwrite=True,
            verbose=not args.smoke,
            model=sections.get("model", {}),
            data=sections.get("data", {}),
            train=train,
        )
        print(f"{task}: test {run.report['test']}")
        print(f"  baselines: {run.report.get('baselines', {})}")

        # The run directory is the contract: load it back anywhere.
        again = rnnkit.load(run.run_dir)
        if task == "sentiment":
            print("  ", again.predict(["a warm, funny and moving film", "a dull mess"]))
        if task == "charlm":
            print("  ", repr(again.task.generate(again.model, "The ", 40, temperature=0.8)))


if __name__ == "__main__":
    main()
