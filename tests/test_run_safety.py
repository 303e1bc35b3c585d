"""A run directory is never damaged: a refused command of any kind leaves every file of an
existing run byte-identical, and files that do not fit each other (or are damaged) are
named in one line by every command that reads them.

The bad command lines are a table: a new command or kind of bad input is one row.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from rnnkit.tools.cli import main

POS = ["a joy", "brilliant", "great fun", "warm and witty", "superb"]
NEG = ["a dull mess", "boring", "awful", "flat and tired", "painfully bad"]
TINY = [
    "--set", "model.hidden_size=8", "model.embedding_dim=8", "model.num_layers=1",
    "train.batch_size=16", "train.progress=false", "train.tensorboard=false",
    "data.text_column=review", "data.label_column=sentiment",
]  # fmt: skip


def digest(run: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``run`` (hidden files included)."""
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


def call(argv: list[str], capsys) -> tuple[int, str]:
    """Run the CLI; return its exit code and stderr (argparse's exit counts as a code)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse refusing an option
        code = e.code if isinstance(e.code, int) else 2
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    """Exit code != 0, one ``error:`` line (notes aside), no traceback, naming ``needles``."""
    assert code not in (0, None), err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
    if lines and lines[0].startswith("usage:"):  # argparse: the usage lines, then the error
        lines = [line for line in lines if ": error: " in line]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A tiny review CSV (80 rows), and beside it a file of the wrong shape."""
    root = tmp_path_factory.mktemp("data")
    rows = ["review,sentiment"]
    rows += [f"{POS[i % 5]} film {i},positive" for i in range(40)]
    rows += [f"{NEG[i % 5]} movie {i},negative" for i in range(40)]
    (root / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "wrong.csv").write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    (root / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (root / "latin1.txt").write_bytes("a joy\nun caf\u00e9 froid\n".encode("latin-1"))
    (root / "empty.csv").write_bytes(b"")
    (root / "section.yaml").write_text("model: 5\n", encoding="utf-8")
    (root / "types.yaml").write_text("model:\n  hidden_size: big\n", encoding="utf-8")
    (root / "list.yaml").write_text("train:\n  lr: [1, 2]\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data) -> Path:
    """A finished two-epoch sentiment run (trained once for the module; copy it to damage)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    argv = ["train", "sentiment", "--data", data / "reviews.csv", "--out", run, "--epochs", "2"]
    assert main([str(a) for a in argv + TINY]) == 0
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


# (argv with RUN and DATA standing for the run directory and the data folder, words the
#  one-line error must contain)
BAD = [
    # train into an existing run: the config, the data, the checkpoint against the config
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "model.hidden_size=7"],
     ["checkpoint.pt", "[32, 8] in the file, [28, 8] by the config",
      "the config differs from the run's: model.hidden_size: run has 8, this command 7"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "bogus.key=1"], ["bogus"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "train.lr=abc"], ["train.lr"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--data", "DATA/none.csv"], ["none.csv"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--data", "DATA/wrong.csv"], ["review"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--device", "bogus"], ["device"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--epochs", "0"], ["train.epochs"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--epochs", "3", "--set",
      "train.monitor=bogus"], ["train.monitor", "no 'bogus'", "they are: loss, accuracy"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--epochs", "3", "--set",
      "train.gradflow=true"], ["train.gradflow: the sentiment task does not expose"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--seed", "-1"],
     ["seed: expected an integer >= 0, got -1"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "train.weight_decay=-1"],
     ["train.weight_decay: expected a number >= 0"]),
    (["train", "sentiment", "--out", "RUN", "--overwrite", "--data", "DATA/reviews.csv", "--set",
      "train.monitor=bogus", "data.text_column=review", "data.label_column=sentiment"],
     ["train.monitor", "no 'bogus'", "they are: loss, accuracy"]),
    (["train", "forecast", "--out", "RUN", "--resume"], ["sentiment"]),
    (["train", "sentiment", "--out", "RUN"], ["--overwrite"]),
    (["train", "sentiment", "--out", "RUN", "--overwrite", "--data", "DATA/wrong.csv"],
     ["wrong.csv", "no column"]),
    (["train", "sentiment", "--out", "RUN", "--overwrite", "--data", "DATA/binary.csv"],
     ["binary.csv"]),
    (["train", "sentiment", "--out", "RUN", "--overwrite", "--set", "model.cell=nope"],
     ["model.cell"]),
    (["train", "sentiment", "--out", "RUN", "--overwrite", "--resume"], ["--resume"]),
    # wrong types and out-of-range values in the config (--set and --config)
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "model.hidden_size=abc"],
     ["model.hidden_size", "expected an integer"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "train.batch_size=1.5"],
     ["train.batch_size", "expected an integer"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "model.bidirectional=maybe"],
     ["model.bidirectional", "true or false"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "train.lr=nan"],
     ["train.lr", "finite number"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--set", "model.hidden_size=0"],
     ["model.hidden_size", ">= 1"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--config", "DATA/section.yaml"],
     ["config section 'model' must be a mapping", "got 5"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--config", "DATA/types.yaml"],
     ["model.hidden_size", "'big'"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--config", "DATA/list.yaml"],
     ["train.lr", "[1, 2]"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--config", "DATA/none.yaml"],
     ["none.yaml does not exist"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--config", "/dev/zero"],
     ["config file /dev/zero is a character device"]),
    # the readers, with bad inputs
    (["evaluate", "RUN", "--data", "DATA/none.csv"], ["none.csv"]),
    (["evaluate", "RUN", "--data", "DATA/wrong.csv"], ["review"]),
    (["evaluate", "RUN", "--split", "nope"], ["--split"]),
    (["evaluate", "RUN", "--data", "DATA/empty.csv"], ["empty.csv is empty"]),
    (["train", "sentiment", "--out", "RUN", "--overwrite", "--data", "DATA/empty.csv"],
     ["empty.csv is empty"]),
    (["predict", "RUN", "--file", "DATA/empty.csv"], ["nothing to predict"]),
    (["predict", "RUN", "great fun", " "], ["input 2 is empty"]),
    (["explain", "RUN", " "], ["empty"]),
    (["evaluate", "RUN", "--data", "/dev/zero"], ["/dev/zero is a character device"]),
    (["train", "sentiment", "--out", "RUN", "--resume", "--data", "/dev/zero"],
     ["/dev/zero is a character device"]),
    (["predict", "RUN"], ["nothing to predict"]),
    (["predict", "RUN", "--file", "DATA/none.txt"], ["none.txt"]),
    (["predict", "RUN", "--file", "DATA/binary.csv"], ["binary.csv", "NUL byte"]),
    (["predict", "RUN", "--file", "DATA/latin1.txt"], ["latin1.txt line 2", "not UTF-8"]),
    (["predict", "RUN", "--file", "/dev/zero"], ["/dev/zero line 1", "longer than"]),
    (["predict", "RUN", "--file", "DATA"], ["is a directory"]),
    (["forecast", "RUN"], ["sentiment"]),
    (["generate", "RUN"], ["sentiment"]),
    (["translate", "RUN", "hallo welt"], ["a 'sentiment' run cannot translate"]),
    (["translate", "RUN", "hallo", "--beam-size", "0"], ["a 'sentiment' run cannot translate"]),
    (["translate", "DATA/none", "hallo"], ["run directory DATA/none does not exist"]),
    (["translate", "DATA", "hallo"], ["not an rnnkit run directory"]),
    (["explain", "RUN", "great fun", "--steps", "0"], ["--steps"]),
    (["explain", "RUN", "great fun", "--out", "DATA"], ["DATA"]),
    (["explain", "RUN", "great fun", "--out", "RUN/tokenizer.json", "--overwrite"],
     ["tokenizer.json would replace one of the run's own files"]),
    (["explain", "RUN", "great fun", "--out", "RUN/tb/x.html"], ["would be written among"]),
    # serving and exporting: refused before anything starts or is written
    (["serve", "RUN", "--port", "99999"], ["--port", "0..65535"]),
    (["serve", "RUN", "--max-items", "0"], ["max_items", ">= 1"]),
    (["serve", "RUN", "--device", "bogus"], ["device", "'bogus'"]),
    (["serve", "RUN", "--host", "999.1.1.1"], ["--host 999.1.1.1", "not a host"]),
    (["serve", "DATA"], ["not an rnnkit run directory"]),
    (["export", "RUN", "--int8", "--out", "DATA/x.txt"], [".onnx"]),
    (["export", "RUN", "--format", "tflite"], ["--format"]),
    (["export", "RUN", "--out", "DATA"], ["DATA is a directory"]),
    (["export", "RUN", "--out", "RUN/config.yaml", "--overwrite"], ["config.yaml would replace"]),
    (["export", "RUN", "--out", "RUN/x.txt"], [".onnx"]),
    (["export", "DATA/none"], ["DATA/none"]),
    # a search whose study directory would be the run
    (["tune", "sentiment", "--out", "RUN", "--trials", "1"], ["is a run directory"]),
    (["tune", "sentiment", "--out", "RUN", "--trials", "0"], ["--trials", ">= 1, got 0"]),
    # the commands that read no run: their bad inputs never reach one either
    (["diagnose", "--out", "RUN/config.yaml", "--steps", "0"], ["--out must name a .png"]),
    (["diagnose", "--cells", "nope", "--out", "RUN/g.png"], ["--cells", "nope"]),
    (["diagnose", "--length", "1", "--out", "RUN/g.png"], ["--length must be at least 2"]),
    (["data", "list", "--task", "nope"], ["--task 'nope'"]),
    (["data", "bogus"], ["invalid choice: 'bogus'"]),
    (["info", "--bogus"], ["unrecognized arguments: --bogus"]),
]  # fmt: skip


def test_the_bad_input_table_has_rows_for_every_command():
    """A new command of ``rnnkit --help`` needs its rows in BAD (and, if it reads a run of
    another task than sentiment, rows for a run of that task too)."""
    import argparse

    from rnnkit.tools.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) - {argv[0] for argv, _ in BAD} == set()


@pytest.fixture
def no_serving(monkeypatch):
    """``rnnkit serve`` fails instead of serving (a table row that passes would block)."""
    import rnnkit.deploy.server as server

    real = server.require_server

    class NoUvicorn:
        @staticmethod
        def run(*args, **kwargs):
            raise AssertionError("rnnkit serve started serving")

    monkeypatch.setattr(server, "require_server", lambda: (real()[0], NoUvicorn))


def test_refused_commands_leave_the_run_byte_identical(
    finished, data, tmp_path, capsys, no_serving
):
    run = copy_of(finished, tmp_path)
    before = digest(run)
    assert "config.yaml" in before and "checkpoint.pt" in before and "report.json" in before
    for argv, needles in BAD:
        argv = [str(a).replace("RUN", str(run)).replace("DATA", str(data)) for a in argv]
        code, err = call(argv, capsys)
        needles = [n.replace("DATA", str(data)) for n in needles]
        assert_one_line(code, err, *needles)
        assert digest(run) == before, f"{' '.join(argv)} changed the run directory"
    # and the run still works
    assert call(["evaluate", run], capsys)[0] == 0


def test_a_refused_fresh_run_leaves_no_directory(data, tmp_path, capsys):
    run = tmp_path / "fresh"
    argv = ["train", "sentiment", "--out", run, "--data", data / "wrong.csv", *TINY]
    assert_one_line(*call(argv, capsys), "review")
    assert not run.exists()


def test_overwrite_replaces_the_old_run_only_once_the_new_one_is_checked(
    finished, data, tmp_path, capsys
):
    run = copy_of(finished, tmp_path)
    (run / "stale-artefact.json").write_text("{}", encoding="utf-8")
    argv = ["train", "sentiment", "--out", run, "--overwrite", "--data", data / "reviews.csv"]
    assert call(argv + ["--epochs", "1", *TINY], capsys)[0] == 0
    names = {p.name for p in run.iterdir()}
    assert "stale-artefact.json" not in names and not any(n.endswith(".tmp") for n in names)
    assert not any(n.startswith(".rnnkit-old-") for n in names)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


# ----------------------------------------------------------------------------- damaged runs


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def edit_config(path: Path) -> None:
    text = path.read_text(encoding="utf-8").replace("hidden_size: 8", "hidden_size: 7")
    path.write_text(text, encoding="utf-8")


def newer_format(path: Path) -> None:
    text = path.read_text(encoding="utf-8").replace("format_version: 1", "format_version: 99")
    path.write_text(text, encoding="utf-8")


def newer_rnnkit(path: Path) -> None:
    """config.yaml as a newer rnnkit of the same run format might write it: a new key."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^rnnkit_version: .*$", "rnnkit_version: 9.0.0", text)
    path.write_text(text.replace("  hidden_size: 8\n", "  hidden_size: 8\n  new_knob: 3\n"))


def newer_checkpoint(path: Path) -> None:
    import torch

    ckpt = torch.load(path, weights_only=True)
    torch.save({**ckpt, "version": 7}, path)


DAMAGE = [
    # (file, how, words the one line names)
    ("model.safetensors", truncate, ["model.safetensors", "damaged"]),
    ("model.safetensors", lambda p: p.write_bytes(b""), ["model.safetensors"]),
    (
        "config.yaml",
        edit_config,
        [
            "model.safetensors",
            "config.yaml",
            "[32, 8]",
            "[28, 7]",
            "model.hidden_size: trained with 8, config.yaml has 7",
        ],
    ),
    ("config.yaml", lambda p: p.write_text("task: [unclosed\n"), ["config.yaml", "YAML"]),
    (
        "config.yaml",
        lambda p: p.write_text(p.read_text().replace("hidden_size: 8", "hidden_size: big")),
        ["config.yaml", "model.hidden_size", "expected an integer"],
    ),
    ("config.yaml", newer_format, ["format 99", "upgrade rnnkit"]),
    (
        "config.yaml",
        newer_rnnkit,
        [
            "unknown config key 'model.new_knob'",
            "written by rnnkit 9.0.0, newer than this rnnkit",
            "upgrade rnnkit to read it",
        ],
    ),  # fmt: skip
    ("tokenizer.json", lambda p: p.unlink(), ["tokenizer.json"]),
    ("tokenizer.json", lambda p: p.write_text("{not json"), ["tokenizer.json"]),
    ("labels.json", lambda p: p.write_text("[1, 2"), ["labels.json"]),
    ("report.json", lambda p: p.write_text("{"), ["report.json"]),
]

READERS = [
    ["evaluate", "RUN"],
    ["predict", "RUN", "great fun"],
    ["explain", "RUN", "great fun", "--out", "OUT/x.html"],
    ["serve", "RUN", "--port", "0"],
    ["export", "RUN", "--out", "OUT/x.onnx"],
]


@pytest.mark.parametrize(("name", "damage", "needles"), DAMAGE)
def test_every_reader_names_a_damaged_file_in_one_line(
    finished, tmp_path, capsys, no_serving, name, damage, needles
):
    run = copy_of(finished, tmp_path)
    damage(run / name)
    before = digest(run)
    for argv in READERS:
        if name == "report.json" and argv[0] != "evaluate":
            continue  # only evaluate reads the report (for nothing but display)
        argv = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path)) for a in argv]
        assert_one_line(*call(argv, capsys), *needles)
    assert digest(run) == before


