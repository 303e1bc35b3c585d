"""Sequence metrics (rnnkit.metrics.sequence): edit distance, error rates, BLEU, chrF."""

from __future__ import annotations

import math

import pytest

from rnnkit.metrics.sequence import (
    edit_distance,
    error_rate,
    pronunciation_errors,
    translation_scores,
)


def test_edit_distance_known_values() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "") == 3
    assert edit_distance(["R", "IY", "D"], ["R", "EH", "D"]) == 1
    assert edit_distance("flaw", "lawn") == 2


def test_error_rate_is_total_distance_over_reference_length() -> None:
    hyps = [["a", "b"], ["c", "x", "d", "e"]]
    refs = [["a", "b", "c"], ["c", "d"]]
    assert error_rate(hyps, refs) == pytest.approx((1 + 2) / 5)
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        error_rate(hyps, refs[:1])


def test_pronunciation_errors_use_the_closest_reference() -> None:
    refs = [[("R", "EH", "D"), ("R", "IY", "D")], [("K", "AE", "T")]]
    out = pronunciation_errors([("R", "IY", "D"), ("K", "AH", "T")], refs)
    assert out == {"wer": 0.5, "per": pytest.approx(1 / 6)}


def test_bleu_equals_the_hand_computed_value() -> None:
    # unigram 5/6, bigram 3/5, trigram 1/4, 4-gram 0/3 -> sacrebleu's "exp" smoothing
    # counts the first zero as 1/(2*3); equal lengths: no brevity penalty.
    out = translation_scores(["the cat is on the mat"], ["the cat sat on the mat"])
    expected = 100 * math.exp(sum(math.log(p) for p in (5 / 6, 3 / 5, 1 / 4, 1 / 6)) / 4)
    assert out["bleu"] == pytest.approx(expected, abs=1e-9)
    assert out["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert "chrF2" in out["chrf_signature"] or "nc:6" in out["chrf_signature"]


def test_several_references_per_segment() -> None:
    hyps = ["the cat sat on the mat .", "a dog runs"]
    one = translation_scores(hyps, ["the cat sat on the mat .", "the dog runs"])
    both = translation_scores(hyps, ["the cat sat on the mat .", ["the dog runs", "a dog runs"]])
    assert one["bleu"] < 99.0 and one["chrf"] < 99.0  # "a dog runs" matches only the second
    assert both["bleu"] == pytest.approx(100.0) and both["chrf"] == pytest.approx(100.0)
    assert both["bleu_signature"].startswith("nrefs:var|")
    with pytest.raises(ValueError, match="segment 1 has no reference"):
        translation_scores(hyps, ["a", []])


def test_bleu_brevity_penalty_and_perfect_scores() -> None:
    perfect = translation_scores(["All eyes were fixed on her ."], ["All eyes were fixed on her ."])
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    # a correct prefix of 4 of 6 tokens: every precision is 1, BP = exp(1 - 6/4)
    short = translation_scores(["a b c d"], ["a b c d e f"])
    assert short["bleu"] == pytest.approx(100 * math.exp(1 - 6 / 4))
    assert translation_scores(["xyz"], ["abc"])["chrf"] == 0.0
