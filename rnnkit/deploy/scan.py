"""Recurrent families without an ONNX operator, as an ONNX ``Scan`` over time.

For IndRNN, MinGRU, MinLSTM, LSTM with ``proj_size``, and LSTM / GRU / RNN with the
eval-time options ``layer_norm``, ``peephole`` and ``zoneout``, each layer-direction is::

    x (T, B, I) ──(reverse within lengths: ReverseSequence)──► xa = x W_ih^T (+ LN) + b
        ─► Scan over t of (xa_t, m_t):  s_new = step(xa_t, s)            (the cell's math)
                                        s     = m_t * s_new + (1 - m_t) * s   (held at padding)
                                        y_t   = m_t * h_new                   (zero at padding)
        ─► (reverse back) ─► y (T, B, H),  final state = each sequence's last real step

with ``m_t`` the real-step mask from ``lengths``: the same masking as the PyTorch layers.
The step bodies are written from the equations in each cell's docstring
(:mod:`rnnkit.cells.indrnn`, :mod:`rnnkit.cells.minrnn`, :mod:`rnnkit.cells.extended`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rnnkit.deploy._graph import Graph
from rnnkit.deploy.recurrent import slot, stack_view
from rnnkit.errors import RnnkitError

EPS = 1e-5  # layer-norm epsilon, as rnnkit.cells.extended

Step = Callable[[Graph, str, list[str]], tuple[list[str], str]]


def _kind(stack: nn.Module) -> str | None:
    """The family of ``stack`` this module writes, or None."""
    from rnnkit.layers.indrnn import IndRNN
    from rnnkit.layers.minrnn import MinGRU, MinLSTM

    for cls, kind in ((IndRNN, "indrnn"), (MinGRU, "mingru"), (MinLSTM, "minlstm")):
        if isinstance(stack, cls):
            return kind
    return {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn", "RNN_RELU": "rnn"}.get(
        getattr(stack, "mode", "")
    )


def scan_supported(stack: nn.Module) -> str | None:
    """None when :func:`write_scan_stack` can export ``stack``, else why not."""
    if _kind(stack) is None:
        return (
            f"{type(stack).__name__} has no ONNX writer yet (exported: RNN, LSTM, GRU, "
            "IndRNN, MinGRU, MinLSTM)"
        )
    if not getattr(stack, "batch_first", True):
        return "the stack must be batch_first (as rnnkit's models build it)"
    options = getattr(stack, "options", None)
    changing = sorted(options.on & {"layer_norm", "zoneout"}) if options is not None else []
    if _kind(stack) in ("indrnn", "mingru", "minlstm") and changing:
        return (
            f"{type(stack).__name__} with {', '.join(changing)} has no ONNX writer yet "
            "(the cell options are exported for RNN, LSTM and GRU)"
        )
    return None


def _p(stack: nn.Module, name: str) -> torch.Tensor | None:
    """The parameter ``name`` of ``stack`` as float32, or None when it has none (a bias
    of a stack built without biases, the projection of an LSTM without ``proj_size``)."""
    value = getattr(stack, name, None)
    return None if value is None else value.detach().float()


def _w(stack: nn.Module, name: str) -> torch.Tensor:
    """The parameter ``name`` of ``stack`` as float32; the family always has it."""
    value = _p(stack, name)
    if value is None:
        raise RnnkitError(f"{type(stack).__name__} has no parameter {name!r} to export")
    return value


def _mask(g: Graph, m: str, new: str, old: str) -> str:
    """``m * new + (1 - m) * old``: the state held at padded steps."""
    return g.op("Add", old, g.op("Mul", m, g.op("Sub", new, old)))


def _g(g: Graph, k: str) -> str:
    """minGRU's ``g(k) = k + 0.5`` for ``k >= 0``, else ``sigmoid(k)``."""
    positive = g.op("GreaterOrEqual", k, g.const("zero_f", [0.0]))
    return g.op("Where", positive, g.op("Add", k, g.const("half_f", [0.5])), g.op("Sigmoid", k))


def _layer_norm(g: Graph, a: str, gain: torch.Tensor, bias: torch.Tensor, hint: str) -> str:
    return g.op(
        "LayerNormalization", a, g.const(f"{hint}.g", gain), g.const(f"{hint}.b", bias),
        axis=-1, epsilon=EPS, hint=hint,
    )  # fmt: skip


