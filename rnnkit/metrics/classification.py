"""Classification metrics on integer labels and class probabilities (numpy in, floats out).

``targets`` and ``preds`` are ``(N,)`` integer class indices in ``[0, C)``; ``probs`` is
``(N, C)`` class probabilities (or ``(N,)`` probabilities of class 1 for two classes).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike


def _labels(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {arr.shape}")
    return arr.astype(np.int64)


def _pair(targets: ArrayLike, preds: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(targets, "targets"), _labels(preds, "preds")
    if t.shape != p.shape:
        raise ValueError(f"targets has {t.shape[0]} entries but preds has {p.shape[0]}")
    if t.size == 0:
        raise ValueError("metrics of an empty set are undefined")
    return t, p


def accuracy(targets: ArrayLike, preds: ArrayLike) -> float:
    """Share of ``preds`` equal to ``targets``."""
    t, p = _pair(targets, preds)
    return float((t == p).mean())


def confusion_matrix(
    targets: ArrayLike, preds: ArrayLike, num_classes: int | None = None
) -> np.ndarray:
    """``(C, C)`` int64 counts: row = true class, column = predicted class."""
    t, p = _pair(targets, preds)
    c = num_classes if num_classes is not None else int(max(t.max(), p.max())) + 1
    if t.min() < 0 or p.min() < 0 or t.max() >= c or p.max() >= c:
        raise ValueError(f"class indices must lie in [0, {c})")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    # F1 = 2TP / (2TP + FP + FN); a class never true nor predicted scores 0 (as sklearn).
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def f1_score(
    targets: ArrayLike, preds: ArrayLike, *, average: str = "binary", num_classes: int | None = None
) -> float:
    """F1 of class 1 (``average="binary"``) or the unweighted mean over classes (``"macro"``)."""
    cm = confusion_matrix(targets, preds, num_classes).astype(np.float64)
    tp = np.diag(cm)
    fp = cm.sum(0) - tp  # predicted as the class, truly another
    fn = cm.sum(1) - tp  # truly the class, predicted as another
    per_class = _f1_from_counts(tp, fp, fn)
    if average == "binary":
        if cm.shape[0] > 2:
            raise ValueError(f"binary F1 needs two classes, got {cm.shape[0]}; use 'macro'")
        return float(per_class[1]) if cm.shape[0] == 2 else 0.0
    if average == "macro":
        return float(per_class.mean())
    raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")


def _binary_auc(is_pos: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties count 1/2."""
    n_pos = int(is_pos.sum())
    n_neg = is_pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average 1-based ranks over runs of tied scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    rank_sum = ranks[is_pos].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(targets: ArrayLike, probs: ArrayLike) -> float:
    """ROC-AUC: binary from ``(N,)`` or ``(N, 2)`` probabilities; one-vs-rest macro for C > 2.

    Returns NaN when a class needed for the curve is absent from ``targets``; in the
    multi-class case, classes absent from ``targets`` are left out of the mean.
    """
    t = _labels(targets, "targets")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1 or p.shape[1] == 2:
        scores = p if p.ndim == 1 else p[:, 1]
        if scores.shape[0] != t.shape[0]:
            raise ValueError(f"targets has {t.shape[0]} entries but probs has {scores.shape[0]}")
        return _binary_auc(t == 1, scores)
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"targets has {t.shape[0]} entries but probs has {p.shape[0]}")
    aucs = [_binary_auc(t == c, p[:, c]) for c in range(p.shape[1])]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_report(
    targets: ArrayLike, probs: ArrayLike, num_classes: int
) -> dict[str, float | list[list[int]]]:
    """accuracy, f1 (binary for two classes, else macro), roc_auc and the confusion matrix."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = np.stack([1 - p, p], axis=1)
    preds = p.argmax(1)
    return {
        "accuracy": accuracy(targets, preds),
        "f1": f1_score(
            targets,
            preds,
            average="binary" if num_classes == 2 else "macro",
            num_classes=num_classes,
        ),
        "roc_auc": roc_auc(targets, p),
        "confusion": confusion_matrix(targets, preds, num_classes).tolist(),
    }
