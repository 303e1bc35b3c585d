"""train.precision: bf16 autocast on CPU with the recurrence and the loss kept in float32,
fp16 refused without CUDA before anything is written, unknown values refused."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from rnnkit import runs
from rnnkit.errors import RnnkitError
from rnnkit.tasks import get_task_class
from rnnkit.tasks.resolve import resolve_config
from rnnkit.tools.cli import main
from rnnkit.training import loop
from rnnkit.training.callbacks import Callback
from rnnkit.training.precision import Precision, make_precision, mixed_precision, to_fp32

TINY = ["data.length=8", "data.train_size=32", "data.val_size=8", "data.test_size=8",
        "train.batch_size=8", "model.hidden_size=6", "train.progress=false",
        "train.tensorboard=false"]  # fmt: skip
ADDING = ["train", "adding", "--epochs", "1", "--set", *TINY]


def adding(tmp_path, name, *overrides, callbacks=()):
    """One epoch of a tiny adding task through the loop; (run dir, report)."""
    cfg = resolve_config("adding", overrides=[*TINY, "train.epochs=1", *overrides])
    out = tmp_path / name
    out.mkdir()
    report = loop.fit(get_task_class("adding")(cfg), out, verbose=False, callbacks=callbacks)
    return out, report


def test_fp16_needs_cuda_and_is_refused_before_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*ADDING, "train.precision=fp16", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "train.precision=fp16 needs a CUDA device" in err and "bf16 or fp32" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_fit_refuses_fp16_on_cpu_before_writing_into_the_run_directory(tmp_path):
    cfg = resolve_config("adding", overrides=[*TINY, "train.precision=fp16"])
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(RnnkitError, match="train.precision=fp16 needs a CUDA device"):
        loop.fit(get_task_class("adding")(cfg), out, verbose=False)
    assert list(out.iterdir()) == []


def test_an_unknown_precision_is_refused_naming_the_key_and_the_choices(tmp_path, capsys):
    with pytest.raises(RnnkitError, match="train.precision: expected one of fp32, bf16, fp16"):
        make_precision("fp8", torch.device("cpu"))
    out = tmp_path / "run"
    assert main([*ADDING, "train.precision=float16", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "train.precision: expected one of fp32, bf16, fp16, got 'float16'" in err
    assert not out.exists()


def test_the_config_key_documents_its_values(capsys):
    assert main(["train", "adding", "--help"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "train.precision" in x)
    assert "fp32" in line and "bf16" in line and "fp16" in line


class Dtypes(Callback):
    """Records the dtypes the training step's layers produce, and the gradients'."""

    def __init__(self) -> None:
        self.seen: dict[str, set[torch.dtype]] = {"head": set(), "recurrent": set(), "out": set()}
        self.grads: set[torch.dtype] = set()

    def on_fit_start(self, session):
        model = session.model

        def record(name):
            def hook(module, args, output):
                if module.training:  # the training step, not evaluation
                    y = output[0] if isinstance(output, tuple) else output
                    self.seen[name].add(y.dtype)

            return hook

        model.head.register_forward_hook(record("head"))
        model.recurrent.register_forward_hook(record("recurrent"))
        model.register_forward_hook(record("out"))

    def on_epoch_end(self, session, row):
        self.grads |= {p.grad.dtype for p in session.model.parameters() if p.grad is not None}


def test_bf16_autocasts_the_head_keeps_the_recurrence_and_loss_in_float32(tmp_path):
    probe = Dtypes()
    out32, r32 = adding(tmp_path, "fp32")
    out16, r16 = adding(tmp_path, "bf16", "train.precision=bf16", callbacks=[probe])
    # inside the training step: the head ran in bfloat16, the LSTM in float32; the model's
    # output (what the loss reads) and every gradient are float32
    assert probe.seen["head"] == {torch.bfloat16}
    assert probe.seen["recurrent"] == {torch.float32}
    assert probe.seen["out"] == {torch.float32}
    assert probe.grads == {torch.float32}
    # it trains: a finite loss close to fp32's, float32 weights that differ a little
    l32, l16 = runs.read_metrics(out32)[0]["train.loss"], runs.read_metrics(out16)[0]["train.loss"]
    assert math.isfinite(l16) and abs(l16 - l32) < 0.02 * abs(l32) + 1e-3
    assert math.isfinite(r16["test"]["loss"])
    a, b = load_file(out32 / "model.safetensors"), load_file(out16 / "model.safetensors")
    assert all(t.dtype == torch.float32 for t in b.values())
    diffs = [float((a[k] - b[k]).abs().max()) for k in a]
    assert 0 < max(diffs) < 1e-2  # autocast did change the arithmetic, not the training


def test_the_fp16_gradient_scaler_path_trains(tmp_path, monkeypatch):
    # CUDA only for users; on CPU the loop's scaler branch runs with torch's CPU scaler
    class Counting(torch.amp.GradScaler):
        steps = 0

        def step(self, optimizer, *args, **kwargs):
            Counting.steps += 1
            return super().step(optimizer, *args, **kwargs)

    scaler = Counting("cpu")
    monkeypatch.setattr(loop, "make_precision", lambda name, dev: Precision("fp16", "cpu", scaler))
    out, report = adding(tmp_path, "fp16")
    row = runs.read_metrics(out)[0]
    assert Counting.steps == 4  # 32 sequences in batches of 8: every step went through it
    assert math.isfinite(row["train.loss"]) and math.isfinite(row["grad_norm_max"])
    assert math.isfinite(report["test"]["loss"])


def test_recurrent_layers_of_every_family_run_in_float32_and_the_model_is_restored():
    torch.manual_seed(0)
    layers = [rnnkit.LSTM(3, 5, batch_first=True), rnnkit.MinGRU(3, 5, batch_first=True),
              rnnkit.IndRNN(3, 5, batch_first=True), nn.GRU(3, 5, batch_first=True)]  # fmt: skip
    x = torch.randn(2, 4, 3)
    for layer in layers:
        head = nn.Linear(5, 2)
        model = nn.Sequential(layer, nn.Identity())
        expected = layer(x)[0]
        with mixed_precision(model, Precision("bf16", "cpu")) as kept:
            assert kept == 1, type(layer).__name__
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = layer(x.bfloat16())[0]
                y = head(out)
        assert out.dtype == torch.float32, type(layer).__name__
        assert y.dtype == torch.bfloat16  # what follows the recurrence is autocast
        torch.testing.assert_close(out, expected, rtol=0, atol=2e-2)  # x was rounded
        assert all("forward" not in m.__dict__ for m in model.modules())  # restored


def test_to_fp32_keeps_packed_sequences_and_float64():
    data = torch.randn(2, 3, 4, dtype=torch.bfloat16)
    packed = to_fp32(pack_padded_sequence(data, torch.tensor([3, 2]), batch_first=True))
    assert type(packed).__name__ == "PackedSequence" and packed.data.dtype == torch.float32
    assert packed.batch_sizes.dtype == torch.int64
    wide = torch.zeros(2, dtype=torch.float64)
    state = to_fp32(
        (wide, [torch.zeros(1, dtype=torch.float16)], {"n": torch.ones(1, dtype=torch.int64)})
    )
    assert state[0] is wide and state[1][0].dtype == torch.float32
    assert state[2]["n"].dtype == torch.int64


def test_checkpoint_keeps_the_gradient_scalers_state(tmp_path):
    # fp16 runs on CUDA only; the scaler's state round trip is device independent
    from rnnkit.config import TrainConfig
    from rnnkit.training.checkpoint import TrainState, load_checkpoint, save_checkpoint
    from rnnkit.training.optim import make_optimizer, make_scheduler

    def parts():
        torch.manual_seed(0)
        model = nn.Linear(3, 2)
        optimizer = make_optimizer(model, TrainConfig())
        return model, optimizer, make_scheduler(optimizer, TrainConfig(), 4)

    model, optimizer, schedule = parts()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    scaler._lazy_init_scale_growth_tracker(torch.device("cpu"))
    scaler.update(new_scale=96.0)  # as after overflows had backed it off
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, schedule, torch.Generator(), TrainState(), scaler)
    fresh = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    load_checkpoint(path, *parts(), torch.Generator(), fresh)
    assert fresh.get_scale() == 96.0 and fresh.get_growth_interval() == 3
    # a checkpoint without a scaler (fp32 / bf16 runs) leaves the scaler at its default
    save_checkpoint(path, model, optimizer, schedule, torch.Generator(), TrainState())
    other = torch.amp.GradScaler("cpu", init_scale=1024.0)
    load_checkpoint(path, *parts(), torch.Generator(), other)
    assert other.get_scale() == 1024.0
