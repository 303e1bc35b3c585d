"""What ``rnnkit explain`` needs from a task: one INPUT turned into a scalar to explain.

A task that declares the ``explain`` capability implements
:meth:`rnnkit.tasks.base.Task.explain_input`, which returns an :class:`ExplainInput`: the
function whose value is attributed, the continuous input it is attributed over, the
Integrated Gradients baseline and what the report says about them. The builders below
are shared by the tasks of the same kind (token classifiers, series classifiers,
forecasters, character models); the explainer (:mod:`rnnkit.explain.explainer`) only
computes attributions, traces states and draws, and never knows a task by name.

For a binary classifier (one logit ``z``) the logit of class 0 is ``-z``, so red always
means "evidence for the predicted class".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import torch
from torch import nn

from rnnkit.errors import RnnkitError

SPLITS = ("train", "val", "test")
MAX_TEXT_CHARS = 400  # a character model reads at most this many characters of INPUT


@dataclass
class ExplainInput:
    """What a task makes of one INPUT: the function to explain and its input.

    Attributes:
        fn: ``fn(x (N, T, D), *extra) -> (N,)`` the explained scalar.
        x: ``(1, T, D)`` the continuous input attributions are taken against.
        baseline: ``(1, T, D)`` the IG baseline.
        extra: further arguments of ``fn`` (``lengths`` ...).
        run: one forward pass of the whole model on this input (for tracing).
        prediction, target, baseline_desc, step_kind, step_labels: for the report.
        series: ``(T, F)`` the input series (time-series tasks), for the figure.
        feature_names: names of the series' features.
        text: the characters read (character models), for the neuron view.
        notes: remarks shown in the report.
        attention: an encoder-decoder's attention, drawn by the report after the
            attributions: ``{"source": [S labels], "output": [T labels], "weights": (T, S),
            "title": str}``.
    """

    fn: Callable[..., torch.Tensor]
    x: torch.Tensor
    baseline: torch.Tensor
    extra: tuple
    run: Callable[[], object]
    prediction: str
    target: str
    baseline_desc: str
    step_kind: str
    step_labels: list[str]
    series: torch.Tensor | None = None
    feature_names: list[str] = field(default_factory=list)
    text: str = ""
    notes: list[str] = field(default_factory=list)
    attention: dict[str, Any] | None = None


# ----------------------------------------------------------------------------- helpers


class _Classifier(Protocol):
    """A classifier model as these helpers call it (its class count and probabilities)."""

    num_classes: int

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor: ...


class _TokenClassifier(_Classifier, Protocol):
    """A token classifier whose embeddings can be fed in directly (integrated gradients)."""

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor: ...
    def embed(self, ids: torch.Tensor) -> torch.Tensor: ...
    def forward_from_embeddings(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor: ...


class _Forecaster(Protocol):
    def forecast(self, x: torch.Tensor, **extras: torch.Tensor) -> torch.Tensor: ...


def device_of(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def label_names(names: Sequence[Any] | None, num_classes: int) -> list[str]:
    """Class names for the report; bare numbers read as ``class 3``."""
    if isinstance(names, list | tuple) and len(names) == num_classes:
        return [f"class {n}" if str(n).lstrip("-").isdigit() else str(n) for n in names]
    return [f"class {k}" for k in range(num_classes)]


def class_scalar(logits: torch.Tensor, num_classes: int, cls: int) -> torch.Tensor:
    """``(N,)`` the logit of class ``cls`` from logits ``(N, K)`` (binary: ``+-z``)."""
    if num_classes == 2 and logits.shape[-1] == 1:
        return logits[:, 0] if cls == 1 else -logits[:, 0]
    return logits[:, cls]


def probabilities(model: nn.Module, logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(C,)`` class probabilities of the first row of ``logits`` ``(1, K)``."""
    if hasattr(model, "probabilities"):
        return cast(_Classifier, model).probabilities(logits)[0]
    if num_classes == 2 and logits.shape[-1] == 1:
        p1 = torch.sigmoid(logits[0, 0])
        return torch.stack([1 - p1, p1])
    return torch.softmax(logits[0], dim=-1)


