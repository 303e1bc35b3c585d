"""One self-contained HTML report of an :class:`~rnnkit.explain.explanation.Explanation`.

The page is the Jinja2 template ``templates/report.html.j2`` (with ``templates/report.css``
inlined); this module prepares what it shows: colours, hover texts, the completeness table.

No network and no JavaScript: inline CSS, images embedded as base64 PNG, every string
from the data HTML-escaped. The steps of the input are coloured by their Integrated
Gradients attribution on a diverging scale (red pushes the explained output up, blue
down) with a legend; hovering a step shows its value.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jinja2

from rnnkit import __version__
from rnnkit.errors import RnnkitError
from rnnkit.explain.attributions import Attribution
from rnnkit.explain.explanation import Explanation, NeuronRow
from rnnkit.io import write_text

POSITIVE = (192, 57, 43)  # red: pushes the explained output up
NEGATIVE = (46, 109, 164)  # blue: pushes it down


def _colour(value: float, bound: float) -> str:
    """Background colour of a step: white at 0, full red/blue at +/-bound."""
    if bound <= 0 or not math.isfinite(value):
        return "rgb(255,255,255)"
    t = min(abs(value) / bound, 1.0)
    r, g, b = POSITIVE if value >= 0 else NEGATIVE
    mix = [round(255 + (c - 255) * t) for c in (r, g, b)]
    return f"rgb({mix[0]},{mix[1]},{mix[2]})"


def _text_colour(value: float, bound: float) -> str:
    return "#fff" if bound > 0 and abs(value) / bound > 0.6 else "#111"


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def _legend(bound: float, what: str) -> dict[str, str]:
    return {"low": _fmt(-bound, 3), "high": _fmt(bound, 3), "what": what}


def _spans(labels: Iterable[str], values: list[float], tip: Callable[[int, str, float], str]):  # noqa: ANN202
    """The coloured steps: label, inline style and hover text of each, plus the scale."""
    bound = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    items = [
        {
            "label": label,
            "style": f"background:{_colour(v, bound)};color:{_text_colour(v, bound)}",
            "tip": tip(i, label, v),
        }
        for i, (label, v) in enumerate(zip(labels, values))
    ]
    return items, bound


def _ig_view(ex: Explanation, ig: Attribution) -> dict[str, Any]:
    """What the Integrated Gradients and completeness sections show."""
    kind = ex.step_kind
    spans, bound = _spans(
        ex.step_labels,
        ig.scores.tolist(),
        lambda i, label, v: f"{kind} {i}: {label!r} attribution {v:+.4g}",
    )
    rel = ig.relative_delta or 0.0
    points = f"{ig.n_steps}" + (
        f" over {ig.segments} stretches of the path" if ig.segments > 1 else ""
    )
    return {
        "step_kind": kind,
        "target": ex.target,
        "chars": kind == "character",  # characters read as text: contiguous, spaces kept
        "spans": spans,
        "legend": _legend(bound, "attribution (red raises the explained output, blue lowers it)"),
        "rows": [
            ("f(input)", _fmt(ig.output, 6)),
            (
                f"f(baseline: {ex.baseline})" if ex.baseline else "f(baseline)",
                _fmt(ig.baseline_output, 6),
            ),
            ("f(input) − f(baseline)", _fmt(ig.output - ig.baseline_output, 6)),
            ("sum of attributions", _fmt(ig.total, 6)),
            ("delta = sum − difference", _fmt(ig.delta, 3)),
        ],
        "relative": _fmt(rel, 3),
        "within": rel <= ex.rtol,
        "rtol": f"{ex.rtol:g}",
        "points": points,
    }


def _neuron_view(text: str, row: NeuronRow) -> dict[str, Any]:
    spans, bound = _spans(text, row.activations, lambda i, ch, v: f"{ch!r}: {v:+.3f}")
    return {
        "unit": row.unit,
        "layer": row.layer,
        "reason": row.reason,
        "legend": _legend(bound, "activation"),
        "spans": spans,
    }


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rnnkit.explain", "templates"),
        autoescape=True,  # every string from the data is HTML-escaped
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_html(ex: Explanation) -> str:
    """The report as one HTML string (self-contained: no external resources), from the
    template ``rnnkit/explain/templates/report.html.j2`` and its ``report.css``."""
    env = _environment()
    ig = ex.integrated_gradients
    page = env.get_template("report.html.j2").render(
        css=env.loader.get_source(env, "report.css")[0],  # type: ignore[union-attr]
        title=f"rnnkit explain: {ex.task} run {Path(ex.run_dir).name}",
        run_dir=ex.run_dir,
        input_desc=ex.input_desc,
        version=__version__,
        prediction=ex.prediction,
        ig=None if ig is None else _ig_view(ex, ig),
        neurons=[_neuron_view(ex.neuron_text, row) for row in ex.neurons],
        figures=[
            {
                "title": f.title,
                "caption": f.caption,
                "data": base64.b64encode(f.png).decode("ascii"),
            }
            for f in ex.figures
        ],
        notes=ex.notes,
    )
    return page.rstrip("\n") + "\n"


def write_report(ex: Explanation, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the HTML report of ``ex`` to ``path`` atomically.

    An existing file is refused (nothing is lost) unless ``overwrite``.
    """
    path = Path(path)
    if path.is_dir():
        raise RnnkitError(f"--out {path} is a directory; expected a file name like report.html")
    if path.exists() and not overwrite:
        raise RnnkitError(
            f"report {path} already exists; pass --overwrite to replace it or choose another --out"
        )
    write_text(path, render_html(ex))
    return path
