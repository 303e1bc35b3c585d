"""What every rnnkit estimator shares: hyper-parameters as config keys, fitting on the
training engine, the run directory, reading a fitted estimator back.

An estimator's constructor arguments are config keys of its task (``hidden_size`` is
``model.hidden_size``, ``lr`` is ``train.lr``, ``val_fraction`` is ``data.val_fraction``),
with the task's defaults. ``fit`` turns them into the task's :class:`~rnnkit.config.RunConfig`
(every value type-checked as a ``--set`` would be), hands the arrays to the task by name
(:func:`rnnkit.data.arrays.register`) and calls :func:`rnnkit.training.fit`, the loop of
``rnnkit train``: seeding, clipping, schedules, early stopping on the validation split and
the best epoch's weights. Without ``run_dir`` the run directory is a temporary one,
deleted afterwards; with it, the directory stays a normal run directory.
"""

from __future__ import annotations

import dataclasses
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import assert_all_finite
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from rnnkit.config import RunConfig
from rnnkit.data import arrays
from rnnkit.errors import RnnkitError
from rnnkit.training.callbacks import Callback

# estimator parameter -> config key, shared by the sequence estimators
MODEL_KEYS = (
    "cell", "hidden_size", "num_layers", "bidirectional", "dropout", "backend", "layer_norm",
    "recurrent_dropout", "zoneout", "weight_drop", "peephole", "embedding_dim", "pooling",
    "head_dropout",
)  # fmt: skip
TRAIN_KEYS = (
    "epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "warmup_steps",
    "clip_norm", "early_stopping", "max_minutes",
)  # fmt: skip
ROOT_KEYS = ("seed", "device")


def config_keys(
    names: tuple[str, ...], data_keys: tuple[str, ...], model_keys: tuple[str, ...] = ()
) -> dict[str, str]:
    """``{param: "section.key"}`` for the parameters ``names`` of an estimator
    (``model_keys``: its ``model.*`` keys beyond :data:`MODEL_KEYS`)."""
    keys = {n: f"model.{n}" for n in MODEL_KEYS + model_keys}
    keys |= {n: f"train.{n}" for n in TRAIN_KEYS}
    keys |= {n: f"data.{n}" for n in data_keys} | {n: n for n in ROOT_KEYS}
    return {n: keys[n] for n in names if n in keys}


def class_labels(y: Any, owner: str, n: int, item: str) -> np.ndarray:
    """``y`` as ``(N,)`` class labels (numbers or strings) for ``n`` inputs, each a ``item``
    (``"sequence"``, ``"text"``); one clear error for None, NaN or infinity, continuous
    values, or a count other than ``n``. ``owner``: the estimator's name, for the message."""
    arrays.require_targets(y, owner, item)
    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "fc":
        assert_all_finite(y, input_name="y")
    check_classification_targets(y)
    arrays.check_target_count(len(y), n, item)
    return y


def _plain(value: Any) -> Any:
    """NumPy scalars (``np.int64(3)`` from a parameter grid) as Python values."""
    return value.item() if isinstance(value, np.generic) else value


class _Capture(Callback):
    """Keeps the trained model (best weights loaded) and the epoch rows at the end."""

    def __init__(self) -> None:
        self.model: Any = None
        self.rows: list[dict[str, Any]] = []

    def on_fit_end(self, session: Any, report: dict[str, Any]) -> None:
        self.model, self.rows = session.model, list(session.state.rows)


