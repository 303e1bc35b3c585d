"""The fused C++ kernels equal their references: outputs, final states and every gradient.

The reference of each kernel is its family's plain step run by autograd
(``rnnkit.cells.*_sequence(mode="reference")``). The library is built by
``scripts/setup.sh``; when it is missing these tests fail (never skip) and say how to build it.
"""

from __future__ import annotations

import pytest
import torch

from rnnkit import fused
from rnnkit.cells import elman_sequence, gru_sequence, lstm_sequence


@pytest.fixture(autouse=True, scope="module")
def _library_built() -> None:
    """Fail (not skip) when the kernels cannot run; build them first if they are missing."""
    from rnnkit.fused._ops import ensure_built

    reason = ensure_built()
    assert reason is None, f"the fused tests need the library: {reason}"


FAMILIES = ("lstm", "lstm_proj", "gru", "rnn_tanh", "rnn_relu")
LENGTHS = {
    "ragged": [7, 1, 4, 7],  # includes a length-1 sequence and a full-length one
    "full": [7, 7, 7, 7],
    "all_short": [3, 1, 2, 3],  # no sequence reaches the last steps
}
B, T, I, H, P = 4, 7, 3, 5, 2


def _make(family: str, dtype: torch.dtype, bias: bool = True, seed: int = 0):  # noqa: ANN202
    """Inputs of one kernel: (x, states, params), all leaves requiring grad."""
    gen = torch.Generator().manual_seed(seed)

    def leaf(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen, dtype=dtype) * 0.7).requires_grad_()

    gates = {"lstm": 4, "lstm_proj": 4, "gru": 3}.get(family, 1)
    h_out = P if family == "lstm_proj" else H
    x = leaf(B, T, I)
    states = [leaf(B, h_out)] + ([leaf(B, H)] if family.startswith("lstm") else [])
    params = [leaf(gates * H, I), leaf(gates * H, h_out)]
    params += [leaf(gates * H), leaf(gates * H)] if bias else [None, None]
    if family == "lstm_proj":
        params.append(leaf(P, H))
    return x, states, params


def _run(family: str, impl: str, x, lengths, states, params):  # noqa: ANN001, ANN202
    """Run ``impl`` ("fused" or "reference") of ``family``; returns a tuple of outputs."""
    if family.startswith("lstm"):
        fn = fused.lstm_sequence if impl == "fused" else lstm_sequence
        return fn(x, lengths, *states, *params)
    if family == "gru":
        fn = fused.gru_sequence if impl == "fused" else gru_sequence
        return fn(x, lengths, *states, *params)
    nonlinearity = family.removeprefix("rnn_")
    if impl == "fused":
        return fused.elman_sequence(x, lengths, *states, *params, nonlinearity=nonlinearity)
    return elman_sequence(x, lengths, *states, *params, nonlinearity=nonlinearity)


def _tolerance(dtype: torch.dtype) -> dict:
    return {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-11, "rtol": 1e-9}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lengths_case", list(LENGTHS))
def test_outputs_states_and_gradients_equal_the_reference(family, dtype, lengths_case) -> None:
    lengths = torch.tensor(LENGTHS[lengths_case])
    x, states, params = _make(family, dtype)
    leaves = [x, *states, *(p for p in params if p is not None)]
    got = _run(family, "fused", x, lengths, states, params)
    want = _run(family, "reference", x, lengths, states, params)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == dtype and g.shape == w.shape
        torch.testing.assert_close(g, w, **_tolerance(dtype))
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
    assert bool((got[0][~mask] == 0).all()), "padded steps of out must be zero"
    # A random weighting of every output, so each gradient path is exercised.
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(w.shape, generator=gen, dtype=dtype) for w in want]
    grads_got = torch.autograd.grad(sum((g * c).sum() for g, c in zip(got, weights)), leaves)
    grads_want = torch.autograd.grad(sum((w * c).sum() for w, c in zip(want, weights)), leaves)
    for g, w in zip(grads_got, grads_want, strict=True):
        torch.testing.assert_close(g, w, **_tolerance(dtype))


