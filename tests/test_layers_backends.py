"""The backend registry: auto's table, refusals, registration, and every backend x family
it claims agreeing with the reference (outputs, final states, all gradients)."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.layers import backends
from rnnkit.layers.backends import NO_OPTIONS, Backend, Request

B, T, I, H = 3, 5, 4, 6
LENGTHS = torch.tensor([5, 2, 4])


def _family_inputs(family: str, g: torch.Generator) -> tuple[torch.Tensor, tuple, tuple]:
    """x, state, weights of one layer-direction of ``family``, float64, all requiring grad."""

    def r(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * 0.5).requires_grad_()

    gates = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
    if family in gates:
        G = gates[family] * H
        weights = (r(G, I), r(G, H), r(G), r(G), None)
        state = (r(B, H), r(B, H)) if family == "lstm" else (r(B, H),)
        return r(B, T, I), state, weights
    if family == "indrnn":
        return r(B, T, I), (r(B, H),), (r(H, I), r(H), r(H))
    if family in ("mingru", "minlstm"):
        G = (2 if family == "mingru" else 3) * H
        return r(B, T, I), (r(B, H),), (r(G, I), r(G))
    if family == "convlstm":
        C, Ch, L = 2, 3, 4
        return r(B, T, C, L), (r(B, Ch, L), r(B, Ch, L)), (r(4 * Ch, C + Ch, 3), r(4 * Ch))
    raise AssertionError(f"no spec for family {family!r}")  # a new family needs one here


CLAIMS = [(n, f) for n in backends.names() if n != "reference" for f in backends.get(n).runs]


def test_every_family_has_a_reference_and_a_spec() -> None:
    assert set(backends.get("reference").runs) == set(backends.FAMILIES)
    for family in backends.FAMILIES:
        _family_inputs(family, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name,family", CLAIMS, ids=[f"{n}-{f}" for n, f in CLAIMS])
@pytest.mark.parametrize("ragged", [False, True])
def test_every_backend_agrees_with_the_reference(name: str, family: str, ragged: bool) -> None:
    x, state, weights = _family_inputs(family, torch.Generator().manual_seed(1))
    lengths = LENGTHS if ragged else None
    leaves = [x, *state, *(w for w in weights if w is not None)]

    def run(backend: str) -> tuple[torch.Tensor, ...]:
        out, last = backends.get(backend).runs[family](x, lengths, state, weights, NO_OPTIONS)
        loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum()
        loss = loss + sum((s * s).sum() for s in last)
        return (out, *last, *torch.autograd.grad(loss, leaves))

    for got, want in zip(run(name), run("reference"), strict=True):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)


def test_auto_sends_ragged_cpu_training_to_bptt_and_says_why() -> None:
    lstm = rnnkit.LSTM(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    lstm(x, lengths=LENGTHS)
    # The table row lists fused, then bptt; tests/conftest.py builds the fused kernels, and
    # tests/test_fused_layers.py checks the bptt fallback when they are unavailable.
    want = "fused" if rnnkit.fused.available() else "bptt"
    assert lstm.last_backend == want and "ragged" in lstm.backend_reason
    lstm(x)  # nothing padded: torch's kernel
    assert lstm.last_backend == "native"
    with torch.no_grad():  # inference with ragged lengths stays native
        lstm(x, lengths=LENGTHS)
    assert lstm.last_backend == "native"
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, LENGTHS, True, enforce_sorted=False)
    lstm(packed)
    assert lstm.last_backend == want


def test_auto_follows_the_table_for_every_family() -> None:
    for family, want in [("indrnn", "bptt"), ("mingru", "scan"), ("convlstm", "reference")]:
        name, reason = backends.choose("auto", Request(family, training=True))
        assert name == want and reason.startswith(f"auto -> {want}")


def test_an_explicit_backend_that_cannot_run_is_refused_with_what_can() -> None:
    request = Request("lstm", options=frozenset({"zoneout"}))
    with pytest.raises(ValueError, match=r"cannot apply zoneout.*'auto', 'reference', 'bptt'"):
        backends.choose("native", request)
    with pytest.raises(ValueError, match=r"has no mingru cell"):
        backends.choose("bptt", Request("mingru"))
    registered = backends.get("fused")  # registered by rnnkit.fused; the slot stays reserved
    backends.unregister("fused")
    try:
        with pytest.raises(ValueError, match=r"'fused'.*not built or imported"):
            rnnkit.LSTM(I, H, backend="fused")
    finally:
        backends.register(registered)
    with pytest.raises(ValueError, match=r"backend must be one of 'auto', 'reference', 'scan'"):
        rnnkit.MinGRU(I, H, backend="bptt")


def test_a_registered_backend_is_preferred_where_it_accepts_and_passed_over_elsewhere() -> None:
    calls = []

    def run(x, lengths, state, weights, options):  # noqa: ANN001, ANN202
        calls.append(x.shape)
        return backends.get("bptt").runs["gru"](x, lengths, state, weights, options)

    def check(request: Request) -> str | None:
        return None if request.dtype == torch.float32 else "float32 only"

    backends.register(Backend("toy", {"gru": run}, check, "a test kernel"), prefer=("gru",))
    try:
        gru = rnnkit.GRU(I, H, batch_first=True)
        ref = rnnkit.GRU(I, H, batch_first=True, backend="reference")
        ref.load_state_dict(gru.state_dict())
        x = torch.randn(B, T, I)
        torch.testing.assert_close(gru(x)[0], ref(x)[0])
        assert gru.last_backend == "toy" and calls
        gru.double()
        gru(x.double())
        assert gru.last_backend == "native" and "toy: float32 only" in gru.backend_reason
        assert rnnkit.GRU(I, H, backend="toy").backend == "toy"
    finally:
        backends.unregister("toy")
    assert "toy" not in backends.names()
    gru = rnnkit.GRU(I, H)
    gru(torch.randn(T, B, I))
    assert gru.last_backend == "native"


def test_register_refuses_what_it_cannot_serve() -> None:
    with pytest.raises(ValueError, match="unknown families"):
        backends.register(Backend("bad", {"transformer": lambda *a: a}))
    with pytest.raises(ValueError, match="other than 'auto'"):
        backends.register(Backend("auto", {}))
    with pytest.raises(ValueError, match="no run for it"):
        backends.register(Backend("bad", {}), prefer=("lstm",))
    assert "bad" not in backends.names()


def test_available_lists_the_backends_of_a_family_and_refuses_an_unknown_one():
    assert {"auto", "native", "bptt"} <= set(backends.available("lstm"))
    assert "native" not in backends.available("indrnn")  # torch has no IndRNN kernel
    with pytest.raises(ValueError, match=r"got 'LSTM' \(did you mean 'lstm'\?\)"):
        backends.available("LSTM")
    with pytest.raises(ValueError, match="family must be one of 'lstm', 'gru'"):
        backends.available("transformer")
