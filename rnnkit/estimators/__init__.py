"""scikit-learn estimators for sequences held in memory, trained by rnnkit's engine.

* :class:`SequenceClassifier`, :class:`SequenceRegressor`: ``fit(X, y)``, ``predict``,
  ``predict_proba`` (classifier), ``score``, with ``X`` a list of ``(T_i, F)`` arrays, a
  padded ``(N, T, F)`` array with ``lengths``, or a 2-D ``(N, T)`` array of univariate
  series. They compose with scikit-learn (pipelines, ``GridSearchCV``, ``clone``).
* :class:`TextClassifier`: the same for raw strings (the ``sentiment`` pipeline).
* :class:`Forecaster`: ``fit(X)`` on series, ``predict(X)`` the next ``horizon`` values of
  each (the ``forecast`` task's model, windows and scaler).
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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnkit.estimators._base import load
    from rnnkit.estimators.forecast import Forecaster
    from rnnkit.estimators.sequence import SequenceClassifier, SequenceRegressor
    from rnnkit.estimators.text import TextClassifier

# name -> its module, imported on first use: scikit-learn (their base classes) is not
# needed by rnnkit.fit (rnnkit.estimators.module_fit)
_LAZY = {
    "SequenceClassifier": "rnnkit.estimators.sequence",
    "SequenceRegressor": "rnnkit.estimators.sequence",
    "TextClassifier": "rnnkit.estimators.text",
    "Forecaster": "rnnkit.estimators.forecast",
    "load": "rnnkit.estimators._base",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnkit.estimators' has no attribute {name!r}")


__all__ = ["Forecaster", "SequenceClassifier", "SequenceRegressor", "TextClassifier", "load"]
