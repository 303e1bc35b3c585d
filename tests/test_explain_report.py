"""Explanations, their figures and the HTML report, rendered in headless Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rnnkit.data.tokenize import TextTokenizer
from rnnkit.errors import RnnkitError
from rnnkit.explain import render_html, save_pngs, write_report
from rnnkit.explain.browser import find_chromium, render_page
from rnnkit.explain.explainer import explain
from rnnkit.explain.figures import png_bytes, state_heatmaps_figure
from rnnkit.explain.states import traced_states
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.resolve import default_config
from rnnkit.tasks.sentiment import SentimentTask

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXTS = ["a gripping thriller", "dull and boring film", "great acting, great story", "bad movie"]


def _sentiment_run(run_dir: Path, **model) -> SimpleNamespace:
    """An in-memory run: a real tokenizer and SequenceClassifier (untrained)."""
    torch.manual_seed(0)
    tok = TextTokenizer.train(TEXTS, vocab_size=50, max_length=20)
    cfg = ClassifierConfig(**{"hidden_size": 8, "num_layers": 1, "embedding_dim": 8, **model})
    clf = SequenceClassifier.from_config(cfg, num_classes=2, vocab_size=tok.vocab_size).eval()
    task = SentimentTask(default_config("sentiment"))
    task.tokenizer, task.label_names = tok, ["rotten", "fresh"]
    return SimpleNamespace(
        model=clf, task=task, config=SimpleNamespace(task="sentiment"), run_dir=str(run_dir)
    )


@pytest.fixture(scope="module")
def sentiment_explanation(tmp_path_factory):
    run = _sentiment_run(tmp_path_factory.mktemp("run"))
    return explain(run, "a gripping <b>but</b> boring thriller")


def test_explanation_holds_prediction_attributions_and_trace_figures(sentiment_explanation):
    ex = sentiment_explanation
    assert re.fullmatch(r"(rotten|fresh) \(p = [01]\.\d{3}\)", ex.prediction)
    assert ex.step_kind == "token" and ex.step_labels[:2] == ["a", "gripping"]
    assert "[UNK]" in ex.step_labels  # words unseen in training
    ig, gxi = ex.attributions
    assert ig.method == "integrated_gradients" and gxi.method == "grad_x_input"
    assert ig.scores.shape == (len(ex.step_labels),) == gxi.scores.shape
    assert ig.relative_delta <= ex.rtol
    names = [f.name for f in ex.figures]
    assert names[:2] == ["attribution_ig", "attribution_gxi"]
    assert "states_recurrent_layer0_forward" in names
    assert all(f.png.startswith(PNG_MAGIC) for f in ex.figures)


def test_traced_states_cover_every_layer_and_direction_cut_to_length(tmp_path):
    run = _sentiment_run(tmp_path, cell="gru", num_layers=2, bidirectional=True)
    model = run.model
    ids = torch.tensor([[5, 6, 7, 0, 0]])  # 3 real tokens, 2 padding
    lengths = torch.tensor([3])
    views = traced_states(model, lambda: model(ids, lengths), length=3)
    assert [v.slug for v in views] == [
        f"recurrent_layer{layer}_{d}" for layer in (0, 1) for d in ("forward", "reverse")
    ]
    for v in views:
        assert sorted(v.states) == ["h", "n", "r", "z"]
        assert all(t.shape == (3, 8) for t in v.states.values())
    with torch.no_grad():  # the traced h of the last layer is the stack's output
        out, _ = model.recurrent(model.embed(ids), lengths=lengths)  # (1, T, 2H)
    torch.testing.assert_close(views[2].states["h"], out[0, :3, :8])
    torch.testing.assert_close(views[3].states["h"], out[0, :3, 8:])
    fig = state_heatmaps_figure(views[3].states, ["a", "b", "c"], views[3].title)
    assert png_bytes(fig).startswith(PNG_MAGIC)


def test_report_is_self_contained_and_escapes_the_input(sentiment_explanation):
    page = render_html(sentiment_explanation)
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert len(srcs) == len(sentiment_explanation.figures)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "&lt;b&gt;but&lt;/b&gt;" in page and "<b>but</b>" not in page
    assert "within tolerance" in page and "Completeness check" in page


def test_existing_report_and_pngs_are_not_overwritten(sentiment_explanation, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("keep me")
    with pytest.raises(RnnkitError, match="already exists; pass --overwrite"):
        write_report(sentiment_explanation, out)
    assert out.read_text() == "keep me"
    write_report(sentiment_explanation, out, overwrite=True)
    assert out.read_text().startswith("<!DOCTYPE html>")

    paths = save_pngs(sentiment_explanation, tmp_path / "png")
    assert [p.name for p in paths][:2] == [
        "explain_attribution_ig.png",
        "explain_attribution_gxi.png",
    ]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    paths[0].write_bytes(b"mine")
    with pytest.raises(RnnkitError, match="would be overwritten"):
        save_pngs(sentiment_explanation, tmp_path / "png")
    assert paths[0].read_bytes() == b"mine"


def test_the_page_checker_sees_console_errors_and_broken_images(tmp_path):
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
        '<script>console.error("boom")</script></body></html>'
    )
    page = render_page(bad, width=400, height=300)
    assert "boom" in page.errors
    assert page.broken_images == 1
