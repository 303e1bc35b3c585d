"""``TextClassifier``: a scikit-learn estimator that takes raw strings.

Example (tiny sizes; the defaults are the ``sentiment`` task's)::

    >>> from rnnkit.estimators import TextClassifier
    >>> texts = ["a warm and funny film", "a dull mess", "moving and funny", "dull, overlong"]
    >>> labels = ["pos", "neg", "pos", "neg"]
    >>> clf = TextClassifier(epochs=1, hidden_size=8, embedding_dim=8, num_layers=1)
    >>> clf = clf.fit(texts * 10, labels * 10)                # a list of str, a label each
    >>> clf.predict(["a funny film"]).shape, clf.predict_proba(["dull"]).shape  # (1, C)
    ((1,), (1, 2))
    >>> clf.classes_.tolist()
    ['neg', 'pos']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from rnnkit.data import arrays
from rnnkit.errors import RnnkitError
from rnnkit.estimators._base import SequenceEstimatorBase, class_labels


class TextClassifier(ClassifierMixin, SequenceEstimatorBase):
    """A recurrent text classifier on raw strings, trained by rnnkit's training engine.

    The model and pipeline of ``rnnkit train sentiment``: a tokenizer fitted on the
    training texts (``tokenizer``, ``vocab_size``, ``max_length`` ...), an embedding whose
    first ``nb_init_dims`` dimensions start at each token's naive-Bayes log-count ratio, a
    stacked LSTM, pooling, a linear head; length-bucketed batches. Every argument is the
    config key of the same name of ``rnnkit train array_text``, with its default (the
    sentiment task's); see :class:`~rnnkit.estimators.SequenceClassifier` for the shared
    ones.

    Args:
        tokenizer: word (lower-cased words, punctuation split off) | bpe.
        vocab_size: ids in the vocabulary, padding and unknown included.
        min_frequency: words seen fewer times in training get no id.
        lowercase: lower-case texts before tokenizing.
        max_length: tokens kept per text; truncate: ``end`` or ``start``, the part cut.
        nb_init_dims: embedding dimensions started at the naive-Bayes ratios; 0 = random.

    Attributes:
        classes_: ``(C,)`` the labels, sorted; ``predict_proba``'s columns.
        model_: the trained :class:`rnnkit.models.classifier.SequenceClassifier`.
        history_, report_, run_dir_: as for :class:`~rnnkit.estimators.SequenceClassifier`.
    """

    task_name: ClassVar[str] = "array_text"
    data_keys: ClassVar[tuple[str, ...]] = (
        "tokenizer", "vocab_size", "min_frequency", "lowercase", "max_length", "truncate",
        "val_fraction", "nb_init_dims",
    )  # fmt: skip

    def __init__(
        self,
        *,
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.3,
        backend: str = "auto",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
        embedding_dim: int = 128,
        pooling: str = "max",
        head_dropout: float = 0.3,
        epochs: int = 3,
        batch_size: int = 64,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        warmup_steps: int = 0,
        clip_norm: float = 1.0,
        early_stopping: int = 2,
        max_minutes: float = 0.0,
        tokenizer: str = "word",
        vocab_size: int = 10_000,
        min_frequency: int = 1,
        lowercase: bool = True,
        max_length: int = 200,
        truncate: str = "end",
        val_fraction: float = 0.1,
        nb_init_dims: int = 16,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self._store_params(locals())  # as given: scikit-learn checks nothing in __init__

    def _data_source(self, name: str, keep: bool) -> dict[str, Any]:
        return {"name": name, "keep_texts": keep}

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        run_dir: str | Path | None = None,
        overwrite: bool = False,
    ) -> TextClassifier:
        """Train on the texts ``X`` (a list of non-empty strings) with labels ``y`` ``(N,)``.

        Args:
            X: the texts; y: one label per text (numbers or strings), two classes or more.
            run_dir: keep the run in this directory (``rnnkit evaluate`` and ``rnnkit
                predict RUN_DIR "a text"`` work on it; :func:`rnnkit.estimators.load`
                reads it back); None: a temporary one.
            overwrite: replace an existing run directory at ``run_dir``.

        Returns:
            self, fitted.
        """
        texts = arrays.as_texts(X)
        y = class_labels(y, type(self).__name__, len(texts), "text")
        classes, codes = np.unique(y, return_inverse=True)
        names = [str(c) for c in classes.tolist()]
        if len(set(names)) != len(names):
            raise RnnkitError(f"y: two classes print the same ({names}); use distinct labels")
        data = arrays.TextArrays(texts, codes.astype(np.int64), names, classes)
        self._fit_arrays(data, run_dir, overwrite)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, C)`` of the texts ``X``, columns as ``classes_``."""
        check_is_fitted(self)
        texts = arrays.as_texts(X)
        rows = self.task_.predict(self.model_, texts)
        names = self.task_.label_names
        return np.asarray([[row["probabilities"][n] for n in names] for row in rows])

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each text, ``(N,)``."""
        probabilities = self.predict_proba(X)  # (N, C); checks it is fitted
        return self.classes_[probabilities.argmax(1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = False
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = True
        return tags
