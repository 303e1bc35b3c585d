"""Static (per-series) features as ONNX, as :class:`rnnkit.models.static.StaticFusion`.

::

    static_cat (B, Kc) int64 ──Gather(embedding_j) per column──┐
    static_num (B, Kn) float ──────────────────────────────────┴─► Concat ─► linear ─► tanh
        ─► s (B, E_s)
    concat: x (B, T, F) ─► [x, s expanded over time] (B, T, F + E_s)
    init:   h_0 = tanh(W_h s + b_h), c_0 = W_c s + b_c (LSTM), each (L*D, B, H)

``static_cat`` is an input only when the model has categorical columns, ``static_num``
only when it has numeric ones (the model's own inputs then are ``(B, 0)`` tensors).
"""

from __future__ import annotations

from typing import Any, cast

from torch import nn

from rnnkit.deploy._graph import Graph
from rnnkit.models.static import StaticFusion


def static_embeddings(fusion: StaticFusion) -> list[nn.Embedding]:
    """The static encoder's embeddings, one per categorical column."""
    return [cast(nn.Embedding, e) for e in fusion.encoder.embeddings]


def static_inputs(g: Graph, fusion: StaticFusion) -> tuple[list[str], list[dict[str, Any]]]:
    """Declare ``static_cat`` ``(B, Kc)`` int64 and/or ``static_num`` ``(B, Kn)`` float32;
    returns ``[cat or "", num or ""]`` and their descriptions."""
    TP = g.onnx.TensorProto
    Kc = len(fusion.encoder.embeddings)
    Kn = fusion.encoder.proj.in_features - sum(e.embedding_dim for e in static_embeddings(fusion))
    names, info = ["", ""], []
    if Kc:
        names[0] = g.input("static_cat", TP.INT64, ["batch", Kc])
        info.append({"name": "static_cat", "dtype": "int64", "shape": ["batch", Kc]})
    if Kn:
        names[1] = g.input("static_num", TP.FLOAT, ["batch", Kn])
        info.append({"name": "static_num", "dtype": "float32", "shape": ["batch", Kn]})
    return names, info


def encode_static(g: Graph, fusion: StaticFusion, cat: str, num: str) -> str:
    """The static vector ``s`` ``(B, E_s)`` from the inputs named by :func:`static_inputs`."""
    parts = []
    for j, emb in enumerate(static_embeddings(fusion)):
        codes = g.op("Gather", cat, g.const("static_col", j), axis=1, hint="codes")  # (B,)
        parts.append(g.op("Gather", g.const(f"static_emb{j}", emb.weight), codes))  # (B, d_j)
    if num:
        parts.append(num)  # (B, Kn)
    joined = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1, hint="static")
    proj = fusion.encoder.proj
    return g.op("Tanh", g.linear(joined, proj.weight, proj.bias, "static_proj"), hint="s")


def concat_static(g: Graph, x: str, s: str) -> str:
    """``x`` ``(B, T, F)`` with ``s`` ``(B, E_s)`` appended to every step: ``(B, T, F+E_s)``."""
    s3 = g.op("Unsqueeze", s, g.ints("axis1", [1]), hint="s3")  # (B, 1, E_s)
    bt = g.op("Slice", g.op("Shape", x), g.ints("start", [0]), g.ints("stop", [2]), hint="BT")
    shape = g.op("Concat", bt, g.op("Slice", g.op("Shape", s3), g.ints("start", [2]),
                                    g.ints("stop", [3])), axis=0, hint="s_shape")  # fmt: skip
    return g.op("Concat", x, g.op("Expand", s3, shape, hint="s_steps"), axis=2, hint="x_s")


def initial_state(g: Graph, fusion: StaticFusion, s: str) -> list[str]:
    """The stack's initial states from ``s``: ``[h_0]`` or ``[h_0, c_0]``, ``(L*D, B, H)``."""
    shape = g.ints("slots_shape", [0, fusion.slots, fusion.hidden_size])

    def slots(v: str) -> str:  # (B, slots*H) -> (slots, B, H)
        return g.op("Transpose", g.op("Reshape", v, shape), perm=[1, 0, 2], hint="s0")

    h0 = slots(g.op("Tanh", g.linear(s, fusion.to_h.weight, fusion.to_h.bias, "to_h")))
    if fusion.to_c is None:
        return [h0]
    return [h0, slots(g.linear(s, fusion.to_c.weight, fusion.to_c.bias, "to_c"))]


def fuse(
    g: Graph, fusion: StaticFusion, x: str, cat: str, num: str
) -> tuple[str, list[str] | None, str]:
    """``(features, initial states or None, s)`` for ``x`` ``(B, T, F)`` as the fusion's
    mode says (``concat``: features with ``s`` appended; ``init``: ``x`` and the states)."""
    s = encode_static(g, fusion, cat, num)
    if fusion.mode == "concat":
        return concat_static(g, x, s), None, s
    return x, initial_state(g, fusion, s), s
