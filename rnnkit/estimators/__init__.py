"""scikit-learn estimators for sequences held in memory, trained by rnnkit's engine.

* :class:`SequenceClassifier`, :class:`SequenceRegressor`: ``fit(X, y)``, ``predict``,
  ``predict_proba`` (classifier), ``score``, with ``X`` a list of ``(T_i, F)`` arrays, a
  padded ``(N, T, F)`` array with ``lengths``, or a 2-D ``(N, T)`` array of univariate
  series. They compose with scikit-learn (pipelines, ``GridSearchCV``, ``clone``).
* :class:`TextClassifier`: the same for raw strings (the ``sentiment`` pipeline).
* :func:`load`: the fitted estimator of a run directory (``fit(..., run_dir=...)``).

Example::

    import numpy as np
    from rnnkit.estimators import SequenceClassifier

    X = [np.random.randn(t, 3) for t in (12, 7, 30, 9)] * 10   # 40 sequences (T_i, 3)
    y = [0, 1, 0, 1] * 10
    clf = SequenceClassifier(hidden_size=16, epochs=5).fit(X, y, run_dir="runs/seq")
    clf.predict(X[:2]), clf.score(X, y)
"""

from __future__ import annotations

from rnnkit.estimators._base import load
from rnnkit.estimators.sequence import SequenceClassifier, SequenceRegressor
from rnnkit.estimators.text import TextClassifier

__all__ = ["SequenceClassifier", "SequenceRegressor", "TextClassifier", "load"]
