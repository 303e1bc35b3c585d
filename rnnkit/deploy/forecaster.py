"""``Forecaster`` as ONNX: ``(context, lengths [, future, static_cat, static_num]) -> forecast``.

The graph is :meth:`rnnkit.models.forecaster.Forecaster.forecast` for the trained horizon
``H``, with each window's context its first ``lengths[b]`` steps (ragged windows in one
batch: window ``b`` gives what ``forecast(context[b:b+1, :lengths[b]])`` gives)::

    context (B, T, F) ─(targets minus the level, residual)─► [+ static s] ─► linear
        ─► recurrent stack (sequence_lens = lengths) ─► out (T, B, R)
    direct:  out at each window's last real step ++ future (B, H*K) ─► linear ─► (B, H, C)
             (+ the last real context value, residual)
    rollout: one-step head on the last real step, then H - 1 steps unrolled in the graph,
             each forecast fed back (with the next step's future covariates) from the
             carried state; the weights are stored once

All values are in scaled units, as the model's; the metadata's ``scaler.json`` inverts
them. ``future`` ``(B, H, K)`` is an input when the model has future covariates, the
static inputs when it has static features (:mod:`rnnkit.deploy.static`).
"""

from __future__ import annotations

from typing import Any

from rnnkit.deploy._graph import Graph
from rnnkit.deploy.recurrent import write_stack
from rnnkit.errors import RnnkitError
from rnnkit.models.forecaster import Forecaster


def _last_step(g: Graph, x: str, lengths: str, time_axis: int) -> str:
    """The value at each sequence's last real step: ``x`` ``(T, B, R)`` (``time_axis=0``)
    or ``(B, T, R)`` (``time_axis=1``) -> ``(B, R)``."""
    idx = g.op("Sub", lengths, g.const("one_i64", 1), hint="last_idx")  # (B,)
    if time_axis == 1:
        idx = g.op("Unsqueeze", idx, g.ints("axis1", [1]), hint="last_idx")  # (B, 1)
        # (B, 1, R) index for GatherElements along time
        shape = g.op("Shape", x)
        R = g.op("Slice", shape, g.ints("start", [2]), g.ints("stop", [3]), hint="R")
        B = g.op("Slice", shape, g.ints("start", [0]), g.ints("stop", [1]), hint="B")
        full = g.op("Concat", B, g.ints("one_v", [1]), R, axis=0, hint="idx_shape")
        idx3 = g.op("Expand", g.op("Unsqueeze", idx, g.ints("axis2", [2])), full)
        picked = g.op("GatherElements", x, idx3, axis=1, hint="picked")  # (B, 1, R)
        return g.op("Squeeze", picked, g.ints("axis1", [1]), hint="last_step")
    return _last_step(g, g.op("Transpose", x, perm=[1, 0, 2], hint="x_b"), lengths, 1)


def _channels(g: Graph, x: str, start: int, stop: int) -> str:
    """``x[..., start:stop]`` of a ``(B, T, F)`` value."""
    return g.op("Slice", x, g.ints("start", [start]), g.ints("stop", [stop]),
                g.ints("axis2", [2]), hint="chan")  # fmt: skip


