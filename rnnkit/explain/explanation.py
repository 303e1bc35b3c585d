"""What an explanation of one input holds, independent of how it is shown.

:mod:`rnnkit.explain.explainer` fills an :class:`Explanation` from a run directory and an
input; :mod:`rnnkit.explain.report` renders it as one self-contained HTML file, and
:func:`save_pngs` writes its figures as PNG files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from rnnkit.errors import RnnkitError
from rnnkit.explain.attributions import DEFAULT_RTOL, Attribution
from rnnkit.io import write_atomic


@dataclass
class ReportFigure:
    """One rendered figure: ``name`` is its file stem, ``png`` its bytes."""

    name: str  # e.g. "attribution_ig", "states_layer0_forward"
    title: str  # heading shown above it
    png: bytes  # the PNG encoding
    caption: str = ""  # one or two sentences on how to read it


@dataclass
class NeuronRow:
    """One chosen unit of a character model and its activation at each character."""

    unit: int
    reason: str  # why it was chosen, e.g. "corr +0.81 with inside quotes"
    activations: list[float]  # one per character of ``Explanation.neuron_text``
    layer: str = ""  # which layer / direction it belongs to


@dataclass
class Explanation:
    """Everything the report shows about one input to one trained run.

    Attributes:
        run_dir: the run directory explained.
        task: the run's task name (``sentiment``, ``tsclass``, ``forecast``, ``charlm``).
        input_desc: the input as the user gave it (text, or ``test:INDEX``, or a CSV path).
        prediction: one line: the model's prediction (label and probability, forecast ...).
        target: what scalar the attributions explain (e.g. "logit of 'fresh'").
        step_kind: what a step is: ``"token"``, ``"time step"`` or ``"character"``.
        step_labels: ``T`` labels, one per input step (the tokens, or step numbers).
        attributions: Integrated Gradients first, then gradient x input (may be empty).
        baseline: what the IG baseline was (e.g. "pad-token embeddings").
        figures: the figures, in report order.
        neuron_text / neurons: for character models, the text and the chosen units.
        notes: further one-line remarks shown at the end (e.g. a missing picture).
        rtol: the completeness tolerance the IG delta is judged by.
        truncated: what the model does not read of INPUT (``Task.input_cuts``, e.g. "412
            tokens; the model reads the first 200 (...)"), or ``""`` when it reads it all.
    """

    run_dir: str
    task: str
    input_desc: str
    prediction: str
    target: str
    step_kind: str
    step_labels: list[str]
    attributions: list[Attribution] = field(default_factory=list)
    baseline: str = ""
    figures: list[ReportFigure] = field(default_factory=list)
    neuron_text: str = ""
    neurons: list[NeuronRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rtol: float = DEFAULT_RTOL
    truncated: str = ""

    @property
    def integrated_gradients(self) -> Attribution | None:
        """The Integrated Gradients attribution, if computed."""
        return next((a for a in self.attributions if a.method == "integrated_gradients"), None)


def save_pngs(
    explanation: Explanation, png_dir: str | Path, *, overwrite: bool = False
) -> list[Path]:
    """Write every figure of ``explanation`` as ``png_dir/explain_<name>.png`` (atomically).

    Existing files are refused (naming them) unless ``overwrite``; nothing is written then.
    Returns the paths written.
    """
    png_dir = Path(png_dir)
    if png_dir.exists() and not png_dir.is_dir():
        raise RnnkitError(f"--png-dir {png_dir} exists and is not a directory")
    paths = [png_dir / f"explain_{fig.name}.png" for fig in explanation.figures]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise RnnkitError(
            f"--png-dir {png_dir}: {len(existing)} file(s) would be overwritten "
            f"({existing[0]}{', ...' if len(existing) > 1 else ''}); pass --overwrite or "
            "choose another directory"
        )
    for path, fig in zip(paths, explanation.figures):
        write_atomic(path, partial(_write_bytes, data=fig.png))
    return paths


def _write_bytes(tmp: Path, data: bytes) -> None:
    tmp.write_bytes(data)