@pytest.mark.parametrize("family", FAMILIES)
def test_without_bias_equals_the_reference(family) -> None:
    lengths = torch.tensor(LENGTHS["ragged"])
    x, states, params = _make(family, torch.float64, bias=False)
    leaves = [x, *states, *(p for p in params if p is not None)]
    got = _run(family, "fused", x, lengths, states, params)
    want = _run(family, "reference", x, lengths, states, params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)
    grads_got = torch.autograd.grad(sum(g.sum() for g in got), leaves)
    grads_want = torch.autograd.grad(sum(w.sum() for w in want), leaves)
    for g, w in zip(grads_got, grads_want, strict=True):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("family", FAMILIES)
def test_gradcheck_float64(family) -> None:
    lengths = torch.tensor([5, 1, 3])
    gen = torch.Generator().manual_seed(2)
    gates = {"lstm": 4, "lstm_proj": 4, "gru": 3}.get(family, 1)
    hidden, h_out = 3, (2 if family == "lstm_proj" else 3)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()

    x = leaf(3, 5, 2)
    states = [leaf(3, h_out)] + ([leaf(3, hidden)] if family.startswith("lstm") else [])
    params = [leaf(gates * hidden, 2), leaf(gates * hidden, h_out), leaf(gates * hidden)]
    params.append(leaf(gates * hidden))
    if family == "lstm_proj":
        params.append(leaf(h_out, hidden))
    n_states = len(states)

    def fn(x, *rest):  # noqa: ANN001, ANN202
        return _run(family, "fused", x, lengths, list(rest[:n_states]), list(rest[n_states:]))

    assert torch.autograd.gradcheck(fn, (x, *states, *params))


def test_only_some_outputs_used_gives_the_reference_gradients() -> None:
    """A loss on h_n alone (out and c_n unused) still backpropagates exactly."""
    lengths = torch.tensor(LENGTHS["ragged"])
    x, states, params = _make("lstm", torch.float64)
    (g,) = torch.autograd.grad(fused.lstm_sequence(x, lengths, *states, *params)[1].sum(), [x])
    (w,) = torch.autograd.grad(lstm_sequence(x, lengths, *states, *params)[1].sum(), [x])
    torch.testing.assert_close(g, w)