def write_forecaster(model: Forecaster) -> tuple[Any, dict[str, Any]]:
    """The ONNX model of ``model`` (eval mode) and the description of its inputs and outputs.

    Returns:
        ``(onnx.ModelProto, io)``; the output ``forecast`` is ``(B, H, C)``.
    """
    from rnnkit.deploy.static import concat_static, encode_static, initial_state, static_inputs

    C, K, H, F = model.num_targets, model.future_size, model.horizon, model.input_size
    if model.output == "rollout" and F - C - K:
        raise RnnkitError(
            "a rollout forecaster with past-only covariates cannot feed its forecasts back; "
            "it has no ONNX writer"
        )
    g = Graph("rnnkit_forecaster")
    TP = g.onnx.TensorProto
    context = g.input("context", TP.FLOAT, ["batch", "time", F])
    lengths = g.input("lengths", TP.INT64, ["batch"])
    io_in = [
        {"name": "context", "dtype": "float32", "shape": ["batch", "time", F]},
        {"name": "lengths", "dtype": "int64", "shape": ["batch"]},
    ]
    future = ""
    if K:
        future = g.input("future", TP.FLOAT, ["batch", H, K])
        io_in.append({"name": "future", "dtype": "float32", "shape": ["batch", H, K]})
    cat = num = ""
    if model.static is not None:
        (cat, num), static_info = static_inputs(g, model.static)
        io_in.extend(static_info)

    targets = _channels(g, context, 0, C)  # (B, T, C)
    last_value = g.op(
        "Unsqueeze", _last_step(g, targets, lengths, 1), g.ints("axis1", [1]), hint="last_value"
    )  # (B, 1, C): the last real context value

    level = None
    if model.residual:  # direct: the last real value; rollout: the first
        level = last_value if model.output == "direct" else _channels(
            g, g.op("Slice", context, g.ints("start", [0]), g.ints("stop", [1]),
                    g.ints("axis1", [1])), 0, C)  # fmt: skip

    def relative(x: str, n_features: int) -> str:  # targets minus the level
        if level is None:
            return x
        rel = g.op("Sub", _channels(g, x, 0, C), level, hint="rel")
        if n_features == C:
            return rel
        return g.op("Concat", rel, _channels(g, x, C, n_features), axis=2, hint="x_rel")

    s = initial = None
    if model.static is not None:
        s = encode_static(g, model.static, cat, num)  # (B, E_s)
        if model.static.mode == "init":
            initial = initial_state(g, model.static, s)

    def encode(x: str) -> str:  # (B, T, F) -> (T, B, E), the static vector appended (concat)
        if s is not None and model.static is not None and model.static.mode == "concat":
            x = concat_static(g, x, s)
        e = g.linear(x, model.encoder.weight, model.encoder.bias, "encoder")
        return g.op("Transpose", e, perm=[1, 0, 2], hint="enc_t")

    e = encode(relative(context, F))
    out, last, state = write_stack(g, model.recurrent, e, lengths, initial)  # (T, B, R)

    if model.output == "direct":
        h = _last_step(g, out, lengths, 0)  # (B, R): every direction at the last real step
        if K:
            h = g.op("Concat", h, g.op("Reshape", future, g.ints("flat2", [0, -1])), axis=1)
        y = g.linear(h, model.head.weight, model.head.bias, "head")  # (B, H*C)
        y = g.op("Reshape", y, g.ints("bhc", [0, H, C]), hint="y")  # (B, H, C)
        forecast = g.op("Add", y, last_value, hint="y_res") if model.residual else y
    else:
        ones = g.op("Expand", g.const("one_i64", 1),
                    g.op("Shape", lengths), hint="ones")  # fmt: skip  # (B,) one step each
        preds = []
        prev = last_value
        for step in range(H):
            y = g.linear(last, model.head.weight, model.head.bias, "head")  # (B, C)
            y = g.op("Unsqueeze", y, g.ints("axis1", [1]), hint="y")  # (B, 1, C)
            if model.residual:
                y = g.op("Add", y, prev, hint="y_res")
            preds.append(y)
            if step + 1 == H:
                break
            x = y
            if K:  # the next step's future covariates
                k_next = g.op("Slice", future, g.ints("start", [step + 1]),
                              g.ints("stop", [step + 2]), g.ints("axis1", [1]))  # fmt: skip
                x = g.op("Concat", y, k_next, axis=2, hint="x_next")  # (B, 1, C + K)
            e1 = encode(relative(x, C + K))  # (1, B, E)
            _, last, state = write_stack(g, model.recurrent, e1, ones, state)
            prev = y
        forecast = preds[0] if H == 1 else g.op("Concat", *preds, axis=1, hint="forecast")
    g.output(forecast, "forecast", TP.FLOAT, ["batch", H, C])
    io_out = [{"name": "forecast", "dtype": "float32", "shape": ["batch", H, C]}]
    return g.model(doc="rnnkit Forecaster"), {"inputs": io_in, "outputs": io_out}
