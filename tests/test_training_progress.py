"""Progress lines for logs (rnnkit.training.progress): steady interval, useful content."""

from __future__ import annotations

import io

import pytest

from rnnkit.errors import RnnkitError
from rnnkit.training.progress import ProgressLines, interval_from_env


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_interval_with_rate_and_time_left() -> None:
    clock, out = FakeClock(), io.StringIO()
    lines = ProgressLines(200, "epoch 2/10", every=30.0, file=out, clock=clock)
    clock.now += 29.0
    assert not lines.due()
    clock.now += 1.0
    assert lines.due()
    lines.show(50, 0.51234, 312.4)
    assert out.getvalue() == (
        "epoch 2/10  25% 50/200 batches  loss 0.5123  312 seq/s  30s elapsed, ~1m30s left\n"
    )
    assert not lines.due()  # the next one is 30 s after this one
    clock.now += 30.0
    assert lines.due()


def test_an_epoch_of_unknown_length_counts_batches() -> None:
    clock, out = FakeClock(), io.StringIO()
    lines = ProgressLines(None, "epoch 1/1", every=5.0, file=out, clock=clock)
    clock.now += 65.0
    lines.show(7, 2.0, 10.0)
    assert out.getvalue() == "epoch 1/1  7 batches  loss 2.0000  10 seq/s  1m05s elapsed\n"


def test_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNNKIT_PROGRESS_SECONDS", raising=False)
    assert interval_from_env() == 30.0
    monkeypatch.setenv("RNNKIT_PROGRESS_SECONDS", "2.5")
    assert interval_from_env() == 2.5
    for bad in ("0", "-3", "often"):
        monkeypatch.setenv("RNNKIT_PROGRESS_SECONDS", bad)
        with pytest.raises(RnnkitError, match="PROGRESS_SECONDS=.*: expected a positive"):
            interval_from_env()


def test_a_training_run_into_a_log_prints_progress_lines(tmp_path, capsys, monkeypatch):
    from rnnkit.tools.cli import main

    monkeypatch.setenv("RNNKIT_PROGRESS_SECONDS", "0.000001")  # a line after every batch
    args = ["train", "adding", "--out", str(tmp_path / "r"), "--epochs", "1", "--set"]
    args += ["model.hidden_size=4", "train.batch_size=8", "data.length=6"]
    args += ["data.train_size=32", "data.val_size=8", "data.test_size=8"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("train adding: lstm 1x4")  # generated data: no "on X"
    err = captured.err  # captured: not a terminal, so no tqdm bar
    lines = [ln for ln in err.splitlines() if ln.startswith("epoch 1/1  ")]
    assert len(lines) == 4  # 32 sequences in batches of 8
    assert lines[-1].startswith("epoch 1/1  100% 4/4 batches  loss ")
    assert "seq/s" in lines[0] and "elapsed" in lines[0]