def test_inference_saves_nothing_and_matches() -> None:
    lengths = torch.tensor(LENGTHS["ragged"])
    x, states, params = _make("gru", torch.float32)
    with torch.no_grad():
        got = fused.gru_sequence(x, lengths, *states, *params)
        want = gru_sequence(x, lengths, *states, *params)
    assert not got[0].requires_grad
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_bfloat16_under_autocast_is_computed_in_float32() -> None:
    lengths = torch.tensor(LENGTHS["ragged"])
    x, states, params = _make("lstm", torch.float32)
    want = fused.lstm_sequence(x, lengths, *states, *params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = fused.lstm_sequence(x.bfloat16(), lengths, *states, *params)
    assert got[0].dtype == torch.float32
    torch.testing.assert_close(got[0], want[0], atol=0.05, rtol=0.05)
    got[0].sum().backward()
    assert params[0].grad is not None and params[0].grad.dtype == torch.float32


def test_non_cpu_tensors_are_refused_with_a_clear_message() -> None:
    x, states, params = _make("lstm", torch.float32)
    with pytest.raises(ValueError, match="run on the CPU.*meta"):
        fused.lstm_sequence(x.to("meta"), torch.tensor([7] * B), *states, *params)


def test_lengths_out_of_range_are_refused() -> None:
    x, states, params = _make("rnn_tanh", torch.float32)
    with pytest.raises(RuntimeError, match=r"lengths must be in \[1, 7\], got 0 at index 1"):
        fused.elman_sequence(x, torch.tensor([7, 0, 3, 3]), *states, *params)


def test_disabled_library_raises_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv(fused.DISABLE_ENV, "1")
    assert not fused.available()
    assert "RNNKIT_DISABLE_FUSED" in fused.unavailable_reason()
    x, states, params = _make("lstm", torch.float32)
    with pytest.raises(fused.FusedUnavailableError, match="not available: disabled"):
        fused.lstm_sequence(x, torch.tensor([7] * B), *states, *params)


def test_a_library_for_another_torch_is_refused(monkeypatch, tmp_path) -> None:
    """The load checks say what is wrong and how to fix it (without touching the real one)."""
    from rnnkit.fused import _ops, build

    info = tmp_path / "build.json"
    info.write_text('{"torch": "0.0.1", "sources": "x"}')
    library = tmp_path / "librnnkit_fused.so"
    library.write_bytes(b"")
    monkeypatch.setattr(build, "BUILD_INFO", info)
    monkeypatch.setattr(build, "LIBRARY", library)
    monkeypatch.setattr(_ops, "_load_error", None)
    monkeypatch.setattr(_ops, "_loaded", False)
    _ops._load()
    assert "built for torch 0.0.1" in _ops._load_error
    assert "python3 -m rnnkit.fused.build" in _ops._load_error
    monkeypatch.setattr(build, "LIBRARY", tmp_path / "missing.so")
    monkeypatch.setattr(_ops, "_load_error", None)
    _ops._load()
    assert "not built" in _ops._load_error


@pytest.mark.parametrize("family", ["lstm", "lstm_proj", "gru", "rnn_relu"])
def test_opcheck_schema_fake_and_autograd_registration(family) -> None:
    """torch.library.opcheck: the schema, the fake kernel and the autograd registration agree
    with the real kernel (what torch.compile and torch.export rely on)."""
    lengths = torch.tensor([3, 1])
    x, states, params = _make(family, torch.float64)
    x = x[:2, :3].detach().requires_grad_()
    states = [s[:2].detach().requires_grad_() for s in states]
    params = [p.detach().requires_grad_() for p in params]
    if family.startswith("lstm"):
        op, args = torch.ops.rnnkit_fused.lstm_forward.default, (*states, *params[:4])
        args = (*args, params[4] if family == "lstm_proj" else None, None, True)
    elif family == "gru":
        op, args = torch.ops.rnnkit_fused.gru_forward.default, (*states, *params, True)
    else:
        op = torch.ops.rnnkit_fused.elman_forward.default
        args = (*states, *params, None, True, True)
    torch.library.opcheck(op, (x, lengths, *args))


def test_export_sees_one_op_per_sequence() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w_ih = torch.nn.Parameter(torch.randn(3 * H, I))
            self.w_hh = torch.nn.Parameter(torch.randn(3 * H, H))

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            h0 = x.new_zeros(x.shape[0], H)
            return fused.gru_sequence(x, lengths, h0, self.w_ih, self.w_hh, None, None)[0]

    net, x, lengths = Net(), torch.randn(2, 4, I), torch.tensor([4, 2])
    program = torch.export.export(net, (x, lengths))
    targets = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
    assert targets.count("rnnkit_fused.gru_forward.default") == 1
    torch.testing.assert_close(program.module()(x, lengths), net(x, lengths))


def test_compile_forward_and_backward_match_eager() -> None:
    lengths = torch.tensor(LENGTHS["ragged"])
    x, states, params = _make("lstm", torch.float32)

    def loss(x, h0, c0, *ps):  # noqa: ANN001, ANN202
        out, h_n, c_n = fused.lstm_sequence(x, lengths, h0, c0, *ps)
        return out.square().sum() + h_n.sum() + c_n.sum()

    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    leaves = [x, *states, *params]
    got = torch.autograd.grad(compiled(*leaves), leaves)
    want = torch.autograd.grad(loss(*leaves), leaves)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("family", ["lstm", "rnn_tanh"])
def test_gradcheck_float64_with_recurrent_dropout(family) -> None:
    lengths = torch.tensor([4, 1, 3])
    gen = torch.Generator().manual_seed(3)
    G, hidden = (4 if family == "lstm" else 1), 3

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()

    mask = (torch.rand(3, hidden, generator=gen) > 0.4).double() / 0.6
    x, h0, c0 = leaf(3, 4, 2), leaf(3, hidden), leaf(3, hidden)
    params = (leaf(G * hidden, 2), leaf(G * hidden, hidden), leaf(G * hidden), leaf(G * hidden))
    if family == "lstm":
        assert torch.autograd.gradcheck(
            lambda x, h0, c0, *p: fused.lstm_sequence(x, lengths, h0, c0, *p, rec_mask=mask),
            (x, h0, c0, *params),
        )
    else:
        assert torch.autograd.gradcheck(
            lambda x, h0, *p: fused.elman_sequence(x, lengths, h0, *p, rec_mask=mask),
            (x, h0, *params),
        )
