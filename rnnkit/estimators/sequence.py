"""``SequenceClassifier`` and ``SequenceRegressor``: scikit-learn estimators for sequences.

``X`` is any of (see :func:`rnnkit.data.arrays.as_sequences`):

* a list of N arrays ``(T_i, F)`` (or ``(T_i,)``) of varying length,
* a padded array ``(N, T, F)`` with ``lengths=`` ``(N,)``,
* a 2-D array ``(N, T)`` of N univariate series (what a scikit-learn pipeline passes on).

Example (tiny sizes; a real fit takes more epochs)::

    >>> import numpy as np
    >>> from rnnkit.estimators import SequenceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(int(rng.integers(3, 9)), 2)) for _ in range(40)]  # (T_i, 2)
    >>> y = ["up" if x[:, 0].mean() > 0 else "down" for x in X]
    >>> clf = SequenceClassifier(hidden_size=8, epochs=2).fit(X, y)
    >>> clf.predict(X[:3]).shape, clf.predict_proba(X[:3]).shape   # labels as in y; (N, C)
    ((3,), (3, 2))
    >>> clf.classes_.tolist(), 0.0 <= clf.score(X, y) <= 1.0       # score: accuracy
    (['down', 'up'], True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_array

from rnnkit.data import arrays
from rnnkit.errors import RnnkitError
from rnnkit.estimators._base import SequenceEstimatorBase, class_labels


class SequenceClassifier(ClassifierMixin, SequenceEstimatorBase):
    """A recurrent classifier of whole sequences, trained by rnnkit's training engine.

    Linear encoder ``F -> embedding_dim``, a recurrent stack (``cell``, ``hidden_size``,
    ``num_layers``, ``bidirectional``, ...), pooling over the real steps, a linear head;
    cross entropy (BCE for two classes). Every argument is the config key of the same name
    of ``rnnkit train array_classification`` (``model.*``, ``train.*``, ``data.*``), with
    its default; ``verbose`` prints one line per epoch and the progress bar.

    Args:
        cell: lstm | gru | rnn | indrnn | mingru | minlstm.
        hidden_size, num_layers, bidirectional, dropout, backend: the recurrent stack.
        layer_norm, recurrent_dropout, zoneout, weight_drop, peephole: cell options.
        embedding_dim: size of the linear encoder's output (the stack's input).
        pooling: last | mean | max | attention.
        head_dropout: dropout before the head.
        epochs, batch_size, optimizer, lr, weight_decay, schedule: the training loop
            (``train.*``), as are warmup_steps, clip_norm, early_stopping, max_minutes.
        val_fraction: share of the sequences held out (stratified) for early stopping
            and the best epoch.
        normalize: ``train`` (standardise each feature with the training split) | ``none``.
        seed: seeds the split, the initialisation and the shuffling.
        device: cpu | cuda.
        verbose: print the epochs.

    Attributes:
        classes_: ``(C,)`` the labels, sorted; ``predict_proba``'s columns.
        n_features_in_: F, features per step.
        model_: the trained :class:`rnnkit.models.classifier.SequenceClassifier` (best epoch).
        history_: one dict per epoch (``train.loss``, ``val.loss``, ``val.accuracy`` ...).
        report_: the run's ``report.json``; ``run_dir_``: its directory, or None.
    """

    task_name: ClassVar[str] = "array_classification"

    def __init__(
        self,
        *,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        backend: str = "auto",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
        embedding_dim: int = 32,
        pooling: str = "last",
        head_dropout: float = 0.0,
        epochs: int = 20,
        batch_size: int = 32,
        optimizer: str = "adam",
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        warmup_steps: int = 0,
        clip_norm: float = 1.0,
        early_stopping: int = 5,
        max_minutes: float = 0.0,
        val_fraction: float = 0.1,
        normalize: str = "train",
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self._store_params(locals())  # as given: scikit-learn checks nothing in __init__

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        lengths: Any = None,
        run_dir: str | Path | None = None,
        overwrite: bool = False,
    ) -> SequenceClassifier:
        """Train on sequences ``X`` (module docs) with labels ``y`` ``(N,)`` of any kind.

        Args:
            X: the sequences; lengths: ``(N,)`` for a padded ``(N, T, F)`` ``X``.
            y: one label per sequence (numbers or strings), at least two classes.
            run_dir: keep the run in this directory (``rnnkit evaluate/predict`` work on it;
                :func:`rnnkit.estimators.load` reads it back); None: a temporary one.
            overwrite: replace an existing run directory at ``run_dir``.

        Returns:
            self, fitted.
        """
        sequences = arrays.as_sequences(X, lengths)
        y = class_labels(y, type(self).__name__, len(sequences), "sequence")
        self._fit_arrays(arrays.SequenceArrays(sequences, y), run_dir, overwrite)
        return self

    def predict_proba(self, X: Any, *, lengths: Any = None) -> np.ndarray:
        """Class probabilities ``(N, C)``, columns in the order of ``classes_``."""
        sequences = self._sequences(X, lengths)
        return self.task_.outputs(self.model_, sequences)

    def predict(self, X: Any, *, lengths: Any = None) -> np.ndarray:
        """The most probable label of each sequence, ``(N,)``."""
        probabilities = self.predict_proba(X, lengths=lengths)  # (N, C); checks it is fitted
        return self.classes_[probabilities.argmax(1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None, *, lengths: Any = None) -> float:
        """Accuracy of ``predict(X)`` against ``y``."""
        from sklearn.metrics import accuracy_score

        return float(
            accuracy_score(y, self.predict(X, lengths=lengths), sample_weight=sample_weight)
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


class SequenceRegressor(RegressorMixin, SequenceEstimatorBase):
    """A recurrent regressor of whole sequences (one or K values each), trained by
    rnnkit's training engine.

    The model of :class:`SequenceClassifier` with a linear head of K outputs and the mean
    squared error; the targets are standardised with the training split
    (``scale_targets``) and the predictions mapped back. Every argument is the config key of
    the same name of ``rnnkit train array_regression``, with its default (see
    :class:`SequenceClassifier` for their meaning).

    Args:
        scale_targets: standardise the targets for training (predictions in their units).

    Attributes:
        n_features_in_: F, features per step.
        model_: the trained :class:`rnnkit.models.pooled_regressor.PooledRegressor`.
        history_: one dict per epoch (``train.loss``, ``val.loss``, ``val.rmse`` ...).
        report_, run_dir_: as for :class:`SequenceClassifier`.
    """

    task_name: ClassVar[str] = "array_regression"
    data_keys: ClassVar[tuple[str, ...]] = ("val_fraction", "normalize", "scale_targets")

    def __init__(
        self,
        *,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        backend: str = "auto",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
        embedding_dim: int = 32,
        pooling: str = "last",
        head_dropout: float = 0.0,
        epochs: int = 20,
        batch_size: int = 32,
        optimizer: str = "adam",
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        warmup_steps: int = 0,
        clip_norm: float = 1.0,
        early_stopping: int = 5,
        max_minutes: float = 0.0,
        val_fraction: float = 0.1,
        normalize: str = "train",
        scale_targets: bool = True,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self._store_params(locals())  # as given: scikit-learn checks nothing in __init__

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        lengths: Any = None,
        run_dir: str | Path | None = None,
        overwrite: bool = False,
    ) -> SequenceRegressor:
        """Train on sequences ``X`` with targets ``y``: ``(N,)`` or ``(N, K)`` numbers
        (arguments as in :meth:`SequenceClassifier.fit`). Returns self, fitted."""
        sequences = arrays.as_sequences(X, lengths)
        arrays.require_targets(y, type(self).__name__, "sequence")
        y = check_array(y, ensure_2d=False, dtype="numeric", input_name="y")
        if y.ndim not in (1, 2):
            raise RnnkitError(f"y: expected (N,) or (N, K) targets, got shape {y.shape}")
        arrays.check_target_count(len(y), len(sequences), "sequence")
        self._fit_arrays(arrays.SequenceArrays(sequences, y), run_dir, overwrite)
        return self

    def predict(self, X: Any, *, lengths: Any = None) -> np.ndarray:
        """Predicted values: ``(N,)`` when fitted on ``(N,)`` targets, else ``(N, K)``."""
        sequences = self._sequences(X, lengths)
        return self.task_.predict_values(self.model_, sequences)

    def score(self, X: Any, y: Any, sample_weight: Any = None, *, lengths: Any = None) -> float:
        """R^2 of ``predict(X)`` against ``y`` (averaged over outputs)."""
        from sklearn.metrics import r2_score

        return float(r2_score(y, self.predict(X, lengths=lengths), sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
