"""``rnnkit train g2p`` end to end on tiny sizes; the nearest-spelling baseline; bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from rnnkit.data.seqvocab import SymbolVocab
from rnnkit.tasks.g2p import G2PTask, nearest_spelling
from rnnkit.tasks.resolve import resolve_config
from rnnkit.tasks.seq2seq import PairBatches
from rnnkit.tools.cli import main

pytestmark = pytest.mark.one_thread  # tests/conftest.py

TINY = ["--set", "model.hidden_size=16", "model.embedding_dim=8", "train.batch_size=32"]
TINY += ["train.progress=false", "train.tensorboard=false", "data.beam_size=2"]


@pytest.fixture(scope="module")
def g2p_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("g2p") / "run"
    code = main(["train", "g2p", "--out", str(out), "--epochs", "1", *TINY, "data.words=400"])
    assert code == 0
    return out


def test_report_has_error_rates_baseline_and_anchor(g2p_run: Path) -> None:
    report = json.loads((g2p_run / "report.json").read_text())
    assert report["task"] == "g2p"
    assert set(report["test"]) == {"loss", "wer", "per"}
    assert 0.0 <= report["test"]["wer"] <= 1.0
    assert set(report["baselines"]["nearest_spelling"]) == {"wer", "per"}
    assert report["anchor"]["wer_bilstm_aligned"] == 0.236
    assert report["data"].startswith("cmudict (400 random words of 1")
    info = json.loads((g2p_run / "pairs.json").read_text())
    assert info["sizes"]["test"] == 40 and info["sizes"]["val"] == 20  # split by word
    phones = json.loads((g2p_run / "target_vocab.json").read_text())["symbols"]
    assert "AH" in phones and "AH0" not in phones  # stress dropped by default


def test_predict_prints_phonemes(g2p_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(g2p_run), "hello", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["input"] == "hello"
    assert all(p.isalpha() and p.isupper() for p in row["output"].split())
    assert len(row["attention"][0]) == 5  # one weight per letter


def test_translate_command_refuses_a_g2p_run(
    g2p_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["translate", str(g2p_run), "hello"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: rnnkit translate: a 'g2p' run cannot translate; the tasks that can: translate"
    )


def test_user_pronunciation_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    words = ["cat K AE T", "bat B AE T", "hat HH AE T", "mat M AE T", "rat R AE T"]
    words += ["can K AE N", "ban B AE N", "tan T AE N", "man M AE N", "ran R AE N"] * 1
    words += [f"{a}{b} {a.upper()} {b.upper()}" for a in "bdfgk" for b in "aeiou"]
    path = tmp_path / "mine.dict"
    path.write_text("\n".join(words) + "\n")
    out = tmp_path / "run"
    args = ["train", "g2p", "--data", str(path), "--out", str(out), "--epochs", "1", *TINY]
    assert main([*args, "data.val_fraction=0.2", "data.test_fraction=0.2"]) == 0
    assert "mine.dict (all words" in json.loads((out / "report.json").read_text())["data"]
    bad = tmp_path / "bad.dict"
    bad.write_text("cat K AE T\ndog\n")
    assert main(["train", "g2p", "--data", str(bad), "--out", str(tmp_path / "r2"), *TINY]) == 2
    assert "bad.dict, line 2: expected a word followed by its phonemes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("data.words=-1", "data.words: expected >= 0"),
        ("data.source=/no/such.dict", "neither the built-in 'cmudict' nor an existing file"),
        ("data.attention=dot", "data.attention: 'dot' is not one of bahdanau, luong"),
        ("data.decoder_cell=rnn", "data.decoder_cell: 'rnn' is not one of lstm, gru"),
        ("data.teacher_forcing=1.5", r"data.teacher_forcing: expected a value in \[0, 1\]"),
    ],
)
def test_bad_config_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str
) -> None:
    assert main(["train", "g2p", "--out", str(tmp_path / "run"), *TINY, setting]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_nearest_spelling_baseline() -> None:
    known = sorted(["nation", "station", "cat", "catalog", "zebra"])
    assert nearest_spelling(known, ["ration", "cats", "zebras"], candidates=4) == [
        "nation",
        "cat",
        "zebra",
    ]


def test_teacher_forcing_follows_its_linear_schedule_over_the_epochs() -> None:
    overrides = ["data.teacher_forcing=1.0", "data.teacher_forcing_final=0.4", "train.epochs=4"]
    task = G2PTask(resolve_config("g2p", overrides=overrides))
    ratios = []
    for _ in range(4):
        task.on_epoch_start(None, "train")  # type: ignore[arg-type]
        ratios.append(task.teacher_forcing)
        task.on_epoch_start(None, "val")  # type: ignore[arg-type]  # validation: no step
    assert ratios == pytest.approx([1.0, 0.8, 0.6, 0.4])


def test_training_step_uses_the_schedule_and_label_smoothing() -> None:
    cfg = resolve_config("g2p", overrides=["data.label_smoothing=0.2", "model.dropout=0"])
    cfg.model.hidden_size, cfg.model.embedding_dim = 8, 4
    task = G2PTask(cfg)
    task.source_vocab = SymbolVocab.fit(["cat", "dog"], split="chars")
    task.target_vocab = SymbolVocab.fit([("K", "AE", "T"), ("D", "AO", "G")], split="words")
    torch.manual_seed(0)
    model = task.build_model()
    src = task.source_vocab.encode(["cat", "dog"])
    tgt = task.target_vocab.encode([("K", "AE", "T"), ("D", "AO", "G")])
    batch = next(iter(PairBatches(src, tgt, batch_size=2)))
    with torch.no_grad():  # the values, not the gradients
        logits, _ = model(batch.inputs, batch.lengths, batch.extras["tgt_in"])
        smoothed = model.loss(logits, batch.targets, label_smoothing=0.2)
        assert float(task.training_step(model, batch)) == pytest.approx(float(smoothed), abs=1e-6)
        plain = float(model.loss(logits, batch.targets))
        assert float(task.loss(model, batch)) == pytest.approx(plain)  # validation: unsmoothed
        assert abs(plain - float(smoothed)) > 1e-4
        task.teacher_forcing = 0.0  # the model's own previous argmax from the 2nd step on
        free = task.training_step(model, batch)
        own, _ = model(batch.inputs, batch.lengths, batch.extras["tgt_in"], teacher_forcing=0.0)
        expected = model.loss(own, batch.targets, label_smoothing=0.2)
        assert float(free) == pytest.approx(float(expected), abs=1e-6)
