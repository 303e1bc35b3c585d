"""``rnnkit explain`` end to end on tiny real run directories, and its bad-input errors."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest

import rnnkit
from rnnkit.explain import render_html
from rnnkit.explain.browser import find_chromium, render_page
from rnnkit.explain.explainer import explain_run
from rnnkit.tools.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY_MODEL = {"hidden_size": 8, "num_layers": 1, "embedding_dim": 8}


@pytest.fixture(scope="module")
def tsclass_run(tmp_path_factory):
    """A tsclass run (SequenceClassifier, linear encoder) trained 1 epoch on a CSV."""
    root = tmp_path_factory.mktemp("tsclass")
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * math.pi, 16)
    lines = ["label," + ",".join(f"t{i}" for i in range(16))]
    for i in range(40):
        label = i % 2
        wave = np.sin(t * (1 + 2 * label)) + 0.1 * rng.standard_normal(16)
        lines.append(f"{'ab'[label]}," + ",".join(f"{v:.4f}" for v in wave))
    csv = root / "waves.csv"
    csv.write_text("\n".join(lines) + "\n")
    (root / "three.csv").write_text("\n".join(lines[:4]) + "\n")  # for --data
    out = root / "run"
    rnnkit.train(
        "tsclass",
        out=out,
        verbose=False,
        data={"source": str(csv)},
        model=TINY_MODEL,
        train={"epochs": 1, "batch_size": 8, "progress": False},
    )
    return out


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory):
    """A sentiment run (tokenizer, SequenceClassifier) trained 1 epoch on a tiny CSV."""
    root = tmp_path_factory.mktemp("sentiment")
    nouns = ["film", "story", "cast", "plot", "score", "ending"]
    good = [f"a {a} {n}" for a in ("great", "wonderful", "moving", "funny") for n in nouns]
    bad = [f"a {a} {n}" for a in ("dull", "boring", "weak", "lazy") for n in nouns]
    rows = ["text,label"] + [f"{t},pos" for t in good] + [f"{t},neg" for t in bad]
    csv = root / "reviews.csv"
    csv.write_text("\n".join(rows) + "\n")
    out = root / "run"
    rnnkit.train(
        "sentiment",
        out=out,
        verbose=False,
        data={"name": str(csv), "vocab_size": 40, "max_length": 20},
        model=TINY_MODEL,
        train={"epochs": 1, "batch_size": 8, "progress": False},
    )
    return out


@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    """A charlm run trained 1 epoch with the gradient-flow picture recorded."""
    root = tmp_path_factory.mktemp("charlm")
    corpus = root / "corpus.txt"
    corpus.write_text('To be, or not to be: "that" is the question.\n' * 30)
    out = root / "run"
    rnnkit.train(
        "charlm",
        out=out,
        verbose=False,
        data={"source": str(corpus), "bptt": 16},
        model=TINY_MODEL,
        train={"epochs": 1, "batch_size": 4, "progress": False, "gradflow": True},
    )
    return out


def test_explain_writes_the_report_and_pngs_for_a_tsclass_run(tsclass_run, tmp_path, capsys):
    out, png_dir = tmp_path / "why.html", tmp_path / "png"
    code = main(
        ["explain", str(tsclass_run), "test:0", "--out", str(out), "--png-dir", str(png_dir)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert re.search(r"prediction: (a|b) \(p = [01]\.\d{3}\); true label (a|b)", printed)
    delta = float(re.search(r"delta ([-+0-9.e]+)", printed).group(1))
    assert abs(delta) <= 0.01
    page = out.read_text(encoding="utf-8")
    assert "Completeness check" in page and "time step" in page
    pngs = sorted(p.name for p in png_dir.iterdir())
    assert "explain_attribution_ig.png" in pngs
    assert "explain_states_recurrent_layer0_forward.png" in pngs

    before = out.read_text(encoding="utf-8")
    assert main(["explain", str(tsclass_run), "test:1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists; pass --overwrite" in err
    assert out.read_text(encoding="utf-8") == before


def test_sentiment_report_renders_in_headless_chromium_without_console_errors(
    sentiment_run, tmp_path
):
    out = tmp_path / "report.html"
    assert (
        main(["explain", str(sentiment_run), "A great <i>film</i>, dull story", "--out", str(out)])
        == 0
    )
    page_html = out.read_text(encoding="utf-8")
    assert re.search(r"Prediction: <b>(pos|neg) \(p = [01]\.\d{3}\)</b>", page_html)
    assert "&lt;i&gt;film&lt;/i&gt;" in page_html and "<i>film</i>" not in page_html
    assert '<span class="step"' in page_html and ">great</span>" in page_html
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    page = render_page(out, width=1000, height=800, full_page=True)
    assert page.errors == [], page.errors
    assert page.broken_images == 0
    assert page.title.startswith("rnnkit explain: sentiment run")
    (tmp_path / "report.png").write_bytes(page.screenshot)
    assert page.screenshot.startswith(PNG_MAGIC)
    width, height = int.from_bytes(page.screenshot[16:20]), int.from_bytes(page.screenshot[20:24])
    assert width == 1000 and height > 800  # the whole page, taller than the viewport


def test_an_input_longer_than_the_model_reads_is_named_in_the_report_and_printed(
    sentiment_run, tmp_path, capsys
):
    out = tmp_path / "long.html"
    text = " ".join(["great film"] * 15)  # 30 words or more; the run reads 20 tokens
    assert main(["explain", str(sentiment_run), text, "--out", str(out)]) == 0
    cut = rnnkit.load(sentiment_run).task.input_cuts([text])[0]  # predict's own phrase
    assert re.fullmatch(
        r"\d+ tokens; the model reads the first 20 \(data.max_length=20, data.truncate=end\)", cut
    ), cut
    err = capsys.readouterr().err
    assert f"note: INPUT: {cut}; explained on that part" in err
    assert f"INPUT: {cut}; explained on that part" in out.read_text(encoding="utf-8")
    ex = explain_run(sentiment_run, "great film")
    assert ex.truncated == "" and not any(n.startswith("INPUT:") for n in ex.notes)


def test_explaining_a_charlm_run_picks_neurons_and_shows_the_gradient_flow(charlm_run):
    assert (charlm_run / "gradflow.png").is_file()
    text = 'To be, or "not" (to) be'
    ex = explain_run(charlm_run, text, neurons=3)
    assert ex.step_kind == "character"
    assert ex.step_labels == [c if c not in "()" else "\ufffd" for c in text]  # unknown: ( )
    assert "characters outside the vocabulary, read as unknown: '()'" in ex.notes
    assert ex.prediction.startswith("next character ")
    assert ex.attributions[0].relative_delta <= ex.rtol
    assert len(ex.neurons) == 3 and len({n.unit for n in ex.neurons}) == 3
    assert all(len(n.activations) == len(text) for n in ex.neurons)
    names = [f.name for f in ex.figures]
    assert "neurons" in names and "gradflow_gradflow" in names
    page = render_html(ex)
    assert "Neurons and the characters they fire on" in page
    assert "Gradient flow during training" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}", "test:0"], "run directory .* does not exist"),
        (["{file}", "test:0"], "is a file; expected a run directory"),
        (["{tsclass}", "test:3", "--data", "{three}"], "the test split has 3 examples"),
        (["{charlm}", "some text", "--data", "{three}"], "--data applies to the test:INDEX"),
        (["{tsclass}", "test:999"], r"the test split has \d+ examples; expected an INDEX"),
        (["{tsclass}", "a text"], "expected test:INDEX, val:INDEX or train:INDEX"),
        (["{tsclass}", "test:-1"], "non-negative integer INDEX"),
        (["{charlm}", "   "], "INPUT is empty"),
        (["{sentiment}", ""], "INPUT is empty"),
        (["{tsclass}", "test:0", "--steps", "0"], "--steps: expected a positive number"),
        (["{tsclass}", "test:0", "--out", "{tmp}"], "is a directory"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    args, message, tsclass_run, charlm_run, sentiment_run, tmp_path, capsys
):
    paths = {
        "missing": str(tmp_path / "no-such-run"),
        "tsclass": str(tsclass_run),
        "charlm": str(charlm_run),
        "sentiment": str(sentiment_run),
        "tmp": str(tmp_path),
        "file": str(tsclass_run / "config.yaml"),
        "three": str(tsclass_run.parent / "three.csv"),
    }
    argv = ["explain", *[a.format(**paths) for a in args]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and err.count("\n") == 0
    assert re.search(message, err), err


def test_a_run_of_an_unsupported_task_is_refused(tmp_path, capsys):
    run = tmp_path / "adding"
    rnnkit.train(
        "adding",
        out=run,
        verbose=False,
        data={"length": 6, "train_size": 8, "val_size": 4, "test_size": 4},
        model=TINY_MODEL,
        train={"epochs": 1, "batch_size": 4, "progress": False},
    )
    assert main(["explain", str(run), "test:0", "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    from rnnkit.tasks import tasks_with

    explaining = tasks_with("explain")  # whatever tasks declare the capability
    assert {"charlm", "forecast", "g2p", "sentiment", "translate", "tsclass"} <= set(explaining)
    assert f"is a 'adding' run; explain supports the tasks {', '.join(explaining)}" in err
    assert not (tmp_path / "r.html").exists()


def test_explaining_a_forecast_window_attributes_the_first_forecast(tmp_path):
    t = np.arange(60)
    values = 100 + 10 * np.sin(2 * math.pi * t / 12) + t
    rows = ["month,value"] + [f"{i},{v:.3f}" for i, v in zip(t, values)]
    csv = tmp_path / "series.csv"
    csv.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    rnnkit.train(
        "forecast",
        out=run,
        verbose=False,
        data={"source": str(csv), "context": 8, "horizon": 3, "seasonality": 12},
        model=TINY_MODEL,
        train={"epochs": 1, "batch_size": 8, "progress": False},
    )
    ex = explain_run(run, "test:2", n_steps=16)
    assert re.fullmatch(r"next 3 step\(s\) \(data units\): .+; actual: .+", ex.prediction)
    ig = ex.attributions[0]
    assert ig.n_steps == 16 and ig.scores.shape == (8,) and ex.step_kind == "time step"
    assert ig.relative_delta <= ex.rtol
    assert [f.name for f in ex.figures][:3] == [
        "attribution_ig",
        "attribution_gxi",
        "states_recurrent_layer0_forward",
    ]


def test_help_lists_the_input_of_every_task_that_explains(capsys):
    from rnnkit.tasks import get_task_class, tasks_with

    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    names = tasks_with("explain")
    assert {"sentiment", "tsclass"} <= set(names)
    for name in names:  # each task's own line, read from the task
        assert re.search(rf"^  {name} +{re.escape(get_task_class(name).explain_help)}$", out, re.M)
