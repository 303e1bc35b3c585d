"""TextClassifier: raw strings in, the sentiment pipeline on the training engine."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from rnnkit.errors import RnnkitError
from rnnkit.estimators import TextClassifier, load
from rnnkit.tasks.resolve import default_config
from rnnkit.tools.cli import main

TINY = {"hidden_size": 8, "embedding_dim": 16, "num_layers": 1, "lr": 0.01, "epochs": 3}


def _reviews(n: int = 80) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    good, bad = ["great", "wonderful", "moving", "brilliant"], ["dull", "awful", "boring", "flat"]
    texts, labels = [], []
    for i in range(n):
        words = [*rng.choice(good if i % 2 else bad, 3), *rng.choice(["film", "plot", "a"], 3)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append("fresh" if i % 2 else "rotten")
    return texts, labels


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    texts, labels = _reviews()
    run_dir = tmp_path_factory.mktemp("runs") / "text"
    return TextClassifier(**TINY).fit(texts, labels, run_dir=run_dir), run_dir


def test_parameters_are_the_config_keys_with_their_defaults():
    params = TextClassifier().get_params()
    assert params.pop("verbose") is False
    assert params == TextClassifier.params_from_config(default_config("array_text"))
    assert clone(TextClassifier(hidden_size=3)).get_params()["hidden_size"] == 3


def test_fits_raw_strings_and_predicts_their_labels(fitted):
    clf, _ = fitted
    texts, labels = _reviews()
    assert clf.classes_.tolist() == ["fresh", "rotten"]
    assert clf.score(texts, labels) > 0.9
    assert clf.predict(["a brilliant moving film", "boring flat plot"]).tolist() == [
        "fresh", "rotten",
    ]  # fmt: skip
    proba = clf.predict_proba(["great"])
    assert proba.shape == (1, 2) and np.isclose(proba.sum(), 1.0)


def test_the_run_directory_loads_back_and_the_commands_read_it(fitted, capsys):
    clf, run_dir = fitted
    back = load(run_dir)
    assert isinstance(back, TextClassifier) and back.classes_.tolist() == ["fresh", "rotten"]
    np.testing.assert_array_equal(back.predict_proba(["a great plot"]),
                                  clf.predict_proba(["a great plot"]))  # fmt: skip
    assert main(["predict", str(run_dir), "a wonderful film"]) == 0
    assert capsys.readouterr().out.startswith("fresh")
    assert main(["evaluate", str(run_dir), "--split", "val", "--json"]) == 0
    assert '"accuracy"' in capsys.readouterr().out


def test_integer_labels_come_back_as_integers(tmp_path):
    texts, labels = _reviews(20)
    y = [int(lab == "fresh") for lab in labels]
    TextClassifier(**{**TINY, "epochs": 1}).fit(texts, y, run_dir=tmp_path / "r")
    back = load(tmp_path / "r")
    assert back.classes_.dtype.kind == "i" and back.predict(texts[:2]).tolist()[0] in (0, 1)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ("one text", [0], "X is one string; expected a list of texts"),
        ([1.0, 2.0], [0, 1], "X\\[0\\] is a float, not a text; TextClassifier takes raw strings"),
        (["fine", "  "], [0, 1], "X\\[1\\] is an empty text"),
        ([], [], "X is empty"),
        (["a", "b"], [0, 1, 0], "y has 3 targets but X has 2 texts; expected one each"),
        (
            ["a", "b"],
            None,
            "TextClassifier requires y to be passed, but the target y is None; "
            "expected one target per text",
        ),
    ],
)
def test_bad_input_is_refused(X, y, message):
    with pytest.raises(RnnkitError, match=message):
        TextClassifier(**TINY).fit(X, y)
