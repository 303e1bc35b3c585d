"""A tiny task over random data for the engine's tests (no real data, ~1k parameters).

Sequences of 3 features with random lengths; the label says whether the first feature sums
to more than zero over the real steps. A GRU and a linear head learn it in a few epochs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnkit.config import option
from rnnkit.data.batch import Batch
from rnnkit.errors import RnnkitError
from rnnkit.io import write_text
from rnnkit.tasks.base import Task


@dataclass
class FakeData:
    """``data`` section of the fake task."""

    name: str = option("random", "only 'random' exists")
    n: int = option(80, "sequences in all (60% train, 20% val, 20% test)")
    length: int = option(6, "longest sequence")
    fail_at_epoch: int = option(
        0, "raise KeyboardInterrupt when this training epoch starts (0 = never)"
    )


class Model(nn.Module):
    """GRU over (B, T, 3) -> last real output -> dropout -> 2 logits (dropout draws from
    torch's global RNG, so exact resume needs the RNG state restored)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, hidden, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(hidden, 2)
        self.last_backend: str | None = None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, H)
        self.last_backend = "fake"
        last = out[torch.arange(len(x)), lengths - 1]  # (B, H)
        return self.head(self.drop(last))  # (B, 2)


class FakeTask(Task):
    name = "fake"
    DataConfig = FakeData
    capabilities = frozenset({"evaluate", "predict"})
    model_defaults = {"hidden_size": 8, "num_layers": 1}
    train_defaults = {
        "epochs": 3,
        "batch_size": 16,
        "lr": 0.02,
        "progress": False,
        "tensorboard": False,
        "early_stopping": 0,
    }
    monitor = "accuracy"
    monitor_mode = "max"
    anchor = {"source": "chance", "accuracy": 0.5}

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.epochs_started = 0

    def _make(self) -> None:
        d = self.cfg.data
        if d.name != "random":
            raise RnnkitError(f"data.name: unknown fake data {d.name!r}")
        g = torch.Generator().manual_seed(1234)
        x = torch.randn(d.n, d.length, 3, generator=g)
        lengths = torch.randint(1, d.length + 1, (d.n,), generator=g)
        mask = torch.arange(d.length)[None, :] < lengths[:, None]
        x = x * mask[..., None]
        y = (x[..., 0].sum(1) > 0).long()
        a, b = int(0.6 * d.n), int(0.8 * d.n)
        self.splits = {
            "train": (x[:a], lengths[:a], y[:a]),
            "val": (x[a:b], lengths[a:b], y[a:b]),
            "test": (x[b:], lengths[b:], y[b:]),
        }

    def prepare(self, run_dir: Path) -> None:
        self._make()
        write_text(Path(run_dir) / "fake.json", json.dumps({"n": self.cfg.data.n}))  # atomic

    def restore(self, run_dir: Path) -> None:
        json.loads((Path(run_dir) / "fake.json").read_text())
        self._make()

    def batches(self, split, *, shuffle=False, generator=None) -> Iterator[Batch]:
        x, lengths, y = self.splits[split]
        order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
        bs = self.cfg.train.batch_size
        for i in range(0, len(x), bs):
            idx = order[i : i + bs]
            yield Batch(x[idx], lengths[idx], y[idx])

    def build_model(self) -> nn.Module:
        return Model(self.cfg.model.hidden_size)

    def loss(self, model, batch):
        return nn.functional.cross_entropy(model(batch.inputs, batch.lengths), batch.targets)

    def on_epoch_start(self, model, split) -> None:
        if split == "train":
            self.epochs_started += 1
            if self.epochs_started == self.cfg.data.fail_at_epoch:
                raise KeyboardInterrupt

    @torch.no_grad()
    def evaluate(self, model, split):
        total, correct, n = 0.0, 0, 0
        for batch in self.batches(split):
            logits = model(batch.inputs, batch.lengths)
            total += float(nn.functional.cross_entropy(logits, batch.targets, reduction="sum"))
            correct += int((logits.argmax(1) == batch.targets).sum())
            n += len(batch)
        return {"loss": total / n, "accuracy": correct / n}

    def baselines(self):
        y = self.splits["test"][2]
        majority = max(float((y == 1).float().mean()), float((y == 0).float().mean()))
        return {"majority": {"accuracy": majority}}

    def predict(self, model, inputs):
        out = []
        for text in inputs:
            try:
                values = [float(v) for v in text.split(",")]
            except ValueError:
                raise RnnkitError(f"input {text!r}: expected comma-separated numbers") from None
            x = torch.zeros(1, len(values), 3)
            x[0, :, 0] = torch.tensor(values)
            p = model(x, torch.tensor([len(values)])).softmax(-1)[0, 1]
            out.append({"label": int(p > 0.5), "p": float(p)})
        return out


@pytest.fixture
def fake_task(monkeypatch: pytest.MonkeyPatch) -> type[FakeTask]:
    """Register FakeTask as ``fake`` in the task registry for one test."""
    from rnnkit import tasks

    monkeypatch.setitem(tasks.TASKS, "fake", "test_training_fake:FakeTask")
    return FakeTask
