"""``rnnkit train translate`` end to end on tiny files the tests write; the split by source
sentence; the word-by-word baseline; users' pair files; bad input."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import torch

from rnnkit.baselines.translation import WordByWord, detokenize, words
from rnnkit.data.pairs import normalise_key
from rnnkit.tasks.resolve import resolve_config
from rnnkit.tasks.translate import TranslateTask
from rnnkit.tools.cli import main

pytestmark = pytest.mark.one_thread  # tests/conftest.py

TINY = ["--set", "model.hidden_size=16", "model.embedding_dim=8", "train.batch_size=16"]
TINY += ["train.progress=false", "train.tensorboard=false", "data.beam_size=2"]
TINY += ["data.vocab_size=80", "data.max_length=20"]
SPLIT = ["data.val_fraction=0.15", "data.test_fraction=0.15"]

SUBJECTS = [("Der Hund", "The dog"), ("Die Katze", "The cat"), ("Mein Vater", "My father")]
SUBJECTS += [("Das Kind", "The child")]
VERBS = [("sieht", "sees"), ("liebt", "loves"), ("sucht", "is looking for")]
OBJECTS = [("den Ball", "the ball"), ("das Haus", "the house"), ("den Garten", "the garden")]
OBJECTS += [("die Stadt", "the city")]


def sentences() -> list[tuple[str, str]]:
    """48 made-up sentence pairs, "Der Hund sieht den Ball." -> "The dog sees the ball."."""
    return [
        (f"{sd} {vd} {od}.", f"{se} {ve} {oe}.")
        for (sd, se), (vd, ve), (od, oe) in itertools.product(SUBJECTS, VERBS, OBJECTS)
    ]


def ding_file(path: Path) -> Path:
    """A file in the Ding layout: each sentence as the second sub-entry of a line, with the
    layout's tricky cases around it (notes, synonyms, comments, misaligned lines)."""
    lines = ["# Version :: test", "# a comment :: not a pair", ""]
    for k, (de, en) in enumerate(sentences()):
        head = ("Wort {n} [ling.]", "word") if k % 2 else ("Satz {m}; Spruch {m}", "sentence")
        lines.append(f"{head[0]} | {de} :: {head[1]} | {en}")
    lines += [
        "ungleich | Das hat zwei Teile. :: unequal",  # misaligned: skipped
        "Er kommt heute (nicht). :: He is (not) coming today.",  # optional words kept
        "Sie lacht / weint laut. :: She laughs / cries loudly.",  # alternatives: dropped
        "kein Trenner hier",  # no ' :: ': skipped
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def translate_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("translate")
    source = ding_file(tmp / "de-en")
    out = tmp / "run"
    args = ["train", "translate", "--data", str(source), "--out", str(out), "--epochs", "2"]
    assert main([*args, *TINY, *SPLIT, "data.format=ding"]) == 0
    return out


def task_for(*overrides: str) -> TranslateTask:
    return TranslateTask(resolve_config("translate", overrides=list(overrides)))


def test_report_has_bleu_chrf_baselines_anchor_and_signatures(translate_run: Path) -> None:
    report = json.loads((translate_run / "report.json").read_text())
    assert report["task"] == "translate"
    assert set(report["test"]) == {"loss", "bleu", "chrf"}
    assert 0.0 <= report["test"]["bleu"] <= 100.0 and 0.0 <= report["test"]["chrf"] <= 100.0
    assert set(report["baselines"]) == {"copy_source", "word_by_word"}
    # word-for-word is nearly right on these sentences; copying German is not
    base = report["baselines"]
    assert base["word_by_word"]["chrf"] > base["copy_source"]["chrf"] + 20
    assert report["anchor"]["bleu_signature"].startswith("nrefs:1|case:mixed")
    assert "tok:13a" in report["anchor"]["bleu_signature"]
    assert report["anchor"]["chrf_signature"].startswith("nrefs:1|")
    assert report["monitor"]["metric"] == "bleu" and report["monitor"]["mode"] == "max"
    # 48 template sentences + the one with optional words; misaligned / "a / b" skipped
    info = json.loads((translate_run / "pairs.json").read_text())
    assert sum(info["sizes"].values()) == 49
    assert "all 49 pairs" in report["data"] and "split by source sentence" in report["data"]
    vocab = json.loads((translate_run / "target_vocab.json").read_text())
    assert vocab["model"]["type"] == "BPE"  # a Hugging Face tokenizer.json


def test_predict_prints_a_translation(translate_run: Path, capsys) -> None:
    assert main(["predict", str(translate_run), "Der Hund sieht die Stadt."]) == 0
    line = capsys.readouterr().out.strip()
    assert line and "\n" not in line
    assert main(["predict", str(translate_run), "Der Hund sieht die Stadt.", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["input"] == "Der Hund sieht die Stadt."
    assert isinstance(row["output"], str) and isinstance(row["score"], float)
    attention = torch.tensor(row["attention"])  # (output tokens + EOS, source tokens)
    assert torch.allclose(attention.sum(-1), torch.ones(len(attention)), atol=1e-3)


def test_translate_command_prints_the_predict_translation(translate_run: Path, capsys) -> None:
    text = "Der Hund sieht die Stadt."
    assert main(["predict", str(translate_run), text]) == 0
    predicted = capsys.readouterr().out
    assert main(["translate", str(translate_run), text]) == 0
    assert capsys.readouterr().out == predicted  # the run's own beam: the same line
    assert main(["translate", str(translate_run), text, "--beam-size", "1", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    # greedy: the score is the plain log-probability of the output + EOS (no length penalty)
    assert row["input"] == text and isinstance(row["output"], str) and row["score"] <= 0.0
    assert main(["translate", str(translate_run), text, "--beam-size", "0"]) == 2
    assert "beam size: expected an integer >= 1, got 0" in capsys.readouterr().err


def test_explain_shows_attributions_and_the_attention_matrix(
    translate_run: Path, tmp_path: Path
) -> None:
    from rnnkit.explain.explainer import explain_run

    explanation = explain_run(translate_run, "Der Hund sieht die Stadt.", n_steps=8)
    names = [f.name for f in explanation.figures]
    assert names[:3] == ["attribution_ig", "attribution_gxi", "attention"]
    assert any(n.startswith("states_encoder") for n in names)  # the encoder's states traced
    ig = explanation.integrated_gradients
    assert ig is not None and len(ig.scores) == len(explanation.step_labels)
    assert "".join(explanation.step_labels).replace("▁", " ").strip() == (
        "Der Hund sieht die Stadt."
    )
    # completeness: the attributions add up to log p(output | x) - log p(output | zeros)
    assert abs(ig.delta) <= 0.05 * abs(ig.output - ig.baseline_output) + 1e-3
    out = tmp_path / "why.html"
    assert main(["explain", str(translate_run), "Der Hund sieht die Stadt.", "--out", str(out),
                 "--steps", "8"]) == 0  # fmt: skip
    assert "Attention over the source" in out.read_text(encoding="utf-8")


def test_evaluate_on_another_pair_file(translate_run: Path, tmp_path: Path, capsys) -> None:
    tsv = tmp_path / "more.tsv"
    tsv.write_text("Der Hund sieht das Haus.\tThe dog sees the house.\n", encoding="utf-8")
    assert main(["evaluate", str(translate_run), "--data", str(tsv)]) == 0
    assert "bleu" in capsys.readouterr().out


def test_split_is_by_source_sentence(tmp_path: Path) -> None:
    pairs = sentences()
    rows = [f"{de}\t{en}" for de, en in pairs]
    rows += [f"{de.upper()}\t{en} Again." for de, en in pairs[:10]]  # same sources, new case
    tsv = tmp_path / "p.tsv"
    tsv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    task = task_for(f"data.source={tsv}", "data.val_fraction=0.2", "data.test_fraction=0.2")
    examples = task.load_examples()
    keys = {s: {normalise_key(e.source) for e in examples[s]} for s in examples}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["val"]
    assert not keys["val"] & keys["test"]
    held = [e for s in ("val", "test") for e in examples[s]]
    assert len(held) == len(keys["val"]) + len(keys["test"])  # one example per source
    assert all(e.target == e.refs[0] for e in held)
    twice = [e for e in held if len(e.refs) == 2]  # a held-out source keeps both references
    assert twice and all(e.refs[1].endswith("Again.") for e in twice)
    # held-out sources are scored against every reference: the second one counts in full
    assert task.score([e.refs[1] for e in twice], twice)["bleu"] == pytest.approx(100.0)
    assert len(examples["train"]) + sum(len(e.refs) for e in held) == len(rows)


def test_user_files_tsv_csv_and_aligned_lines(tmp_path: Path, capsys) -> None:
    pairs = sentences()
    de = tmp_path / "train.de"
    en = tmp_path / "train.en"
    de.write_text("\n".join(p[0] for p in pairs) + "\n", encoding="utf-8")
    en.write_text("\n".join(p[1] for p in pairs) + "\n", encoding="utf-8")
    task = task_for(f"data.source={de}", f"data.target_file={en}")
    assert sum(len(v) for v in task.load_examples().values()) == 48
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("de,en\n" + "".join(f'"{a}","{b}"\n' for a, b in pairs), encoding="utf-8")
    task = task_for(f"data.source={csv_file}", "data.header=true")
    assert [e.source for e in task.load_examples()["train"]][:1] != ["de"]
    assert "p.csv (all 48 pairs" in task.describe_data()
    # an aligned pair of files that disagree in length: one line, exit 2
    short = tmp_path / "short.en"
    short.write_text("One.\n", encoding="utf-8")
    code = main(["train", "translate", "--data", str(de), "--out", str(tmp_path / "r"), *TINY,
                 f"data.target_file={short}"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "train.de has 48 lines but" in err and "short.en has 1" in err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("data.source=/no/such.tsv", "neither the built-in 'ding' nor an existing file"),
        ("data.format=xml", "data.format: 'xml' is not one of auto, ding, pairs, lines"),
        ("data.kind=words", "data.kind: 'words' is not one of sentences, phrases"),
        ("data.pairs=-3", r"data.pairs: expected >= 0"),
        ("data.vocab_size=2", "data.vocab_size: expected at least 5"),
        ("data.format=lines", "data.format=lines needs data.target_file"),
        ("data.attention=dot", "data.attention: 'dot' is not one of bahdanau, luong"),
    ],
)
def test_bad_config_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str
) -> None:
    tsv = tmp_path / "p.tsv"
    tsv.write_text("Hallo.\tHello.\n", encoding="utf-8")
    data = [] if setting.startswith("data.source") else ["--data", str(tsv)]
    assert main(["train", "translate", *data, "--out", str(tmp_path / "run"), *TINY, setting]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_bad_pair_file_names_the_line(tmp_path: Path, capsys) -> None:
    tsv = tmp_path / "p.tsv"
    tsv.write_text("Hallo.\tHello.\n\nTschüss.\tBye.\n", encoding="utf-8")
    code = main(["train", "translate", "--data", str(tsv), "--out", str(tmp_path / "r"), *TINY])
    assert code == 2
    assert "p.tsv, line 2: the line is empty" in capsys.readouterr().err


def test_word_by_word_learns_the_dictionary_of_the_pairs() -> None:
    lexicon = WordByWord.fit(sentences())
    assert lexicon.table["hund"] == "dog" and lexicon.table["katze"] == "cat"
    assert lexicon.table["haus"] == "house" and lexicon.table["sieht"] == "sees"
    # unknown words (names) and punctuation are copied; the capital of the source kept
    assert lexicon.translate("Die Katze sieht Berlin!") == "The cat sees Berlin!"
    assert words("Ja, gut (sehr).") == ["Ja", ",", "gut", "(", "sehr", ")", "."]
    assert detokenize(words("Ja, gut (sehr).")) == "Ja, gut (sehr)."


def test_the_built_in_ding_sentences_split_by_source() -> None:
    # scripts/setup.sh installs the Debian package trans-de-en
    task = task_for("data.pairs=3000")
    examples = task.load_examples()
    train = {normalise_key(e.source) for e in examples["train"]}
    assert not train & {normalise_key(e.source) for e in examples["test"]}
    assert 250 < len(examples["test"]) < 350
    assert "ding (trans-de-en" in task.describe_data() and "3000 random pairs of 1" in (
        task.describe_data()
    )
