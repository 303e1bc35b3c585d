"""`rnnkit export`: ONNX files of trained runs agree with rnnkit's eval outputs (ONNX Runtime)."""

import hashlib
import json
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from tokenizers import Tokenizer

import rnnkit
from rnnkit.deploy import export_model, read_metadata
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tools.cli import main

POS = ["a joy", "brilliant", "great fun", "warm and witty", "superb"]
NEG = ["a dull mess", "boring", "awful", "flat and tired", "painfully bad"]
TRAIN_MAX_LEN = 6  # tokens kept per text in training; the tests feed up to 5x longer
# (cell, bidirectional, layers, pooling, nonlinearity)
RUNS = {
    "lstm-bi-2": ("lstm", True, 2, "last", "tanh"),
    "gru-2": ("gru", False, 2, "max", "tanh"),
    "rnn-relu-bi": ("rnn", True, 1, "mean", "relu"),
}


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def ragged(vocab, T, gen):
    """A batch with lengths 1, some, and T."""
    lengths = torch.tensor([1, max(1, T // 2), T, min(2, T), T], dtype=torch.int64)
    ids = torch.randint(1, vocab, (len(lengths), T), generator=gen)
    ids[torch.arange(T)[None, :] >= lengths[:, None]] = 0  # [PAD] as the batches have it
    return ids, lengths


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "r.csv"
    rows = ["text,label"]
    rows += [f"{POS[i % 5]} film {i} and more words here,positive" for i in range(30)]
    rows += [f"{NEG[i % 5]} movie {i} and more words here,negative" for i in range(30)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(data_csv, tmp_path_factory):
    """One tiny trained run per stack in RUNS (an epoch each, seconds)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, (cell, bi, layers, pooling, nonlin) in RUNS.items():
        out[name] = rnnkit.train(
            "sentiment",
            out=root / name,
            verbose=False,
            data={"name": str(data_csv), "max_length": TRAIN_MAX_LEN, "nb_init_dims": 2},
            model={
                "cell": cell,
                "bidirectional": bi,
                "num_layers": layers,
                "pooling": pooling,
                "nonlinearity": nonlin,
                "hidden_size": 6,
                "embedding_dim": 5,
                "dropout": 0.2 if layers > 1 else 0.0,
            },
            train={"epochs": 1, "batch_size": 16, "progress": False, "tensorboard": False},
        )
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_onnxruntime_matches_rnnkit_on_ragged_batches(trained, name):
    run = trained[name]
    proto, io = export_model(run.model)
    assert [i["name"] for i in io["inputs"]] == ["inputs", "lengths"]
    sess = session(proto)
    gen = torch.Generator().manual_seed(1)
    for T in (1, 4, TRAIN_MAX_LEN, 5 * TRAIN_MAX_LEN):  # T = 30 is longer than any in training
        ids, lengths = ragged(run.model.encoder.num_embeddings, T, gen)
        with torch.no_grad():
            logits = run.model(ids, lengths)
            probs = run.model.probabilities(logits)
        got_logits, got_probs = sess.run(None, {"inputs": ids.numpy(), "lengths": lengths.numpy()})
        np.testing.assert_allclose(got_logits, logits.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(got_probs, probs.numpy(), atol=1e-5, rtol=0)
    # padding content is ignored: garbage after each length changes nothing
    ids2 = ids.clone()
    ids2[torch.arange(ids.shape[1])[None, :] >= lengths[:, None]] = 3
    again = sess.run(None, {"inputs": ids2.numpy(), "lengths": lengths.numpy()})[0]
    np.testing.assert_allclose(again, got_logits, atol=1e-6, rtol=0)


def test_cli_export_writes_file_and_metadata_a_client_can_use(trained, tmp_path, capsys):
    run = trained["lstm-bi-2"]
    out = tmp_path / "sent.onnx"
    assert main(["export", str(run.run_dir), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    meta = json.loads((tmp_path / "sent.onnx.json").read_text())
    assert meta["task"] == "sentiment" and meta["rnnkit_version"] == rnnkit.__version__
    assert meta["labels"] == run.task.label_names
    assert [o["name"] for o in meta["outputs"]] == ["logits", "probabilities"]
    digest = hashlib.sha256((run.run_dir / "model.safetensors").read_bytes()).hexdigest()
    assert meta["weights_sha256"] == digest
    assert meta["parity_max_abs_diff"] < 1e-5
    # the same metadata is inside the ONNX file
    assert read_metadata(out) == meta
    # a client with only tokenizers + onnxruntime gets rnnkit's predictions
    texts = ["superb and warm", "boring", "a dull mess of a film with awful words here again"]
    tok = Tokenizer.from_str(json.dumps(meta["artefacts"]["tokenizer.json"]))
    ids = [enc.ids or [1] for enc in tok.encode_batch(texts)]
    T = max(map(len, ids))
    batch = np.zeros((len(ids), T), dtype=np.int64)
    for i, row in enumerate(ids):
        batch[i, : len(row)] = row
    lengths = np.array([len(r) for r in ids], dtype=np.int64)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs = sess.run(["probabilities"], {"inputs": batch, "lengths": lengths})[0]
    expected = [[p["probabilities"][n] for n in meta["labels"]] for p in run.predict(texts)]
    np.testing.assert_allclose(probs, np.array(expected), atol=1e-5, rtol=0)


def test_default_out_is_in_the_run_dir_and_existing_files_are_kept(trained, capsys):
    run_dir = trained["gru-2"].run_dir
    assert main(["export", str(run_dir)]) == 0
    first = (run_dir / "model.onnx").read_bytes()
    (run_dir / "model.onnx").write_bytes(b"mine")
    assert main(["export", str(run_dir)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (run_dir / "model.onnx").read_bytes() == b"mine"  # refused: nothing changed
    assert main(["export", str(run_dir), "--overwrite"]) == 0
    assert (run_dir / "model.onnx").read_bytes() == first


def test_gru_reset_gate_semantics_are_torchs(trained):
    """torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), ONNX linear_before_reset=1.
    The ONNX default (0, n = tanh(W_in x + W_hn (r * h) + ...)) must give other numbers,
    so the parity test above would catch the exporter writing it."""
    model = trained["gru-2"].model
    with torch.no_grad():  # make the reset gate matter: large recurrent weights and biases
        for name, p in model.recurrent.named_parameters():
            if "hh" in name:
                p.mul_(4.0)
    proto, _ = export_model(model)
    grus = [n for n in proto.graph.node if n.op_type == "GRU"]
    assert len(grus) == 2
    assert all(a.i == 1 for n in grus for a in n.attribute if a.name == "linear_before_reset")
    ids, lengths = ragged(model.encoder.num_embeddings, 8, torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(ids, lengths).numpy()
    feeds = {"inputs": ids.numpy(), "lengths": lengths.numpy()}
    np.testing.assert_allclose(session(proto).run(["logits"], feeds)[0], ref, atol=1e-5, rtol=0)
    for n in grus:
        for a in n.attribute:
            if a.name == "linear_before_reset":
                a.i = 0
    wrong = session(proto).run(["logits"], feeds)[0]
    assert np.abs(wrong - ref).max() > 1e-3


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_pooling_and_feature_inputs(cell, pooling):
    torch.manual_seed(0)
    cfg = ClassifierConfig(
        cell=cell, hidden_size=5, num_layers=2, bidirectional=True, embedding_dim=4, pooling=pooling
    )
    model = SequenceClassifier.from_config(cfg, num_classes=3, input_size=3).eval()
    proto, io = export_model(model)
    assert io["inputs"][0] == {"name": "inputs", "dtype": "float32", "shape": ["batch", "time", 3]}
    x, lengths = torch.randn(4, 9, 3), torch.tensor([1, 9, 4, 6])
    with torch.no_grad():
        ref = model(x, lengths)
    got = session(proto).run(None, {"inputs": x.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(got[0], ref.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(got[1], torch.softmax(ref, 1).numpy(), atol=1e-5, rtol=0)


def test_a_stack_without_writer_is_refused_clearly():
    class Custom(torch.nn.Module):  # any user module: no ONNX writer
        def forward(self, x, lengths=None):
            return x, None

    model = SequenceClassifier(Custom(), 4, 2, vocab_size=10, embedding_dim=4)
    with pytest.raises(RnnkitError, match="Custom has no ONNX writer yet"):
        export_model(model)


def test_without_onnx_the_message_says_what_to_install(trained, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    out = tmp_path / "m.onnx"
    assert main(["export", str(trained["gru-2"].run_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pip install" in err and "rnnkit[deploy]" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_arguments_are_refused_and_write_nothing(trained, tmp_path, capsys):
    run_dir = str(trained["gru-2"].run_dir)
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", run_dir, "--out", str(tmp_path / "m.txt")]) == 2
    assert "ending in .onnx" in capsys.readouterr().err
    assert main(["export", run_dir, "--int8", "--out", str(tmp_path / "m.int8")]) == 2
    assert "ending in .onnx" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