def _direction(
    g: Graph, stack: nn.Module, kind: str, sfx: str
) -> tuple[Callable[[Graph, str], str], Step, list[int]]:
    """``(input projection, step body, state sizes)`` of one layer-direction.

    The projection maps ``x (T, B, I)`` to ``xa (T, B, G)`` outside the loop; the step maps
    ``(xa_t (B, G), states)`` to ``(new states, h_new)``.
    """
    H = stack_view(stack).hidden_size
    w_ih = _w(stack, "weight_ih" + sfx)
    b_ih = _p(stack, ("bias" if kind == "indrnn" else "bias_ih") + sfx)
    ln = kind in ("lstm", "gru", "rnn") and getattr(stack, "layer_norm", False)

    def param(g: Graph, name: str) -> str:  # a (H,) option parameter of this direction
        return g.const(name + sfx, _w(stack, name + sfx))

    def norm(g: Graph, a: str, prefix: str) -> str:  # layer norm with gain and bias
        return _layer_norm(
            g, a, _w(stack, f"{prefix}_weight{sfx}"), _w(stack, f"{prefix}_bias{sfx}"), prefix + sfx
        )

    def project(g: Graph, x: str) -> str:
        xa = g.op("MatMul", x, g.const(f"w_ih{sfx}_t", w_ih.T.contiguous()), hint="xa")
        if ln:
            xa = norm(g, xa, "ln_ih")
        return xa if b_ih is None else g.op("Add", xa, g.const(f"b_ih{sfx}", b_ih), hint="xa")

    if kind == "indrnn":
        u = _w(stack, "weight_hh" + sfx)
        bound = getattr(stack, "recurrent_max", None)  # IndRNN's |u| clamp, or None
        if bound is not None:
            u = u.clamp(-bound, bound)

        def indrnn_step(g: Graph, xa: str, s: list[str]) -> tuple[list[str], str]:
            h = g.op("Relu", g.op("Add", xa, g.op("Mul", g.const(f"u{sfx}", u), s[0])))
            return [h], h

        return project, indrnn_step, [H]

    if kind in ("mingru", "minlstm"):

        def min_step(g: Graph, xa: str, s: list[str]) -> tuple[list[str], str]:
            if kind == "mingru":
                k_z, k_h = g.op("Split", xa, outputs=2, axis=1)
                z = g.op("Sigmoid", k_z)
                keep = g.op("Sub", g.const("one_f", [1.0]), z)  # 1 - z
                h = g.op("Add", g.op("Mul", keep, s[0]), g.op("Mul", z, _g(g, k_h)))
            else:
                k_f, k_i, k_h = g.op("Split", xa, outputs=3, axis=1)
                f, i = g.op("Sigmoid", k_f), g.op("Sigmoid", k_i)
                total = g.op("Add", f, i)
                h = g.op(
                    "Add",
                    g.op("Mul", g.op("Div", f, total), s[0]),
                    g.op("Mul", g.op("Div", i, total), _g(g, k_h)),
                )
            return [h], h

        return project, min_step, [H]

    # the classic cells with options (rnnkit.cells.extended.extended_step) or proj_size
    w_hh, b_hh = _w(stack, "weight_hh" + sfx), _p(stack, "bias_hh" + sfx)
    w_hr = _p(stack, "weight_hr" + sfx)
    peep = getattr(stack, "peephole", False)
    zone = float(getattr(stack, "zoneout", 0.0))  # eval: keep the expectation p
    relu = getattr(stack, "mode", "") == "RNN_RELU"
    H_out = getattr(stack, "proj_size", 0) or H

    def step(g: Graph, xa: str, s: list[str]) -> tuple[list[str], str]:
        h = s[0]
        ha = g.op("MatMul", h, g.const(f"w_hh{sfx}_t", w_hh.T.contiguous()), hint="ha")
        if ln:
            ha = norm(g, ha, "ln_hh")
        if b_hh is not None:
            ha = g.op("Add", ha, g.const(f"b_hh{sfx}", b_hh))
        c_new = None
        if kind == "gru":
            xr, xz, xn = g.op("Split", xa, outputs=3, axis=1)
            hr, hz, hn = g.op("Split", ha, outputs=3, axis=1)
            r, z = g.op("Sigmoid", g.op("Add", xr, hr)), g.op("Sigmoid", g.op("Add", xz, hz))
            n = g.op("Tanh", g.op("Add", xn, g.op("Mul", r, hn)))
            h_new = g.op("Add", n, g.op("Mul", z, g.op("Sub", h, n)))  # (1 - z) n + z h
        elif kind == "rnn":
            h_new = g.op("Relu" if relu else "Tanh", g.op("Add", xa, ha))
        else:
            c = s[1]
            ai, af, ag, ao = g.op("Split", g.op("Add", xa, ha), outputs=4, axis=1)
            if peep:
                ai = g.op("Add", ai, g.op("Mul", param(g, "weight_ci"), c))
                af = g.op("Add", af, g.op("Mul", param(g, "weight_cf"), c))
            i, f, gg = g.op("Sigmoid", ai), g.op("Sigmoid", af), g.op("Tanh", ag)
            c_new = g.op("Add", g.op("Mul", f, c), g.op("Mul", i, gg))
            if peep:
                ao = g.op("Add", ao, g.op("Mul", param(g, "weight_co"), c_new))
            cn = c_new
            if ln:
                cn = norm(g, c_new, "ln_c")
            h_new = g.op("Mul", g.op("Sigmoid", ao), g.op("Tanh", cn))
            if w_hr is not None:
                h_new = g.op("MatMul", h_new, g.const(f"w_hr{sfx}_t", w_hr.T.contiguous()))
        if zone > 0:  # zoneout in evaluation: h = p h_prev + (1 - p) h_new
            p = g.const("zoneout_p", [zone])
            h_new = g.op("Add", h_new, g.op("Mul", p, g.op("Sub", h, h_new)))
            if c_new is not None:
                c_new = g.op("Add", c_new, g.op("Mul", p, g.op("Sub", s[1], c_new)))
        return ([h_new] if c_new is None else [h_new, c_new]), h_new

    return project, step, ([H_out, H] if kind == "lstm" else [H_out])