@pytest.mark.parametrize(
    ("name", "damage", "needles"),
    [
        ("checkpoint.pt", truncate, ["checkpoint.pt", "damaged"]),
        ("checkpoint.pt", newer_checkpoint, ["checkpoint.pt", "checkpoint format 7",
         "reads formats up to 1): upgrade rnnkit to resume it"]),
        ("checkpoint.pt", lambda p: __import__("torch").save([1, 2], p),
         ["checkpoint.pt: not an rnnkit checkpoint (it holds a list)"]),
        ("metrics.jsonl", lambda p: p.write_text('{"epoch": 1}\n{"ep\n{"epoch": 2}\n'),
         ["metrics.jsonl", "line 2"]),
        ("metrics.jsonl", lambda p: p.write_text('{"epoch": 2}\n'), ["metrics.jsonl", "epoch"]),
        ("config.yaml", edit_config, ["checkpoint.pt", "[28, 7] by the config"]),
    ],
)  # fmt: skip
def test_resume_names_a_damaged_file_in_one_line(
    finished, data, tmp_path, capsys, name, damage, needles
):
    run = copy_of(finished, tmp_path)
    damage(run / name)
    before = digest(run)
    argv = ["train", "sentiment", "--out", run, "--resume", "--data", data / "reviews.csv"]
    assert_one_line(*call(argv + ["--epochs", "3"], capsys), *needles)
    assert digest(run) == before


