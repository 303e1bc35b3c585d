"""The backend registry: how one direction of one recurrent layer runs a whole sequence.

A :class:`Backend` names itself, holds one *run function* per cell family it serves and a
``check`` that says, for one call described by a :class:`Request`, why it cannot run it
(``None`` when it can). The layers never test a backend's name: they build a
:class:`Request`, ask :func:`choose` for a backend, and call its run function once per
layer and direction (or, for a backend with a ``stack`` function, once for the whole
stack). ``auto`` is decided by one table, :data:`AUTO_TABLE`, and :func:`backend_reason`
says in words why a call ran where it did.

A run function has one signature for every family::

    run(x, lengths, state, weights, options) -> (out, state_n)

    x        (B, T, *F)  the direction's input, batch first, already in the direction's own
                         time order (the caller reverses a reverse direction within lengths)
    lengths  (B,) int64 in [1, T], or None when no sequence is padded
    state    tuple of initial states, each (B, *S): (h,) or (h, c)
    weights  tuple of the family's parameters for this layer-direction (see FAMILIES)
    options  StepOptions: the cell options' tensors for this direction (all None when off)
    out      (B, T, *Y), zero at padded steps; state_n the states after each sequence's
             last real step (held over padding)

Registering a backend (e.g. ``rnnkit.fused``)::

    from rnnkit.layers import backends

    def run_lstm(x, lengths, state, weights, options):
        ...  # returns (out, (h_n, c_n))

    backends.register(
        backends.Backend(
            name="fused",
            runs={"lstm": run_lstm},
            check=lambda r: None if r.device == "cpu" else "CPU only",
            description="rnnkit's C++ kernels",
        ),
        prefer=("lstm",),  # auto tries it first for these families when check passes
    )
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.cells.padded import full_lengths, step_mask

__all__ = [
    "AUTO_TABLE",
    "FAMILIES",
    "SLOTS",
    "AutoRow",
    "Backend",
    "Request",
    "StepOptions",
    "available",
    "backend_reason",
    "choose",
    "get",
    "names",
    "register",
    "unregister",
]

States = tuple[Tensor, ...]

# family -> what its ``weights`` tuple holds (one layer-direction)
FAMILIES: dict[str, str] = {
    "lstm": "(w_ih (4H, I), w_hh (4H, H_out), b_ih (4H,)|None, b_hh (4H,)|None, "
    "w_hr (H_out, H)|None)",
    "gru": "(w_ih (3H, I), w_hh (3H, H), b_ih (3H,)|None, b_hh (3H,)|None, None)",
    "rnn_tanh": "(w_ih (H, I), w_hh (H, H), b_ih (H,)|None, b_hh (H,)|None, None)",
    "rnn_relu": "(w_ih (H, I), w_hh (H, H), b_ih (H,)|None, b_hh (H,)|None, None)",
    "indrnn": "(w_ih (H, I), u (H,) already clamped, b (H,)|None)",
    "mingru": "(weight (2H, I), bias (2H,)|None)",
    "minlstm": "(weight (3H, I), bias (3H,)|None)",
    "convlstm": "(weight (4C_h, C_in + C_h, *K), bias (4C_h,)|None)",
}
CLASSIC = ("lstm", "gru", "rnn_tanh", "rnn_relu")

# Names reserved for backends registered by other modules; asking for one that is not
# registered says where it comes from.
SLOTS: dict[str, str] = {"fused": "rnnkit's C++ kernels (rnnkit.fused), not built or imported"}


@dataclass(frozen=True)
class StepOptions:
    """The cell options' tensors of one layer-direction; every field None when off.

    Attributes:
        ln_ih, ln_hh: ``(gain, bias)`` each ``(G,)``: layer norm of the input and the
            recurrent pre-activations (G = gates * H).
        ln_c: ``(gain, bias)`` each ``(H,)``: LSTM cell-state layer norm.
        peephole: ``(w_ci, w_cf, w_co)`` each ``(H,)`` (LSTM).
        rec_mask: ``(B, H)`` variational dropout mask of ``h_{t-1}``.
        zoneout_h, zoneout_c: keep weights of the previous state, broadcastable to
            ``(B, T, H)``.
    """

    ln_ih: tuple[Tensor, Tensor] | None = None
    ln_hh: tuple[Tensor, Tensor] | None = None
    ln_c: tuple[Tensor, Tensor] | None = None
    peephole: tuple[Tensor, Tensor, Tensor] | None = None
    rec_mask: Tensor | None = None
    zoneout_h: Tensor | None = None
    zoneout_c: Tensor | None = None

    @property
    def any(self) -> bool:
        """Whether any option tensor is set."""
        return any(getattr(self, f.name) is not None for f in fields(self))

    def as_kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments of :func:`rnnkit.cells.extended.extended_sequence`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


NO_OPTIONS = StepOptions()


@dataclass(frozen=True)
class Request:
    """What one forward call asks of a backend (everything a ``check`` may look at).

    Attributes:
        family: a key of :data:`FAMILIES`.
        training: the call builds a graph for the weights' gradients.
        device: the device type of the input (``"cpu"``, ``"cuda"``, ...).
        dtype: the dtype of the input.
        ragged: ``lengths`` pad some sequence (torch's kernels would pack the batch).
        options: names of the cell options that are on (``"layer_norm"``, ``"zoneout"``...).
        proj_size: LSTM projection size (0: none).
        traced: ``rnnkit.trace`` is recording this layer.
        batch, steps, input_size, hidden_size: sizes of the call (0 when unknown).
    """

    family: str
    training: bool = False
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    ragged: bool = False
    options: frozenset[str] = frozenset()
    proj_size: int = 0
    traced: bool = False
    batch: int = 0
    steps: int = 0
    input_size: int = 0
    hidden_size: int = 0


RunFn = Callable[
    [Tensor, Tensor | None, States, tuple[Any, ...], StepOptions], tuple[Tensor, States]
]


@dataclass
class Backend:
    """One way to run a sequence.

    Attributes:
        name: what ``backend=`` takes.
        runs: family -> run function (signature in the module docstring).
        check: ``check(request) -> str | None``: why this backend cannot run the call, or
            None when it can. Called only for families in ``runs``.
        description: one line for ``rnnkit info`` and the error messages.
        stack: optional family -> function running a whole stack at once (``native``:
            torch's multi-layer kernels); the layer passes its own arguments
            (see :func:`native_stack`). Used when the call is neither traced nor exported.
        traceable_time: torch.export can trace the run functions over a dynamic time
            axis (no Python loop over time: ``scan``); else :func:`run_function` hands
            them to torch.export as one opaque custom op (``rnnkit::run_direction``).
        options: family -> the cell options its run function applies; a request with
            another option is refused by name. None: every option (``check`` may still
            refuse some).
    """

    name: str
    runs: dict[str, RunFn]
    check: Callable[[Request], str | None] = lambda request: None
    description: str = ""
    stack: dict[str, Callable[..., tuple[Tensor, States]]] = field(default_factory=dict)
    traceable_time: bool = False
    options: dict[str, frozenset[str]] | None = None

    def refusal(self, request: Request) -> str | None:
        """Why this backend cannot run ``request`` (None when it can)."""
        if request.family not in self.runs:
            served = ", ".join(sorted(self.runs)) or "nothing"
            return f"{self.name} has no {request.family} cell (it serves {served})"
        if self.options is not None:
            missing = request.options - self.options.get(request.family, frozenset())
            if missing:
                return f"{self.name} cannot apply {', '.join(sorted(missing))} to {request.family}"
        return self.check(request)


_REGISTRY: dict[str, Backend] = {}
_PREFERRED: dict[str, list[str]] = {}  # family -> backends auto tries before the table


def register(backend: Backend, *, prefer: Iterable[str] = ()) -> Backend:
    """Add (or replace) ``backend``; ``prefer``: families for which ``auto`` tries it first.

    Returns the backend, so a module can keep a handle on it.
    """
    if not isinstance(backend, Backend):
        raise TypeError(f"register expects a Backend, got {type(backend).__name__}")
    if backend.name == "auto" or not backend.name.isidentifier():
        raise ValueError(
            f"a backend name must be an identifier other than 'auto', got {backend.name!r}"
        )
    unknown = sorted(set(backend.runs) - set(FAMILIES))
    if unknown:
        raise ValueError(
            f"backend {backend.name!r}: unknown families {unknown}; known: {list(FAMILIES)}"
        )
    prefer = tuple(prefer)
    for family in prefer:
        if family not in backend.runs:
            raise ValueError(
                f"backend {backend.name!r} cannot be preferred for {family!r}: no run for it"
            )
    _REGISTRY[backend.name] = backend
    for family in prefer:
        order = _PREFERRED.setdefault(family, [])
        if backend.name in order:
            order.remove(backend.name)
        order.insert(0, backend.name)
    return backend


def unregister(name: str) -> None:
    """Remove a registered backend (tests; a module that unloads its kernels)."""
    _REGISTRY.pop(name, None)
    for order in _PREFERRED.values():
        if name in order:
            order.remove(name)


def names() -> list[str]:
    """Registered backend names, in registration order."""
    return list(_REGISTRY)


def get(name: str) -> Backend:
    """The registered backend ``name``; a clear error for a reserved slot or a typo."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in SLOTS:
        raise ValueError(f"backend {name!r} is not available: {SLOTS[name]}")
    raise ValueError(f"unknown backend {name!r}; registered: {names()}")


# ----------------------------------------------------------------------------- torch.export


def exporting() -> bool:
    """Whether ``torch.export`` is tracing this call (its values are then symbolic)."""
    return bool(torch.compiler.is_exporting())


# StepOptions' fields, each as how many tensors it holds (a pair, a triple or one tensor)
_OPTION_ARITY = {"ln_ih": 2, "ln_hh": 2, "ln_c": 2, "peephole": 3}


def _flatten_options(options: StepOptions) -> list[Tensor | None]:
    """``options`` as a flat list of tensors or None (the custom op's ``Tensor?[]``)."""
    flat: list[Tensor | None] = []
    for f in fields(options):
        value = getattr(options, f.name)
        arity = _OPTION_ARITY.get(f.name, 1)
        if arity == 1:
            flat.append(value)
        else:
            flat.extend(value if value is not None else [None] * arity)
    return flat


def _unflatten_options(flat: list[Tensor | None]) -> StepOptions:
    """The inverse of :func:`_flatten_options`."""
    values: dict[str, object] = {}
    at = 0
    for f in fields(StepOptions):
        arity = _OPTION_ARITY.get(f.name, 1)
        part = flat[at : at + arity]
        at += arity
        if arity == 1:
            values[f.name] = part[0]
        else:
            values[f.name] = None if part[0] is None else tuple(part)
    return StepOptions(**values)  # type: ignore[arg-type]


@torch.library.custom_op(
    "rnnkit::run_direction",
    mutates_args=(),
    schema="(str backend, str family, Tensor x, Tensor? lengths, Tensor[] state, "
    "Tensor?[] weights, Tensor?[] options) -> Tensor[]",
)
def _run_direction_op(
    backend: str,
    family: str,
    x: Tensor,
    lengths: Tensor | None,
    state: list[Tensor],
    weights: list[Tensor | None],
    options: list[Tensor | None],
) -> list[Tensor]:
    """One layer-direction on ``backend`` (its run function, eagerly): ``[out, *state_n]``."""
    run = get(backend).runs[family]
    out, state_n = run(x, lengths, tuple(state), tuple(weights), _unflatten_options(options))
    return [out, *state_n]


@_run_direction_op.register_fake
def _(
    backend: str,
    family: str,
    x: Tensor,
    lengths: Tensor | None,
    state: list[Tensor],
    weights: list[Tensor | None],
    options: list[Tensor | None],
) -> list[Tensor]:
    """The shapes of every family's run: out ``(B, T, *h)`` and the states as given."""
    out = x.new_empty(x.shape[0], x.shape[1], *state[0].shape[1:])
    return [out, *(torch.empty_like(s) for s in state)]


def run_function(name: str, family: str) -> RunFn:
    """The run function of backend ``name`` for ``family``.

    Under ``torch.export`` (and for a backend without ``traceable_time``) the same run is
    one custom op, ``rnnkit::run_direction``, whose output shapes follow from its inputs'
    alone: the exported program keeps a dynamic time axis and takes ``lengths``, and runs
    the backend's own code when called. The op has no autograd: an exported program
    computes, it does not train.
    """
    backend = get(name)
    run = backend.runs[family]
    if backend.traceable_time or not exporting():
        return run

    def exported(
        x: Tensor,
        lengths: Tensor | None,
        state: States,
        weights: tuple[Any, ...],
        options: StepOptions,
    ) -> tuple[Tensor, States]:
        outs = _run_direction_op(
            name, family, x, lengths, list(state), list(weights), _flatten_options(options)
        )
        return outs[0], tuple(outs[1:])

    return exported


def available(family: str) -> list[str]:
    """The backend names that serve ``family`` (any request), plus ``auto``.

    Raises:
        ValueError: ``family`` is not a key of :data:`FAMILIES` (``"LSTM"`` is not
            ``"lstm"``: an unknown name would otherwise list ``auto`` alone).
    """
    if family not in FAMILIES:
        hint = f" (did you mean {family.lower()!r}?)" if family.lower() in FAMILIES else ""
        known = ", ".join(repr(f) for f in FAMILIES)
        raise ValueError(f"family must be one of {known}, got {family!r}{hint}")
    return ["auto", *(n for n, b in _REGISTRY.items() if family in b.runs)]


def check_name(layer: str, family: str, name: object) -> str:
    """``name`` if it is ``auto`` or a registered backend serving ``family``, else one error
    listing what would work (construction-time check of ``backend=``)."""
    choices = available(family)
    if isinstance(name, str) and name in choices:
        return name
    extra = ""
    if isinstance(name, str) and name in SLOTS:
        extra = f" ({name!r}: {SLOTS[name]})"
    elif isinstance(name, str) and name in _REGISTRY:
        extra = f" ({name!r} has no {family} cell)"
    expected = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{layer}: backend must be one of {expected}, got {name!r}{extra}")


# ----------------------------------------------------------------------------- auto


@dataclass(frozen=True)
class AutoRow:
    """One row of :data:`AUTO_TABLE`: when it matches, ``auto`` takes the first backend of
    ``prefer`` that is registered and accepts the request.

    ``None`` in a condition matches anything. ``why`` is the measurement behind the row.
    """

    families: tuple[str, ...]
    prefer: tuple[str, ...]
    why: str
    device: str | None = None
    training: bool | None = None
    ragged: bool | None = None
    options: bool | None = None  # any option on

    def matches(self, request: Request) -> bool:
        """Whether this row covers ``request``."""
        return (
            request.family in self.families
            and self.device in (None, request.device)
            and self.training in (None, request.training)
            and self.ragged in (None, request.ragged)
            and self.options in (None, bool(request.options))
        )


_SPEED = "docs/benchmarks/speed.md"
AUTO_TABLE: tuple[AutoRow, ...] = (
    AutoRow(
        CLASSIC,
        ("bptt", "reference"),
        "torch's kernels cannot apply the cell options; bptt is their hand-derived BPTT "
        "(with proj_size too)",
        options=True,
    ),
    AutoRow(
        ("rnn_tanh", "rnn_relu"),
        ("fused", "bptt"),
        "torch's CPU Elman kernel has no fused backward (autograd over T small steps); "
        f"bptt trains in 0.62-0.95x its time on S1-S3 ({_SPEED})",
        device="cpu",
        training=True,
    ),
    AutoRow(
        ("lstm", "gru"),
        ("fused", "bptt"),
        "ragged lengths in training: torch packs the batch and its packed CPU kernel trains "
        "far slower than bptt on the padded batch (LSTM, 2 layers, B=64, I=H=128: spread 3 at "
        "T=100/200 native 246/821 ms vs bptt 75/163 ms; spread 100-800 at T=800 native 19.8 s "
        "vs bptt 0.88 s; issue 10; GRU assumed alike, figures to be measured)",
        device="cpu",
        training=True,
        ragged=True,
    ),
    AutoRow(CLASSIC, ("native", "bptt"), f"torch's fused kernels are the fastest ({_SPEED})"),
    AutoRow(("indrnn",), ("fused", "bptt"), "the hand-derived BPTT of the element-wise recurrence"),
    AutoRow(("mingru", "minlstm"), ("scan",), "the parallel log-space scan over time"),
    AutoRow(("convlstm",), ("reference",), "the only ConvLSTM backend"),
)


def choose(name: str, request: Request) -> tuple[str, str]:
    """The backend a call runs on and why: ``name`` itself if it accepts ``request``
    (else a ValueError listing the backends that would), or for ``auto`` the preferred
    backends of the family, then the first matching :data:`AUTO_TABLE` row, then
    ``reference``.

    Returns:
        ``(backend name, reason)``.
    """
    if name != "auto":
        reason = get(name).refusal(request)
        if reason is not None:
            working = [n for n, b in _REGISTRY.items() if b.refusal(request) is None]
            raise ValueError(
                f"backend {name!r} cannot run this call: {reason}; backends that can: "
                f"{', '.join(repr(n) for n in ['auto', *working])}"
            )
        return name, f"{name}: asked for"
    passed: list[str] = []  # why preferred backends were passed over
    for candidate in _PREFERRED.get(request.family, []):
        reason = _REGISTRY[candidate].refusal(request)
        if reason is None:
            return candidate, f"auto -> {candidate}: registered as preferred for {request.family}"
        passed.append(f"{candidate}: {reason}")
    for row in AUTO_TABLE:
        if not row.matches(request):
            continue
        for candidate in row.prefer:
            if candidate not in _REGISTRY:
                if candidate not in SLOTS:
                    passed.append(f"{candidate}: not registered")
                continue
            reason = _REGISTRY[candidate].refusal(request)
            if reason is None:
                note = f" (passed over: {'; '.join(passed)})" if passed else ""
                return candidate, f"auto -> {candidate}: {row.why}{note}"
            passed.append(f"{candidate}: {reason}")
        break
    return "reference", f"auto -> reference: nothing faster accepts the call ({'; '.join(passed)})"


def backend_reason(layer: object) -> str | None:
    """Why the latest forward of ``layer`` ran on ``layer.last_backend`` (None before any)."""
    return getattr(layer, "backend_reason", None)


# ----------------------------------------------------------------------------- reference & bptt


def _classic(mode: str, family: str) -> RunFn:
    """The run function of a classic family (lstm/gru/rnn_*) through rnnkit.cells."""
    from rnnkit.cells.elman import elman_sequence
    from rnnkit.cells.extended import extended_sequence
    from rnnkit.cells.gru import gru_sequence
    from rnnkit.cells.lstm import lstm_sequence

    kind = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn", "rnn_relu": "rnn"}[family]
    nonlinearity = "relu" if family == "rnn_relu" else "tanh"

    def run(
        x: Tensor,
        lengths: Tensor | None,
        state: States,
        weights: tuple[Any, ...],
        options: StepOptions,
    ) -> tuple[Tensor, States]:
        w_ih, w_hh, b_ih, b_hh, w_hr = weights
        if options.any:
            c0 = state[1] if kind == "lstm" else None
            out, h, c = extended_sequence(
                kind, x, lengths, state[0], c0, w_ih, w_hh, b_ih, b_hh, w_hr=w_hr,
                nonlinearity=nonlinearity, mode=mode, **options.as_kwargs(),
            )  # fmt: skip
            return out, ((h, c) if c is not None else (h,))
        full = full_lengths(x, lengths)
        if kind == "lstm":
            out, h, c = lstm_sequence(x, full, state[0], state[1], *weights, mode=mode)
            return out, (h, c)
        if kind == "gru":
            out, h = gru_sequence(x, full, state[0], w_ih, w_hh, b_ih, b_hh, mode=mode)
            return out, (h,)
        out, h = elman_sequence(
            x, full, state[0], w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity, mode=mode
        )
        return out, (h,)

    return run


def _indrnn(mode: str) -> RunFn:
    from rnnkit.cells.indrnn import indrnn_sequence

    def run(
        x: Tensor,
        lengths: Tensor | None,
        state: States,
        weights: tuple[Any, ...],
        options: StepOptions,
    ) -> tuple[Tensor, States]:
        w_ih, u, b = weights
        mask = step_mask(full_lengths(x, lengths), x.shape[1], x.device).to(x.dtype)
        out, h = indrnn_sequence(
            x, mask, state[0], w_ih, u, b, mode=mode, ln_ih=options.ln_ih,
            rec_mask=options.rec_mask, zoneout_h=options.zoneout_h,
        )  # fmt: skip
        return out, (h,)

    return run


def _minrnn(mode: str, family: str) -> RunFn:
    from rnnkit.cells.minrnn import minrnn_sequence

    def run(
        x: Tensor,
        lengths: Tensor | None,
        state: States,
        weights: tuple[Any, ...],
        options: StepOptions,
    ) -> tuple[Tensor, States]:
        out, h = minrnn_sequence(
            family, x, lengths, state[0], *weights, mode=mode, ln_ih=options.ln_ih,
            zoneout_h=options.zoneout_h,
        )  # fmt: skip
        return out, (h,)

    return run


def _convlstm_reference(
    x: Tensor, lengths: Tensor | None, state: States, weights: tuple[Any, ...], options: StepOptions
) -> tuple[Tensor, States]:
    """Autograd over :func:`rnnkit.cells.convlstm.convlstm_step`: x ``(B, T, C, *S)``."""
    from rnnkit.cells.convlstm import convlstm_step

    mask = step_mask(full_lengths(x, lengths), x.shape[1], x.device).to(x.dtype)  # (B, T)
    view = (x.shape[0], *([1] * (x.dim() - 2)))  # broadcast (B,) over (B, C_h, *S)
    step_options: dict[str, Any] = {
        "ln_ih": options.ln_ih, "ln_hh": options.ln_hh, "ln_c": options.ln_c,
        "peephole": options.peephole, "rec_mask": options.rec_mask,
    }  # fmt: skip
    zh, zc = options.zoneout_h, options.zoneout_c
    (h, c), outs = state, []
    for t in range(x.shape[1]):
        m = mask[:, t].view(view)
        if zh is None:
            h_new, c_new = convlstm_step(x[:, t], h, c, *weights, **step_options)
            h = m * h_new + (1 - m) * h  # state held at padding
            c = m * c_new + (1 - m) * c
            outs.append(m * h_new)
        else:  # zoneout and padding as one keep weight: 1 - m (1 - k)
            full = (x.shape[0], x.shape[1], *h.shape[1:])  # (B, T, C_h, *S)
            keep_h = 1 - m * (1 - zh.expand(full)[:, t])
            keep_c = None if zc is None else 1 - m * (1 - zc.expand(full)[:, t])
            h, c = convlstm_step(
                x[:, t], h, c, *weights, keep_h=keep_h, keep_c=keep_c, **step_options
            )
            outs.append(m * h)
    return torch.stack(outs, 1), (h, c)


# ----------------------------------------------------------------------------- native

_NATIVE_KERNELS = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn_tanh", "rnn_relu": "rnn_relu"}


_F = TypeVar("_F", bound=Callable[..., Any])

# torch.compiler.disable, but importing torch._dynamo (seconds) on the first call rather than
# when rnnkit is imported: torch's own lazy form of it, where this torch has one
_outside_compiled_graph: Callable[[_F], _F] = getattr(
    torch, "_disable_dynamo", torch.compiler.disable
)


@contextlib.contextmanager
def _quiet_projection_note() -> Iterator[None]:
    """Silence torch's per-call note that oneDNN has no LSTM projections (it falls back)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported")
        yield


@_outside_compiled_graph
def native_call(
    family: str,
    data: Tensor,
    batch_sizes: Tensor | None,
    states: States,
    weights: list[Tensor],
    *,
    has_bias: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
    proj_size: int = 0,
) -> tuple[Tensor, States]:
    """One call of ``torch._VF.<kernel>``: batch-first ``(B, T, I)`` when ``batch_sizes``
    is None, else the packed data ``(N, I)``. ``states`` each ``(L*D, B, size)``;
    ``weights`` flat in torch's order. Dropout between layers as torch.nn.

    ``torch.compile`` runs it eagerly (a graph break), as it runs ``torch.nn.LSTM``
    (``torch._dynamo.config.allow_rnn`` is off): AOT autograd cannot trace torch's RNN
    kernels in training (``mkldnn_rnn_layer``), nor dynamo the packing of ``lengths``."""
    kernel = getattr(_VF, _NATIVE_KERNELS[family])
    hx = states if family == "lstm" else states[0]
    dropout = dropout if num_layers > 1 else 0.0
    args = (weights, has_bias, num_layers, dropout, training, bidirectional)
    with _quiet_projection_note() if proj_size > 0 else contextlib.nullcontext():
        if batch_sizes is None:
            result = kernel(data, hx, *args, True)
        else:
            result = kernel(data, batch_sizes, hx, *args)
    return result[0], tuple(result[1:])


@_outside_compiled_graph
def native_stack(
    family: str,
    x: Tensor,
    lengths: Tensor | None,
    states: States,
    weights: list[Tensor],
    **kwargs: Any,
) -> tuple[Tensor, States]:
    """torch's fused kernel on a padded batch ``(B, T, I)``, packing it when ``lengths``.

    ``kwargs`` as :func:`native_call` (has_bias, num_layers, dropout, training,
    bidirectional, proj_size): the signature of a ``Backend.stack`` function. Run eagerly
    under ``torch.compile`` (see :func:`native_call`).
    Returns ``out (B, T, D*H_out)`` (zero at padding) and the states.
    """
    if lengths is None:
        return native_call(family, x, None, states, weights, **kwargs)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    order, unorder = packed.sorted_indices, packed.unsorted_indices
    assert order is not None and unorder is not None  # enforce_sorted=False sets both
    states = tuple(s.index_select(1, order) for s in states)
    data, states = native_call(family, packed.data, packed.batch_sizes, states, weights, **kwargs)
    out, _ = pad_packed_sequence(
        packed._replace(data=data), batch_first=True, total_length=x.shape[1]
    )
    return out, tuple(s.index_select(1, unorder) for s in states)


def _native(family: str) -> RunFn:
    def run(
        x: Tensor,
        lengths: Tensor | None,
        state: States,
        weights: tuple[Any, ...],
        options: StepOptions,
    ) -> tuple[Tensor, States]:
        flat = [w for w in weights if w is not None]
        states = tuple(s.unsqueeze(0) for s in state)  # (1, B, size)
        out, last = native_stack(
            family, x, lengths, states, flat, has_bias=weights[2] is not None,
            num_layers=1, dropout=0.0, training=False, bidirectional=False,
            proj_size=0 if weights[4] is None else weights[4].shape[0],
        )  # fmt: skip
        return out, tuple(s.squeeze(0) for s in last)

    return run


def _native_check(request: Request) -> str | None:
    if request.options:
        return f"torch's fused kernels cannot apply {', '.join(sorted(request.options))}"
    return None


# ----------------------------------------------------------------------------- built-ins

register(
    Backend(
        "reference",
        {
            **{f: _classic("reference", f) for f in CLASSIC},
            "indrnn": _indrnn("reference"),
            "mingru": _minrnn("reference", "mingru"),
            "minlstm": _minrnn("reference", "minlstm"),
            "convlstm": _convlstm_reference,
        },
        description="autograd over the cell's plain step function (the definition)",
    )
)
_EVERY_OPTION = frozenset(
    {"layer_norm", "recurrent_dropout", "zoneout", "weight_drop", "peephole"}
)  # rnnkit.layers.options.OPTION_NAMES (options imports this module)
register(
    Backend(
        "bptt",
        {**{f: _classic("bptt", f) for f in CLASSIC}, "indrnn": _indrnn("bptt")},
        description="the cell's hand-derived backward through time, in PyTorch ops",
        options={**dict.fromkeys(CLASSIC, _EVERY_OPTION), "indrnn": _EVERY_OPTION},
    )
)
register(
    Backend(
        "native",
        {f: _native(f) for f in CLASSIC},
        check=_native_check,
        description="torch's fused kernels (oneDNN on CPU, cuDNN on GPU); packed with lengths",
        stack={f: native_stack for f in CLASSIC},
    )
)
register(
    Backend(
        "scan",
        {"mingru": _minrnn("scan", "mingru"), "minlstm": _minrnn("scan", "minlstm")},
        description="the parallel log-space scan of the linear recurrence",
        traceable_time=True,
        # zoneout's 0/1 keep weights would put log 0 into the log-space scan
        options=dict.fromkeys(("mingru", "minlstm"), frozenset({"layer_norm"})),
    )
)
