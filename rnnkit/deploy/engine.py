"""``rnnkit serve --engine onnx``: a run's exported graph in ONNX Runtime, called as the model.

:class:`OnnxModel` stands in for the PyTorch model in the task's own ``predict``: its
``forward`` (classifiers, the memory tasks) and ``forecast`` (forecasters) feed ONNX
Runtime, so the server keeps one prediction path, the task's, and only the engine
changes. The graph is built from the run's weights when the server starts and checked
against PyTorch (:func:`rnnkit.deploy.export.check_parity`) before serving; with
``int8`` it is then quantised (:mod:`rnnkit.deploy.quantize`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.errors import RnnkitError

ENGINES = ("torch", "onnx", "onnx-int8")


class OnnxModel(nn.Module):
    """The exported graph of ``model`` behind the model's calling convention.

    Args:
        model: the PyTorch model (kept for ``probabilities`` and the device).
        int8: serve the dynamically int8-quantised graph.

    Attributes:
        inputs: the graph's input descriptions (name, dtype, shape); io: all of them.
        parity: the largest difference to PyTorch on the start-up check (float32 graph).
    """

    def __init__(self, model: nn.Module, *, int8: bool = False) -> None:
        super().__init__()
        from rnnkit.deploy._require import require_onnxruntime
        from rnnkit.deploy.export import TOLERANCE, check_parity, export_model, writer_for

        ort = require_onnxruntime()
        self.model: Any = model  # its own methods (probabilities ...) are called
        proto, self.io = export_model(model, for_int8=int8)
        self.parity = check_parity(model, writer_for(model), proto)
        if not self.parity <= TOLERANCE:
            raise RnnkitError(
                f"--engine onnx: the graph disagrees with the model by {self.parity:.2e}"
            )
        if int8:
            from rnnkit.deploy.quantize import quantize_int8

            proto, _ = quantize_int8(proto)
        self.session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        self.inputs = self.io["inputs"]

    def _run(self, given: dict[str, Any]) -> torch.Tensor:
        """The graph's first output for the named inputs (absent lengths: full)."""
        first = given[self.inputs[0]["name"]]
        B, T = first.shape[0], first.shape[1]
        if given.get("lengths") is None:
            given["lengths"] = torch.full((B,), T, dtype=torch.int64)
        feeds = {}
        for info in self.inputs:
            value = given.get(info["name"])
            if value is None:
                raise RnnkitError(f"--engine onnx: the graph needs the input {info['name']!r}")
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
            feeds[info["name"]] = np.asarray(
                array, dtype=np.float32 if info["dtype"] == "float32" else np.int64
            )
        return torch.from_numpy(self.session.run(None, feeds)[0])

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """As the model's forward: ``(inputs, lengths, static_cat=, static_num=)``."""
        names = [i["name"] for i in self.inputs]
        return self._run({**dict(zip(names, args)), **kwargs})

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The model's own ``probabilities`` of ``logits``."""
        return self.model.probabilities(logits)

    def forecast(
        self,
        context: torch.Tensor,
        future: torch.Tensor | None = None,
        static_cat: torch.Tensor | None = None,
        static_num: torch.Tensor | None = None,
        horizon: int | None = None,
    ) -> torch.Tensor:
        """As :meth:`rnnkit.models.forecaster.Forecaster.forecast` for the trained horizon."""
        H = getattr(self.model, "horizon", None)
        if horizon not in (None, H):
            raise RnnkitError(f"--engine onnx forecasts the trained horizon {H}, not {horizon}")
        return self._run(
            {
                "context": context,
                "future": future,
                "static_cat": static_cat,
                "static_num": static_num,
            }  # fmt: skip
        )

    def __getattr__(self, name: str) -> Any:
        # attributes the tasks read (num_classes, horizon ...) are the model's
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)
