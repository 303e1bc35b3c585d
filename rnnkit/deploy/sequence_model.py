"""``SequenceModel`` (the memory tasks) as ONNX: ``(inputs, lengths) -> outputs``.

::

    inputs (B, T, F) float, or (B, T) int64 ids ──one-hot (Gather of an identity)──►
        (B, T, F) ─► Transpose ─► recurrent stack (sequence_lens = lengths) ─► (T, B, R)
        last step:  linear on each sequence's last real step ─► outputs (B, K)
        every step: linear on every step ─► outputs (B, T, K), zero after each length

A sequence of length ``n`` gives what the model gives for its first ``n`` steps alone
(the model itself runs full-length batches; its stack is causal, unidirectional).
"""

from __future__ import annotations

from typing import Any

import torch

from rnnkit.deploy._graph import Graph
from rnnkit.deploy.recurrent import time_mask, write_stack
from rnnkit.models.regressor import SequenceModel


def write_sequence_model(model: SequenceModel) -> tuple[Any, dict[str, Any]]:
    """The ONNX model of ``model`` (eval mode) and the description of its inputs and outputs.

    Returns:
        ``(onnx.ModelProto, io)``; the output ``outputs`` is ``(B, K)`` or ``(B, T, K)``.
    """
    g = Graph("rnnkit_sequence_model")
    TP = g.onnx.TensorProto
    F, K = model.input_size, model.head.out_features
    if model.num_symbols is not None:
        x_info: dict[str, Any] = {"name": "inputs", "dtype": "int64", "shape": ["batch", "time"]}
        x = g.input("inputs", TP.INT64, ["batch", "time"])
        eye = torch.eye(model.num_symbols, dtype=torch.float32)
        feats = g.op("Gather", g.const("one_hot", eye), x, hint="one_hot")  # (B, T, S)
    else:
        x_info = {"name": "inputs", "dtype": "float32", "shape": ["batch", "time", F]}
        x = feats = g.input("inputs", TP.FLOAT, ["batch", "time", F])
    lengths = g.input("lengths", TP.INT64, ["batch"])
    feats = g.op("Transpose", feats, perm=[1, 0, 2], hint="x_t")  # (T, B, F)
    out, last, _ = write_stack(g, model.recurrent, feats, lengths)  # (T, B, R), (B, R)
    if model.per_step:
        y = g.linear(out, model.head.weight, model.head.bias, "head")  # (T, B, K)
        keep = g.op("Cast", time_mask(g, out, lengths), to=TP.FLOAT, hint="keep")  # (T, B)
        y = g.op("Mul", y, g.op("Unsqueeze", keep, g.ints("axis2", [2])), hint="y_masked")
        y = g.op("Transpose", y, perm=[1, 0, 2], hint="y_b")  # (B, T, K)
        shape: list[int | str] = ["batch", "time", K]
    else:
        y = g.linear(last, model.head.weight, model.head.bias, "head")  # (B, K)
        shape = ["batch", K]
    g.output(y, "outputs", TP.FLOAT, shape)
    io = {
        "inputs": [x_info, {"name": "lengths", "dtype": "int64", "shape": ["batch"]}],
        "outputs": [{"name": "outputs", "dtype": "float32", "shape": shape}],
    }
    return g.model(doc="rnnkit SequenceModel"), io
