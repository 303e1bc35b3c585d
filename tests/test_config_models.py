"""Each task declares its model config; old key names are still read, with a note; the
help of every key comes from its field metadata."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from rnnkit import runs
from rnnkit.config import ModelConfig, list_keys
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.static_classifier import StaticClassifierConfig
from rnnkit.tasks import TASKS
from rnnkit.tasks.resolve import default_config, resolve_config
from rnnkit.tools.cli import main


def test_each_task_has_the_model_config_of_its_head():
    assert type(default_config("sentiment").model) is ClassifierConfig
    assert type(default_config("tsclass").model) is StaticClassifierConfig
    assert type(default_config("forecast").model) is ForecasterConfig
    assert type(default_config("charlm").model) is LanguageModelConfig
    assert type(default_config("adding").model) is ModelConfig
    charlm = {f.name for f in dataclasses.fields(default_config("charlm").model)}
    assert "embedding_dim" in charlm and "pooling" not in charlm
    assert "embedding_dim" not in {f.name for f in dataclasses.fields(ModelConfig)}
    forecast = default_config("forecast")
    assert forecast.model.output == "direct" and not hasattr(forecast.data, "output")
    assert default_config("adding").train.gradflow is False


@pytest.mark.parametrize(
    ("task", "old", "new", "value", "expected"),
    [
        ("forecast", "data.output", "model.output", "rollout", "rollout"),
        ("forecast", "data.residual", "model.residual", "false", False),
        ("forecast", "data.static_size", "model.static_size", "4", 4),
        ("tsclass", "data.static_fusion", "model.static_fusion", "init", "init"),
        ("adding", "data.gradflow", "train.gradflow", "true", True),
        ("charlm", "data.gradflow", "train.gradflow", "true", True),
    ],
)
def test_an_old_key_is_read_with_a_note_naming_the_new_one(
    task, old, new, value, expected, capsys
):
    cfg = resolve_config(task, overrides=[f"{old}={value}"])
    section, key = new.split(".")
    assert getattr(getattr(cfg, section), key) == expected
    err = capsys.readouterr().err
    assert err == f"note: config key '{old}' is now '{new}' (--set)\n"


def test_old_and_new_name_together_are_refused():
    with pytest.raises(RnnkitError, match="'data.output' and 'model.output' are both set"):
        resolve_config("forecast", overrides=["data.output=rollout", "model.output=direct"])


def test_a_shared_model_key_a_head_lacks_is_ignored_with_a_note(capsys):
    cfg = resolve_config("charlm", overrides=["model.pooling=max", "model.hidden_size=8"])
    assert cfg.model.hidden_size == 8 and not hasattr(cfg.model, "pooling")
    assert "config key 'model.pooling' does not apply to charlm runs" in capsys.readouterr().err
    with pytest.raises(RnnkitError, match="unknown config key 'model.poolin'"):
        resolve_config("charlm", overrides=["model.poolin=max"])


def test_a_run_directory_of_the_old_layout_still_loads(tmp_path, capsys):
    """config.yaml as written before per-task model configs: the forecaster's output and
    static fields under data, pooling under every model section, gradflow under data."""
    cfg = dataclasses.asdict(default_config("forecast"))
    for key in ("output", "residual", "static_fusion", "static_size"):
        cfg["data"][key] = cfg["model"].pop(key)
    cfg["data"]["output"] = "rollout"
    cfg["model"]["pooling"] = "last"
    run = tmp_path / "old"
    run.mkdir()
    (run / runs.CONFIG).write_text(yaml.safe_dump({"format_version": 1, **cfg}))
    back = runs.read_config(run)
    assert back.model.output == "rollout" and back.model.static_size == 8
    assert "config key 'data.output' is now 'model.output'" in capsys.readouterr().err

    lm = dataclasses.asdict(default_config("charlm"))
    lm["data"]["gradflow"] = lm["train"].pop("gradflow")
    lm["model"]["pooling"] = "last"  # every task's model section had it
    (run / runs.CONFIG).write_text(yaml.safe_dump({"format_version": 1, **lm}))
    assert runs.read_config(run).train.gradflow is False


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_key_of_every_task_says_what_it_means(task):
    rows = list_keys(default_config(task))
    missing = [r.key for r in rows if not r.comment]
    assert not missing, f"{task}: keys without help: {missing}"


def test_list_keys_prints_the_whole_help_of_a_long_field(capsys):
    assert main(["train", "--list-keys", "sentiment"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("data.nb_init_dims"))
    assert line.endswith("(Wang & Manning 2012; one-vs-rest per class); 0 = random"), line
    assert "model.pooling" in out and "train.gradflow" in out
    assert main(["train", "--list-keys", "charlm"]) == 0
    out = capsys.readouterr().out
    assert "model.embedding_dim" in out and "model.pooling" not in out