def parse_example_spec(spec: str) -> tuple[str, int] | None:
    """``"test:12"`` -> ``("test", 12)``; None when ``spec`` is not of that form."""
    split, sep, index = spec.partition(":")
    if not sep or split not in SPLITS:
        return None
    if not index.isdigit():
        raise RnnkitError(
            f"INPUT {spec!r}: expected {split}:INDEX with a non-negative integer INDEX"
        )
    return split, int(index)


def example_of(task: Any, split: str, index: int) -> tuple[Any, int]:
    """The batch of ``task.batches(split)`` holding example ``index``, and its row."""
    seen = 0
    for batch in task.batches(split):
        if index < seen + len(batch):
            return batch, index - seen
        seen += len(batch)
    raise RnnkitError(
        f"INPUT {split}:{index}: the {split} split has {seen} examples; expected an INDEX "
        f"from 0 to {seen - 1}"
    )


def require_text(text: str) -> None:
    """Refuse an empty INPUT for the text tasks."""
    if not text.strip():
        raise RnnkitError("INPUT is empty: expected a non-empty text to explain")


def series_example(
    task: Any, model: nn.Module, spec: str
) -> tuple[torch.Tensor, torch.Tensor, Any, int]:
    """``(x (1, T, F), lengths (1,), batch, row)`` of the example ``split:INDEX`` names."""
    parsed = parse_example_spec(spec)
    if parsed is None:
        raise RnnkitError(
            f"INPUT {spec!r}: for a {task.name} run, expected test:INDEX, val:INDEX "
            "or train:INDEX (an example of that split)"
        )
    batch, row = example_of(task, *parsed)
    length = int(batch.lengths[row])
    x = batch.inputs[row : row + 1, :length].to(device_of(model)).float()  # (1, T, F)
    return x, torch.tensor([length], dtype=torch.int64), batch, row


# ----------------------------------------------------------------------------- builders


