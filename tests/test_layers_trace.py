"""rnnkit.trace: the recorded h equal the layer's outputs and final states, the recorded gates
reproduce c and h by the cell equations, and tracing changes no result."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit

LENGTHS = torch.tensor([5, 2, 4])


def _prev(seq: torch.Tensor, first: torch.Tensor, reverse: bool, lengths: torch.Tensor):
    """The value of ``seq`` one step earlier in the direction's own time order."""
    prev = torch.empty_like(seq)
    for b, n in enumerate(lengths.tolist()):
        order = list(range(n))[::-1] if reverse else list(range(n))
        carried = first[b]
        for t in order:
            prev[b, t] = carried
            carried = seq[b, t]
    return prev


class Model(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.encoder = nn.Linear(3, 3)
        self.rnn = rnn


@pytest.mark.parametrize("backend", ["native", "bptt"])
def test_lstm_trace_matches_outputs_and_cell_equations(backend: str) -> None:
    torch.manual_seed(0)
    lstm = rnnkit.LSTM(
        3, 5, num_layers=2, bidirectional=True, proj_size=4, batch_first=True, backend=backend
    ).double()
    model = Model(lstm).double()
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    plain_out, (plain_h, plain_c) = lstm(model.encoder(x), lengths=LENGTHS)
    with rnnkit.trace(model) as tr:
        out, (h_n, c_n) = lstm(model.encoder(x), lengths=LENGTHS)
    assert lstm.last_backend == backend
    assert tr.names() == ["rnn"]
    torch.testing.assert_close(out, plain_out, rtol=0, atol=0)  # tracing changes nothing
    torch.testing.assert_close(h_n, plain_h, rtol=0, atol=0)

    rec = tr["rnn"]
    assert rec is tr[lstm] and sorted(rec.layers) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    pad = (torch.arange(5)[None, :] >= LENGTHS[:, None])[..., None]  # (B, T, 1)
    last = (LENGTHS - 1)[:, None, None]
    for (layer, direction), d in rec.layers.items():
        assert d.h.shape == (3, 5, 4) and d.c.shape == (3, 5, 5)
        assert set(d.gates) == {"i", "f", "g", "o"} and d.gates["f"].shape == (3, 5, 5)
        assert all(
            torch.count_nonzero(v.masked_select(pad)) == 0 for v in (d.h, d.c, *d.gates.values())
        )
        row = 2 * layer + direction
        at_end = d.h.gather(1, last.expand(-1, -1, 4))[:, 0] if direction == 0 else d.h[:, 0]
        torch.testing.assert_close(at_end, h_n[row])  # h_n is the last step in its direction
        c_end = d.c.gather(1, last.expand(-1, -1, 5))[:, 0] if direction == 0 else d.c[:, 0]
        torch.testing.assert_close(c_end, c_n[row])
        if layer == 1:
            torch.testing.assert_close(d.h, out[..., 4 * direction : 4 * direction + 4])
        # c_t = f c_{t-1} + i g ;  h_t = W_hr (o tanh c_t)
        i, f, g, o = (d.gates[k] for k in "ifgo")
        c_prev = _prev(d.c, torch.zeros(3, 5, dtype=torch.float64), direction == 1, LENGTHS)
        real = ~pad.expand_as(d.c)
        torch.testing.assert_close((f * c_prev + i * g)[real], d.c[real])
        w_hr = getattr(lstm, f"weight_hr_l{layer}" + ("_reverse" if direction else ""))
        h = (o * d.c.tanh()) @ w_hr.T
        torch.testing.assert_close(h[~pad.expand_as(h)], d.h[~pad.expand_as(h)])


def test_gru_and_rnn_gates_reproduce_h() -> None:
    torch.manual_seed(0)
    gru = rnnkit.GRU(3, 4, bidirectional=True, batch_first=True, backend="reference").double()
    rnn = rnnkit.RNN(3, 4, nonlinearity="relu", batch_first=True, backend="native").double()
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    h0 = torch.randn(2, 3, 4, dtype=torch.float64)
    with rnnkit.trace(gru) as tr_gru, rnnkit.trace(rnn) as tr_rnn:
        out, _ = gru(x, h0, lengths=LENGTHS)
        rnn_out, _ = rnn(x)
    real = (torch.arange(5)[None, :] < LENGTHS[:, None])[..., None].expand(-1, -1, 4)
    for direction in (0, 1):
        d = tr_gru[""].layers[(0, direction)]
        assert d.c is None and set(d.gates) == {"r", "z", "n"}
        torch.testing.assert_close(d.h, out[..., 4 * direction : 4 * direction + 4])
        h_prev = _prev(d.h, h0[direction], direction == 1, LENGTHS)
        z, n = d.gates["z"], d.gates["n"]
        torch.testing.assert_close(((1 - z) * n + z * h_prev)[real], d.h[real])
    d = tr_rnn[""].layers[(0, 0)]
    torch.testing.assert_close(d.gates["pre"].relu(), rnn_out)
    assert rnn.last_backend == "native"


def test_trace_lookup_calls_and_scope() -> None:
    torch.manual_seed(0)
    model = Model(rnnkit.GRU(3, 4, batch_first=True))
    other = rnnkit.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    with rnnkit.trace(model) as tr:
        assert "rnn" not in tr and list(tr) == []
        model.rnn(x)
        model.rnn(x[:, :3])
        other(x)  # not inside the traced module: not recorded
    model.rnn(x)  # after the context: not recorded
    assert "rnn" in tr and list(tr) == ["rnn"]
    calls = tr.calls("rnn")
    assert len(calls) == 2 and calls[1].layers[(0, 0)].h.shape == (2, 3, 4)
    assert tr["rnn"] is calls[1]
    with pytest.raises(KeyError, match="no traceable layer named 'encoder'"):
        tr["encoder"]
    with pytest.raises(KeyError, match="not a traceable layer"):
        tr[other]
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        rnnkit.trace("rnn")  # type: ignore[arg-type]


def test_record_hook_for_other_families() -> None:
    """A module outside rnnkit's layers opts in with ``_rnnkit_traceable`` and ``record``."""
    from rnnkit.layers import trace as trace_hooks

    class Doubler(nn.Module):
        _rnnkit_traceable = True

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
            h = 2 * x
            if trace_hooks.is_traced(self):
                trace_hooks.record(self, 0, 0, h=h, gates={"scale": torch.full_like(x, 2.0)})
            return h

    model = nn.Sequential(Doubler())
    x = torch.randn(2, 3, 4, requires_grad=True)
    model(x)  # no open trace: nothing recorded, nothing fails
    with rnnkit.trace(model) as tr:
        model(x)
        model(x)
    assert tr.names() == ["0"] and len(tr.calls("0")) == 2
    rec = tr["0"].layers[(0, 0)]
    assert not rec.h.requires_grad and rec.c is None
    torch.testing.assert_close(rec.h, 2 * x.detach())
    torch.testing.assert_close(rec.gates["scale"], torch.full_like(x, 2.0))
