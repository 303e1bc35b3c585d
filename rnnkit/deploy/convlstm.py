"""``ConvLSTM1d`` / ``ConvLSTM2d`` layers as ONNX: ``(inputs, lengths) -> (output, h_n, c_n)``.

ONNX has no convolutional LSTM operator, so each layer-direction is a ``Scan`` over time
whose body is the cell of :mod:`rnnkit.cells.convlstm`::

    x (T, B, C, *S) ──(reverse within lengths: ReverseSequence)──► Scan over t of (x_t, m_t):
        i, f, g, o = split(Conv([x_t, h], W, b, 'same' padding), 4 channel blocks)
        c_new = σ(f) c + σ(i) tanh(g),   h_new = σ(o) tanh(c_new)
        (h, c) = m_t (h_new, c_new) + (1 - m_t) (h, c)      (held at padded steps)
        y_t    = m_t h_new                                 (zero at padded steps)
    ──(reverse back)──► y (T, B, C_h, *S); a second direction concatenates on channels

with ``m_t`` the real-step mask from ``lengths``, as the PyTorch layer. The graph keeps
the layer's layout (``batch_first`` or time-major), starts from zero states, and has
dynamic batch, time and spatial axes (the convolution pads each side by ``k // 2``).

    >>> import rnnkit
    >>> from rnnkit.deploy.export import export_model
    >>> proto, io = export_model(rnnkit.ConvLSTM2d(3, 8, kernel_size=3, batch_first=True))
    >>> [i["name"] for i in io["inputs"]], [o["name"] for o in io["outputs"]]
    (['inputs', 'lengths'], ['output', 'h_n', 'c_n'])
"""

from __future__ import annotations

from typing import Any

from rnnkit.deploy._graph import Graph
from rnnkit.deploy.recurrent import time_mask
from rnnkit.errors import RnnkitError
from rnnkit.layers.convlstm import ConvLSTM1d, ConvLSTM2d

ConvLSTM = ConvLSTM1d | ConvLSTM2d


