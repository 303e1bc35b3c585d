"""``rnnkit tune``: a tiny study on the adding problem (T=6, 8 units): trials run, a poor
trial is pruned, the best config trains, the test split is read once, the study resumes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from rnnkit.tasks.adding import AddingTask, SyntheticTask
from rnnkit.tools.cli import main
from rnnkit.tune import options_from, tune
from rnnkit.tune.space import Param, choice, floats, ints

TINY = [
    "data.length=6", "data.train_size=64", "data.val_size=32", "data.test_size=32",
    "model.hidden_size=8", "model.num_layers=1", "train.epochs=3", "train.tensorboard=false",
]  # fmt: skip
SAME = {"train.batch_size": 16, "model.dropout": 0.0, "model.cell": "lstm"}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Record every evaluation of a split, every baseline computation and every task
    object that drew the test sequences."""
    seen: dict[str, list] = {"evaluate": [], "baselines": [], "test_data": []}
    evaluate, baselines, data = AddingTask.evaluate, AddingTask.baselines, SyntheticTask._data

    def counted_evaluate(self, model, split):
        seen["evaluate"].append(split)
        return evaluate(self, model, split)

    def counted_baselines(self):
        seen["baselines"].append(id(self))
        return baselines(self)

    def counted_data(self, split, generator=None):
        if split == "test":
            seen["test_data"].append(id(self))
        return data(self, split, generator)

    monkeypatch.setattr(AddingTask, "evaluate", counted_evaluate)
    monkeypatch.setattr(AddingTask, "baselines", counted_baselines)
    monkeypatch.setattr(SyntheticTask, "_data", counted_data)
    return seen


def _hash(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != ".rnnkit.lock"
    }


