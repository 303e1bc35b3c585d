"""Classification metrics on integer labels and class probabilities (numpy in, floats out).

scikit-learn computes them; this module fixes the conventions rnnkit's reports rely on
(labels ``0..C-1`` even when a class is absent, F1 binary for two classes and macro
otherwise, NaN for an undefined ROC-AUC instead of an exception) and checks the inputs.

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
    from sklearn import metrics

    t, p = _pair(targets, preds)
    c = num_classes if num_classes is not None else int(max(t.max(), p.max())) + 1
    if t.min() < 0 or p.min() < 0 or t.max() >= c or p.max() >= c:
        raise ValueError(f"class indices must lie in [0, {c})")
    return metrics.confusion_matrix(t, p, labels=np.arange(c)).astype(np.int64)


def f1_score(
    targets: ArrayLike, preds: ArrayLike, *, average: str = "binary", num_classes: int | None = None
) -> float:
    """F1 of class 1 (``average="binary"``) or the unweighted mean over classes (``"macro"``);
    a class neither true nor predicted scores 0 (scikit-learn's ``zero_division=0``)."""
    from sklearn import metrics

    if average not in ("binary", "macro"):
        raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")
    cm = confusion_matrix(targets, preds, num_classes)  # checks the labels
    c = cm.shape[0]
    if average == "binary" and c > 2:
        raise ValueError(f"binary F1 needs two classes, got {c}; use 'macro'")
    if average == "binary" and c < 2:
        return 0.0  # class 1 never true nor predicted
    t, p = _pair(targets, preds)
    labels = [1] if average == "binary" else list(range(c))
    return float(metrics.f1_score(t, p, labels=labels, average="macro", zero_division=0))


def _binary_auc(is_pos: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's ROC-AUC of one class against the rest; NaN when only one side is present."""
    from sklearn import metrics

    if is_pos.all() or not is_pos.any():
        return float("nan")
    return float(metrics.roc_auc_score(is_pos, scores))


def roc_auc(targets: ArrayLike, probs: ArrayLike) -> float:
    """ROC-AUC: binary from ``(N,)`` or ``(N, 2)`` probabilities; one-vs-rest macro for C > 2.

    Returns NaN when a class needed for the curve is absent from ``targets``; in the
    multi-class case, classes absent from ``targets`` are left out of the mean (where
    scikit-learn's multi-class ``roc_auc_score`` would refuse the whole set).
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