class SequenceEstimatorBase(BaseEstimator):
    """The shared part of the sequence estimators (not used directly).

    Subclasses set ``task_name`` and ``data_keys`` and write out ``__init__`` with every
    hyper-parameter (scikit-learn reads the parameters from its signature).
    """

    task_name: ClassVar[str]
    data_keys: ClassVar[tuple[str, ...]] = ("val_fraction", "normalize")
    model_keys: ClassVar[tuple[str, ...]] = ()  # model.* keys beyond MODEL_KEYS

    verbose: bool

    def _store_params(self, values: dict[str, Any]) -> None:
        """Keep each constructor argument under its own name (``values``: ``locals()``)."""
        for name in self._get_param_names():
            setattr(self, name, values[name])

    # ------------------------------------------------------------------ config
    @classmethod
    def param_keys(cls) -> dict[str, str]:
        """``{param: config key}`` of this estimator's hyper-parameters."""
        return config_keys(tuple(cls._get_param_names()), cls.data_keys, cls.model_keys)

    def to_config(self) -> RunConfig:
        """The run config these hyper-parameters describe (type-checked, as ``--set``)."""
        from rnnkit.tasks.resolve import resolve_config

        values = {key: _plain(getattr(self, name)) for name, key in self.param_keys().items()}
        try:
            cfg = resolve_config(self.task_name, overrides=values)
        except RnnkitError as e:  # name the parameter, not the config key
            message = str(e)
            for name, key in self.param_keys().items():
                message = message.replace(f"'{key}'", f"{name!r} ({key})")
            raise RnnkitError(f"{type(self).__name__}: {message}") from None
        verbose = bool(self.verbose)
        train = dataclasses.replace(cfg.train, progress=verbose, tensorboard=False)
        return dataclasses.replace(cfg, train=train)

    @classmethod
    def params_from_config(cls, cfg: RunConfig) -> dict[str, Any]:
        """The constructor arguments that give ``cfg`` back (:func:`load`)."""
        out = {}
        for name, key in cls.param_keys().items():
            node: Any = cfg
            for part in key.split("."):
                node = getattr(node, part)
            out[name] = node
        return out

    # ------------------------------------------------------------------ fit
    def _fit_arrays(
        self,
        data: arrays.Registered,
        run_dir: str | Path | None,
        overwrite: bool,
    ) -> None:
        """Train on ``data`` with the training engine; sets the fitted attributes."""
        from rnnkit.rundir import writing
        from rnnkit.tasks import get_task_class
        from rnnkit.training import fit

        cfg = self.to_config()
        name = arrays.register(data)
        keep = _Capture()
        try:
            data_values = self._data_source(name, keep=run_dir is not None)
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **data_values))
            task: Any = get_task_class(self.task_name)(cfg)  # an ArrayTask
            # the run directory: a temporary one (deleted afterwards) or the one asked for
            place: AbstractContextManager[str | Path] = (
                tempfile.TemporaryDirectory(prefix="rnnkit-fit-")
                if run_dir is None
                else writing(run_dir, self.task_name, overwrite=overwrite)
            )
            with place as out:
                report = fit(task, out, verbose=bool(self.verbose), callbacks=[keep],
                             final_test=False)  # fmt: skip
        finally:
            arrays.unregister(name)
        task.release_data()
        keep.model.eval()
        self._set_fitted(task, keep.model, keep.rows, report, run_dir)

    def _data_source(self, name: str, keep: bool) -> dict[str, Any]:
        """The data keys that hand the registered arrays ``name`` to the task, and keep a
        copy in the run directory when ``keep``."""
        return {"source": name, "keep_arrays": keep}

    def _set_fitted(
        self,
        task: Any,
        model: Any,
        rows: list[dict[str, Any]],
        report: dict[str, Any] | None,
        run_dir: str | Path | None,
    ) -> None:
        self.task_ = task
        self.model_ = model
        if hasattr(task, "num_features"):  # numeric sequences: F, features per step
            self.n_features_in_ = int(task.num_features)
        self.history_ = rows
        self.report_ = report
        self.run_dir_ = None if run_dir is None else Path(run_dir)
        if getattr(task, "classes", None) is not None:  # a classifier's labels, sorted
            self.classes_ = np.asarray(task.classes)

    def _sequences(self, X: Any, lengths: Any) -> list[np.ndarray]:
        check_is_fitted(self)
        return arrays.as_sequences(X, lengths)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        return tags


def load(run_dir: str | Path, *, device: str | None = None) -> SequenceEstimatorBase:
    """The fitted estimator of a run directory written by ``fit(..., run_dir=...)`` (or by
    ``rnnkit train array_classification|array_regression|array_text|array_forecast``).

    Args:
        run_dir: the run directory.
        device: where to put the model (default: CPU).

    Returns:
        A :class:`~rnnkit.estimators.SequenceClassifier`,
        :class:`~rnnkit.estimators.SequenceRegressor`,
        :class:`~rnnkit.estimators.TextClassifier` or :class:`~rnnkit.estimators.Forecaster`
        with the run's hyper-parameters and best weights, ready to ``predict``.
    """
    from rnnkit import api, runs
    from rnnkit.estimators.forecast import Forecaster
    from rnnkit.estimators.sequence import SequenceClassifier, SequenceRegressor
    from rnnkit.estimators.text import TextClassifier

    cfg = runs.read_config(run_dir)
    classes: dict[str, type[SequenceEstimatorBase]] = {
        c.task_name: c for c in (SequenceClassifier, SequenceRegressor, TextClassifier, Forecaster)
    }
    if cfg.task not in classes:
        raise RnnkitError(
            f"{run_dir} holds a {cfg.task!r} run; rnnkit.estimators.load reads the runs of "
            f"{', '.join(sorted(classes))}"
        )
    cls = classes[cfg.task]
    estimator = cls(**cls.params_from_config(cfg))
    run = api.load(run_dir, device=device)
    estimator._set_fitted(run.task, run.model, runs.read_metrics(run_dir), run.report, run_dir)
    return estimator
