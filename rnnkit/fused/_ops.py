"""Loading the fused library, and the Python half of its torch custom ops.

The C++ half (``csrc/ops.cpp``) defines the ops ``torch.ops.rnnkit_fused.*`` with their
schemas and CPU kernels. This module loads it once (``torch.ops.load_library``), and
registers for each forward op a fake (meta) implementation, so that ``torch.compile`` and
``torch.export`` see one op per sequence, and an autograd formula that calls the matching
fused backward op. The extra outputs of a forward op are the buffers its backward reads;
they are not differentiable.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import torch
from torch import Tensor

DISABLE_ENV = "RNNKIT_DISABLE_FUSED"  # set to 1 to run as if the library were not built

_lock = threading.Lock()
_loaded = False
_load_error: str | None = None


class FusedUnavailableError(RuntimeError):
    """The fused kernels cannot run here; the message says why and how to build them."""


def unavailable_reason() -> str | None:
    """Why the fused kernels cannot be used (None when they can). Loads the library once."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return f"disabled by the environment variable {DISABLE_ENV}"
    if not _loaded and _load_error is None:
        with _lock:
            if not _loaded and _load_error is None:
                _load()
    return _load_error


def available() -> bool:
    """Whether the fused kernels are built for this torch and loaded."""
    return unavailable_reason() is None


def ensure_available() -> None:
    """Raise :class:`FusedUnavailableError` with the reason unless the kernels can run."""
    reason = unavailable_reason()
    if reason is not None:
        raise FusedUnavailableError(f"rnnkit's fused kernels are not available: {reason}")


def _load() -> None:
    """Load the library and register its Python half; on failure record why."""
    global _loaded, _load_error
    from rnnkit.fused import build  # here, so that `python3 -m rnnkit.fused.build` runs cleanly

    how = "run `python3 -m rnnkit.fused.build` (or `bash scripts/setup.sh`)"
    info = build.read_build_info()
    if not build.LIBRARY.exists() or info is None:
        _load_error = f"the library is not built ({build.LIBRARY} is missing): {how}"
        return
    if info.get("torch") != torch.__version__:
        _load_error = (
            f"the library was built for torch {info.get('torch')}, this is torch "
            f"{torch.__version__}: {how} to rebuild it"
        )
        return
    if info.get("sources") != build.source_digest():
        _load_error = f"the library is older than its sources in {build.SOURCE_DIR}: {how}"
        return
    try:
        torch.ops.load_library(str(build.LIBRARY))
        _register()
    except Exception as error:  # noqa: BLE001 (any failure means: not available, and why)
        _load_error = f"loading {build.LIBRARY} failed ({error}): {how} to rebuild it"
        return
    _loaded = True


def _none_if_empty(t: Tensor) -> Tensor | None:
    return None if t.numel() == 0 and t.dim() == 1 else t


