"""``rnnkit export --int8``: dynamic int8 quantisation of an exported graph (ONNX Runtime).

Weights are stored as int8 with a float scale; activations are quantised on the fly
(per batch), so no calibration data is needed. What ONNX Runtime's dynamic quantiser can
and cannot do with rnnkit's graphs (onnxruntime 1.17 - 1.22):

* ``LSTM`` operators become ``DynamicQuantizeLSTM`` (input and recurrent weights int8);
* ``MatMul`` with a constant weight becomes ``MatMulInteger`` (the heads, the encoders,
  the input projections of the ``Scan`` families and, inside the ``Scan`` bodies, the
  recurrent matrices of LSTM / GRU / RNN with options or ``proj_size``);
* ``Gather`` of an embedding table stores the table in int8;
* ``GRU`` and ``RNN`` operators are **not** quantised (ONNX Runtime has no int8 kernel
  for them). ``rnnkit export --int8`` therefore writes GRU and Elman stacks as ``Scan``
  loops of MatMuls (``export_model(model, for_int8=True)``), whose weights are then all
  int8; a graph that still holds a float32 weight lists it under ``kept_float32``.

The report (the metadata's ``int8`` entry) gives both file sizes, the operators
quantised and kept, and the change on the task's test split: accuracy when the output is
a class score, else the mean and largest absolute change of the output.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.deploy._require import require_onnx, require_onnxruntime
from rnnkit.errors import RnnkitError

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
ACCURACY_DROP_WARNING = 0.01  # an accuracy drop above 1 point is reported as such


def weight_ops(proto: Any) -> Counter:
    """Operators of ``proto`` (subgraphs included) that hold float32 weights: the
    recurrent operators, and ``MatMul`` / ``Gather`` reading a float initializer."""
    onnx = require_onnx()
    floats = {t.name for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    counts: Counter = Counter()

    def walk(graph: Any) -> None:
        for node in graph.node:
            if node.op_type in RECURRENT_OPS:
                counts[node.op_type] += 1
            elif node.op_type == "MatMul" and len(node.input) > 1 and node.input[1] in floats:
                counts["MatMul"] += 1
            elif node.op_type == "Gather" and node.input and node.input[0] in floats:
                counts["Gather"] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)

    walk(proto.graph)
    return counts


def quantize_int8(proto: Any) -> tuple[Any, dict[str, Any]]:
    """``(int8 onnx.ModelProto, report)`` of a float32 ``proto`` (see the module docs);
    ``report`` holds ``quantised`` and ``kept_float32`` operator counts and both sizes."""
    onnx = require_onnx()
    require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="rnnkit-int8-") as tmp:
        src, dst = Path(tmp) / "float32.onnx", Path(tmp) / "int8.onnx"
        onnx.save_model(proto, str(src))
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantiser's advice on pre-processing, to the root logger
        try:
            quantize_dynamic(
                src, dst, weight_type=QuantType.QInt8, extra_options={"EnableSubgraph": True}
            )
        except Exception as e:  # the quantiser raises plain exceptions on graphs it refuses
            raise RnnkitError(f"--int8: ONNX Runtime could not quantise the graph ({e})") from None
        finally:
            root.setLevel(level)
        quantised = onnx.load_model(str(dst))
    before, kept = weight_ops(proto), weight_ops(quantised)
    done = before - kept
    report = {
        "method": "onnxruntime.quantization.quantize_dynamic (QInt8 weights, dynamic activations)",
        "float32_bytes": len(proto.SerializeToString()),
        "int8_bytes": len(quantised.SerializeToString()),
        "quantised": dict(sorted(done.items())),
        "kept_float32": dict(sorted(kept.items())),
    }
    if kept:
        report["note"] = (
            "ONNX Runtime has no int8 kernel for "
            + ", ".join(sorted(k for k in kept if k in RECURRENT_OPS) or ["these operators"])
            + "; their weights stay float32"
        )
    return quantised, report


def feeds_of(session: Any, inputs_info: list[dict[str, Any]], batch: Any) -> dict[str, Any]:
    """The ONNX inputs of one :class:`rnnkit.data.batch.Batch`: its ``inputs`` as the
    graph's first input, ``lengths``, its extras by name (``static_cat``, ``future`` ...),
    and zero initial states for a language model's ``h0`` / ``c0``."""
    first = inputs_info[0]["name"]
    x = batch.inputs.cpu().numpy()
    B, T = x.shape[0], x.shape[1]
    lengths = batch.lengths if batch.lengths is not None else None
    given: dict[str, Any] = {
        first: x,
        "lengths": np.full(B, T, np.int64) if lengths is None else lengths.cpu().numpy(),
    }
    for name, value in (batch.extras or {}).items():
        given[name] = value.cpu().numpy()
    feeds = {}
    for info in inputs_info:
        name = info["name"]
        if name in given:
            value = given[name]
            feeds[name] = value.astype(np.float32 if info["dtype"] == "float32" else np.int64)
        else:  # an initial state (L, B, H): zeros, as the model starts
            L, _, H = info["shape"]
            feeds[name] = np.zeros((L, B, H), np.float32)
    return feeds


def compare_on_split(
    task: Any, float_session: Any, int8_session: Any, io: dict[str, Any], split: str = "test"
) -> dict[str, Any]:
    """The int8 model against the float32 one on every batch of ``split``.

    Returns ``{"split", "sequences", ...}`` with ``float32_accuracy``, ``int8_accuracy``
    and ``accuracy_change`` when the output is a class score ``(B, K)`` against class
    targets ``(B,)``, and always ``mean_abs_change`` / ``max_abs_change`` of the output.
    """
    names = [o["name"] for o in io["outputs"]]
    out = "probabilities" if "probabilities" in names else names[0]
    n = correct_f = correct_q = 0
    total = 0.0
    count = 0
    worst = 0.0
    classes = True
    for batch in task.batches(split):
        feeds = feeds_of(float_session, io["inputs"], batch)
        a = float_session.run([out], feeds)[0]
        b = int8_session.run([out], feeds)[0]
        diff = np.abs(a - b)
        total += float(diff.sum())
        count += diff.size
        worst = max(worst, float(diff.max()))
        y = batch.targets.cpu().numpy()
        if classes and a.ndim == 2 and a.shape[1] > 1 and y.ndim == 1 and y.dtype.kind in "iu":
            correct_f += int((a.argmax(1) == y).sum())
            correct_q += int((b.argmax(1) == y).sum())
        else:
            classes = False
        n += len(a)
    if n == 0:
        raise RnnkitError(f"--int8: the {split} split is empty; nothing to compare on")
    report: dict[str, Any] = {
        "split": split,
        "sequences": n,
        "output": out,
        "mean_abs_change": total / max(count, 1),
        "max_abs_change": worst,
    }
    if classes:
        acc_f, acc_q = correct_f / n, correct_q / n
        report.update(float32_accuracy=acc_f, int8_accuracy=acc_q, accuracy_change=acc_q - acc_f)
        if acc_f - acc_q > ACCURACY_DROP_WARNING:
            report["warning"] = (
                f"int8 loses {100 * (acc_f - acc_q):.1f} accuracy points on the {split} split "
                "(more than 1): prefer the float32 file"
            )
    return report
