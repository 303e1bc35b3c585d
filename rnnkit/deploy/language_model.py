"""``LanguageModel`` as ONNX: its step function with the state in and out, for generation.

::

    ids (B, T) int64, h0 (L, B, H) [, c0 (L, B, H_cell) for an LSTM]
        ─► Gather(embedding) ─► recurrent stack from (h0, c0) ─► linear
        ─► logits (B, T, V), h_n (L, B, H) [, c_n]

With ``T = 1`` this is one generation step: feed the prime once (``T`` = its length, the
state zeros), then each sampled id with the returned state, as
:func:`rnnkit.models.language_model.generate_ids` does. Every sequence of the batch runs
all ``T`` steps (no padding). Dropout is absent (eval mode).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.deploy._graph import Graph
from rnnkit.deploy.recurrent import stack_view, write_stack
from rnnkit.models.language_model import LanguageModel


def state_sizes(stack: nn.Module) -> list[int]:
    """Sizes of the carried states: ``[H_out]``, or ``[H_out, H_cell]`` for an LSTM."""
    H = stack_view(stack).hidden_size
    h = getattr(stack, "proj_size", 0) or H
    return [h, H] if getattr(stack, "mode", None) == "LSTM" else [h]


def write_language_model(model: LanguageModel) -> tuple[Any, dict[str, Any]]:
    """The ONNX model of a :class:`rnnkit.models.language_model.LanguageModel` (eval mode)
    and the description of its inputs and outputs."""
    g = Graph("rnnkit_language_model")
    TP = g.onnx.TensorProto
    stack = model.recurrent
    L = stack_view(stack).num_layers  # unidirectional: L * D = L
    names = ["h", "c"][: len(state_sizes(stack))]
    ids = g.input("ids", TP.INT64, ["batch", "time"])
    initial = [g.input(f"{n}0", TP.FLOAT, [L, "batch", size])
               for n, size in zip(names, state_sizes(stack), strict=True)]  # fmt: skip
    shape = g.op("Shape", ids, hint="ids_shape")
    B = g.op("Slice", shape, g.ints("start", [0]), g.ints("stop", [1]), hint="B")  # (1,)
    T = g.op("Slice", shape, g.ints("start", [1]), g.ints("stop", [2]), hint="T")  # (1,)
    lengths = g.op("Expand", T, B, hint="lengths")  # (B,): every sequence runs all T steps
    emb = g.op("Gather", g.const("embedding.weight", model.embedding.weight), ids)  # (B, T, E)
    emb = g.op("Transpose", emb, perm=[1, 0, 2], hint="emb_t")  # (T, B, E)
    out, _, finals = write_stack(g, stack, emb, lengths, initial)  # (T, B, R)
    logits = g.linear(out, model.head.weight, model.head.bias, "head")  # (T, B, V)
    logits = g.op("Transpose", logits, perm=[1, 0, 2], hint="logits_b")  # (B, T, V)
    V = model.vocab_size
    g.output(logits, "logits", TP.FLOAT, ["batch", "time", V])
    io_in: list[dict[str, Any]] = [{"name": "ids", "dtype": "int64", "shape": ["batch", "time"]}]
    io_out: list[dict[str, Any]] = [
        {"name": "logits", "dtype": "float32", "shape": ["batch", "time", V]}
    ]
    for n, size, final in zip(names, state_sizes(stack), finals, strict=True):
        g.output(final, f"{n}_n", TP.FLOAT, [L, "batch", size])
        io_in.append({"name": f"{n}0", "dtype": "float32", "shape": [L, "batch", size]})
        io_out.append({"name": f"{n}_n", "dtype": "float32", "shape": [L, "batch", size]})
    return g.model(doc="rnnkit LanguageModel step"), {"inputs": io_in, "outputs": io_out}
