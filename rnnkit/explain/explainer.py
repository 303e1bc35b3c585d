"""Explain one input to a trained run: attributions, traced states, neurons, figures.

:func:`explain_run` loads a run directory and returns an
:class:`~rnnkit.explain.explanation.Explanation`; :func:`explain` does the same for a
run already loaded (``rnnkit.load(run_dir)``). The task turns the user's INPUT into the
model's input and names the scalar to explain (``Task.explain_input``, capability
``explain``; the shared builders are in :mod:`rnnkit.tasks.explaining`): a text for
sentiment and charlm, ``test:INDEX`` for tsclass and forecast. This module computes the
attributions, traces the states and draws; it never knows a task by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnkit.errors import RnnkitError
from rnnkit.explain import figures
from rnnkit.explain.attributions import (
    DEFAULT_RTOL,
    Attribution,
    grad_x_input,
    gradients_in_eval,
    integrated_gradients,
)
from rnnkit.explain.explanation import Explanation, NeuronRow, ReportFigure
from rnnkit.explain.neurons import select_neurons
from rnnkit.explain.states import StateView, traced_states
from rnnkit.tasks.explaining import (  # noqa: F401 (class_scalar, parse_example_spec re-exported)
    MAX_TEXT_CHARS,
    ExplainInput,
    class_scalar,
    parse_example_spec,
)

SPLITS = ("train", "val", "test")
MAX_NEURON_CHARS = MAX_TEXT_CHARS  # the neuron view reads at most this many characters
ModelInput = ExplainInput  # the name this module used before the tasks owned the adapters


# ----------------------------------------------------------------------------- figures


def _attribution_figures(mi: ExplainInput, ig: Attribution, gxi: Attribution) -> list[ReportFigure]:
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


def _require_explain(task: Any, run_dir: str | Path) -> None:
    """Refuse a run whose task cannot explain, naming the tasks that can."""
    if not task.supports("explain"):
        from rnnkit.tasks import tasks_with

        raise RnnkitError(
            f"run directory {run_dir} is a {task.name!r} run; explain supports the tasks "
            f"{', '.join(tasks_with('explain'))}"
        )


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
    _require_explain(run.task, run.run_dir)
    model = run.model
    model.eval()
    mi = run.task.explain_input(model, input_spec)
    with gradients_in_eval(model):
        ig = integrated_gradients(
            mi.fn, mi.x, mi.baseline, extra=mi.extra, n_steps=n_steps, rtol=rtol
        )
        gxi = grad_x_input(mi.fn, mi.x, extra=mi.extra)
    notes: list[str] = list(mi.notes)
    # an INPUT longer than the model reads is explained on the part it reads, as predict says
    cut = "" if run.task.explain_reads_splits else run.task.input_cuts([input_spec])[0]
    if cut:
        notes.insert(0, f"INPUT: {cut}; explained on that part")
    figs = _attribution_figures(mi, ig, gxi)
    if mi.attention is not None:  # an encoder-decoder: its attention matrix
        a = mi.attention
        fig = figures.attention_figure(a["source"], a["output"], a["weights"], a["title"])
        figs.append(
            ReportFigure(
                "attention",
                "Attention over the source for each output token",
                figures.png_bytes(fig),
                "Row t: the weights the decoder gave the source tokens when it output "
                "token t (each row sums to 1; darker = more weight).",
            )
        )

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
            "runs trained with train.gradflow=true save one)"
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
        truncated=cut,
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
    _require_explain(run.task, run_dir)
    if data is not None:
        if not run.task.explain_reads_splits:
            from rnnkit.tasks import get_task_class, tasks_with

            reads = [t for t in tasks_with("explain") if get_task_class(t).explain_reads_splits]
            raise RnnkitError(
                f"--data applies to the test:INDEX inputs of {' and '.join(reads)} "
                f"runs; {run_dir} is a {run.config.task!r} run (give the text as INPUT)"
            )
        run.task.set_data(data)
    return explain(run, input_spec, **kwargs)
