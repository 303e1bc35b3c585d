"""Train built-in tasks from Python with ``rnnkit.train`` and use the runs they return.

    python3 examples/train_tasks.py                 # every built-in task, its defaults
    python3 examples/train_tasks.py --smoke         # tiny sizes, seconds (what CI runs: the
                                                    # tasks of SMOKE_IN_CI)
    python3 examples/train_tasks.py --tasks forecast,charlm

Every call is the Python twin of ``rnnkit train TASK --set key=value ...``: the keyword
sections (``model={...}``, ``train={...}``, ``data={...}``) take the same keys as the config
(``rnnkit train --list-keys TASK`` lists them). The returned :class:`rnnkit.Run` holds the
model with its best weights, the restored task and the report; what else a run can do is
what its task declares (``run.task.supports("predict")``, ``"generate"``, ...).
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
    "adding": {"model": {"hidden_size": 8},
               "data": {"length": 20, "train_size": 256, "val_size": 64, "test_size": 64}},
    "copy": {"model": {"hidden_size": 8},
             "data": {"length": 10, "train_size": 256, "val_size": 64, "test_size": 64}},
    "selective_copy": {"model": {"hidden_size": 8},
                       "data": {"length": 20, "n_tokens": 4, "train_size": 256,
                                "val_size": 64, "test_size": 64}},
    "smnist": {"model": {"hidden_size": 8}, "data": {"limit": 500}},
    "translate": {"model": {"hidden_size": 16, "embedding_dim": 16},
                  "data": {"pairs": 400, "vocab_size": 300, "beam_size": 1}},
    "g2p": {"model": {"hidden_size": 16, "embedding_dim": 16},
            "data": {"words": 400, "beam_size": 1}},
}  # fmt: skip
# --smoke without --tasks: the tasks CI runs (the others have their own smoke runs in
# own_csv.py, plain_torch.py and the tests; all of them run with --smoke --tasks ...)
SMOKE_IN_CI = "forecast,charlm,adding,copy,selective_copy"
# an input for predict, for the tasks that can predict (each task reads its own format)
INPUTS = {
    "sentiment": ["a warm, funny and moving film", "a dull mess"],
    "tsclass": [",".join(["0.1", "0.5", "0.9"] * 8)],
    "translate": ["Das Haus ist klein."],
    "g2p": ["hello"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one epoch")
    parser.add_argument(
        "--tasks",
        help=f"comma-separated (default: every task of SMOKE; with --smoke {SMOKE_IN_CI})",
    )
    parser.add_argument("--out", type=Path, help="folder for the run directories")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="rnnkit-examples-"))

    tasks = args.tasks or (SMOKE_IN_CI if args.smoke else ",".join(SMOKE))
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

        # The run directory is the contract: load it back anywhere, and ask its task what
        # else it can do.
        again = rnnkit.load(run.run_dir)
        print("   evaluate:", again.evaluate())
        if again.task.supports("predict") and task in INPUTS:
            print("   predict:", again.predict(INPUTS[task]))
        if again.task.supports("generate"):
            text = again.task.generate(again.model, "The ", 40, temperature=0.8)
            print("   generate:", repr(text))


if __name__ == "__main__":
    main()
