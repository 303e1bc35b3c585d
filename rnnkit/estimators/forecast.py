"""``Forecaster``: a scikit-learn estimator that forecasts the next values of series.

``X`` is one series or several (see :func:`rnnkit.data.arrays.as_series`):

* one series ``(T,)`` (a 1-D array or a list of numbers),
* a 2-D array ``(S, T)`` of S univariate series,
* a list of S arrays ``(T_s,)`` or ``(T_s, C)`` of their own lengths (C values per step;
  one multivariate series ``(T, C)`` is ``[series]``),
* a padded ``(S, T, C)`` array with ``lengths=`` ``(S,)``.

``fit(X)`` trains on the windows of every series (``context`` steps in, the next
``horizon`` out; the last ``val_fraction`` of each series validates), ``predict(X)`` gives
the ``horizon`` values after the end of each series. The model, windows, scaling and
metrics are the ``forecast`` task's (``rnnkit train array_forecast``).

Example (tiny sizes; ``docs/estimators.md`` has a real-sized one)::

    >>> import numpy as np
    >>> from rnnkit.estimators import Forecaster
    >>> t = np.arange(120)
    >>> series = 10 + np.sin(2 * np.pi * t / 12) + 0.01 * t       # (120,): one series
    >>> fc = Forecaster(context=12, horizon=3, epochs=2).fit(series)
    >>> fc.predict(series).shape    # the next 3 values
    (3,)
    >>> bool(np.isfinite(fc.score(series)))  # R^2 of forecasting its last 3 values
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from rnnkit.data import arrays
from rnnkit.errors import RnnkitError
from rnnkit.estimators._base import SequenceEstimatorBase


class Forecaster(SequenceEstimatorBase):
    """A recurrent multi-horizon forecaster of series, trained by rnnkit's training engine.

    The ``forecast`` task's model (linear encoder of each step, a recurrent stack, a head
    of ``horizon`` values per target; ``residual``: predict the change from the last
    value) on windows of ``context`` steps; every series is standardised with the mean
    and standard deviation of the training parts (``scaling``) and forecasts are mapped
    back. Every argument is the config key of the same name of ``rnnkit train
    array_forecast`` (``model.*``, ``train.*``, ``data.*``), with its default; see
    :class:`~rnnkit.estimators.SequenceClassifier` for the shared ones.

    Args:
        output: direct (all ``horizon`` values at once) | rollout (one step fed back).
        residual: true (from the last value) | seasonal (from one season back; needs
            ``seasonality``) | auto | false.
        context: L, steps the model reads before each forecast origin.
        horizon: H, values forecast per origin.
        val_fraction: the last part of each series validates (early stopping, the best
            epoch); it must hold at least ``horizon`` steps. 0: the training windows
            validate.
        scaling: standard | minmax | none, fitted on the training parts. (The task's
            ``data.transform`` is not a parameter: scikit-learn reads an attribute named
            ``transform`` as a transformer's method; take the log of the series first.)
        seasonality: season length m (MASE, seasonal naive, ``residual="seasonal"``); 0 = 1.
        stride: steps between training windows.

    Attributes:
        n_features_in_: C, values per step (1 for univariate series).
        model_: the trained :class:`rnnkit.models.forecaster.Forecaster` (best epoch).
        history_: one dict per epoch (``train.loss``, ``val.loss``, ``val.mae`` ...).
        report_, run_dir_: as for :class:`~rnnkit.estimators.SequenceClassifier`.
    """

    task_name: ClassVar[str] = "array_forecast"
    data_keys: ClassVar[tuple[str, ...]] = (
        "context", "horizon", "val_fraction", "scaling", "seasonality", "stride",
    )  # fmt: skip
    model_keys: ClassVar[tuple[str, ...]] = ("output", "residual")

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
        head_dropout: float = 0.0,
        output: str = "direct",
        residual: bool | str = True,
        epochs: int = 150,
        batch_size: int = 16,
        optimizer: str = "adam",
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        warmup_steps: int = 0,
        clip_norm: float = 1.0,
        early_stopping: int = 30,
        max_minutes: float = 0.0,
        context: int = 24,
        horizon: int = 12,
        val_fraction: float = 0.1,
        scaling: str = "standard",
        seasonality: int = 0,
        stride: int = 1,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self._store_params(locals())  # as given: scikit-learn checks nothing in __init__

    def _data_source(self, name: str, keep: bool) -> dict[str, Any]:
        return {"source": name, "keep_series": keep}

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        lengths: Any = None,
        run_dir: str | Path | None = None,
        overwrite: bool = False,
    ) -> Forecaster:
        """Train on the windows of the series ``X`` (module docs).

        Args:
            X: the series; lengths: ``(S,)`` for a padded ``(S, T, C)`` ``X``.
            y: ignored (the targets are the series' own next values); scikit-learn's
                convention for estimators without a separate target.
            run_dir: keep the run in this directory (``rnnkit evaluate/forecast/explain/
                export/serve`` work on it; :func:`rnnkit.estimators.load` reads it back);
                None: a temporary one.
            overwrite: replace an existing run directory at ``run_dir``.

        Returns:
            self, fitted.
        """
        series, _ = arrays.as_series(X, lengths)
        self._fit_arrays(arrays.SeriesArrays(series), run_dir, overwrite)
        return self

    def _set_fitted(
        self,
        task: Any,
        model: Any,
        rows: list[dict[str, Any]],
        report: dict[str, Any] | None,
        run_dir: str | Path | None,
    ) -> None:
        super()._set_fitted(task, model, rows, report, run_dir)
        self.n_features_in_ = len(task.cfg.data.targets)  # pinned by the task: y, or y0..

    def _forecasts(
        self, X: Any, lengths: Any, horizon: int | None, backtest: bool
    ) -> tuple[list[dict[str, Any]], bool]:
        """The forecast task's rows for the series ``X``, and whether X was one series."""
        check_is_fitted(self)
        series, single = arrays.as_series(X, lengths)
        values = series[0].shape[1]
        if values != self.n_features_in_:
            raise RnnkitError(
                f"X: series of {values} value(s) per step; the model was fitted on series of "
                f"{self.n_features_in_}"
            )
        name = arrays.register(arrays.SeriesArrays(series))
        try:
            rows = self.task_.forecast_series(self.model_, horizon, source=name,
                                              backtest=backtest)  # fmt: skip
        finally:
            arrays.unregister(name)
            self.task_.release_data()
        return rows, single

    def _shaped(self, values: np.ndarray, single: bool) -> np.ndarray:
        """``(S, h, C)`` -> ``(S, h)`` for univariate series; without S for one series."""
        out = values[..., 0] if self.n_features_in_ == 1 else values
        return out[0] if single else out

    def predict(self, X: Any, *, lengths: Any = None, horizon: int | None = None) -> np.ndarray:
        """The next ``horizon`` values after the end of each series of ``X``.

        Args:
            X: the series (module docs); each at least ``context`` steps long (the model
                reads the last ``context``).
            lengths: ``(S,)`` for a padded ``X``.
            horizon: values to forecast; None = the fitted ``horizon`` (a longer one
                feeds forecasts back as context).

        Returns:
            ``(S, h)`` for univariate series, ``(S, h, C)`` for C values per step; for one
            series ``(T,)``, ``(h,)``. In the series' units.
        """
        rows, single = self._forecasts(X, lengths, horizon, backtest=False)
        return self._shaped(np.stack([r["forecast"] for r in rows]), single)

    def score(
        self, X: Any, y: Any = None, sample_weight: Any = None, *, lengths: Any = None
    ) -> float:
        """R^2 over all forecast values.

        With ``y`` (the actual next ``horizon`` values of each series, shaped as
        :meth:`predict`'s output): R^2 of ``predict(X)`` against ``y``. Without: a
        backtest: each series' last ``horizon`` values are forecast from the steps before
        them (each series then needs ``context + horizon`` steps).
        """
        from sklearn.metrics import r2_score

        rows, single = self._forecasts(X, lengths, None, backtest=y is None)
        pred = np.stack([r["forecast"] for r in rows])  # (S, h, C)
        if y is None:
            actual = np.stack([r["actual"] for r in rows])
        else:
            actual = np.asarray(y, dtype=np.float64)
            shape = self._shaped(pred, single).shape
            if shape == (len(rows), 1) and actual.shape == (len(rows),):
                actual = actual[:, None]  # horizon 1: one next value per series
            if actual.shape != shape:
                raise RnnkitError(
                    f"y has shape {actual.shape}; expected the forecasts' shape {shape} (the "
                    f"next horizon={self.horizon} values of each series)"
                )
        weights = None
        if sample_weight is not None:  # one weight per series, spread over its values
            per_series = np.asarray(sample_weight, dtype=np.float64).reshape(len(rows), 1)
            weights = np.broadcast_to(per_series, (len(rows), pred[0].size)).ravel()
        return float(r2_score(actual.ravel(), pred.ravel(), sample_weight=weights))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags
