"""rnnkit.RNN / LSTM / GRU equal torch.nn's layers: outputs, final states and the gradients
of the input, the initial states and every parameter, on every backend, over a sampled grid
of configurations (layers, directions, batch_first, bias, proj_size, ragged lengths,
unbatched and PackedSequence inputs). float64, so the tolerance is tight."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

BACKENDS = ("native", "bptt", "reference")
FAMILIES = {
    "LSTM": (rnnkit.LSTM, nn.LSTM),
    "GRU": (rnnkit.GRU, nn.GRU),
    "RNN": (rnnkit.RNN, nn.RNN),
}
I, H, T, B = 3, 4, 6, 3
LENGTHS = torch.tensor([4, 6, 1])  # ragged, unsorted, with a length-1 sequence

# (family, constructor kwargs, input form): input form is "padded" (full lengths),
# "lengths" (right-padded + lengths=), "packed" (PackedSequence) or "unbatched".
CASES = [
    ("LSTM", {}, "padded"),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}, "lengths"),
    ("LSTM", {"num_layers": 3, "proj_size": 2, "bias": False}, "lengths"),
    ("LSTM", {"num_layers": 2, "proj_size": 3, "bidirectional": True}, "unbatched"),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 2}, "packed"),
    ("GRU", {"bidirectional": True}, "lengths"),
    ("GRU", {"num_layers": 2, "batch_first": True, "bias": False}, "unbatched"),
    ("GRU", {"num_layers": 3, "bidirectional": True}, "packed"),
    ("RNN", {"num_layers": 2, "bidirectional": True}, "lengths"),
    ("RNN", {"nonlinearity": "relu", "bias": False, "batch_first": True}, "padded"),
    ("RNN", {"num_layers": 3, "bidirectional": True, "nonlinearity": "relu"}, "packed"),
]


def _states(hx: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return hx if isinstance(hx, tuple) else (hx,)


def _make_pair(family: str, kwargs: dict, backend: str) -> tuple[nn.Module, nn.Module]:
    ours_cls, torch_cls = FAMILIES[family]
    ours = ours_cls(I, H, dtype=torch.float64, backend=backend, **kwargs)
    ref = torch_cls(I, H, dtype=torch.float64, **kwargs)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def _initial_states(family: str, kwargs: dict, batched: bool) -> tuple[torch.Tensor, ...]:
    rows = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    h_out = kwargs.get("proj_size") or H
    sizes = (h_out, H) if family == "LSTM" else (h_out,)
    shape = (lambda size: (rows, B, size)) if batched else (lambda size: (rows, size))
    return tuple(torch.randn(shape(s), dtype=torch.float64, requires_grad=True) for s in sizes)


def _run(module: nn.Module, form: str, x: torch.Tensor, hx, batch_first: bool, is_ours: bool):
    """Forward in the given input form; returns (padded output, final states)."""
    if form in ("padded", "unbatched"):
        out, h = module(x, hx)
    elif form == "lengths" and is_ours:
        out, h = module(x, hx, lengths=LENGTHS)
    else:  # packed input (torch's way of saying "lengths")
        packed = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        out, h = module(packed, hx)
        assert isinstance(out, nn.utils.rnn.PackedSequence)
        if form == "packed" and is_ours:  # same packing as torch's, not only the same values
            ref = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
            assert torch.equal(out.batch_sizes, ref.batch_sizes)
            assert torch.equal(out.sorted_indices, ref.sorted_indices)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    return out, _states(h)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("family", "kwargs", "form"), CASES)
def test_matches_torch_nn(family: str, kwargs: dict, form: str, backend: str) -> None:
    torch.manual_seed(0)
    ours, ref = _make_pair(family, kwargs, backend)
    batch_first = kwargs.get("batch_first", False)
    if form == "unbatched":
        x = torch.randn(T, I, dtype=torch.float64)
    else:
        x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=torch.float64)
    x.requires_grad_(True)
    hx = _initial_states(family, kwargs, batched=form != "unbatched")
    hx_arg = hx if family == "LSTM" else hx[0]

    out, states = _run(ours, form, x, hx_arg, batch_first, is_ours=True)
    out_ref, states_ref = _run(ref, form, x, hx_arg, batch_first, is_ours=False)
    assert ours.last_backend == backend
    assert out.shape == out_ref.shape
    torch.testing.assert_close(out, out_ref, atol=1e-12, rtol=1e-10)
    for s, s_ref in zip(states, states_ref, strict=True):
        torch.testing.assert_close(s, s_ref, atol=1e-12, rtol=1e-10)

    # A random weighting of every output, so each gradient path matters.
    weights = [torch.randn_like(t) for t in (out, *states)]
    names = [n for n, _ in ours.named_parameters()]
    assert names == [n for n, _ in ref.named_parameters()]

    def grads(o, st, module):
        loss = sum((w * t).sum() for w, t in zip(weights, (o, *st), strict=True))
        return torch.autograd.grad(loss, [x, *hx, *module.parameters()])

    for g, g_ref, what in zip(
        grads(out, states, ours),
        grads(out_ref, states_ref, ref),
        ["input", *"hc"[: len(hx)], *names],
    ):
        torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=1e-8, msg=f"gradient of {what}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_state_dict_moves_both_ways_and_same_seed_same_weights(family: str) -> None:
    ours_cls, torch_cls = FAMILIES[family]
    kwargs = {"num_layers": 2, "bidirectional": True}
    if family == "LSTM":
        kwargs["proj_size"] = 2
    torch.manual_seed(7)
    ours = ours_cls(I, H, **kwargs)
    torch.manual_seed(7)
    ref = torch_cls(I, H, **kwargs)
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert list(ours_sd) == list(ref_sd)
    for k in ours_sd:  # torch.nn's init, in torch.nn's order
        assert torch.equal(ours_sd[k], ref_sd[k]), k

    fresh_ref = torch_cls(I, H, **kwargs)
    fresh_ref.load_state_dict(ours.state_dict())  # ours -> torch, strict
    fresh_ours = ours_cls(I, H, **kwargs)
    fresh_ours.load_state_dict(ref.state_dict())  # torch -> ours, strict
    x = torch.randn(T, B, I)
    torch.testing.assert_close(fresh_ours(x)[0], fresh_ref(x)[0])


def test_native_dropout_and_train_eval_follow_torch() -> None:
    """Dropout between layers: active in training only, and eval output equals torch's."""
    torch.manual_seed(0)
    ours = rnnkit.GRU(I, H, num_layers=2, dropout=0.5)
    ref = nn.GRU(I, H, num_layers=2, dropout=0.5)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    ours.train()
    assert not torch.allclose(ours(x)[0], ours(x)[0])  # a fresh mask per call


@pytest.mark.parametrize("backend", ["bptt", "reference"])
def test_dropout_between_layers_on_the_layered_backends(backend: str) -> None:
    torch.manual_seed(0)
    layer = rnnkit.LSTM(I, H, num_layers=2, dropout=0.5, backend=backend)
    x = torch.randn(T, B, I)
    layer.eval()
    eval_out = layer(x)[0]
    layer.train()
    train_a, train_b = layer(x)[0], layer(x)[0]
    assert not torch.allclose(train_a, eval_out)
    assert not torch.allclose(train_a, train_b)
    single = rnnkit.LSTM(I, H, num_layers=1, backend=backend).train()
    single.load_state_dict({k: v for k, v in layer.state_dict().items() if k.endswith("l0")})
    torch.testing.assert_close(single(x)[0], single(x)[0])  # nothing random in one layer


def test_auto_picks_the_measured_fastest_backend_and_reports_it() -> None:
    x = torch.randn(T, B, I)
    for layer in (rnnkit.LSTM(I, H), rnnkit.GRU(I, H)):
        assert layer.last_backend is None
        layer(x)
        assert layer.last_backend == "native"
        layer.backend = "bptt"
        layer(x)
        assert layer.last_backend == "bptt"
    # Elman on the CPU: fused (else bptt) trains faster than torch's kernel; inference native.
    rnn = rnnkit.RNN(I, H)
    rnn(x)
    assert rnn.last_backend == ("fused" if rnnkit.fused.available() else "bptt")
    with torch.no_grad():
        rnn(x)
    assert rnn.last_backend == "native"
    rnn.requires_grad_(False)
    rnn(x)
    assert rnn.last_backend == "native"


def test_autocast_inputs_are_accepted_as_torch_nn_accepts_them() -> None:
    torch.manual_seed(0)
    ours, ref = rnnkit.LSTM(I, H), nn.LSTM(I, H)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_low = nn.Linear(I, I)(x)  # bfloat16 under autocast; the layer is float32
        out, out_ref = ours(x_low)[0], ref(x_low)[0]
    assert out.dtype == out_ref.dtype
    torch.testing.assert_close(out, out_ref)
    assert repr(ours) == "LSTM(3, 4)" and len(ours.all_weights) == 1
