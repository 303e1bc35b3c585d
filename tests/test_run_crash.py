"""A training process killed (SIGKILL) at any point leaves a run directory that
``--resume`` continues to the same weights as an uninterrupted run, or that is refused
with one clear line; never a silently inconsistent one.

Each case runs ``rnnkit train fake`` in a subprocess that kills itself at a chosen point:
before the k-th file rename (every file of the run is written to a temporary name and
renamed, so this covers the setup commit, each epoch's weights, metrics and checkpoint,
and the report), in the middle of writing a checkpoint, or inside an epoch.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_training_fake import fake_task  # noqa: F401 (fixture)

from rnnkit.tools.cli import main

pytestmark = pytest.mark.usefixtures("fake_task")

TESTS = Path(__file__).resolve().parent
ARGS = ["--epochs", "3", "--set", "train.lr=0.03"]

KILLER = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from rnnkit import tasks
tasks.TASKS["fake"] = "test_training_fake:FakeTask"
kind, n, calls = sys.argv[2], int(sys.argv[3]), [0]

def due():
    calls[0] += 1
    return calls[0] == n

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if kind == "rename":  # killed just before the n-th rename of a finished temporary file
    replace = os.replace
    os.replace = lambda a, b: die() if due() else replace(a, b)
elif kind == "report":  # killed just before report.json goes in place
    replace = os.replace
    os.replace = lambda a, b: die() if str(b).endswith("report.json") else replace(a, b)
elif kind == "mid-checkpoint":  # killed with half of the n-th checkpoint written
    import torch
    save = torch.save
    def half(obj, f):
        save(obj, f)
        if due():
            os.truncate(f, os.path.getsize(f) // 2)
            die()
    torch.save = half
elif kind == "step":  # killed inside an epoch, at the n-th training step
    import torch
    clip = torch.nn.utils.clip_grad_norm_
    torch.nn.utils.clip_grad_norm_ = lambda *a, **k: die() if due() else clip(*a, **k)
from rnnkit.tools.cli import main
sys.exit(main(sys.argv[4:]))
"""

# A 3-epoch fake run renames 9 to 11 files (config.yaml at the setup commit, then per epoch
# the weights if best, metrics.jsonl, checkpoint.pt; report.json). Bounded, since each case
# is a subprocess: the setup commit, one seeded rename, the report, a torn checkpoint, a
# training step inside epoch 2.
POINTS = [("rename", 1), ("rename", random.Random(18).randrange(2, 10))]
POINTS += [("report", 1), ("mid-checkpoint", 2), ("step", 5)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, torch.Tensor]:
    """The weights of an uninterrupted run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    from rnnkit import tasks

    tasks.TASKS["fake"] = "test_training_fake:FakeTask"
    try:
        assert main(["train", "fake", "--out", str(out), *ARGS]) == 0
    finally:
        del tasks.TASKS["fake"]
    return load_file(out / "model.safetensors")


def kill_at(kind: str, n: int, out: Path, *more: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    argv = [sys.executable, "-c", KILLER, str(TESTS), kind, str(n), "train", "fake"]
    done = subprocess.run(
        [*argv, "--out", str(out), *ARGS, *more],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode


def assert_consistent(out: Path) -> None:
    """What a kill left agrees with itself: metrics.jsonl holds the checkpoint's epochs (and
    at most the next one, redone on resume), the weights are of no later epoch, and a
    report.json, if there is one, describes the checkpoint's epoch and the weights' best."""
    from rnnkit.runs import weights_epoch

    if not (out / "checkpoint.pt").is_file():
        assert not (out / "report.json").exists()
        return
    epoch = torch.load(out / "checkpoint.pt", weights_only=True)["state"]["epoch"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] in (list(range(1, epoch + 1)), list(range(1, epoch + 2)))
    best = weights_epoch(out / "model.safetensors")
    assert best is not None and best <= epoch + 1
    if (out / "report.json").exists():
        report = json.loads((out / "report.json").read_text())
        assert (report["epochs"], report["best_epoch"]) == (epoch, best), report


@pytest.mark.parametrize(("kind", "n"), POINTS)
def test_a_run_killed_at_any_point_resumes_to_the_same_weights(
    reference, tmp_path, capsys, kind, n
):
    out = tmp_path / "run"
    assert kill_at(kind, n, out) == -9  # it really was killed there
    assert_consistent(out)
    capsys.readouterr()
    code = main(["train", "fake", "--out", str(out), "--resume", *ARGS])
    err = capsys.readouterr().err
    if not (out / "checkpoint.pt").is_file():
        # killed before the first checkpoint: nothing to resume, said in one line, and the
        # directory (if any) can be trained again
        assert code == 2 and err.count("\n") == 1, err
        assert "checkpoint.pt" in err or "config.yaml is missing" in err, err
        again = ["train", "fake", "--out", str(out), *ARGS]
        assert main(again + (["--overwrite"] if out.exists() else [])) == 0
    else:
        assert code == 0, err
    weights = load_file(out / "model.safetensors")
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in weights)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    report = json.loads((out / "report.json").read_text())
    assert report["epochs"] == 3 and report["best_epoch"] in (1, 2, 3)
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


# Killed in a session that resumed a finished 2-epoch run (its report.json describes epoch
# 2): before the new report goes in place, at the new weights' rename, inside epoch 3.
RESUMED = [("report", 1), ("rename", 2), ("step", 2)]


@pytest.mark.parametrize(("kind", "n"), RESUMED)
def test_a_resumed_run_killed_at_any_point_leaves_no_stale_report_and_resumes(
    reference, tmp_path, capsys, kind, n
):
    out = tmp_path / "run"
    assert main(["train", "fake", "--out", str(out), *ARGS, "--epochs", "2"]) == 0
    assert json.loads((out / "report.json").read_text())["epochs"] == 2
    assert kill_at(kind, n, out, "--resume") == -9
    assert_consistent(out)  # the epoch-2 report is gone once epoch 3 has begun
    assert main(["train", "fake", "--out", str(out), "--resume", *ARGS]) == 0
    weights = load_file(out / "model.safetensors")
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
    assert json.loads((out / "report.json").read_text())["epochs"] == 3


def test_a_monitor_checked_before_training_leaves_the_training_as_it_was(tmp_path):
    """An explicit train.monitor is checked by one validation pass before anything is
    written (tests/test_run_safety.py: a bad one changes no run); the pass keeps the RNG
    states, so the epochs train the same weights as with the task's own monitor."""
    runs = {}
    for name, extra in (("own", []), ("loss", ["train.monitor=loss"])):
        out = tmp_path / name
        assert main(["train", "fake", "--out", str(out), *ARGS, *extra]) == 0
        runs[name] = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(runs["own"][k], runs["loss"][k]) for k in runs["own"])


def test_a_resume_that_fails_before_writing_an_epoch_keeps_the_report(tmp_path, capsys):
    """The last session's report goes only when the resumed session writes its first
    epoch: one stopped in that epoch's steps (here Ctrl-C) leaves the run as it was."""
    out = tmp_path / "run"
    assert main(["train", "fake", "--out", str(out), *ARGS, "--epochs", "2"]) == 0
    report = (out / "report.json").read_bytes()
    argv = ["train", "fake", "--out", str(out), "--resume", *ARGS, "data.fail_at_epoch=1"]
    assert main(argv) == 130  # interrupted as the first epoch of the session started
    assert (out / "report.json").read_bytes() == report
    assert_consistent(out)