def test_weights_of_an_epoch_the_checkpoint_never_reached_are_not_kept_as_the_best(
    finished, data, tmp_path, capsys
):
    """What a run killed after epoch 3's best weights went in place, before its
    checkpoint, leaves (here: the weights zeroed, marked epoch 3). The resume redoes epoch
    3 and chooses the best again from there, so the weights file and the report agree;
    with no epoch left to train it is refused, changing nothing."""
    import json

    import torch
    from safetensors.torch import load_file, save_file

    from rnnkit.runs import weights_epoch

    run = copy_of(finished, tmp_path)
    assert weights_epoch(run / "model.safetensors") in (1, 2)
    zeros = {k: torch.zeros_like(v) for k, v in load_file(run / "model.safetensors").items()}
    save_file(zeros, run / "model.safetensors", metadata={"format": "pt", "epoch": "3"})
    before = digest(run)
    argv = ["train", "sentiment", "--out", run, "--resume", "--data", data / "reviews.csv", *TINY]
    assert_one_line(*call([*argv, "--epochs", "2"], capsys), f"cannot resume {run}: "
                    "model.safetensors holds the weights of epoch 3, which the checkpoint "
                    "(epoch 2) never reached", "resume with --epochs 3 or more")  # fmt: skip
    assert digest(run) == before
    code, err = call([*argv, "train.lr=1e-9", "--epochs", "3"], capsys)  # TINY's --set
    assert code == 0, err
    assert "the best epoch is chosen again from epoch 3 on" in err
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert report["best_epoch"] == weights_epoch(run / "model.safetensors") == 3
    assert any(v.abs().sum() > 0 for v in load_file(run / "model.safetensors").values())