def token_classifier_input(
    model: nn.Module, tokenizer: Any, names: Sequence[Any] | None, text: str
) -> ExplainInput:
    """A token classifier (``SequenceClassifier`` on token ids): IG over token embeddings.

    ``model`` has ``embed``, ``forward_from_embeddings`` and ``num_classes``;
    ``tokenizer`` has ``encode([text])`` and ``tokens(text)``; pad id 0 is the baseline.
    """
    require_text(text)
    ids = tokenizer.encode([text])[0]
    tokens = tokenizer.tokens(text)[: len(ids)]
    device = device_of(model)
    clf = cast(_TokenClassifier, model)
    ids_t = torch.tensor([ids], dtype=torch.int64, device=device)  # (1, T)
    lengths = torch.tensor([len(ids)], dtype=torch.int64)  # (1,), on CPU
    num_classes = int(clf.num_classes)
    with torch.no_grad():
        logits = clf(ids_t, lengths)  # (1, K)
    probs = probabilities(model, logits, num_classes)  # (C,)
    cls = int(probs.argmax())
    shown = label_names(names, num_classes)

    def fn(emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return class_scalar(clf.forward_from_embeddings(emb, lengths), num_classes, cls)

    with torch.no_grad():
        x = clf.embed(ids_t)  # (1, T, E)
        baseline = clf.embed(torch.zeros_like(ids_t))  # pad id 0 everywhere
    return ExplainInput(
        fn=fn,
        x=x,
        baseline=baseline,
        extra=(lengths,),
        run=lambda: clf(ids_t, lengths),
        prediction=f"{shown[cls]} (p = {float(probs[cls]):.3f})",
        target=f"the logit of the predicted class {shown[cls]!r}",
        baseline_desc="[PAD] embeddings",
        step_kind="token",
        step_labels=tokens,
    )


def series_classifier_input(
    task: Any, model: nn.Module, spec: str, names: Sequence[Any] | None
) -> ExplainInput:
    """A series classifier: IG over the (scaled) features of each time step, zero baseline.
    Static features of the example (``batch.extras``) are held fixed."""
    x, lengths, batch, row = series_example(task, model, spec)
    extras = {k: v[row : row + 1].to(x.device) for k, v in batch.extras.items()}

    def classify(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n = inputs.shape[0]
        more = {k: v.expand(n, *v.shape[1:]) for k, v in extras.items()}
        return model(inputs, lengths, **more)  # (N, K)

    num_classes = int(cast(_Classifier, model).num_classes)
    with torch.no_grad():
        logits = classify(x, lengths)  # (1, K)
    probs = probabilities(model, logits, num_classes)
    cls = int(probs.argmax())
    shown = label_names(names, num_classes)
    truth = ""
    if batch.targets is not None:
        truth = f"; true label {shown[int(batch.targets[row])]}"

    def fn(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return class_scalar(classify(inputs, lengths), num_classes, cls)

    T = x.shape[1]
    return ExplainInput(
        fn=fn,
        x=x,
        baseline=torch.zeros_like(x),
        extra=(lengths,),
        run=lambda: classify(x, lengths),
        prediction=f"{shown[cls]} (p = {float(probs[cls]):.3f}){truth}",
        target=f"the logit of the predicted class {shown[cls]!r}",
        baseline_desc="zeros (the scaled series' mean level)",
        step_kind="time step",
        step_labels=[str(t) for t in range(T)],
        series=x[0].cpu(),
    )


def series_regressor_input(
    task: Any, model: nn.Module, spec: str, decode: Callable[[Any], Any] | None = None
) -> ExplainInput:
    """A whole-sequence regressor (``(B, T, F), lengths -> (B, K)``): IG of its first
    output (the model's units) over the features of each time step, zero baseline.
    ``decode`` (``(1, K)`` array -> ``(1, K)``) shows the prediction in the targets' units."""
    x, lengths, batch, row = series_example(task, model, spec)

    def fn(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return model(inputs, lengths)[:, 0]  # (N,)

    with torch.no_grad():
        y = model(x, lengths).double().cpu().numpy()  # (1, K)
    truth = None if batch.targets is None else batch.targets[row : row + 1].double().cpu().numpy()
    units = "model units"
    if decode is not None:
        y, truth = decode(y), None if truth is None else decode(truth.reshape(1, -1))
        units = "target units"

    def show(a: Any) -> str:
        return ", ".join(f"{float(v):.4g}" for v in a[0, :6]) + (", ..." if a.shape[1] > 6 else "")

    actual = "" if truth is None else f"; actual {show(truth)}"
    T = x.shape[1]
    return ExplainInput(
        fn=fn,
        x=x,
        baseline=torch.zeros_like(x),
        extra=(lengths,),
        run=lambda: model(x, lengths),
        prediction=f"{show(y)} ({units}){actual}",
        target="the first predicted value (scaled units)",
        baseline_desc="zeros (the training mean after scaling)",
        step_kind="time step",
        step_labels=[str(t) for t in range(T)],
        series=x[0].cpu(),
    )


def forecaster_input(task: Any, model: nn.Module, spec: str, scaler: Any = None) -> ExplainInput:
    """A forecaster: IG of the first forecast value over the scaled context window.
    ``scaler`` (``inverse``) shows the forecast in the data's units."""
    x, lengths, batch, row = series_example(task, model, spec)
    # the model's keyword inputs (covariates, static features); never the teacher inputs
    extras = {k: v[row : row + 1].to(x.device) for k, v in batch.extras.items() if k != "teacher"}
    rollout = getattr(model, "output", "direct") == "rollout"

    def forecast(inputs: torch.Tensor) -> torch.Tensor:
        n = inputs.shape[0]
        more = {k: v.expand(n, *v.shape[1:]) for k, v in extras.items()}
        out = model(inputs, **more) if more else model(inputs)
        return out if isinstance(out, torch.Tensor) else out[0]  # (N, H, C)

    def fn(inputs: torch.Tensor) -> torch.Tensor:
        y = forecast(inputs)  # direct: (N, H, C); rollout: (N, T, C) one step after each
        return y[:, -1, 0] if rollout else y[:, 0, 0]  # (N,)

    with torch.no_grad():
        y = cast(_Forecaster, model).forecast(x, **extras) if rollout else forecast(x)  # (1, H, C)
    horizon = y.shape[1]
    y_np = y.float().cpu().numpy()  # (1, H, C)
    truth = None if batch.targets is None else batch.targets[row : row + 1].float().cpu().numpy()
    units = "scaled"
    if scaler is not None:  # back to the data's units, as the forecast command shows them
        y_np = scaler.inverse(y_np)
        truth = None if truth is None else scaler.inverse(truth)
        units = "data units"

    def show(a: Any) -> str:
        more = ", ..." if horizon > 6 else ""
        return ", ".join(f"{float(v):.4g}" for v in a[0, :6, 0]) + more

    actual = "" if truth is None else f"; actual: {show(truth)}"
    T = x.shape[1]
    return ExplainInput(
        fn=fn,
        x=x,
        baseline=torch.zeros_like(x),
        extra=(),
        run=lambda: forecast(x),
        prediction=f"next {horizon} step(s) ({units}): {show(y_np)}{actual}",
        target="the first forecast step of the first target (scaled units)",
        baseline_desc="zeros (the training mean after scaling)",
        step_kind="time step",
        step_labels=[str(t) for t in range(T)],
        series=x[0].cpu(),
    )


def char_model_input(model: nn.Module, vocab: Any, text: str) -> ExplainInput:
    """A character language model: IG of the most likely next character's logit over the
    character embeddings (``model.embedding``), zero baseline."""
    require_text(text)
    ids = vocab.encode(text[-MAX_TEXT_CHARS:])[-MAX_TEXT_CHARS:]  # (T,) int64
    labels = [vocab.decode([i]) for i in ids.tolist()]  # one symbol per step
    unknown = vocab.unknown(text)
    notes = (
        [f"characters outside the vocabulary, read as unknown: {''.join(unknown)!r}"]
        if unknown
        else []
    )
    if len(text) > MAX_TEXT_CHARS:
        notes.append(
            f"INPUT: {len(text)} characters; the report explains the last {MAX_TEXT_CHARS}"
        )
    text = "".join(labels) if all(len(c) == 1 for c in labels) else ""
    device = device_of(model)
    ids_t = ids[None].to(device)  # (1, T)
    embedding = cast(nn.Module, model.embedding)  # the char model's nn.Embedding

    def logits_from(emb: torch.Tensor) -> torch.Tensor:
        handle = embedding.register_forward_hook(lambda m, i, o: emb)
        try:
            out = model(torch.zeros(emb.shape[:2], dtype=torch.int64, device=emb.device))
        finally:
            handle.remove()
        return out if isinstance(out, torch.Tensor) else out[0]  # (N, T, V)

    with torch.no_grad():
        x = embedding(ids_t)  # (1, T, E)
        logits = logits_from(x)[0, -1]  # (V,)
    probs = torch.softmax(logits, dim=-1)
    nxt = int(probs.argmax())
    ch = vocab.decode([nxt])

    def fn(emb: torch.Tensor) -> torch.Tensor:
        return logits_from(emb)[:, -1, nxt]  # (N,)

    return ExplainInput(
        fn=fn,
        x=x,
        baseline=torch.zeros_like(x),
        extra=(),
        run=lambda: model(ids_t),
        prediction=f"next character {ch!r} (p = {float(probs[nxt]):.3f})",
        target=f"the logit of the next character {ch!r}",
        baseline_desc="zero embeddings",
        step_kind="character",
        step_labels=labels,
        text=text,
        notes=notes,
    )
