"""Classification metrics against hand-computed values and scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from rnnkit.metrics import accuracy, classification_report, confusion_matrix, f1_score, roc_auc


def test_binary_metrics_match_hand_computed_values():
    t = [1, 1, 1, 0, 0, 0, 1, 0]
    p = [1, 0, 1, 0, 1, 0, 1, 0]
    # TP=3 (0,2,6), FN=1 (1), FP=1 (4), TN=3
    assert accuracy(t, p) == pytest.approx(6 / 8)
    assert confusion_matrix(t, p).tolist() == [[3, 1], [1, 3]]
    assert f1_score(t, p) == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))


def test_binary_auc_counts_ties_as_half():
    t = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.4, 0.8]
    # pairs (pos, neg): (0.4,0.1)=1 (0.4,0.4)=0.5 (0.8,0.1)=1 (0.8,0.4)=1 -> 3.5 / 4
    assert roc_auc(t, s) == pytest.approx(3.5 / 4)
    assert roc_auc(t, np.stack([1 - np.array(s), s], 1)) == pytest.approx(3.5 / 4)


def test_auc_is_nan_with_one_class():
    assert np.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 200)
    probs = rng.dirichlet(np.ones(4), 200)
    probs[np.arange(200), t] += 0.3  # informative but imperfect
    probs /= probs.sum(1, keepdims=True)
    p = probs.argmax(1)
    assert accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    assert f1_score(t, p, average="macro") == pytest.approx(skm.f1_score(t, p, average="macro"))
    assert confusion_matrix(t, p, 4).tolist() == skm.confusion_matrix(t, p).tolist()
    assert roc_auc(t, probs) == pytest.approx(
        skm.roc_auc_score(t, probs, multi_class="ovr", average="macro")
    )


def test_binary_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) * 0.5 + 0.3 * t, 1)  # coarse scores: many ties
    assert roc_auc(t, s) == pytest.approx(skm.roc_auc_score(t, s))
    assert f1_score(t, (s > 0.4).astype(int)) == pytest.approx(skm.f1_score(t, s > 0.4))


def test_report_picks_f1_average_by_class_count():
    report = classification_report([0, 1, 1], [0.2, 0.7, 0.4], num_classes=2)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["confusion"] == [[1, 0], [1, 1]]
    assert report["f1"] == pytest.approx(2 / 3)
    assert report["roc_auc"] == pytest.approx(1.0)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="3 entries but preds has 2"):
        accuracy([0, 1, 1], [0, 1])
