"""The one coding of static categorical features (rnnkit.data.static)."""

from __future__ import annotations

import numpy as np

from rnnkit.data.static import category_vocab, decode_categories, encode_categories


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
