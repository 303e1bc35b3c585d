"""The splits module every classification task takes its split from (rnnkit.data.splits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.splits import stratified_holdout, stratified_sample, stratified_split
from rnnkit.errors import RnnkitError

ROOT = Path(__file__).resolve().parents[1]


def test_a_partition_in_proportion_per_class() -> None:
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    parts = stratified_split(labels, [0.1, 0.2], seed=3)
    assert np.sort(np.concatenate(parts)).tolist() == list(range(100))
    assert [len(p) for p in parts] == [10, 20, 70]
    assert np.bincount(labels[parts[0]]).tolist() == [5, 3, 2]
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)


def test_every_held_out_part_gets_each_class_that_can_give_one() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2] * 2)
    held, keep = stratified_split(y, [0.2], seed=0)
    assert not set(keep) & set(held) and len(keep) + len(held) == len(y)
    assert np.bincount(y[held]).tolist() == [2, 1, 1]  # rounding alone gives class 2 none
    assert np.array_equal(stratified_split(y, [0.2], seed=0)[0], held)  # seeded
    # three parts: a 3-example class gives one to each; a 2-example class can give one
    # to one held-out part (the later) and keeps one for train; a 1-example class stays
    y = np.array([0] * 3 + [1] * 2 + [2])
    test, val, train = stratified_split(y, [0.1, 0.1], seed=1)
    assert y[test].tolist() == [0] and sorted(y[val].tolist()) == [0, 1]
    assert sorted(y[train].tolist()) == [0, 1, 2]


@pytest.mark.parametrize("fractions", [[1.0], [0.6, 0.5], [-0.1]])
def test_fractions_out_of_range_are_refused(fractions: list[float]) -> None:
    with pytest.raises(ValueError, match="each must be in"):
        stratified_split(np.zeros(10), fractions, seed=0)


def test_the_digits_holdout_is_scikit_learns_split_as_before() -> None:
    # smnist re-derives its split at every load: it must stay the one it trained on
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 300)
    x = rng.normal(size=(300, 4))
    kept, held = stratified_holdout(y, 0.2, seed=5)
    x_tr, x_ho, y_tr, y_ho = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=5, shuffle=True
    )
    np.testing.assert_array_equal(x[kept], x_tr)
    np.testing.assert_array_equal(y[held], y_ho)
    assert len(held) == 60 and not set(kept) & set(held)
    with pytest.raises(ValueError):  # scikit-learn's refusal, which smnist words
        stratified_holdout(np.array([0, 0, 0, 1]), 0.5, seed=0)


def test_a_sample_spread_over_the_classes() -> None:
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    take, rest = stratified_sample(y, 30, seed=1)
    assert len(take) == 30 and np.bincount(y[take]).tolist() == [10, 10, 10]
    assert sorted([*take.tolist(), *rest.tolist()]) == list(range(100))
    assert np.array_equal(stratified_sample(y, 30, seed=1)[0], take)


def test_no_task_splits_its_examples_by_its_own_code() -> None:
    tasks = sorted((ROOT / "rnnkit" / "tasks").glob("*.py"))
    own = [
        p.name
        for p in tasks
        if "train_test_split" in p.read_text(encoding="utf-8")
        or "def _stratified" in p.read_text(encoding="utf-8")
    ]
    assert own == []


def test_every_kind_of_split_lives_here() -> None:
    from rnnkit.data import pairs, splits

    assert pairs.split_groups is splits.split_groups  # still importable where it was
    parts = splits.split_groups(["a", "b", "a", "c", "b"], (0.34, 0.33, 0.33), seed=0)
    keys = ["a", "b", "a", "c", "b"]
    assert all(len({keys[i] for i in p}) == 1 for p in parts)  # one key, one part
    assert splits.split_points(100, 0.1, 0.2, context=5, horizon=5, what="s") == (70, 10)
    with pytest.raises(RnnkitError, match="data.horizon=12 is longer than the test part"):
        splits.split_points(50, 0.1, 0.1, context=5, horizon=12, what="s")
