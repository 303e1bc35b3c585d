"""Per-column affine scaling of numbers, fitted on the training rows and saved as JSON.

The forecasting task scales its series, covariates and static numbers with it, the
time-series classifier its static numbers (:class:`rnnkit.data.static.StaticFeatures`).

>>> import numpy as np
>>> s = Scaler.fit(np.array([[1.0], [3.0]]))
>>> s.transform(np.array([[2.0]])).tolist(), s.inverse(np.array([[1.0]])).tolist()
([[0.0]], [[3.0]])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError


@dataclass
class Scaler:
    """Per-column affine scaling ``z = (f(x) - mean) / std`` with ``f`` = log or identity,
    fitted on the training part only, saved as JSON and inverted for metrics.

    ``kind`` is ``"standard"`` (mean/std), ``"minmax"`` (to [0, 1]) or ``"none"``.
    """

    kind: str = "standard"
    log: bool = False
    shift: list[float] = field(default_factory=list)  # (F,)
    scale: list[float] = field(default_factory=list)  # (F,)

    @classmethod
    def fit(cls, x: np.ndarray, kind: str = "standard", log: bool = False) -> Scaler:
        """Fit on ``x`` of shape ``(N, F)`` (training rows only)."""
        if kind not in ("standard", "minmax", "none"):
            raise RnnkitError(f"data.scaling: expected standard, minmax or none, got {kind!r}")
        if log and (x <= 0).any():
            raise RnnkitError("data.log=true needs strictly positive values in every column")
        f = np.log(x) if log else x
        if kind == "standard":
            shift, scale = f.mean(0), f.std(0)
        elif kind == "minmax":
            shift, scale = f.min(0), f.max(0) - f.min(0)
        else:
            shift, scale = np.zeros(f.shape[1]), np.ones(f.shape[1])
        scale = np.where(scale > 1e-12, scale, 1.0)
        return cls(kind, log, [float(v) for v in shift], [float(v) for v in scale])

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(..., F)`` raw values -> scaled values."""
        f = np.log(x) if self.log else x
        return (f - np.asarray(self.shift)) / np.asarray(self.scale)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """``(..., F)`` scaled values -> raw values."""
        f = z * np.asarray(self.scale) + np.asarray(self.shift)
        return np.exp(f) if self.log else f

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "log": self.log, "shift": self.shift, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        return cls(d["kind"], bool(d["log"]), list(d["shift"]), list(d["scale"]))
