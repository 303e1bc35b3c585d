"""The text-classification baseline a user tries first: TF-IDF + logistic regression.

Word unigrams and bigrams with sub-linear term frequency (``1 + log tf``), fitted on the
training split only; the inverse regularisation strength ``C`` is picked from a small grid
on the validation split, then the model is scored once on the test split. Token-id
datasets (Keras ``imdb.npz``) are turned into space-joined id strings first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from rnnkit.metrics.classification import classification_report

C_GRID = (1.0, 4.0, 16.0)


def _as_strings(
    split_texts: Sequence[str] | None, ids: Sequence[Sequence[int]] | None
) -> list[str]:
    if split_texts is not None:
        return list(split_texts)
    return [" ".join(f"w{i}" for i in seq) for seq in ids or []]


def tfidf_logistic_regression(
    train: tuple[Sequence, np.ndarray],
    val: tuple[Sequence, np.ndarray],
    test: tuple[Sequence, np.ndarray],
    *,
    num_classes: int,
    token_ids: bool = False,
    seed: int = 0,
) -> dict[str, float]:
    """Fit TF-IDF + LR on ``train``, pick C on ``val``, and report on ``test``.

    Args:
        train, val, test: ``(texts, labels)`` pairs: N texts (or N token-id sequences when
            ``token_ids``) and ``(N,)`` int labels.
        num_classes: C.
        token_ids: the "texts" are token-id sequences.
        seed: the solver's random state.

    Returns:
        ``{"accuracy", "f1", "roc_auc", "C"}`` on the test split.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def strings(x: Sequence) -> list[str]:
        return _as_strings(None, x) if token_ids else _as_strings(x, None)

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        token_pattern=r"(?u)\b\w+\b",  # keep one-letter words ("a", "i")
    )
    x_train = vectorizer.fit_transform(strings(train[0]))
    x_val, x_test = vectorizer.transform(strings(val[0])), vectorizer.transform(strings(test[0]))
    best_model, best_acc, best_c = None, -1.0, C_GRID[0]
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(x_train, train[1])
        acc = float((model.predict(x_val) == np.asarray(val[1])).mean())
        if acc > best_acc:
            best_model, best_acc, best_c = model, acc, c
    assert best_model is not None
    probs = best_model.predict_proba(x_test)  # (N, C), columns in class order
    report = classification_report(
        test[1], _full_probs(probs, best_model.classes_, num_classes), num_classes
    )
    return {
        "accuracy": float(cast(float, report["accuracy"])),
        "f1": float(cast(float, report["f1"])),
        "roc_auc": float(cast(float, report["roc_auc"])),
        "C": best_c,
    }


def _full_probs(probs: np.ndarray, classes: np.ndarray, num_classes: int) -> np.ndarray:
    """Place the columns of ``probs`` (for the classes seen in training) into ``(N, C)``."""
    out = np.zeros((probs.shape[0], num_classes))
    out[:, classes.astype(int)] = probs
    return out
