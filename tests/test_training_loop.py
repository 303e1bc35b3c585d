"""The training loop on a tiny fake task: learning, logging, early stopping with
best-weights restore, clipping, schedules, exact resume, atomic checkpoints, devices."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from test_training_fake import FakeTask, fake_task  # noqa: F401 (fixture)

import rnnkit
from rnnkit import runs
from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.tasks.resolve import resolve_config
from rnnkit.training import loop
from rnnkit.training.optim import make_scheduler
from rnnkit.training.seed import seed_everything

pytestmark = pytest.mark.usefixtures("fake_task")


def fit(tmp_path, name, *overrides, resume=False, **kw):
    cfg = resolve_config("fake", overrides=list(overrides))
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    report = loop.fit(FakeTask(cfg), out, resume=resume, verbose=False, **kw)
    return out, report


def test_training_learns_and_writes_the_run_directory(tmp_path):
    out, report = fit(tmp_path, "run", "train.epochs=5", "train.tensorboard=true")
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[-1]["train.loss"] < 0.85 * rows[0]["train.loss"]
    for key in ("val.loss", "val.accuracy", "lr", "grad_norm_mean", "sequences_per_s"):
        assert key in rows[0]
    assert {"task", "data", "test", "baselines", "anchor", "wall_time_s", "throughput",
            "backend", "config"} <= set(report)  # fmt: skip
    assert report == json.loads((out / "report.json").read_text())
    assert report["test"]["accuracy"] > report["baselines"]["majority"]["accuracy"]
    assert report["backend"] == "fake" and report["throughput"]["sequences_per_s"] > 0
    assert report["config"]["train"]["epochs"] == 5 and report["data"] == "random"
    for name in ("config.yaml", "model.safetensors", "checkpoint.pt", "fake.json"):
        assert (out / name).is_file()
    assert any((out / "tb").iterdir())


def test_early_stopping_restores_the_best_weights(tmp_path):
    # val loss falls every epoch, so with mode=max the first epoch stays the best one.
    out, report = fit(
        tmp_path, "run", "train.epochs=8", "train.early_stopping=2", "train.monitor=loss",
        "train.monitor_mode=max",
    )  # fmt: skip
    rows = runs.read_metrics(out)
    assert len(rows) == 3 and report["stopped"] == "early_stopping"
    assert report["best_epoch"] == 1 and [r["best"] for r in rows] == [True, False, False]
    run = rnnkit.load(out)
    assert run.evaluate(split="val")["loss"] == pytest.approx(rows[0]["val.loss"], abs=1e-6)
    assert report["val"]["loss"] == rows[0]["val.loss"]


def test_max_minutes_stops_after_the_step_that_crosses_it(tmp_path):
    out, report = fit(tmp_path, "run", "train.epochs=5", "train.max_minutes=1e-9")
    rows = runs.read_metrics(out)
    assert report["stopped"] == "max_minutes" and len(rows) == 1 and rows[0]["steps"] == 1
    assert (out / "model.safetensors").is_file() and "accuracy" in report["test"]


def test_clipping_bounds_the_update_and_logs_the_norm(tmp_path):
    clip = 1e-4
    out, _ = fit(
        tmp_path, "run", "train.epochs=1", "train.batch_size=64", "train.optimizer=sgd",
        "train.momentum=0", "train.lr=1", f"train.clip_norm={clip}",
    )  # fmt: skip
    row = runs.read_metrics(out)[0]
    assert row["steps"] == 1 and row["grad_norm_max"] == row["grad_norm_mean"] > 10 * clip
    seed_everything(0)  # the loop's initialisation, rebuilt
    start = FakeTask(resolve_config("fake")).build_model().state_dict()
    end = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    step = torch.cat([(end[k] - start[k]).flatten() for k in start])
    assert step.norm().item() == pytest.approx(clip, rel=1e-3)  # lr 1 x clipped gradient


def test_schedules_learning_rates_at_given_steps():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)

    def sched(**kw):
        return make_scheduler(opt, TrainConfig(lr=1.0, epochs=4, **kw), steps_per_epoch=10)

    s = sched(schedule="cosine", warmup_steps=5)
    assert [s.lr_at(i) for i in (0, 4)] == [0.2, 1.0]
    assert s.lr_at(5 + 35 // 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 17 / 35)))
    assert s.lr_at(40) == pytest.approx(0.0) and s.lr_at(5) == 1.0
    s = sched(schedule="step", lr_decay=0.5, lr_step_epochs=1)
    assert [s.lr_at(i) for i in (0, 9, 10, 25, 39)] == [1.0, 1.0, 0.5, 0.25, 0.125]
    s = sched(schedule="constant")
    assert s.lr_at(0) == s.lr_at(39) == 1.0
    s = sched(schedule="plateau", lr_decay=0.1, lr_patience=2)
    for metric, lr in ((1.0, 1.0), (0.9, 1.0), (0.95, 1.0), (0.95, 0.1), (0.5, 0.1)):
        s.epoch_end(metric)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr)
    s = sched(schedule="step", lr_decay=0.5, lr_step_epochs=1)
    for _ in range(10):
        s.step()
    assert opt.param_groups[0]["lr"] == 0.5  # the optimizer follows the schedule
    with pytest.raises(RnnkitError, match="train.schedule: 'linear' is not one of"):
        sched(schedule="linear")


def test_step_schedule_is_logged_per_epoch(tmp_path):
    out, _ = fit(tmp_path, "run", "train.epochs=3", "train.schedule=step",
                 "train.lr_step_epochs=1", "train.lr_decay=0.5", "train.lr=0.04")  # fmt: skip
    assert [r["lr"] for r in runs.read_metrics(out)] == pytest.approx([0.04, 0.02, 0.01])


def _weights(out):
    return load_file(out / "model.safetensors"), torch.load(
        out / "checkpoint.pt", weights_only=True
    )["model"]


def test_resume_after_an_interruption_ends_with_the_same_weights(tmp_path):
    settings = ["train.epochs=3", "train.schedule=cosine", "train.warmup_steps=2"]
    full, report = fit(tmp_path, "full", *settings)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, "part", *settings, "data.fail_at_epoch=2")
    assert [r["epoch"] for r in runs.read_metrics(part)] == [1]
    _, resumed = fit(tmp_path, "part", *settings, resume=True)
    for a, b in zip(_weights(full), _weights(part)):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test"] == report["test"] and resumed["epochs"] == 3
    assert [r["epoch"] for r in runs.read_metrics(part)] == [1, 2, 3]


def test_resume_with_more_epochs_equals_a_longer_run(tmp_path):
    full, _ = fit(tmp_path, "full", "train.epochs=3")
    fit(tmp_path, "part", "train.epochs=1")
    part, _ = fit(tmp_path, "part", "train.epochs=3", resume=True)
    for a, b in zip(_weights(full), _weights(part)):
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["cosine", "step"])
def test_resume_with_more_epochs_says_an_epoch_planned_schedule_changed(kind):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    first = make_scheduler(opt, TrainConfig(lr=1.0, epochs=1, schedule=kind), 10)
    for _ in range(10):
        first.step()
    longer = make_scheduler(opt, TrainConfig(lr=1.0, epochs=3, schedule=kind), 10)
    longer.load_state_dict(first.state_dict())
    assert "planned over 1 epoch(s) and now over 3" in longer.resume_note
    assert longer.lr == pytest.approx(longer.lr_at(10))  # the 3-epoch plan at step 10
    if kind == "cosine":  # the 1-epoch cosine had reached ~0; the 3-epoch one is at 0.75
        assert first.lr_at(9) < 0.05 and longer.lr == pytest.approx(0.75)
    same = make_scheduler(opt, TrainConfig(lr=1.0, epochs=1, schedule=kind), 10)
    same.load_state_dict(first.state_dict())
    constant = make_scheduler(opt, TrainConfig(lr=1.0, epochs=3), 10)
    constant.load_state_dict(first.state_dict())
    assert same.resume_note == constant.resume_note == ""


def test_resume_with_a_changed_model_is_refused(tmp_path):
    fit(tmp_path, "run", "train.epochs=1")
    with pytest.raises(RnnkitError, match="checkpoint.pt does not fit the model .*model.\\*"):
        fit(tmp_path, "run", "train.epochs=2", "model.hidden_size=5", resume=True)


def test_a_failing_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    out, _ = fit(tmp_path, "run", "train.epochs=1")
    before = (out / "checkpoint.pt").read_bytes()

    def broken_save(obj, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpo")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fit(tmp_path, "run", "train.epochs=2", resume=True)
    assert (out / "checkpoint.pt").read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_deterministic_mode_is_scoped_to_the_run(tmp_path):
    before = torch.are_deterministic_algorithms_enabled()
    _, a = fit(tmp_path, "a", "train.epochs=1", "train.deterministic=true")
    _, b = fit(tmp_path, "b", "train.epochs=1", "train.deterministic=true")
    assert a["test"] == b["test"]
    assert torch.are_deterministic_algorithms_enabled() == before


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.optimizer=lbfgs", "train.optimizer: 'lbfgs' is not one of sgd, adam, adamw"),
        ("train.epochs=0", "train.epochs: expected at least 1"),
        ("train.monitor=f1", "no 'f1'; they are: loss, accuracy"),
    ],
)
def test_bad_training_settings_are_refused(tmp_path, setting, message):
    with pytest.raises(RnnkitError, match=message):
        fit(tmp_path, "run", "train.epochs=1", "train.clip_norm=0", "train.optimizer=sgd", setting)


def test_a_non_finite_loss_stops_training_with_advice(tmp_path, monkeypatch):
    monkeypatch.setattr(FakeTask, "training_step", lambda self, m, b: self.loss(m, b) * math.inf)
    with pytest.raises(RnnkitError, match="training diverged: the loss is (nan|inf) in epoch 1"):
        fit(tmp_path, "run", "train.epochs=1")


def test_cuda_refused_when_missing(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RnnkitError, match="'cuda' was asked for but CUDA is not available"):
        loop.resolve_device("cuda")
    with pytest.raises(RnnkitError, match="'gpu' is not a device"):
        loop.resolve_device("gpu")


def test_api_train_and_load(tmp_path):
    run = rnnkit.train("fake", out=tmp_path / "r", verbose=False, train={"epochs": 2},
                       **{"model.hidden_size": 6})  # fmt: skip
    assert run.config.model.hidden_size == 6 and not run.model.training
    assert run.report["epochs"] == 2
    loaded = rnnkit.load(tmp_path / "r")
    assert loaded.evaluate() == pytest.approx(run.report["test"])
    [pred] = loaded.predict("1,2,3")
    assert pred["label"] in (0, 1) and 0 <= pred["p"] <= 1
    with pytest.raises(RnnkitError, match="already exists"):
        rnnkit.train("fake", out=tmp_path / "r", verbose=False)
    again = rnnkit.train(
        "fake", out=tmp_path / "r", resume=True, verbose=False, train={"epochs": 3}
    )
    assert again.report["epochs"] == 3 and again.config.model.hidden_size == 6
