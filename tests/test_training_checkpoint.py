"""checkpoint.pt carries a format number that later versions check, and is written
atomically (rnnkit.training.checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.training.checkpoint import (
    CHECKPOINT_VERSION,
    TrainState,
    load_checkpoint,
    save_checkpoint,
)
from rnnkit.training.optim import make_optimizer, make_scheduler


def _parts(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    optimizer = make_optimizer(model, TrainConfig())
    return model, optimizer, make_scheduler(optimizer, TrainConfig(), 4)


def test_a_checkpoint_records_its_format_and_round_trips(tmp_path: Path) -> None:
    model, optimizer, schedule = _parts(0)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, schedule, torch.Generator(), TrainState(epoch=3))
    assert torch.load(path, weights_only=True)["version"] == CHECKPOINT_VERSION
    other, other_opt, other_schedule = _parts(1)
    state = load_checkpoint(path, other, other_opt, other_schedule, torch.Generator())
    assert state.epoch == 3 and torch.equal(other.weight, model.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left


def test_a_checkpoint_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    model, optimizer, schedule = _parts()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, schedule, torch.Generator(), TrainState())
    ckpt = torch.load(path, weights_only=True)
    ckpt["version"] = CHECKPOINT_VERSION + 1
    torch.save(ckpt, path)
    with pytest.raises(RnnkitError, match="checkpoint.pt: written by a newer rnnkit"):
        load_checkpoint(path, *_parts(), torch.Generator())


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    model, optimizer, schedule = _parts()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, schedule, torch.Generator(), TrainState(epoch=1))
    before = path.read_bytes()

    def full_disk(obj: object, f: object) -> None:
        Path(str(f)).write_bytes(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        save_checkpoint(path, model, optimizer, schedule, torch.Generator(), TrainState(epoch=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
