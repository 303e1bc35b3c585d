"""The one coding of static features (rnnkit.data.static): categories against a
vocabulary, numbers scaled, fitted, applied, saved and loaded as one StaticFeatures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.static import (
    StaticFeatures,
    category_vocab,
    decode_categories,
    encode_categories,
)
from rnnkit.errors import RnnkitError


def test_codes_round_trip_and_unknowns_are_zero() -> None:
    vocab = category_vocab({"site": ["north", "east", "north"], "kind": ["x", "y", "x"]})
    assert vocab == {"site": ["east", "north"], "kind": ["x", "y"]}
    codes = encode_categories({"site": ["north", "west"], "kind": ["y", "x"]}, vocab)
    assert codes.dtype == np.int64
    assert codes.tolist() == [[2, 2], [0, 1]]  # "west" is not in the vocabulary
    assert decode_categories(codes, vocab) == {"site": ["north", None], "kind": ["y", "x"]}


def test_recoding_against_another_vocabulary() -> None:
    # what forecast does with a new file: its own codes -> values -> the trained codes
    own = category_vocab({"site": ["a", "c"]})
    trained = category_vocab({"site": ["a", "b"]})
    codes = encode_categories({"site": ["c", "a"]}, own)
    recoded = encode_categories(decode_categories(codes, own), trained)
    assert recoded.tolist() == [[0], [1]]


def test_no_columns_gives_an_empty_code_matrix() -> None:
    assert encode_categories({}, {}).shape == (0, 0)


def test_static_features_fit_on_training_rows_transform_save_and_load(tmp_path: Path) -> None:
    cat = {"site": ["b", "a", "b"], "kind": ["x", "x", "y"]}
    num = np.array([[10.0, 1.0], [20.0, 1.0], [30.0, 4.0]])  # (n, Kn): age, weight
    static = StaticFeatures.fit(cat, num, ["age", "weight"])
    assert static.categorical == ["site", "kind"] and static.cardinalities() == [2, 2]
    codes, scaled = static.transform({"site": ["a", "c"], "kind": ["y", None]}, num[:2])
    assert codes.dtype == np.int64 and codes.tolist() == [[1, 2], [0, 0]]  # unseen: 0
    assert scaled.dtype == np.float32 and scaled.shape == (2, 2)
    np.testing.assert_allclose(scaled[:, 0], [-1.224745, 0.0], rtol=1e-5)  # train mean/std
    static.save(tmp_path / "static.json")
    back = StaticFeatures.load(tmp_path / "static.json")
    assert back == static
    again = back.transform({"site": ["a", "c"], "kind": ["y", None]}, num[:2])
    assert all(np.array_equal(a, b) for a, b in zip(again, (codes, scaled), strict=True))


def test_a_tsclass_static_json_of_an_earlier_version_loads(tmp_path: Path) -> None:
    # the layout tsclass wrote before StaticFeatures: the same four keys
    old = {"categorical": ["site"], "numeric": [], "vocab": {"site": ["A", "B"]}, "scaler": None}
    (tmp_path / "static.json").write_text(json.dumps(old))
    static = StaticFeatures.load(tmp_path / "static.json")
    assert static.to_dict() == old
    codes, scaled = static.transform({"site": ["B"]})
    assert codes.tolist() == [[2]] and scaled.shape == (1, 0)


def test_no_columns_and_bad_files(tmp_path: Path) -> None:
    empty = StaticFeatures.fit({})
    codes, scaled = empty.transform({}, rows=3)
    assert codes.shape == (3, 0) and scaled.shape == (3, 0)
    with pytest.raises(ValueError, match=r"numeric: expected \(n, 2\) values"):
        StaticFeatures.fit({}, np.zeros((3, 1)), ["a", "b"])
    with pytest.raises(RnnkitError, match="static.json is missing"):
        StaticFeatures.load(tmp_path / "static.json")
    (tmp_path / "static.json").write_text('{"categorical": []}')
    with pytest.raises(RnnkitError, match="static.json: not the static features of a run"):
        StaticFeatures.load(tmp_path / "static.json")
