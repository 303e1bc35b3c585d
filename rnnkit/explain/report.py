"""One self-contained HTML report of an :class:`~rnnkit.explain.explanation.Explanation`.

No network and no JavaScript: inline CSS, images embedded as base64 PNG, every string
from the data HTML-escaped. The steps of the input are coloured by their Integrated
Gradients attribution on a diverging scale (red pushes the explained output up, blue
down) with a legend; hovering a step shows its value.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from rnnkit import __version__
from rnnkit.errors import RnnkitError
from rnnkit.explain.attributions import Attribution
from rnnkit.explain.explanation import Explanation, NeuronRow
from rnnkit.io import write_text

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
.prediction { font-size: 1.2em; background: #f4f6f8; padding: 0.6em 0.9em; border-radius: 6px; }
.steps { line-height: 2.1; font-size: 1.02em; }
.step { padding: 0.15em 0.25em; border-radius: 3px; margin: 0 1px; white-space: pre; }
.chars { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.92em;
         line-height: 1.6; white-space: pre-wrap; word-break: break-all; }
.chars span { padding: 0.1em 0; }
.legend { display: flex; align-items: center; gap: 0.5em; font-size: 0.85em; color: #444;
          margin: 0.6em 0; }
.legend .bar { width: 240px; height: 12px; border: 1px solid #bbb;
               background: linear-gradient(to right, rgb(46,109,164), #fff, rgb(192,57,43)); }
table { border-collapse: collapse; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th { background: #f4f6f8; } td:first-child, th:first-child { text-align: left; }
.ok { color: #1e7b34; font-weight: 600; } .bad { color: #b03a2e; font-weight: 600; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.88em; }
.notes li { color: #555; }
"""

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


def _legend(bound: float, what: str) -> str:
    return (
        f'<div class="legend"><span>{_fmt(-bound, 3)}</span><span class="bar"></span>'
        f"<span>+{_fmt(bound, 3)}</span><span>{html.escape(what)}</span></div>"
    )


def _steps_html(labels: list[str], scores: list[float], kind: str) -> str:
    bound = max((abs(s) for s in scores if math.isfinite(s)), default=0.0)
    spans = []
    for i, (label, score) in enumerate(zip(labels, scores)):
        style = f"background:{_colour(score, bound)};color:{_text_colour(score, bound)}"
        tip = html.escape(f"{kind} {i}: {label!r} attribution {score:+.4g}", quote=True)
        css = "" if kind == "character" else ' class="step"'
        spans.append(f'<span{css} style="{style}" title="{tip}">{html.escape(label)}</span>')
    what = "attribution (red raises the explained output, blue lowers it)"
    if kind == "character":  # characters read as text: contiguous, spaces kept
        return _legend(bound, what) + '<div class="chars">' + "".join(spans) + "</div>"
    return _legend(bound, what) + '<div class="steps">' + " ".join(spans) + "</div>"


def _completeness_html(ig: Attribution, rtol: float, baseline: str) -> str:
    rel = ig.relative_delta or 0.0
    verdict = (
        f'<span class="ok">within tolerance ({rtol:g})</span>'
        if rel <= rtol
        else f'<span class="bad">outside tolerance ({rtol:g})</span>'
    )
    rows = [
        ("f(input)", _fmt(ig.output, 6)),
        (f"f(baseline: {baseline})" if baseline else "f(baseline)", _fmt(ig.baseline_output, 6)),
        ("f(input) − f(baseline)", _fmt(ig.output - ig.baseline_output, 6)),
        ("sum of attributions", _fmt(ig.total, 6)),
        ("delta = sum − difference", _fmt(ig.delta, 3)),
        ("|delta| / max(|difference|, 1)", f"{_fmt(rel, 3)} {verdict}"),
        (
            "integration points",
            f"{ig.n_steps}"
            + (f" over {ig.segments} stretches of the path" if ig.segments > 1 else ""),
        ),
    ]
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _neurons_html(text: str, rows: list[NeuronRow]) -> str:
    parts = []
    for row in rows:
        bound = max((abs(a) for a in row.activations), default=0.0)
        spans = []
        for ch, a in zip(text, row.activations):
            style = f"background:{_colour(a, bound)};color:{_text_colour(a, bound)}"
            tip = html.escape(f"{ch!r}: {a:+.3f}", quote=True)
            spans.append(f'<span style="{style}" title="{tip}">{html.escape(ch)}</span>')
        where = f" ({html.escape(row.layer)})" if row.layer else ""
        parts.append(
            f"<h3>unit {row.unit}{where}: {html.escape(row.reason)}</h3>"
            + _legend(bound, "activation")
            + f'<div class="chars">{"".join(spans)}</div>'
        )
    return "".join(parts)


def render_html(ex: Explanation) -> str:
    """The report as one HTML string (self-contained: no external resources)."""
    title = f"rnnkit explain: {ex.task} run {Path(ex.run_dir).name}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">run directory <code>{html.escape(ex.run_dir)}</code> · input '
        f"<code>{html.escape(ex.input_desc)}</code> · rnnkit {__version__}</p>",
        f'<p class="prediction">Prediction: <b>{html.escape(ex.prediction)}</b></p>',
    ]
    ig = ex.integrated_gradients
    if ig is not None:
        out += [
            f"<h2>Which {html.escape(ex.step_kind)}s drove it (Integrated Gradients)</h2>",
            f"<p>Explained output: {html.escape(ex.target)}. Each {html.escape(ex.step_kind)}"
            " is coloured by its share of the change of that output from the baseline "
            "to this input.</p>",
            _steps_html(ex.step_labels, ig.scores.tolist(), ex.step_kind),
            "<h2>Completeness check</h2>",
            "<p>Integrated Gradients is complete: the attributions sum to the change of the "
            "explained output between the baseline and the input, up to the error of the "
            "numerical integral (delta).</p>",
            _completeness_html(ig, ex.rtol, ex.baseline),
        ]
    if ex.neurons:
        out += [
            "<h2>Neurons and the characters they fire on</h2>",
            "<p>The most selective hidden units (by correlation with a character class, "
            "else by variance), with the text coloured by each unit's activation after "
            "reading each character.</p>",
            _neurons_html(ex.neuron_text, ex.neurons),
        ]
    if ex.figures:
        out.append("<h2>Figures</h2>")
        for fig in ex.figures:
            data = base64.b64encode(fig.png).decode("ascii")
            alt = html.escape(fig.title, quote=True)
            out.append(
                f"<figure><h3>{html.escape(fig.title)}</h3>"
                f'<img alt="{alt}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
            )
    if ex.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in ex.notes)
        out.append(f'<h2>Notes</h2><ul class="notes">{items}</ul>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


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
