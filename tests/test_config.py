"""The config tree: --set parsing, YAML files, type checks, task defaults, key listing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from test_training_fake import fake_task  # noqa: F401 (fixture)

from rnnkit.config import (
    TrainConfig,
    data_key,
    list_keys,
    load_yaml,
    parse_overrides,
    update_dataclass,
)
from rnnkit.errors import RnnkitError
from rnnkit.tasks.resolve import default_config, resolve_config

pytestmark = pytest.mark.usefixtures("fake_task")


@dataclass
class Section:
    flag: bool = False  # a switch
    count: int = 1  # how many
    rate: float = 0.5  # a fraction
    names: list[str] = field(default_factory=list)  # some names
    maybe: int | None = None  # optional


def test_overrides_nest_dotted_keys():
    assert parse_overrides(["train.lr=3e-4", "model.cell=gru", "seed=3", "data.x=a=b"]) == {
        "train": {"lr": "3e-4"},
        "model": {"cell": "gru"},
        "seed": "3",
        "data": {"x": "a=b"},  # only the first '=' splits
    }


@pytest.mark.parametrize(
    ("pair", "message"),
    [("train.lr", "expects key.sub=value"), ("train..lr=1", "empty key part")],
)
def test_overrides_refuse_malformed_pairs(pair, message):
    with pytest.raises(RnnkitError, match=message):
        parse_overrides([pair])


def test_overrides_refuse_a_key_and_a_key_below_it():
    with pytest.raises(RnnkitError, match="sets both"):
        parse_overrides(["train=1", "train.lr=2"])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"flag": "true"}, {"flag": True}),
        ({"flag": "no"}, {"flag": False}),
        ({"flag": True}, {"flag": True}),
        ({"count": "7"}, {"count": 7}),
        ({"rate": "1e-3"}, {"rate": 1e-3}),
        ({"rate": 2}, {"rate": 2.0}),
        ({"names": "a,b"}, {"names": ["a", "b"]}),
        ({"names": ["a", 3]}, {"names": ["a", "3"]}),
        ({"maybe": None}, {"maybe": None}),
        ({"maybe": "4"}, {"maybe": 4}),
    ],
)
def test_values_are_parsed_and_type_checked(values, expected):
    got = update_dataclass(Section(), values)
    for key, value in expected.items():
        assert getattr(got, key) == value
        assert type(getattr(got, key)) is type(value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"flag": "maybe"}, "'s.flag': expected true or false, got 'maybe'"),
        ({"count": "1.5"}, "'s.count': expected an integer, got '1.5'"),
        ({"count": True}, "'s.count': expected an integer"),
        ({"rate": "fast"}, "'s.rate': expected a number"),
        ({"names": 3}, "'s.names': expected a list"),
        ({"nope": 1}, "unknown config key 's.nope' \\(known keys here: count, flag"),
    ],
)
def test_bad_values_name_the_key_and_what_was_expected(values, message):
    with pytest.raises(RnnkitError, match=message):
        update_dataclass(Section(), values, prefix="s.")


def test_task_defaults_apply_before_yaml_and_set(tmp_path):
    cfg = default_config("fake")
    assert cfg.model.hidden_size == 8 and cfg.train.epochs == 3  # FakeTask's defaults
    assert cfg.train.optimizer == TrainConfig().optimizer  # the shared default
    path = tmp_path / "c.yaml"
    path.write_text("task: fake\ntrain:\n  epochs: 5\n  lr: 0.5\nmodel:\n  hidden_size: 4\n")
    cfg = resolve_config("fake", path, ["train.lr=0.25", "data.n=40"])
    assert (cfg.train.epochs, cfg.train.lr, cfg.model.hidden_size, cfg.data.n) == (5, 0.25, 4, 40)
    cfg = resolve_config("fake", overrides={"train.epochs": 2, "model": {"cell": "gru"}})
    assert (cfg.train.epochs, cfg.model.cell) == (2, "gru")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  a: 1\n b: 2\n", r"bad.yaml line 3, column 2: not valid YAML \(expected"),
        ("- a\n- b\n", "must hold a mapping of keys, got a list"),
        ("train:\n  epoch: 3\n", "unknown config key 'train.epoch'"),
        ("train:\n  epochs: three\n", "'train.epochs': expected an integer, got 'three'"),
        ("task: charlm\n", "config key 'task' is 'charlm' but the run is 'fake'"),
        ("model: 3\n", "config section 'model' must be a mapping"),
    ],
)
def test_yaml_errors_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RnnkitError, match=message):
        resolve_config("fake", path)


def test_missing_and_empty_yaml(tmp_path):
    with pytest.raises(RnnkitError, match="does not exist"):
        load_yaml(tmp_path / "none.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert resolve_config("fake", tmp_path / "empty.yaml") == default_config("fake")


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(RnnkitError, match="unknown task 'nope'; expected one of: .*fake"):
        default_config("nope")


def test_data_flag_sets_name_or_source():
    @dataclass
    class Named:
        name: str = "a"

    @dataclass
    class Sourced:
        source: str = "a"

    @dataclass
    class Neither:
        size: int = 1

    assert (data_key(Named()), data_key(Sourced())) == ("name", "source")
    with pytest.raises(RnnkitError, match="Neither has no name/source/path field for --data"):
        data_key(Neither())


def test_key_listing_reads_the_source_comments():
    keys = {k.key: k for k in list_keys(default_config("fake"))}
    assert keys["data.fail_at_epoch"].comment.startswith("raise KeyboardInterrupt")
    assert keys["train.lr"].default == 0.02 and keys["train.lr"].type == "float"
    assert keys["train.clip_norm"].comment.startswith("clip the global gradient norm")
    assert keys["seed"].comment.startswith("seeds data splits")
    assert "task" not in keys