def test_a_torn_last_metrics_line_is_noted_and_repaired_on_resume(finished, data, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    with (run / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"epoch": 3, "train.lo')  # a write cut short
    argv = ["train", "sentiment", "--out", run, "--resume", "--data", data / "reviews.csv"]
    code, err = call(argv + ["--epochs", "3", *TINY], capsys)
    assert code == 0 and "metrics.jsonl: line 3 is torn" in err
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [line[:12] for line in lines] == ['{"epoch": 1,', '{"epoch": 2,', '{"epoch": 3,']


def test_resume_on_other_data_is_refused_naming_both_files(finished, data, tmp_path, capsys):
    """Other words, the same number of them: the refitted tokenizer would have the same
    size (the checkpoint fits) but other ids. The resume is refused by the data's digest
    (without a recorded digest, by the tokenizer: test further below); nothing changes."""
    run = copy_of(finished, tmp_path)
    other = tmp_path / "other.csv"
    text = (data / "reviews.csv").read_text(encoding="utf-8")
    other.write_text(text.replace("film", "show").replace("movie", "piece"), encoding="utf-8")
    before = digest(run)
    argv = ["train", "sentiment", "--out", run, "--resume", "--data", other, "--epochs", "3"]
    assert_one_line(*call(argv, capsys),
                    f"cannot resume {run}: data file {other} is not the data the run was "
                    f"trained on (SHA-256 ", f"the run was trained on {data / 'reviews.csv'}: "
                    "SHA-256 ", "resume on the data the run was trained on")  # fmt: skip
    assert digest(run) == before


@pytest.mark.parametrize("spelling", ["copy", "symlink", "relative"])
def test_resume_on_the_same_data_by_another_path_is_accepted(
    finished, data, tmp_path, capsys, monkeypatch, spelling
):
    """The run's data under another name (a copy of the same bytes, a symlink, a relative
    path) resumes; other content is refused (the test above)."""
    run = copy_of(finished, tmp_path)
    if spelling == "copy":
        other: Path | str = tmp_path / "copied.csv"
        shutil.copyfile(data / "reviews.csv", other)
    elif spelling == "symlink":
        other = tmp_path / "link.csv"
        other.symlink_to(data / "reviews.csv")
    else:
        monkeypatch.chdir(data)
        other = "reviews.csv"
    argv = ["train", "sentiment", "--out", run, "--resume", "--data", other, "--epochs", "3"]
    code, err = call(argv + TINY, capsys)
    assert code == 0, err
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [line[:12] for line in lines] == ['{"epoch": 1,', '{"epoch": 2,', '{"epoch": 3,']


def test_same_data_compares_files_by_identity_or_content(tmp_path, monkeypatch):
    from rnnkit.rundir import same_data

    a = tmp_path / "a.csv"
    a.write_text("text,label\nfine,pos\n", encoding="utf-8")
    (tmp_path / "copy.csv").write_bytes(a.read_bytes())
    (tmp_path / "other.csv").write_text("text,label\nfine,neg\n", encoding="utf-8")  # same size
    (tmp_path / "link.csv").symlink_to(a)
    monkeypatch.chdir(tmp_path)
    assert same_data(str(a), "a.csv") and same_data(str(a), "./link.csv")
    assert same_data(str(a), str(tmp_path / "copy.csv"))
    assert not same_data(str(a), str(tmp_path / "other.csv"))
    assert not same_data(str(a), str(tmp_path / "missing.csv"))
    assert same_data(str(tmp_path), str(tmp_path / ".." / tmp_path.name))  # one folder
    assert not same_data("rotten_tomatoes", "imdb")


def test_evaluate_on_other_data_leaves_the_run_byte_identical(finished, data, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    other = tmp_path / "other.csv"
    text = (data / "reviews.csv").read_text(encoding="utf-8")
    other.write_text(text.replace("film", "show"), encoding="utf-8")
    before = digest(run)
    for argv in (["evaluate", run, "--data", other], ["evaluate", run, "--split", "val"]):
        assert call(argv, capsys)[0] == 0
        assert digest(run) == before


def test_config_changes_names_the_keys_that_differ():
    from rnnkit.rundir import config_changes

    old = {"model": {"hidden_size": 128, "cell": "lstm"}, "train": {"epochs": 2, "lr": 0.1}}
    new = {"train": {"epochs": 9, "lr": 0.2}, "model": {"hidden_size": 7, "cell": "gru"}}
    assert config_changes(old, new) == (
        "model.hidden_size: run has 128, this command 7; model.cell: run has 'lstm', this "
        "command 'gru'; train.lr: run has 0.1, this command 0.2"
    )  # train.epochs never changes what a file holds
    assert config_changes(old, new, only="train.", limit=1) == (
        "train.epochs: run has 2, this command 9 (+1 more keys)"
    )
    assert config_changes(old, {**old, "data": {"path": "x"}}, labels=("a", "b")) == (
        "data.path: a no such key, b 'x'"
    )
    assert config_changes(old, old) == ""


def test_serve_on_a_port_in_use_is_refused_in_one_line(finished, capsys, no_serving):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = call(["serve", finished, "--port", port], capsys)
    assert_one_line(code, err, f"cannot listen on --host 127.0.0.1 --port {port}",
                    "Address already in use")  # fmt: skip


# ----------------------------------------------------------------------------- one writer

HOLD = """
import sys, time
from rnnkit.rundir import RunLock
run = sys.argv[1]
sys.argv = ["/venv/lib/python3/site-packages/rnnkit/__main__.py", "train", "x", "--resume"]
RunLock(run).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_ones_lock_is_taken_over(
    finished, data, tmp_path, capsys
):
    import os
    import signal
    import subprocess
    import sys

    run = copy_of(finished, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = digest(run)
        for mode in (["--overwrite"], ["--resume"]):
            argv = ["train", "sentiment", "--out", run, *mode, "--epochs", "3", *TINY]
            code, err = call(argv, capsys)
            assert_one_line(code, err, "being written by another rnnkit process",
                            f"pid {holder.pid} on ", "started ",
                            ": rnnkit train x --resume)")  # fmt: skip
            assert digest(run) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    code, err = call(argv, capsys)  # the dead holder's lock is taken over
    assert code == 0 and f"took over the lock of {run} left by" in err and str(holder.pid) in err
    assert (run / ".rnnkit.lock").read_text() == ""  # released cleanly


def test_outputs_into_a_run_wait_for_its_writer_and_readers_do_not(finished, tmp_path, capsys):
    """While a process writes the run (here: holds its lock), explain and export refuse to
    write their default files into it, naming the holder; outside the run they work, and
    so do evaluate and predict (readers take no lock)."""
    import os
    import signal
    import subprocess
    import sys

    run = copy_of(finished, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = digest(run)
        for argv in (["explain", run, "great fun"], ["export", run]):
            assert_one_line(*call(argv, capsys), f"{run} is being written by another rnnkit "
                            f"process (pid {holder.pid} on ", "write the output outside the "
                            "run directory (--out)")  # fmt: skip
            assert digest(run) == before
        assert call(["explain", run, "great fun", "--out", tmp_path / "x.html"], capsys)[0] == 0
        assert call(["evaluate", run], capsys)[0] == 0
        assert call(["predict", run, "great fun"], capsys)[0] == 0
        assert digest(run) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert call(["explain", run, "great fun"], capsys)[0] == 0  # the holder is gone
    assert (run / "explain.html").is_file() and (run / ".rnnkit.lock").read_text() == ""


def test_predict_streams_a_long_file_in_order(finished, tmp_path, capsys):
    """--file is read and predicted in batches (constant memory): every non-empty line of
    a file longer than one batch gets its line of output, in order."""
    from rnnkit.tools.commands.predict import BATCH_LINES

    texts = [f"{(POS + NEG)[i % 10]} {i}" for i in range(2 * BATCH_LINES + 37)]
    lines = [t if i % 100 else "" for i, t in enumerate(texts)]  # blank lines are skipped
    path = tmp_path / "inputs.txt"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(finished), "--file", str(path), "--json"]) == 0
    import json

    out = [json.loads(row)["input"] for row in capsys.readouterr().out.splitlines()]
    assert out == [t for t in lines if t]


def test_iter_inputs_names_the_line_of_a_bad_byte_beyond_the_first_batch(tmp_path):
    from rnnkit.errors import RnnkitError
    from rnnkit.tools.commands.predict import iter_inputs

    path = tmp_path / "f.txt"
    path.write_bytes(b"one\ntwo\n\nthree\nfo\xffur\n")
    batches = iter_inputs(str(path), batch=2)
    assert next(batches) == ["one", "two"]
    with pytest.raises(RnnkitError, match=r"f.txt line 5: not UTF-8 text \(byte 3 of the line\)"):
        next(batches)


# ----------------------------------------------------------------------------- long inputs

LONG = " ".join(["superb"] * 150 + ["awful"] * 100)  # 250 tokens; the run reads 200
CUT = " ".join(["superb"] * 150 + ["awful"] * 50)  # what the run reads of it


def test_predict_notes_a_long_input_and_predicts_on_the_part_the_model_reads(finished, capsys):
    import json

    capsys.readouterr()
    assert main(["predict", str(finished), "great fun", LONG, CUT, "--json"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    note = "250 tokens; the model reads the first 200 (data.max_length=200, data.truncate=end)"
    assert captured.err.strip() == f"note: INPUT 2: {note}; predicted on that part"
    assert [row.get("truncated") for row in rows] == [None, note, None]
    assert rows[1]["probabilities"] == rows[2]["probabilities"]  # the cut is the first 200


def test_predict_refuse_long_refuses_before_printing(finished, capsys):
    code, err = call(["predict", finished, "great fun", LONG, "--refuse-long"], capsys)
    assert_one_line(code, err, "INPUT 2: 250 tokens; the model reads the first 200",
                    "refused (--refuse-long)")  # fmt: skip
    assert capsys.readouterr().out == ""


def test_predict_file_names_the_lines_of_long_inputs_and_counts_the_rest(
    finished, tmp_path, capsys
):
    from rnnkit.tools.commands.predict import MAX_NOTES

    path = tmp_path / "inputs.txt"
    lines = ["great fun", "", *[LONG] * (MAX_NOTES + 2)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(finished), "--file", str(path)]) == 0
    captured = capsys.readouterr()
    notes = captured.err.strip().splitlines()
    assert len(captured.out.splitlines()) == MAX_NOTES + 3
    assert notes[0].startswith(f"note: --file {path} line 3: 250 tokens; the model reads")
    assert len(notes) == MAX_NOTES + 1
    assert notes[-1].startswith(f"note: {MAX_NOTES + 2} inputs in all were longer than")
    code, err = call(["predict", finished, "--file", path, "--refuse-long"], capsys)
    assert_one_line(code, err, f"--file {path} line 3: 250 tokens", "--refuse-long")


def test_forecast_and_seq2seq_inputs_longer_than_the_model_reads_are_named():
    from rnnkit.tasks.forecast import ForecastTask
    from rnnkit.tasks.resolve import resolve_config

    cfg = resolve_config("forecast", overrides={"data.context": "4"})
    cuts = ForecastTask(cfg).input_cuts(["1,2,3,4", "1, 2, 3, 4, 5, 6"])
    assert cuts == ["", "6 values; the model reads the last 4 (data.context=4)"]

    from rnnkit.data.seqvocab import SymbolVocab
    from rnnkit.tasks.g2p import G2PTask

    task = G2PTask(resolve_config("g2p", overrides={"data.max_length": "5"}))
    task.source_vocab = SymbolVocab.fit(["abcde"])
    assert task.input_cuts(["abc", "abcdeab"]) == [
        "", "7 tokens, longer than any training source (data.max_length=5); the output stops "
        "at 5 tokens",
    ]  # fmt: skip


# ----------------------------------------------------------------------------- data digest


def test_a_run_records_the_digest_of_its_data(finished, data):
    import json
    import time

    record = json.loads((finished / "data.json").read_text(encoding="utf-8"))
    file = data / "reviews.csv"
    assert record == {
        "key": "data.name",
        "path": str(file),
        "kind": "file",
        "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
        "bytes": file.stat().st_size,
        "files": 1,
        "modified": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(file.stat().st_mtime)),
    }


@pytest.fixture(scope="module")
def relative(tmp_path_factory, data) -> tuple[Path, Path]:
    """A two-epoch run trained on ``--data reviews.csv`` from its folder (a relative path:
    a copy of the run and the folder is a run whose recorded data can be edited)."""
    root = tmp_path_factory.mktemp("relative")
    (root / "src").mkdir()
    shutil.copyfile(data / "reviews.csv", root / "src" / "reviews.csv")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root / "src")
        argv = ["train", "sentiment", "--data", "reviews.csv", "--out", root / "run",
                "--epochs", "2", *TINY]  # fmt: skip
        assert main([str(a) for a in argv]) == 0
    return root / "run", root / "src"


def copy_run_and_data(relative, tmp_path, monkeypatch) -> Path:
    """A copy of the ``relative`` run and its data folder; the working directory is the
    copied folder, so the copied run's recorded ``reviews.csv`` is the copied file."""
    run, src = relative
    shutil.copytree(run, tmp_path / "run")
    shutil.copytree(src, tmp_path / "src")
    monkeypatch.chdir(tmp_path / "src")
    return tmp_path / "run"


def edit_keeping_the_tokenizer(path: Path) -> None:
    """Edit ``path`` so that the tokenizer, labels and splits it gives stay the same (the
    texts are lower-cased before tokenizing): the checks made before the digest was
    recorded, on the files the setup writes again, let it pass."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("a joy film 0,", "A JOY film 0,"), "utf-8")


def test_resume_refuses_the_data_edited_since_training(relative, tmp_path, monkeypatch, capsys):
    run = copy_run_and_data(relative, tmp_path, monkeypatch)
    edit_keeping_the_tokenizer(Path("reviews.csv"))
    before = digest(run)
    argv = ["train", "sentiment", "--out", run, "--resume", "--epochs", "3", *TINY]
    assert_one_line(*call(argv, capsys), f"cannot resume {run}: data file reviews.csv changed "
                    "since training (SHA-256 ", "; at training: SHA-256 ",
                    "resume on the data the run was trained on")  # fmt: skip
    assert digest(run) == before


def test_resume_accepts_the_data_moved_or_copied_and_records_the_new_path(
    relative, tmp_path, monkeypatch, capsys
):
    import json

    run = copy_run_and_data(relative, tmp_path, monkeypatch)
    recorded = json.loads((run / "data.json").read_text(encoding="utf-8"))
    moved = tmp_path / "elsewhere" / "renamed.csv"
    moved.parent.mkdir()
    Path("reviews.csv").rename(moved)  # the original path holds nothing now
    argv = ["train", "sentiment", "--out", run, "--resume", "--data", moved, "--epochs", "3"]
    code, err = call(argv + TINY, capsys)
    assert code == 0, err
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [line[:12] for line in lines] == ['{"epoch": 1,', '{"epoch": 2,', '{"epoch": 3,']
    now = json.loads((run / "data.json").read_text(encoding="utf-8"))
    assert now["path"] == str(moved) and now["sha256"] == recorded["sha256"]
    assert f"name: {moved}" in (run / "config.yaml").read_text(encoding="utf-8")


def test_resume_of_a_run_without_a_data_record_keeps_the_older_checks(
    relative, data, tmp_path, monkeypatch, capsys
):
    """Runs written before the digest was recorded: the data at the run's path is compared
    as before (other words refused by the tokenizer; an edit that keeps it passes), and the
    resume records nothing."""
    run = copy_run_and_data(relative, tmp_path, monkeypatch)
    (run / "data.json").unlink()
    other = tmp_path / "other.csv"
    other.write_text(Path("reviews.csv").read_text("utf-8").replace("film", "show"), "utf-8")
    before = digest(run)
    argv = ["train", "sentiment", "--out", run, "--resume", "--epochs", "3", *TINY]
    assert_one_line(*call([*argv, "--data", other], capsys),
                    f"cannot resume {run}: tokenizer.json would change",
                    f"data.name: run has 'reviews.csv', this command '{other}'")  # fmt: skip
    assert digest(run) == before
    edit_keeping_the_tokenizer(Path("reviews.csv"))
    code, err = call(argv, capsys)
    assert code == 0, err
    assert not (run / "data.json").exists()


def test_a_damaged_data_record_is_named_on_resume(relative, tmp_path, monkeypatch, capsys):
    run = copy_run_and_data(relative, tmp_path, monkeypatch)
    (run / "data.json").write_text('{"key": "data.name", "path": "reviews.csv"', "utf-8")
    before = digest(run)
    argv = ["train", "sentiment", "--out", run, "--resume", "--epochs", "3", *TINY]
    assert_one_line(*call(argv, capsys), f"cannot resume {run}: {run / 'data.json'} is damaged",
                    "remove it to resume without checking")  # fmt: skip
    assert digest(run) == before


def write_acl_imdb(root: Path) -> None:
    """A tiny folder in the aclImdb layout (and an ``unsup/`` the task does not read)."""
    for split in ("train", "test"):
        for cls, words in (("pos", POS), ("neg", NEG)):
            (root / split / cls).mkdir(parents=True)
            for i in range(12):
                text = f"{words[i % 5]} review {i} <br /> of {split}"
                (root / split / cls / f"{i}_7.txt").write_text(text, encoding="utf-8")
    (root / "unsup").mkdir()
    (root / "unsup" / "0_0.txt").write_text("not read", encoding="utf-8")


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> tuple[Path, Path]:
    """A one-epoch sentiment run on an aclImdb-layout folder; (run, folder)."""
    root = tmp_path_factory.mktemp("folder")
    write_acl_imdb(root / "aclImdb")
    argv = ["train", "sentiment", "--data", root / "aclImdb", "--out", root / "run",
            "--epochs", "1", *TINY[:7]]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    return root / "run", root / "aclImdb"


def test_resume_accepts_an_identical_copy_of_a_folder_and_refuses_an_edited_one(
    folder_run, tmp_path, capsys
):
    import json

    run, folder = folder_run
    run = copy_of(run, tmp_path)
    record = json.loads((run / "data.json").read_text(encoding="utf-8"))
    assert record["kind"] == "folder" and record["files"] == 48  # unsup/ is not read
    copy = tmp_path / "copied" / "imdb"
    shutil.copytree(folder, copy)
    (copy / "unsup" / "0_0.txt").write_text("edited, but not read", encoding="utf-8")
    (copy / ".DS_Store").write_bytes(b"\0")  # hidden: not part of the data
    (copy / "test" / "neg" / "3_2.txt").write_text("awful", encoding="utf-8")
    argv = ["train", "sentiment", "--out", run, "--resume", "--epochs", "2", *TINY[:7]]
    before = digest(run)
    assert_one_line(*call([*argv, "--data", copy], capsys),
                    f"data folder {copy} is not the data the run was trained on",
                    "in 49 files", f"the run was trained on {folder}: SHA-256 ",
                    "in 48 files")  # fmt: skip
    assert digest(run) == before
    (copy / "test" / "neg" / "3_2.txt").unlink()
    code, err = call([*argv, "--data", copy], capsys)
    assert code == 0, err
    assert json.loads((run / "data.json").read_text("utf-8"))["path"] == str(copy)


def test_data_identity_of_folders_and_of_what_is_not_data(tmp_path, monkeypatch, capsys):
    import os

    from rnnkit import rundir
    from rnnkit.rundir import data_identity

    write_acl_imdb(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a, b = data_identity(str(tmp_path / "a")), data_identity(str(tmp_path / "b"))
    assert a is not None and b is not None
    assert a["sha256"] == b["sha256"] and a["files"] == 49 and a["kind"] == "folder"
    os.mkfifo(tmp_path / "b" / "pipe")  # never opened: it would block
    (tmp_path / "b" / ".hidden").write_text("x")
    assert data_identity(str(tmp_path / "b"))["sha256"] == a["sha256"]
    (tmp_path / "b" / "train" / "pos" / "0_7.txt").rename(tmp_path / "b" / "train" / "pos" / "x")
    assert data_identity(str(tmp_path / "b"))["sha256"] != a["sha256"]  # a name is content
    only = ("train/*/*.txt",)
    assert data_identity(str(tmp_path / "a"), files=only)["files"] == 24
    assert data_identity("/dev/zero") is None and data_identity(str(tmp_path / "none")) is None
    assert data_identity("rotten_tomatoes") is None and data_identity(3) is None
    monkeypatch.setattr(rundir, "PROGRESS_BYTES", 100)  # a large hash says so
    capsys.readouterr()
    data_identity(str(tmp_path / "a"))
    assert capsys.readouterr().err.startswith(f"note: hashing {tmp_path / 'a'}/ (")


# ----------------------------------------------------------------------------- resume state


def test_resume_refuses_fewer_epochs_than_trained_and_another_optimizer(
    finished, data, tmp_path, capsys
):
    run = copy_of(finished, tmp_path)
    before = digest(run)
    argv = ["train", "sentiment", "--out", run, "--resume", "--data", data / "reviews.csv"]
    assert_one_line(*call([*argv, "--epochs", "1"], capsys), f"cannot resume {run}: it has "
                    "trained 2 epochs, and train.epochs=1 asks for fewer")  # fmt: skip
    assert_one_line(*call([*argv, "--set", "train.optimizer=sgd"], capsys),
                    "checkpoint.pt holds Adam optimizer state, and this config builds SGD",
                    "train.optimizer: run has 'adam', this command 'sgd'")  # fmt: skip
    assert digest(run) == before


def test_resume_takes_the_configs_optimizer_settings_and_the_checkpoints_moments(tmp_path):
    """A resume with another weight decay (or momentum, betas) trains with the new one,
    as with another lr; the moments come from the checkpoint."""
    import torch

    from rnnkit.config import TrainConfig
    from rnnkit.training.checkpoint import TrainState, load_checkpoint, save_checkpoint
    from rnnkit.training.optim import make_scheduler

    def setup(weight_decay: float):
        model = torch.nn.Linear(2, 1)
        opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=weight_decay)
        return model, opt

    model, opt = setup(0.0)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    sched = make_scheduler(opt, TrainConfig(), steps_per_epoch=1)
    save_checkpoint(tmp_path / "c.pt", model, opt, sched, torch.Generator(), TrainState())
    model2, opt2 = setup(0.25)
    sched2 = make_scheduler(opt2, TrainConfig(), steps_per_epoch=1)
    load_checkpoint(tmp_path / "c.pt", model2, opt2, sched2, torch.Generator())
    assert opt2.param_groups[0]["weight_decay"] == 0.25
    moments = [opt2.state[p]["exp_avg"] for p in model2.parameters()]
    assert all(torch.equal(a, opt.state[p]["exp_avg"]) for a, p in zip(moments, model.parameters()))


def test_a_lock_taken_on_a_removed_lock_file_is_taken_again(tmp_path, monkeypatch):
    """A writer that opened the lock file just before its holder removed it (a refused
    fresh run's directory) and locks it after the holder let go holds a lock on no path:
    it must take the lock again on the file that is there now, or two writers could run."""
    import os

    from rnnkit import rundir
    from rnnkit.rundir import LOCK, RunLock

    old = os.open(tmp_path / LOCK, os.O_RDWR | os.O_CREAT)  # the removed file, still open
    (tmp_path / LOCK).unlink()
    real, calls = os.open, []

    def open_first_the_removed_file(path, flags, mode=0o777):
        calls.append(path)
        return real(f"/proc/self/fd/{old}" if len(calls) == 1 else path, flags, mode)

    monkeypatch.setattr(rundir.os, "open", open_first_the_removed_file)
    lock = RunLock(tmp_path).acquire()
    monkeypatch.undo()
    try:
        assert len(calls) == 2  # the first lock was on no path, so it took the lock again
        assert os.fstat(lock.fd).st_ino == os.stat(tmp_path / LOCK).st_ino
    finally:
        lock.release()
        os.close(old)


def test_a_refused_writer_never_removes_the_holders_fresh_directory(tmp_path, capsys):
    """Two fresh runs into one new directory: the one refused by the lock leaves the
    holder's directory and lock file alone."""
    from rnnkit.rundir import LOCK, RunLock, writing

    run = tmp_path / "fresh"
    run.mkdir()
    with RunLock(run):
        refused = pytest.raises(Exception, match="being written by another rnnkit process")
        with refused, writing(run, "sentiment"):
            raise AssertionError("not reached")
        assert (run / LOCK).is_file()
    with writing(tmp_path / "other", "sentiment") as made:
        assert made.is_dir()
    assert not (tmp_path / "other").exists()  # refused (nothing set up): removed again


@pytest.mark.parametrize(
    "error",
    [PermissionError(13, "Permission denied", "inputs.txt"),
     OSError(28, "No space left on device", "RUN/.checkpoint.pt.x.tmp"),
     OSError(5, "Input/output error")],
)  # fmt: skip
def test_an_os_error_of_any_command_is_one_line(monkeypatch, capsys, error):
    """A file that cannot be read or written (permissions, a full disk, a device) ends a
    command with one line, not a traceback."""
    from rnnkit.tools.commands import info

    def fail(args):
        raise error

    monkeypatch.setattr(info, "run", fail)
    code, err = call(["info"], capsys)
    assert_one_line(code, err, f"[Errno {error.errno}] {error.strerror}")
