"""The report's verdict: a run no better than its baseline says so (rnnkit.training.report)."""

from __future__ import annotations

from rnnkit.training.report import verdict


def test_a_model_above_every_baseline_gets_no_verdict() -> None:
    test = {"loss": 0.3, "accuracy": 0.9}
    baselines = {"majority": {"accuracy": 0.5}, "1nn_dtw": {"accuracy": 0.8, "window": 3}}
    assert verdict("tsclass", test, baselines, "loss", "min") == ""


def test_the_best_baseline_is_named_and_direction_follows_the_metric() -> None:
    test = {"rmse": 12.0, "mae": 9.0}
    baselines = {"naive": {"rmse": 30.0}, "seasonal_naive": {"rmse": 11.0, "mae": 8.0}}
    line = verdict("forecast", test, baselines, "rmse", "min")
    assert "seasonal_naive baseline" in line and "rmse 12.0000 vs 11.0000" in line
    assert "rnnkit tune forecast" in line
    # not the monitor: the direction comes from the metric's name (lower rmse is better)
    assert "rmse 12.0000 vs 11.0000" in verdict("forecast", test, baselines, "loss", "min")


def test_a_tie_counts_as_no_better_and_notes_are_not_scores() -> None:
    baselines = {"tfidf_logreg": {"accuracy": 0.78}, "1nn_dtw": {"note": "not computed"}}
    assert "tfidf_logreg" in verdict("sentiment", {"accuracy": 0.78}, baselines, "accuracy", "max")
    assert verdict("x", {"accuracy": 0.1}, {"dtw": {"note": "skipped"}}, "accuracy", "max") == ""
    assert verdict("x", None, baselines, "accuracy", "max") == ""
