"""The bad-input table of tests/test_run_safety.py for the commands that read a run of
one kind of task: ``forecast`` (a forecast run), ``generate`` (a charlm run) and
``translate`` (a translate run), with the other readers and ``train --resume`` on those
runs. Every row is refused in one line, and no file of the run changes; a damaged run of
each task is named in one line by each command that reads it.

A new command or kind of bad input is one row of BAD (or of DAMAGE).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_run_safety import (
    assert_one_line,
    call,
    copy_of,
    digest,
    edit_config,
    newer_format,
    truncate,
)

from rnnkit.tools.cli import main

SMALL = [
    "--set", "model.hidden_size=8", "model.num_layers=1", "train.progress=false",
    "train.tensorboard=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Small data for each task, and files of the wrong kind beside them."""
    root = tmp_path_factory.mktemp("data")
    r = random.Random(18)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "the", "dog", "ran", "to", "it"]
    lines = [" ".join(r.choice(words) for _ in range(8)) for _ in range(60)]
    # one line: the training part holds no newline, generate's default --prime
    (root / "text.txt").write_text(" ".join(lines) + "\n", encoding="utf-8")
    de = ["ich", "du", "er", "sie", "wir", "haus", "hund", "katze", "gut", "schlecht"]
    en = ["i", "you", "he", "she", "we", "house", "dog", "cat", "good", "bad"]
    pairs = []
    for _ in range(200):
        idx = [r.randrange(10) for _ in range(3)]
        pairs.append(" ".join(de[i] for i in idx) + "\t" + " ".join(en[i] for i in idx))
    (root / "pairs.tsv").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    (root / "reviews.csv").write_text("review,sentiment\nfine,positive\n", encoding="utf-8")
    (root / "wrong.csv").write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    (root / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (root / "empty.csv").write_bytes(b"")
    return root


TRAIN = {
    "forecast": ["--data", "airline"],
    "charlm": ["--data", "DATA/text.txt", "--set", "data.bptt=32"],
    "translate": ["--data", "DATA/pairs.tsv", "--set", "data.vocab_size=60", "data.beam_size=1"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data) -> dict[str, Path]:
    """A finished one-epoch run of each task (trained once for the module)."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for task, args in TRAIN.items():
        out = root / task
        argv = ["train", task, *args, "--out", out, "--epochs", "1", *SMALL]
        argv = [str(a).replace("DATA", str(data)) for a in argv]
        assert main(argv) == 0
        made[task] = out
    return made


# (the task of the run, argv with RUN and DATA standing for the run directory and the data
#  folder, words the one-line error must contain)
BAD = [
    # forecast: bad options, data of the wrong kind, outputs onto the run's own files
    ("forecast", ["forecast", "RUN", "--horizon", "0"], ["--horizon must be >= 1"]),
    ("forecast", ["forecast", "RUN", "--data", "/dev/zero"], ["/dev/zero is a character device"]),
    ("forecast", ["forecast", "RUN", "--data", "DATA/none.csv"], ["none.csv does not exist"]),
    ("forecast", ["forecast", "RUN", "--data", "DATA/empty.csv"], ["empty.csv"]),
    ("forecast", ["forecast", "RUN", "--data", "DATA/wrong.csv"], ["no time column"]),
    ("forecast", ["forecast", "RUN", "--data", "DATA/binary.csv"], ["binary.csv"]),
    ("forecast", ["forecast", "RUN", "--device", "bogus"], ["device", "'bogus'"]),
    ("forecast", ["forecast", "RUN", "--plot", "RUN/config.yaml"],
     ["--plot", "config.yaml would replace one of the run's own files"]),
    ("forecast", ["forecast", "RUN", "--out", "RUN/scaler.json"],
     ["--out", "scaler.json would replace one of the run's own files"]),
    ("forecast", ["forecast", "RUN", "--out", "RUN/new.json"], ["would be written among"]),
    ("forecast", ["forecast", "RUN", "--out", "RUN/tb/f.csv"], ["would be written among"]),
    ("forecast", ["forecast", "RUN", "--out", "DATA"], ["is a directory"]),
    ("forecast", ["predict", "RUN", "1,2,x"], ["expected comma-separated numbers"]),
    ("forecast", ["generate", "RUN"], ["a 'forecast' run cannot generate"]),
    ("forecast", ["translate", "RUN", "ich"], ["a 'forecast' run cannot translate"]),
    ("forecast", ["export", "RUN", "--out", "RUN/series.json"], ["series.json"]),
    ("forecast", ["train", "forecast", "--out", "RUN", "--resume", "--set", "model.hidden_size=7"],
     ["checkpoint.pt", "model.hidden_size: run has 8, this command 7"]),
    ("forecast", ["train", "forecast", "--out", "RUN", "--resume", "--data", "DATA/wrong.csv"],
     ["no time column"]),
    ("forecast", ["train", "forecast", "--out", "RUN", "--resume", "--set", "data.context=abc"],
     ["data.context", "expected an integer"]),
    # generate (charlm)
    ("charlm", ["generate", "RUN", "--length", "0"], ["--length must be at least 1"]),
    ("charlm", ["generate", "RUN", "--length", "5"],
     ["'\\n'", "no --prime was given, and the default, a newline, is not among"]),
    ("charlm", ["generate", "RUN", "--prime", "\u2603"], ["outside the vocabulary"]),
    ("charlm", ["generate", "RUN", "--prime", ""], ["--prime is empty"]),
    ("charlm", ["generate", "RUN", "--top-k", "-1", "--prime", "the"], ["top_k"]),
    ("charlm", ["generate", "RUN", "--device", "bogus"], ["--device"]),
    ("charlm", ["generate", "RUN", "--out", "RUN/vocab.json"], ["vocab.json would replace"]),
    ("charlm", ["generate", "RUN", "--out", "DATA"], ["is a directory"]),
    ("charlm", ["forecast", "RUN"], ["a 'charlm' run cannot forecast"]),
    ("charlm", ["predict", "RUN", "abc"], ["a 'charlm' run cannot predict"]),
    ("charlm", ["translate", "RUN", "abc"], ["a 'charlm' run cannot translate"]),
    ("charlm", ["evaluate", "RUN", "--data", "DATA/binary.csv"], ["binary.csv looks binary"]),
    ("charlm", ["explain", "RUN", "the cat", "--out", "RUN/config.yaml", "--overwrite"],
     ["config.yaml would replace"]),
    ("charlm", ["train", "charlm", "--out", "RUN", "--resume", "--data", "DATA/binary.csv"],
     ["binary.csv looks binary"]),
    ("charlm", ["train", "charlm", "--out", "RUN", "--resume", "--data", "DATA/empty.csv"],
     ["empty.csv is empty"]),
    ("charlm", ["train", "charlm", "--out", "RUN", "--resume", "--data", "DATA/pairs.tsv"],
     ["is not the data the run was trained on"]),
    ("charlm", ["train", "charlm", "--out", "RUN", "--resume", "--set", "data.bptt=abc"],
     ["data.bptt", "expected an integer"]),
    # translate
    ("translate", ["translate", "RUN", "ich", "--beam-size", "0"], ["beam size", ">= 1"]),
    ("translate", ["translate", "RUN", "ich", "--length-penalty", "-1"], ["length penalty"]),
    ("translate", ["translate", "RUN", "--file", "/dev/zero"], ["/dev/zero line 1", "longer"]),
    ("translate", ["translate", "RUN", "--file", "DATA/binary.csv"], ["NUL byte"]),
    ("translate", ["translate", "RUN", "--file", "DATA/none.txt"], ["none.txt"]),
    ("translate", ["translate", "RUN", "--file", "DATA/empty.csv"], ["nothing to predict"]),
    ("translate", ["translate", "RUN", " "], ["input 1 is empty"]),
    ("translate", ["translate", "RUN", "ich", "du", "--file", "DATA/pairs.tsv"], ["not both"]),
    ("translate", ["evaluate", "RUN", "--data", "DATA/binary.csv"], ["not UTF-8"]),
    ("translate", ["generate", "RUN"], ["a 'translate' run cannot generate"]),
    ("translate", ["forecast", "RUN"], ["a 'translate' run cannot forecast"]),
    ("translate", ["export", "RUN"], ["a 'translate' run cannot export"]),
    ("translate", ["serve", "RUN", "--max-items", "0"], ["max_items", ">= 1"]),
    ("translate", ["train", "translate", "--out", "RUN", "--resume", "--data", "DATA/empty.csv"],
     ["holds no pairs"]),
    ("translate", ["train", "translate", "--out", "RUN", "--resume", "--set", "data.beam_size=0"],
     ["data.beam_size", ">= 1"]),
    ("translate", ["train", "translate", "--out", "RUN", "--resume", "--set",
                   "model.hidden_size=7"], ["checkpoint.pt", "model.hidden_size: run has 8"]),
]  # fmt: skip


def test_every_task_command_has_rows():
    """The commands that read one kind of run have rows against a run of that kind."""
    have = {(task, argv[0]) for task, argv, _ in BAD}
    assert {("forecast", "forecast"), ("charlm", "generate"), ("translate", "translate")} <= have


@pytest.mark.parametrize("task", sorted(TRAIN))
def test_refused_commands_leave_the_run_byte_identical(runs, data, tmp_path, capsys, task):
    run = copy_of(runs[task], tmp_path)
    before = digest(run)
    for row_task, argv, needles in BAD:
        if row_task != task:
            continue
        argv = [a.replace("RUN", str(run)).replace("DATA", str(data)) for a in argv]
        assert_one_line(*call(argv, capsys), *needles)
        assert digest(run) == before, f"{' '.join(argv)} changed the run directory"
        assert not (data / "none.csv").exists()


def remove(path: Path) -> None:
    path.unlink()


# (task, file, how, words the one line names)
DAMAGE = [
    (task, name, how, words)
    for task, artefact in (("forecast", "scaler.json"), ("charlm", "vocab.json"),
                           ("translate", "source_vocab.json"))
    for name, how, words in (
        ("model.safetensors", truncate, ["model.safetensors", "damaged"]),
        ("config.yaml", edit_config,
         ["model.safetensors", "model.hidden_size: trained with 8, config.yaml has 7"]),
        ("config.yaml", newer_format, ["format 99", "upgrade rnnkit"]),
        (artefact, remove, [artefact]),
        (artefact, lambda p: p.write_text("{not json"), [artefact]),
    )
]  # fmt: skip

READERS = {
    "forecast": [["forecast", "RUN"], ["evaluate", "RUN"], ["predict", "RUN", "1,2,3,4"]],
    "charlm": [["generate", "RUN", "--length", "5"], ["evaluate", "RUN"]],
    "translate": [["translate", "RUN", "ich du"], ["evaluate", "RUN"]],
}


@pytest.mark.parametrize(("task", "name", "damage", "needles"), DAMAGE)
def test_every_reader_names_a_damaged_run_of_each_task_in_one_line(
    runs, tmp_path, capsys, task, name, damage, needles
):
    run = copy_of(runs[task], tmp_path)
    damage(run / name)
    before = digest(run)
    for argv in READERS[task]:
        argv = [a.replace("RUN", str(run)) for a in argv]
        assert_one_line(*call(argv, capsys), *needles)
    assert digest(run) == before


@pytest.mark.parametrize("task", sorted(TRAIN))
def test_resume_names_a_truncated_checkpoint_of_each_task(runs, data, tmp_path, capsys, task):
    run = copy_of(runs[task], tmp_path)
    truncate(run / "checkpoint.pt")
    before = digest(run)
    args = [str(a).replace("DATA", str(data)) for a in TRAIN[task]]
    argv = ["train", task, *args, "--out", run, "--resume", "--epochs", "2", *SMALL]
    assert_one_line(*call(argv, capsys), "checkpoint.pt", "damaged")
    assert digest(run) == before
