"""Explanations, their figures and the HTML report, rendered in headless Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rnnkit.config import ModelConfig, RunConfig, TrainConfig
from rnnkit.data.tokenize import TextTokenizer
from rnnkit.errors import RnnkitError
from rnnkit.explain import render_html, save_pngs, write_report
from rnnkit.explain.browser import find_chromium, render_page
from rnnkit.explain.explainer import explain
from rnnkit.models.classifier import SequenceClassifier

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXTS = ["a gripping thriller", "dull and boring film", "great acting, great story", "bad movie"]


def _sentiment_run(run_dir: Path, **model) -> SimpleNamespace:
    """An in-memory run: a real tokenizer and SequenceClassifier (untrained)."""
    torch.manual_seed(0)
    tok = TextTokenizer.train(TEXTS, vocab_size=50, max_length=20)
    cfg = ModelConfig(**{"hidden_size": 8, "num_layers": 1, "embedding_dim": 8, **model})
    clf = SequenceClassifier.from_config(cfg, num_classes=2, vocab_size=tok.vocab_size).eval()
    task = SimpleNamespace(tokenizer=tok, label_names=["rotten", "fresh"])
    return SimpleNamespace(
        model=clf, task=task, config=SimpleNamespace(task="sentiment"), run_dir=str(run_dir)
    )


@pytest.fixture(scope="module")
def sentiment_explanation(tmp_path_factory):
    run = _sentiment_run(tmp_path_factory.mktemp("run"))
    return explain(run, "a gripping <b>but</b> boring thriller")


def test_explanation_holds_prediction_attributions_and_trace_figures(sentiment_explanation):
    ex = sentiment_explanation
    assert re.fullmatch(r"(rotten|fresh) \(p = 0\.\d{3}\)", ex.prediction)
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


def test_trace_figures_cover_every_layer_and_direction(tmp_path):
    run = _sentiment_run(tmp_path, cell="gru", num_layers=2, bidirectional=True)
    ex = explain(run, "great acting", n_steps=8)
    assert ex.attributions[0].n_steps == 8
    states = sorted(f.name for f in ex.figures if f.name.startswith("states_"))
    assert states == [
        f"states_recurrent_layer{layer}_{d}" for layer in (0, 1) for d in ("forward", "reverse")
    ]


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


def test_report_renders_in_headless_chromium_without_console_errors(
    sentiment_explanation, tmp_path
):
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    out = write_report(sentiment_explanation, tmp_path / "report.html")
    page = render_page(out, width=1000, height=800, full_page=True)
    assert page.errors == [], page.errors
    assert page.broken_images == 0
    assert page.title.startswith("rnnkit explain: sentiment run")
    shot = tmp_path / "report.png"
    shot.write_bytes(page.screenshot)
    assert page.screenshot.startswith(PNG_MAGIC)
    width, height = int.from_bytes(page.screenshot[16:20]), int.from_bytes(page.screenshot[20:24])
    assert width == 1000 and height > 800  # the whole page, taller than the viewport


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


def test_char_model_explanation_picks_neurons_over_the_text(tmp_path):
    from rnnkit.tasks.charlm import CharLMTask

    torch.manual_seed(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text('To be, or not to be: "that" is (the) question.\n' * 12)
    cfg = RunConfig(
        task="charlm",
        data=CharLMTask.DataConfig(source=str(corpus), bptt=16),
        model=ModelConfig(hidden_size=12, num_layers=1, embedding_dim=8),
        train=TrainConfig(batch_size=4),
    )
    task = CharLMTask(cfg)
    task.prepare(tmp_path)
    run = SimpleNamespace(model=task.build_model().eval(), task=task, config=cfg, run_dir=tmp_path)
    text = 'To be, or "not" (to) be'
    ex = explain(run, text, neurons=3)
    assert ex.step_kind == "character" and ex.step_labels == list(text)
    assert ex.prediction.startswith("next character ")
    assert ex.attributions[0].relative_delta <= ex.rtol
    assert len(ex.neurons) == 3 and len({n.unit for n in ex.neurons}) == 3
    assert all(len(n.activations) == len(text) for n in ex.neurons)
    assert "neurons" in [f.name for f in ex.figures]
    assert "unit " in render_html(ex)
