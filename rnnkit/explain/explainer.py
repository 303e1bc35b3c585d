"""Explain one input to a trained run: attributions, traced states, neurons, figures.

:func:`explain_run` loads a run directory and returns an
:class:`~rnnkit.explain.explanation.Explanation`; :func:`explain` does the same for a
run already loaded (``rnnkit.load(run_dir)``). Each supported task has a small adapter
that turns the user's INPUT into the model's input and names the scalar to explain:

============  ===========================  ============================================
task          INPUT                        explained scalar / attribution space
============  ===========================  ============================================
sentiment     a text                       logit of the predicted class / token embeddings
tsclass       ``test:INDEX`` (or val:)     logit of the predicted class / scaled features
forecast      ``test:INDEX`` (or val:)     first forecast step of the first target
charlm        a text (the prime)           logit of the most likely next character /
                                           character embeddings
============  ===========================  ============================================

For a binary classifier (one logit ``z``) the logit of class 0 is ``-z``, so red always
means "evidence for the predicted class".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.errors import RnnkitError
from rnnkit.explain import figures
from rnnkit.explain.attributions import (
    DEFAULT_RTOL,
    Attribution,
    ScalarFn,
    grad_x_input,
    gradients_in_eval,
    integrated_gradients,
)
from rnnkit.explain.explanation import Explanation, NeuronRow, ReportFigure
from rnnkit.explain.neurons import select_neurons
from rnnkit.explain.states import StateView, traced_states

SUPPORTED_TASKS = ("sentiment", "tsclass", "forecast", "charlm")
SERIES_TASKS = ("tsclass", "forecast")  # INPUT is split:INDEX
SPLITS = ("train", "val", "test")
MAX_NEURON_CHARS = 400  # the neuron view reads at most this many characters


@dataclass
class ModelInput:
    """What an adapter makes of one INPUT: the function to explain and its input.

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
    """

    fn: ScalarFn
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


# ----------------------------------------------------------------------------- helpers


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _label_names(task: Any, num_classes: int) -> list[str]:
    """The task's class names; bare numbers read as ``class 3``."""
    for attr in ("label_names", "labels", "classes"):
        names = getattr(task, attr, None)
        if isinstance(names, list | tuple) and len(names) == num_classes:
            return [f"class {n}" if str(n).lstrip("-").isdigit() else str(n) for n in names]
    return [f"class {k}" for k in range(num_classes)]


def class_scalar(logits: torch.Tensor, num_classes: int, cls: int) -> torch.Tensor:
    """``(N,)`` the logit of class ``cls`` from logits ``(N, K)`` (binary: ``+-z``)."""
    if num_classes == 2 and logits.shape[-1] == 1:
        return logits[:, 0] if cls == 1 else -logits[:, 0]
    return logits[:, cls]


