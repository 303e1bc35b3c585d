"""End to end: ``rnnkit train charlm`` on a tiny text, then ``rnnkit generate``; bad input."""

from __future__ import annotations

import json

import pytest

from rnnkit.tools.cli import main

TEXT = "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind\n" * 12
TINY = ["--set", "model.hidden_size=12", "model.num_layers=1", "model.embedding_dim=8"]
TINY += ["data.bptt=16", "train.batch_size=4", "train.progress=false"]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("charlm")
    (root / "play.txt").write_text(TEXT, encoding="utf-8")
    out = root / "run"
    code = main(["train", "charlm", "--data", str(root / "play.txt"), "--out", str(out)]
                + ["--epochs", "1", *TINY])  # fmt: skip
    assert code == 0
    return out


def test_train_writes_vocab_and_bpc_report(lm_run):
    report = json.loads((lm_run / "report.json").read_text())
    assert report["task"] == "charlm"
    assert set(report["test"]) >= {"loss", "bpc"}
    assert report["test"]["bpc"] == pytest.approx(report["test"]["loss"] / 0.6931471805599453)
    assert {"unigram", "bigram_add_one"} <= set(report["baselines"])
    assert report["anchor"] is None  # the published figures are for other texts
    vocab = json.loads((lm_run / "vocab.json").read_text())
    assert vocab["level"] == "char" and "q" in vocab["symbols"]


def test_generate_is_reproducible_with_a_seed(lm_run, capsys):
    args = ["generate", str(lm_run), "--prime", "to be", "--length", "30", "--seed", "3"]
    assert main([*args, "--top-k", "5", "--top-p", "0.9"]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--top-k", "5", "--top-p", "0.9"]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("to be") and len(first.rstrip("\n")) >= 35
    assert main([*args, "--temperature", "0"]) == 0  # greedy decoding works too
    assert capsys.readouterr().out.startswith("to be")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--prime", "to bé!Z"], "outside the vocabulary"),
        (["--length", "0"], "--length must be at least 1"),
        (["--length", "-3"], "--length must be at least 1"),
        (["--temperature", "-1"], "temperature must be >= 0"),
    ],
)
def test_generate_bad_input_is_one_clear_line(lm_run, capsys, extra, message):
    assert main(["generate", str(lm_run), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    if "vocabulary" in message:
        assert "'é'" in err and "'Z'" in err


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"abc\x00def" * 10, "looks binary"), (b"caf\xe9 " * 20, "not UTF-8")],
)
def test_train_refuses_bad_text_files_naming_them(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    code = main(["train", "charlm", "--data", str(bad), "--out", str(tmp_path / "r"), *TINY])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "bad.txt" in err


def test_train_refuses_a_bptt_chunk_longer_than_the_data(tmp_path, capsys):
    (tmp_path / "t.txt").write_text(TEXT[:300], encoding="utf-8")
    args = ["train", "charlm", "--data", str(tmp_path / "t.txt"), "--out", str(tmp_path / "r")]
    assert main([*args, *TINY, "data.bptt=200"]) == 2
    assert "data.bptt=200 is longer than the training data" in capsys.readouterr().err


def test_evaluate_a_saved_run_and_another_text(lm_run, tmp_path, capsys):
    report = json.loads((lm_run / "report.json").read_text())
    assert main(["evaluate", str(lm_run)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.split()[:1] == ["bpc"])
    assert float(line.split()[1]) == pytest.approx(report["test"]["bpc"], rel=1e-4)  # same split
    other = tmp_path / "other.txt"
    other.write_text("whether to be or not to be\n" * 5, encoding="utf-8")
    assert main(["evaluate", str(lm_run), "--data", str(other)]) == 0
    assert "bpc" in capsys.readouterr().out


def test_the_published_anchor_comes_only_with_the_builtin_corpus():
    from rnnkit.tasks.charlm import CharLMTask
    from rnnkit.tasks.resolve import default_config, resolve_config

    assert CharLMTask(default_config("charlm")).anchor["ptb_char_lstm_bpc"] == 1.36
    assert CharLMTask(resolve_config("charlm", overrides=["data.source=my.txt"])).anchor is None