def _zeros_if_none(grad: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad


def _register() -> None:
    """Fake implementations and autograd formulas of the forward ops."""
    lib = "rnnkit_fused"

    # ---------------------------------------------------------------- LSTM
    @torch.library.register_fake(f"{lib}::lstm_forward")
    def _lstm_forward_fake(x, lengths, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, rec_mask, save):  # noqa: ANN001, ANN202
        B, T, _ = x.shape
        H, H_out = w_hh.shape[0] // 4, w_hh.shape[1]
        kept = (lambda *shape: x.new_empty(shape)) if save else (lambda *shape: x.new_empty(0))
        hc = x.new_empty(B, T, H) if save and w_hr is not None else x.new_empty(0)
        return (
            x.new_empty(B, T, H_out), x.new_empty(B, H_out), x.new_empty(B, H),
            kept(B, T, 4 * H), kept(B, T, H), kept(B, T, H_out), hc,
        )  # fmt: skip

    @torch.library.register_fake(f"{lib}::lstm_backward")
    def _lstm_backward_fake(dout, dh_n, dc_n, x, lengths, c0, w_ih, w_hh, w_hr, rec_mask,  # noqa: ANN001, ANN202
                            acts, cs, hprev, hc, has_bias):  # fmt: skip
        db = x.new_empty(w_ih.shape[0]) if has_bias else x.new_empty(0)
        dw_hr = torch.empty_like(w_hr) if w_hr is not None else x.new_empty(0)
        return (
            torch.empty_like(x), torch.empty_like(dh_n), torch.empty_like(dc_n),
            torch.empty_like(w_ih), torch.empty_like(w_hh), db, dw_hr,
        )  # fmt: skip

    def _lstm_setup(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, lengths, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, rec_mask, _ = inputs
        _, _, _, acts, cs, hprev, hc = output
        ctx.save_for_backward(x, lengths, c0, w_ih, w_hh, w_hr, rec_mask, acts, cs, hprev, hc)
        ctx.biases = (b_ih is not None, b_hh is not None)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(acts, cs, hprev, hc)

    def _lstm_backward(ctx: Any, dout: Tensor | None, dh_n: Tensor | None, dc_n: Tensor | None,
                       *_: Any) -> tuple[Tensor | None, ...]:  # fmt: skip
        x, lengths, c0, w_ih, w_hh, w_hr, rec_mask, acts, cs, hprev, hc = ctx.saved_tensors
        B, T, _ = x.shape
        H_out = w_hh.shape[1]
        dout = _zeros_if_none(dout, x.new_empty(B, T, H_out))
        dh_n = _zeros_if_none(dh_n, x.new_empty(B, H_out))
        dc_n = _zeros_if_none(dc_n, c0)
        dx, dh0, dc0, dw_ih, dw_hh, db, dw_hr = torch.ops.rnnkit_fused.lstm_backward(
            dout, dh_n, dc_n, x, lengths, c0, w_ih, w_hh, w_hr, rec_mask, acts, cs, hprev, hc,
            any(ctx.biases),
        )  # fmt: skip
        db_ih = db if ctx.biases[0] else None
        db_hh = db if ctx.biases[1] else None
        return dx, None, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, _none_if_empty(dw_hr), None, None

    torch.library.register_autograd(
        f"{lib}::lstm_forward", _lstm_backward, setup_context=_lstm_setup
    )

    # ---------------------------------------------------------------- GRU
    @torch.library.register_fake(f"{lib}::gru_forward")
    def _gru_forward_fake(x, lengths, h0, w_ih, w_hh, b_ih, b_hh, save):  # noqa: ANN001, ANN202
        B, T, _ = x.shape
        H = w_hh.shape[1]
        kept = (lambda *shape: x.new_empty(shape)) if save else (lambda *shape: x.new_empty(0))
        return (
            x.new_empty(B, T, H), x.new_empty(B, H), kept(B, T, 3 * H), kept(B, T, H),
            kept(B, T, H),
        )  # fmt: skip

    @torch.library.register_fake(f"{lib}::gru_backward")
    def _gru_backward_fake(dout, dh_n, x, lengths, w_ih, w_hh, acts, nhat, hprev,  # noqa: ANN001, ANN202
                           has_b_ih, has_b_hh):  # fmt: skip
        G = w_ih.shape[0]
        return (
            torch.empty_like(x), torch.empty_like(dh_n), torch.empty_like(w_ih),
            torch.empty_like(w_hh), x.new_empty(G if has_b_ih else 0),
            x.new_empty(G if has_b_hh else 0),
        )  # fmt: skip

    def _gru_setup(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, lengths, h0, w_ih, w_hh, b_ih, b_hh, _ = inputs
        _, _, acts, nhat, hprev = output
        ctx.save_for_backward(x, lengths, h0, w_ih, w_hh, acts, nhat, hprev)
        ctx.biases = (b_ih is not None, b_hh is not None)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(acts, nhat, hprev)

    def _gru_backward(ctx: Any, dout: Tensor | None, dh_n: Tensor | None,
                      *_: Any) -> tuple[Tensor | None, ...]:  # fmt: skip
        x, lengths, h0, w_ih, w_hh, acts, nhat, hprev = ctx.saved_tensors
        B, T, _ = x.shape
        dout = _zeros_if_none(dout, x.new_empty(B, T, w_hh.shape[1]))
        dh_n = _zeros_if_none(dh_n, h0)
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = torch.ops.rnnkit_fused.gru_backward(
            dout, dh_n, x, lengths, w_ih, w_hh, acts, nhat, hprev, *ctx.biases
        )
        db_ih = db_ih if ctx.biases[0] else None
        db_hh = db_hh if ctx.biases[1] else None
        return dx, None, dh0, dw_ih, dw_hh, db_ih, db_hh, None

    torch.library.register_autograd(f"{lib}::gru_forward", _gru_backward, setup_context=_gru_setup)

    # ---------------------------------------------------------------- Elman
    @torch.library.register_fake(f"{lib}::elman_forward")
    def _elman_forward_fake(x, lengths, h0, w_ih, w_hh, b_ih, b_hh, rec_mask, relu, save):  # noqa: ANN001, ANN202
        B, T, _ = x.shape
        H = w_hh.shape[1]
        hprev = x.new_empty(B, T, H) if save else x.new_empty(0)
        return x.new_empty(B, T, H), x.new_empty(B, H), hprev

    @torch.library.register_fake(f"{lib}::elman_backward")
    def _elman_backward_fake(dout, dh_n, x, lengths, w_ih, w_hh, out, hprev, rec_mask, relu,  # noqa: ANN001, ANN202
                             has_bias):  # fmt: skip  # noqa: ANN001, ANN202
        db = x.new_empty(w_ih.shape[0]) if has_bias else x.new_empty(0)
        return (
            torch.empty_like(x), torch.empty_like(dh_n), torch.empty_like(w_ih),
            torch.empty_like(w_hh), db,
        )  # fmt: skip

    def _elman_setup(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, lengths, h0, w_ih, w_hh, b_ih, b_hh, rec_mask, relu, _ = inputs
        out, _, hprev = output
        ctx.save_for_backward(x, lengths, h0, w_ih, w_hh, out, hprev, rec_mask)
        ctx.biases = (b_ih is not None, b_hh is not None)
        ctx.relu = relu
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(hprev)

    def _elman_backward(ctx: Any, dout: Tensor | None, dh_n: Tensor | None,
                        *_: Any) -> tuple[Tensor | None, ...]:  # fmt: skip
        x, lengths, h0, w_ih, w_hh, out, hprev, rec_mask = ctx.saved_tensors
        dout = _zeros_if_none(dout, out)
        dh_n = _zeros_if_none(dh_n, h0)
        dx, dh0, dw_ih, dw_hh, db = torch.ops.rnnkit_fused.elman_backward(
            dout, dh_n, x, lengths, w_ih, w_hh, out, hprev, rec_mask, ctx.relu, any(ctx.biases)
        )
        db_ih = db if ctx.biases[0] else None
        db_hh = db if ctx.biases[1] else None
        return dx, None, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None

    torch.library.register_autograd(
        f"{lib}::elman_forward", _elman_backward, setup_context=_elman_setup
    )


def ensure_built() -> str | None:
    """Build the library if it is missing or stale (as ``python3 -m rnnkit.fused.build``), then
    load it; returns :func:`unavailable_reason` afterwards (None when the kernels can run).

    For the test suite, so that a fresh worktree's tests run on the kernels instead of failing
    for want of a build step; ``scripts/setup.sh`` builds the library ahead of time.
    """
    global _load_error
    from rnnkit.fused import build

    if available():
        return None
    try:
        build.build(quiet=True)
    except build.BuildError as error:
        return str(error)
    with _lock:
        if not _loaded:
            _load_error = None
            _load()
    return unavailable_reason()