def _probabilities(model: nn.Module, logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    if hasattr(model, "probabilities"):
        return model.probabilities(logits)[0]
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


def _example(task: Any, split: str, index: int) -> tuple[Any, int]:
    """The batch holding example ``index`` of ``split`` and its row in that batch."""
    seen = 0
    for batch in task.batches(split):
        if index < seen + len(batch):
            return batch, index - seen
        seen += len(batch)
    raise RnnkitError(
        f"INPUT {split}:{index}: the {split} split has {seen} examples; expected an INDEX "
        f"from 0 to {seen - 1}"
    )


def _require_text(text: str) -> None:
    if not text.strip():
        raise RnnkitError("INPUT is empty: expected a non-empty text to explain")


# ----------------------------------------------------------------------------- adapters


def _text_classifier(run: Any, text: str) -> ModelInput:
    """Sentiment (any token-id SequenceClassifier): IG over token embeddings."""
    _require_text(text)
    model, task = run.model, run.task
    tokenizer = getattr(task, "tokenizer", None)
    if tokenizer is None:
        raise RnnkitError(
            f"run directory {run.run_dir}: this {run.config.task} run has no tokenizer "
            "(it was trained on token ids); explain needs a text tokenizer"
        )
    ids = tokenizer.encode([text])[0]
    tokens = tokenizer.tokens(text)[: len(ids)]
    device = _device(model)
    ids_t = torch.tensor([ids], dtype=torch.int64, device=device)  # (1, T)
    lengths = torch.tensor([len(ids)], dtype=torch.int64)  # (1,), on CPU
    num_classes = int(model.num_classes)
    with torch.no_grad():
        logits = model(ids_t, lengths)  # (1, K)
    probs = _probabilities(model, logits, num_classes)  # (C,)
    cls = int(probs.argmax())
    names = _label_names(task, num_classes)

    def fn(emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return class_scalar(model.forward_from_embeddings(emb, lengths), num_classes, cls)

    with torch.no_grad():
        x = model.embed(ids_t)  # (1, T, E)
        baseline = model.embed(torch.zeros_like(ids_t))  # pad id 0 everywhere
    return ModelInput(
        fn=fn,
        x=x,
        baseline=baseline,
        extra=(lengths,),
        run=lambda: model(ids_t, lengths),
        prediction=f"{names[cls]} (p = {float(probs[cls]):.3f})",
        target=f"the logit of the predicted class {names[cls]!r}",
        baseline_desc="[PAD] embeddings",
        step_kind="token",
        step_labels=tokens,
    )


def _series_input(run: Any, spec: str) -> tuple[torch.Tensor, torch.Tensor, Any, int]:
    """``(x (1, T, F), lengths (1,), batch, row)`` of the example named by ``spec``."""
    parsed = parse_example_spec(spec)
    if parsed is None:
        raise RnnkitError(
            f"INPUT {spec!r}: for a {run.config.task} run, expected test:INDEX, val:INDEX "
            "or train:INDEX (an example of that split)"
        )
    batch, row = _example(run.task, *parsed)
    length = int(batch.lengths[row])
    x = batch.inputs[row : row + 1, :length].to(_device(run.model)).float()  # (1, T, F)
    return x, torch.tensor([length], dtype=torch.int64), batch, row


def _series_classifier(run: Any, spec: str) -> ModelInput:
    """tsclass: IG over the (scaled) features of each time step, zero baseline."""
    model, task = run.model, run.task
    x, lengths, batch, row = _series_input(run, spec)
    # static features of this series (runs trained with data.static_*), held fixed
    extras = {k: v[row : row + 1].to(x.device) for k, v in batch.extras.items()}

    def classify(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n = inputs.shape[0]
        more = {k: v.expand(n, *v.shape[1:]) for k, v in extras.items()}
        return model(inputs, lengths, **more)  # (N, K)

    num_classes = int(model.num_classes)
    with torch.no_grad():
        logits = classify(x, lengths)  # (1, K)
    probs = _probabilities(model, logits, num_classes)
    cls = int(probs.argmax())
    names = _label_names(task, num_classes)
    truth = ""
    if batch.targets is not None:
        truth = f"; true label {names[int(batch.targets[row])]}"

    def fn(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return class_scalar(classify(inputs, lengths), num_classes, cls)

    T = x.shape[1]
    return ModelInput(
        fn=fn,
        x=x,
        baseline=torch.zeros_like(x),
        extra=(lengths,),
        run=lambda: classify(x, lengths),
        prediction=f"{names[cls]} (p = {float(probs[cls]):.3f}){truth}",
        target=f"the logit of the predicted class {names[cls]!r}",
        baseline_desc="zeros (the scaled series' mean level)",
        step_kind="time step",
        step_labels=[str(t) for t in range(T)],
        series=x[0].cpu(),
    )


def _forecaster(run: Any, spec: str) -> ModelInput:
    """forecast: IG of the first forecast value over the scaled context window."""
    model = run.model
    x, lengths, batch, row = _series_input(run, spec)
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
        y = model.forecast(x, **extras) if rollout else forecast(x)  # (1, H, C)
    horizon = y.shape[1]
    y_np = y.float().cpu().numpy()  # (1, H, C)
    truth = None if batch.targets is None else batch.targets[row : row + 1].float().cpu().numpy()
    units = "scaled"
    scaler = getattr(run.task, "scalers", {}).get("targets")
    if scaler is not None:  # back to the data's units, as the forecast command shows them
        y_np = scaler.inverse(y_np)
        truth = None if truth is None else scaler.inverse(truth)
        units = "data units"

    def show(a) -> str:
        more = ", ..." if horizon > 6 else ""
        return ", ".join(f"{float(v):.4g}" for v in a[0, :6, 0]) + more

    actual = "" if truth is None else f"; actual: {show(truth)}"
    T = x.shape[1]
    return ModelInput(
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


def _char_model(run: Any, text: str) -> ModelInput:
    """charlm: IG of the most likely next character's logit over character embeddings."""
    _require_text(text)
    model, task = run.model, run.task
    vocab = getattr(task, "vocab", None)
    if vocab is None:
        raise RnnkitError(f"run directory {run.run_dir}: the charlm run has no vocabulary")
    ids = vocab.encode(text[-MAX_NEURON_CHARS:])[-MAX_NEURON_CHARS:]  # (T,) int64
    labels = [vocab.decode([i]) for i in ids.tolist()]  # one symbol per step
    unknown = vocab.unknown(text)
    notes = (
        [f"characters outside the vocabulary, read as unknown: {''.join(unknown)!r}"]
        if unknown
        else []
    )
    text = "".join(labels) if all(len(c) == 1 for c in labels) else ""
    device = _device(model)
    ids_t = ids[None].to(device)  # (1, T)
    embedding = model.embedding

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

    return ModelInput(
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


ADAPTERS: dict[str, Callable[[Any, str], ModelInput]] = {
    "sentiment": _text_classifier,
    "tsclass": _series_classifier,
    "forecast": _forecaster,
    "charlm": _char_model,
}


# ----------------------------------------------------------------------------- figures


def _attribution_figures(mi: ModelInput, ig: Attribution, gxi: Attribution) -> list[ReportFigure]:
    ig_title = f"Integrated Gradients per {mi.step_kind} ({ig.n_steps} points)"
    if mi.series is not None:
        fig = figures.series_attribution_figure(mi.series, ig.scores, ig_title, mi.feature_names)
    else:
        fig = figures.attribution_figure(mi.step_labels, ig.scores, ig_title)
    gx_title = f"Gradient x input per {mi.step_kind}"
    gx_fig = figures.attribution_figure(mi.step_labels, gxi.scores, gx_title)
    return [
        ReportFigure(
            "attribution_ig",
            ig_title,
            figures.png_bytes(fig),
            "Red raises the explained output, blue lowers it.",
        ),
        ReportFigure(
            "attribution_gxi",
            gx_title,
            figures.png_bytes(gx_fig),
            "A one-backward-pass, first-order view; not complete, shown for comparison.",
        ),
    ]


def _state_figures(views: list[StateView], labels: list[str]) -> list[ReportFigure]:
    out = []
    for view in views:
        fig = figures.state_heatmaps_figure(view.states, labels, view.title)
        out.append(
            ReportFigure(
                name=f"states_{view.slug}",
                title=f"Hidden state and gates over time: {view.title}",
                png=figures.png_bytes(fig),
                caption="Units (rows) over time (columns). Gates squashed by a sigmoid "
                "(i, f, o, r, z) are drawn on [0, 1]; h and tanh gates on [-1, 1]; c is "
                "centred on 0. Wide layers show their 64 most variable units.",
            )
        )
    return out


def _neuron_rows(views: list[StateView], text: str, k: int) -> list[NeuronRow]:
    """The ``k`` most selective units of the last forward layer's hidden state."""
    forward = [v for v in views if v.direction == 0]
    if not forward or not text:
        return []
    view = forward[-1]
    h = view.states["h"]  # (T, H)
    picks = select_neurons(text, h, k=k)
    return [NeuronRow(p.unit, p.reason, h[:, p.unit].tolist(), layer=view.title) for p in picks]


def _neuron_figure(text: str, rows: list[NeuronRow]) -> ReportFigure:
    fig = figures.neuron_text_figure(
        text,
        torch.tensor([r.activations for r in rows]).T,  # (T, K)
        [r.unit for r in rows],
        [r.reason for r in rows],
    )
    return ReportFigure(
        "neurons",
        "Neurons and the characters they fire on",
        figures.png_bytes(fig),
        "Text coloured by each unit's activation (red +, blue -).",
    )


def _gradflow_figures(run_dir: Path) -> list[ReportFigure]:
    """Gradient-flow pictures saved in the run directory by the training diagnostics."""
    out = []
    for path in sorted(run_dir.rglob("gradflow*.png")):
        out.append(
            ReportFigure(
                name=f"gradflow_{path.stem}",
                title=f"Gradient flow during training ({path.relative_to(run_dir)})",
                png=path.read_bytes(),
                caption="Norm of dL/dh_t over time steps, recorded while training.",
            )
        )
    return out


# ----------------------------------------------------------------------------- explain


def explain(
    run: Any,
    input_spec: str,
    *,
    n_steps: int | None = None,
    rtol: float = DEFAULT_RTOL,
    neurons: int = 4,
) -> Explanation:
    """Explain ``input_spec`` for a loaded run (``rnnkit.load(run_dir)``).

    Args:
        run: has ``config`` (``.task``), ``task`` (restored), ``model`` and ``run_dir``.
        input_spec: the text (sentiment, charlm) or ``test:INDEX`` (time series).
        n_steps: IG integration steps; None chooses them to meet ``rtol``.
        rtol: the completeness tolerance.
        neurons: how many units the neuron view of a character model shows.

    Returns:
        The :class:`Explanation` (attributions, figures, neurons, notes).
    """
    task_name = run.config.task
    if task_name not in ADAPTERS:
        raise RnnkitError(
            f"run directory {run.run_dir} is a {task_name!r} run; explain supports the tasks "
            f"{', '.join(SUPPORTED_TASKS)}"
        )
    model = run.model
    model.eval()
    mi = ADAPTERS[task_name](run, input_spec)
    with gradients_in_eval(model):
        ig = integrated_gradients(
            mi.fn, mi.x, mi.baseline, extra=mi.extra, n_steps=n_steps, rtol=rtol
        )
        gxi = grad_x_input(mi.fn, mi.x, extra=mi.extra)
    notes: list[str] = list(mi.notes)
    figs = _attribution_figures(mi, ig, gxi)

    views = traced_states(model, mi.run, len(mi.step_labels))
    if not views:
        notes.append("the model has no rnnkit recurrent layer to trace (no state heatmaps)")
    figs += _state_figures(views, mi.step_labels)

    rows = _neuron_rows(views, mi.text, neurons) if mi.text else []
    if rows:
        figs.append(_neuron_figure(mi.text, rows))

    run_dir = Path(run.run_dir)
    grad = _gradflow_figures(run_dir)
    if not grad:
        notes.append(
            "no gradient-flow picture in the run directory (charlm, adding, copy and smnist "
            "runs trained with data.gradflow=true save one)"
        )
    figs += grad
    return Explanation(
        run_dir=str(run_dir),
        task=task_name,
        input_desc=input_spec,
        prediction=mi.prediction,
        target=mi.target,
        step_kind=mi.step_kind,
        step_labels=mi.step_labels,
        attributions=[ig, gxi],
        baseline=mi.baseline_desc,
        figures=figs,
        neuron_text=mi.text,
        neurons=rows,
        notes=notes,
        rtol=rtol,
    )


def explain_run(
    run_dir: str | Path, input_spec: str, *, data: str | None = None, **kwargs: Any
) -> Explanation:
    """Load ``run_dir`` with :func:`rnnkit.load` and :func:`explain` ``input_spec``.

    ``data`` (time-series runs): read the ``split:INDEX`` examples from this built-in name
    or file instead of the run's own data, with the run's saved preprocessing
    (``Task.set_data``, as ``rnnkit evaluate --data``).
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RnnkitError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise RnnkitError(f"RUN_DIR {run_dir} is a file; expected a run directory")
    from rnnkit.api import load

    run = load(run_dir)
    if data is not None:
        if run.config.task not in SERIES_TASKS:
            raise RnnkitError(
                f"--data applies to the test:INDEX inputs of {' and '.join(SERIES_TASKS)} "
                f"runs; {run_dir} is a {run.config.task!r} run (give the text as INPUT)"
            )
        run.task.set_data(data)
    return explain(run, input_spec, **kwargs)