def _direction(
    g: Graph, layer: ConvLSTM, k: int, x: str, lengths: str, mask: str, reverse: bool
) -> tuple[str, str, str]:
    """Layer-direction ``k`` over ``x (T, B, C_in, *S)``: ``(y (T, B, C_h, *S), h_T, c_T)``."""
    FLOAT = g.onnx.TensorProto.FLOAT
    weight, bias = layer._weights(k)
    sfx = layer._suffixes[k]
    ks = list(layer.kernel_size)
    pads = [kk // 2 for kk in ks] * 2  # begin of every axis, then end: 'same' for odd k
    C_h = layer.hidden_channels
    if reverse:  # each sequence read backwards from its own last real step
        x = g.op("ReverseSequence", x, lengths, time_axis=0, batch_axis=1, hint="x_rev")
    # zero states (B, C_h, *S): the shape of x_0 with C_h channels
    shape = g.op("Shape", x, hint="x_shape")  # (T, B, C, *S)
    state_shape = g.op(
        "Concat",
        g.op("Slice", shape, g.ints("one", [1]), g.ints("two", [2]), hint="B"),
        g.ints(f"C_h{sfx}", [C_h]),
        g.op("Slice", shape, g.ints("three", [3]), g.ints("big", [1 << 62]), hint="S"),
        axis=0,
        hint="state_shape",
    )
    zero = g.onnx.helper.make_tensor("zero", FLOAT, [1], [0.0])
    s0 = g.op("ConstantOfShape", state_shape, value=zero, hint="s0")

    body = g.subgraph(f"convlstm_step{sfx}")
    h = body.input(body.fresh("h"), FLOAT, None)
    c = body.input(body.fresh("c"), FLOAT, None)
    x_t = body.input(body.fresh("x_t"), FLOAT, None)  # (B, C_in, *S)
    m_t = body.input(body.fresh("m_t"), FLOAT, None)  # (B, 1, 1...) broadcast over C, S
    xh = body.op("Concat", x_t, h, axis=1, hint="xh")
    conv_in = [xh, body.const(f"weight{sfx}", weight.detach().float())]
    if bias is not None:
        conv_in.append(body.const(f"bias{sfx}", bias.detach().float()))
    pre = body.op("Conv", *conv_in, kernel_shape=ks, pads=pads, hint="gates")
    ai, af, ag, ao = body.op("Split", pre, outputs=4, axis=1, hint="gate")
    i, f = body.op("Sigmoid", ai), body.op("Sigmoid", af)
    gg, o = body.op("Tanh", ag), body.op("Sigmoid", ao)
    c_new = body.op("Add", body.op("Mul", f, c), body.op("Mul", i, gg), hint="c_new")
    h_new = body.op("Mul", o, body.op("Tanh", c_new), hint="h_new")
    for old, new in ((h, h_new), (c, c_new)):  # old + m (new - old): held at padding
        held = body.op("Add", old, body.op("Mul", m_t, body.op("Sub", new, old)))
        body.output(held, body.fresh("s_out"), FLOAT, None)
    body.output(body.op("Mul", m_t, h_new), body.fresh("y_t"), FLOAT, None)
    h_T, c_T, y = g.op(
        "Scan", s0, s0, x, mask, outputs=3, body=body.body(), num_scan_inputs=2,
        hint=f"scan{sfx}",
    )  # fmt: skip
    if reverse:
        y = g.op("ReverseSequence", y, lengths, time_axis=0, batch_axis=1, hint="y_rev")
    return y, h_T, c_T


def write_convlstm(layer: ConvLSTM) -> tuple[Any, dict[str, Any]]:
    """The ONNX model of a ``ConvLSTM1d`` / ``ConvLSTM2d`` layer (eval mode) and its io.

    Inputs ``inputs`` float32 ``(B, T, C, *S)`` (``(T, B, C, *S)`` when the layer is not
    ``batch_first``) and ``lengths`` int64 ``(B,)``; outputs ``output`` (same layout, ``D *
    C_h`` channels, zero after each length), ``h_n`` and ``c_n`` ``(L * D, B, C_h, *S)``
    from each sequence's last real step. The initial states are zeros.
    """
    changing = sorted(layer.options.on & {"layer_norm", "peephole", "zoneout"})
    if changing:  # eval-time options change the cell's math; the dropouts are training-only
        raise RnnkitError(
            f"{type(layer).__name__} with {', '.join(changing)} has no ONNX writer yet "
            "(ConvLSTM is exported without eval-time cell options)"
        )
    g = Graph(f"rnnkit_{type(layer).__name__.lower()}")
    TP = g.onnx.TensorProto
    n = layer.spatial_dims
    space: list[int | str] = ["length"] if n == 1 else ["height", "width"]
    lead: list[int | str] = ["batch", "time"] if layer.batch_first else ["time", "batch"]
    D, C_h = layer.num_directions, layer.hidden_channels
    x = g.input("inputs", TP.FLOAT, [*lead, layer.in_channels, *space])
    lengths = g.input("lengths", TP.INT64, ["batch"])
    perm = [1, 0, *range(2, n + 3)]  # swaps batch and time
    if layer.batch_first:
        x = g.op("Transpose", x, perm=perm, hint="x_tm")  # (T, B, C, *S)
    keep = g.op("Cast", time_mask(g, x, lengths), to=TP.FLOAT, hint="keep")  # (T, B)
    mask = g.op("Unsqueeze", keep, g.ints("spatial_axes", list(range(2, n + 3))), hint="m")
    finals_h, finals_c = [], []
    axis0 = g.ints("axis0", [0])
    for lay in range(layer.num_layers):
        outs = []
        for d in range(D):
            y, h_T, c_T = _direction(g, layer, lay * D + d, x, lengths, mask, reverse=d == 1)
            outs.append(y)
            finals_h.append(g.op("Unsqueeze", h_T, axis0, hint="h_T"))
            finals_c.append(g.op("Unsqueeze", c_T, axis0, hint="c_T"))
        x = outs[0] if D == 1 else g.op("Concat", *outs, axis=2, hint=f"out_l{lay}")
    out = g.op("Transpose", x, perm=perm, hint="y_b") if layer.batch_first else x
    state_shape: list[int | str] = [layer.num_layers * D, "batch", C_h, *space]
    outputs: dict[str, tuple[str, list[int | str]]] = {
        "output": (out, [*lead, D * C_h, *space]),
        "h_n": (finals_h[0] if len(finals_h) == 1 else g.op("Concat", *finals_h, axis=0),
                state_shape),
        "c_n": (finals_c[0] if len(finals_c) == 1 else g.op("Concat", *finals_c, axis=0),
                state_shape),
    }  # fmt: skip
    for name, (value, shape) in outputs.items():
        g.output(value, name, TP.FLOAT, shape)
    io = {
        "inputs": [
            {"name": "inputs", "dtype": "float32", "shape": [*lead, layer.in_channels, *space]},
            {"name": "lengths", "dtype": "int64", "shape": ["batch"]},
        ],
        "outputs": [
            {"name": name, "dtype": "float32", "shape": shape}
            for name, (_, shape) in outputs.items()
        ],
    }
    return g.model(doc=f"rnnkit {type(layer).__name__}"), io