def _run_direction(
    g: Graph,
    stack: nn.Module,
    kind: str,
    sfx: str,
    x: str,
    lengths: str,
    mask: str,
    zeros: str,
    reverse: bool,
    init: list[str] | None = None,
) -> tuple[str, list[str]]:
    """One layer-direction: ``x (T, B, I)`` -> ``(y (T, B, H), h_final (B, H))``."""
    FLOAT = g.onnx.TensorProto.FLOAT
    project, step, sizes = _direction(g, stack, kind, sfx)
    if reverse:  # each sequence read backwards from its own last real step
        x = g.op("ReverseSequence", x, lengths, time_axis=0, batch_axis=1, hint="x_rev")
    xa = project(g, x)  # (T, B, G)
    # initial states: zeros (B, size), from a zero (B, 1) column
    if init is None:
        init = [g.op("Tile", zeros, g.ints(f"tile{n}", [1, n]), hint="s0") for n in sizes]
    body = g.subgraph(f"step{sfx}")
    states = [body.input(body.fresh("s"), FLOAT, None) for _ in sizes]
    xa_t = body.input(body.fresh("xa_t"), FLOAT, None)
    m_t = body.input(body.fresh("m_t"), FLOAT, None)  # (B, 1)
    new, h_new = step(body, xa_t, states)
    for s_old, s_new in zip(states, new, strict=True):
        body.output(_mask(body, m_t, s_new, s_old), body.fresh("s_out"), FLOAT, None)
    body.output(body.op("Mul", m_t, h_new), body.fresh("y_t"), FLOAT, None)
    results = g.op(
        "Scan",
        *init,
        xa,
        mask,
        outputs=len(sizes) + 1,
        body=body.body(),
        num_scan_inputs=2,
        hint=f"scan{sfx}",
    )
    finals, y = results[:-1], results[-1]  # each (B, size); (T, B, H)
    if reverse:
        y = g.op("ReverseSequence", y, lengths, time_axis=0, batch_axis=1, hint="y_rev")
    return y, finals


def write_scan_stack(
    g: Graph,
    stack: nn.Module,
    x: str,
    lengths: str,
    mask: str,
    initial: list[str] | None = None,
) -> tuple[str, str, list[str]]:
    """Append ``stack`` as Scan loops (see the module docstring).

    Args:
        x: time-major input ``(T, B, I)`` float32; lengths: ``(B,)`` int64;
        mask: ``(T, B, 1)`` float32, 1 at real steps; initial: the initial states in
        torch's layout (``(L*D, B, size)`` each) or None for zeros.

    Returns:
        ``out (T, B, D*H)``, ``last (B, D*H)`` and the final states, as
        :func:`rnnkit.deploy.recurrent.write_stack`.
    """
    reason = scan_supported(stack)
    if reason:
        raise RnnkitError(reason)
    kind = _kind(stack)
    assert kind is not None  # scan_supported said so
    dims = stack_view(stack)
    D = 2 if dims.bidirectional else 1
    zeros = g.op(
        "Mul",
        g.op("Gather", mask, g.ints("first", [0]), axis=0),
        g.const("zero_f", [0.0]),
        hint="zeros",
    )  # (1, B, 1)
    zeros = g.op("Squeeze", zeros, g.ints("axis0", [0]), hint="zeros")  # (B, 1)
    tops: list[str] = []
    states: list[list[str]] = []  # per (layer, direction): its final states, each (1, B, size)
    for layer in range(dims.num_layers):
        outs, tops = [], []
        for d in range(D):
            k = layer * D + d
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            init = None
            if initial:
                axis0 = g.ints("axis0", [0])
                init = [g.op("Squeeze", slot(g, s, k, k + 1), axis0, hint="s0") for s in initial]
            y, finals = _run_direction(
                g, stack, kind, sfx, x, lengths, mask, zeros, reverse=d == 1, init=init
            )
            outs.append(y)
            tops.append(finals[0])
            states.append([g.op("Unsqueeze", f, g.ints("axis0", [0])) for f in finals])
        x = outs[0] if D == 1 else g.op("Concat", *outs, axis=2, hint=f"out_l{layer}")
    last = tops[0] if D == 1 else g.op("Concat", *tops, axis=1, hint="last")
    stacked = [
        parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=0, hint="state")
        for parts in zip(*states, strict=True)
    ]
    return x, last, stacked