def test_tiny_study_prunes_a_poor_trial_reads_test_once_and_its_best_config_trains(
    tmp_path, reads, capsys
):
    out = tmp_path / "study"
    # trial 1: the task's defaults; 2 and 3 the same model with a high and a very low
    # learning rate (the low one cannot keep up and is pruned)
    enqueue = [{**SAME, "train.lr": 1e-2}, {**SAME, "train.lr": 1e-4}]
    report = tune(options_from("adding", overrides=TINY), out, trials=3, enqueue=enqueue)

    assert (out / "study.json").is_file() and (out / "journal.log").is_file()
    trial_dirs = sorted(p.name for p in (out / "trials").iterdir())
    assert trial_dirs == ["0000", "0001", "0002"]
    for name in trial_dirs:  # every trial is a run directory that never read the test split
        trial = out / "trials" / name
        assert (trial / "config.yaml").is_file() and (trial / "metrics.jsonl").is_file()
    pruned = json.loads((out / "trials" / "0002" / "report.json").read_text())
    assert pruned["stopped"] == "pruned" and pruned["epochs"] == 2
    assert pruned["test"] is None and pruned["baselines"] == {}
    assert report["trials"] == {"complete": 2, "pruned": 1}

    # the test split: read once, by one task object, for the best trial, after the search
    assert reads["evaluate"].count("test") == 1 and len(reads["baselines"]) == 1
    assert len(set(reads["test_data"])) == 1
    best = report["best"]
    assert best["trial"] == 1 and report["test"]["mse"] >= 0  # the high learning rate
    best_report = json.loads((out / best["run_dir"] / "report.json").read_text())
    assert best_report["test"] == report["test"] and "predict_one" in best_report["baselines"]
    saved = json.loads((out / "report.json").read_text())
    assert saved["best"]["trial"] == best["trial"] and saved["test"] == report["test"]

    summary = (out / "summary.md").read_text()
    assert summary.count("| pruned |") == 1 and "| 2 * |" in summary and "val.mse" in summary
    assert report["importance"] and (out / "importance.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "pruned after epoch 2" in printed and "read once" in printed

    # best.yaml: the fixed keys and the best parameters; rnnkit train --config takes it
    best_cfg = yaml.safe_load((out / "best.yaml").read_text())
    assert best_cfg["task"] == "adding" and best_cfg["model"]["hidden_size"] == 8
    assert best_cfg["train"]["lr"] == pytest.approx(best["params"]["train.lr"], rel=1e-5)
    run = tmp_path / "best-run"
    args = ["train", "adding", "--config", str(out / "best.yaml"), "--out", str(run)]
    assert main([*args, "--epochs", "1"]) == 0
    trained = yaml.safe_load((run / "config.yaml").read_text())
    assert trained["train"]["lr"] == best_cfg["train"]["lr"]
    assert trained["model"]["cell"] == best_cfg["model"]["cell"]
    assert trained["data"]["length"] == 6


def test_study_resumes_and_retries_a_trial_cut_off_by_a_dead_process(tmp_path, reads):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    out = tmp_path / "study"
    options = options_from("adding", overrides=[*TINY, "train.epochs=2"])
    first = tune(options, out, trials=2, verbose=False)
    assert first["trials"]["complete"] == 2
    before = {k: v for k, v in _hash(out / "trials").items()}
    # a process that died inside a trial leaves it RUNNING in the journal
    storage = JournalStorage(JournalFileBackend(str(out / "journal.log")))
    dead = optuna.load_study(study_name="rnnkit", storage=storage).ask()
    dead_params = {"train.lr": dead.suggest_float("train.lr", 1e-4, 1e-2, log=True)}

    # the same command continues the study (no options needed) up to 3 trials
    again = tune(options_from("adding"), out, trials=3, verbose=False)
    study = optuna.load_study(study_name="rnnkit", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1
    failed = next(t for t in study.trials if t.state.name == "FAIL")
    assert "interrupted" in failed.user_attrs["error"]
    retried = study.trials[-1]
    assert retried.params["train.lr"] == dead_params["train.lr"]  # its point tried again
    assert {k: v for k, v in _hash(out / "trials").items() if k in before} == before
    assert again["trials"] == {"complete": 3, "fail": 1}
    # the test split was read for the best trial only: once per search that found a new best
    changed = int(again["best"]["trial"] != first["best"]["trial"])
    assert reads["evaluate"].count("test") == 1 + changed


def test_tune_refuses_bad_inputs_in_one_line_and_changes_nothing(tmp_path, capsys):
    def refused(*args: str) -> str:
        assert main(["tune", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
        return err

    assert "unknown task 'nope'" in refused("nope", "--out", str(tmp_path / "a"))
    assert "--trials: expected an integer >= 1, got 0" in refused(
        "adding", "--trials", "0", "--out", str(tmp_path / "b")
    )
    assert "--minutes: expected a number >= 0" in refused("adding", "--minutes", "-1")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert "is not an rnnkit study" in refused("adding", "--out", str(other))
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    assert "unknown config key 'train.epoch'" in refused(
        "adding", "--set", "train.epoch=3", "--out", str(tmp_path / "c")
    )
    assert not (tmp_path / "c").exists()
    fixed = [f"{k}=1" for k in ("train.lr", "train.batch_size", "model.hidden_size")]
    fixed += ["model.num_layers=1", "model.dropout=0", "model.cell=gru"]
    assert "nothing to tune" in refused("adding", "--set", *fixed, "--out", str(tmp_path / "d"))


def test_a_study_is_continued_only_with_its_own_options(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["tune", "adding", "--trials", "1", "--out", str(out), "--quiet",
                 "--set", *TINY, "train.epochs=1"]) == 0  # fmt: skip
    before = _hash(out)
    code = main(["tune", "adding", "--trials", "2", "--out", str(out), "--set", "data.length=9"])
    assert code == 2 and "other options" in capsys.readouterr().err
    assert main(["tune", "copy", "--out", str(out)]) == 2
    assert "a study of the 'adding' task" in capsys.readouterr().err
    assert _hash(out) == before


def test_search_space_of_every_task_names_its_config_keys():
    from rnnkit.config import list_keys
    from rnnkit.tasks import TASKS, get_task_class
    from rnnkit.tasks.resolve import default_config

    for name in TASKS:
        cfg = default_config(name)
        space = get_task_class(name)(cfg).search_space()
        keys = {k.key for k in list_keys(cfg)}
        assert space and all(isinstance(p, Param) and p.key in keys for p in space), name
        lr = next(p for p in space if p.key == "train.lr")
        assert lr.log and lr.contains(cfg.train.lr), name


def test_params_check_their_ranges():
    assert floats("train.lr", 1e-4, 1e-2, log=True).contains(1e-3)
    assert not ints("model.num_layers", 1, 3).contains(1.5)
    assert choice("model.cell", "lstm", "gru").contains("gru")
    assert not choice("model.bidirectional", True, False).contains(1)
    with pytest.raises(ValueError, match="log range needs low > 0"):
        floats("model.dropout", 0.0, 0.5, log=True)
