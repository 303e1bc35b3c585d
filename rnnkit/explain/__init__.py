"""Interpretability: attributions, gate and state inspection, neuron firing, HTML reports.

``rnnkit explain RUN_DIR INPUT`` is the command, :func:`explain_run` the same from Python;
the pieces are usable on their own:

- :func:`integrated_gradients` and :func:`grad_x_input` attribute one scalar of a model to
  the steps of its input (Captum), with the completeness gap of IG reported;
- :func:`select_neurons` finds the units of a character model that track something nameable;
- :mod:`rnnkit.explain.figures` draws attributions, state/gate heatmaps and neuron firing;
- :func:`render_html` / :func:`write_report` make one self-contained HTML report.
"""

from __future__ import annotations

from rnnkit.explain.attributions import Attribution, grad_x_input, integrated_gradients
from rnnkit.explain.explainer import explain, explain_run
from rnnkit.explain.explanation import Explanation, NeuronRow, ReportFigure, save_pngs
from rnnkit.explain.neurons import NeuronPick, feature_correlations, select_neurons
from rnnkit.explain.report import render_html, write_report

__all__ = [
    "Attribution",
    "Explanation",
    "NeuronPick",
    "NeuronRow",
    "ReportFigure",
    "explain",
    "explain_run",
    "feature_correlations",
    "grad_x_input",
    "integrated_gradients",
    "render_html",
    "save_pngs",
    "select_neurons",
    "write_report",
]
