"""The run directory: creation, refusal to overwrite, safe replacement, reading back."""

from __future__ import annotations

import pytest
import torch
from test_training_fake import fake_task  # noqa: F401 (fixture)
from torch import nn

from rnnkit import runs
from rnnkit.errors import RnnkitError
from rnnkit.tasks.resolve import default_config, resolve_config

pytestmark = pytest.mark.usefixtures("fake_task")


def test_default_run_dir_is_task_and_timestamp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = runs.create_run_dir(None, "fake")
    (first / "x").write_text("1")
    second = runs.create_run_dir(None, "fake")
    assert first.parent.name == "runs" and first.name.startswith("fake-")
    assert second != first and second.is_dir() and (first / "x").read_text() == "1"


def test_existing_run_dir_is_refused_and_kept(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"precious")
    with pytest.raises(RnnkitError, match="already exists and is not empty; pass --overwrite"):
        runs.create_run_dir(out, "fake")
    assert (out / "model.safetensors").read_bytes() == b"precious"
    assert runs.create_run_dir(tmp_path / "empty", "fake").is_dir()


def test_overwrite_replaces_only_run_directories(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(RnnkitError, match="refusing to --overwrite .*not an rnnkit run"):
        runs.create_run_dir(home, "fake", overwrite=True)
    assert (home / "thesis.tex").read_text() == "years of work"

    run = tmp_path / "run"
    run.mkdir()
    runs.write_config(run, default_config("fake"))
    (run / "metrics.jsonl").write_text("{}\n")
    assert runs.create_run_dir(run, "fake", overwrite=True) == run
    assert list(run.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "run"]  # no leftovers


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(RnnkitError, match="holds no checkpoint.pt"):
        runs.create_run_dir(tmp_path, "fake", resume=True)
    with pytest.raises(RnnkitError, match="--resume needs --out"):
        runs.create_run_dir(None, "fake", resume=True)
    with pytest.raises(RnnkitError, match="exclude each other"):
        runs.create_run_dir(tmp_path, "fake", resume=True, overwrite=True)


def test_config_round_trip_with_versions(tmp_path):
    cfg = resolve_config("fake", overrides=["model.cell=gru", "train.lr=0.5", "data.n=40"])
    runs.write_config(tmp_path, cfg)
    text = (tmp_path / "config.yaml").read_text()
    assert text.startswith(f"format_version: {runs.FORMAT_VERSION}\nrnnkit_version: ")
    assert runs.read_config(tmp_path) == cfg


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is not an rnnkit run directory: config.yaml is missing"),
        ("task: fake\n", "config.yaml has no format_version"),
        ("format_version: 99\nrnnkit_version: 9.0\ntask: fake\n", "written by rnnkit 9.0 in run "
         "format 99; this rnnkit reads formats up to 1: upgrade rnnkit"),
        ("format_version: 1\ntask: fake\ntrain:\n  bogus: 1\n", "unknown config key 'train.bogus'"),
    ],
)  # fmt: skip
def test_foreign_newer_and_broken_run_dirs_are_refused(tmp_path, content, message):
    if content is not None:
        (tmp_path / "config.yaml").write_text(content)
    with pytest.raises(RnnkitError, match=message):
        runs.read_config(tmp_path)


def test_missing_run_dir():
    with pytest.raises(RnnkitError, match="run directory /no/such/run does not exist"):
        runs.read_config("/no/such/run")


def test_weights_round_trip_with_tied_parameters(tmp_path):
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.out = nn.Linear(3, 5, bias=False)
            self.out.weight = self.emb.weight

    a, b = Tied(), Tied()
    runs.save_weights(a, tmp_path / "w.safetensors")
    runs.load_weights(b, tmp_path / "w.safetensors")
    assert torch.equal(a.emb.weight, b.out.weight)
    with pytest.raises(RnnkitError, match="weights do not fit the model"):
        runs.load_weights(nn.Linear(2, 2), tmp_path / "w.safetensors")
    with pytest.raises(RnnkitError, match="is missing"):
        runs.load_weights(b, tmp_path / "none.safetensors")
