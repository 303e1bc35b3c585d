"""`rnnkit export` of a char-LM: its step function (state in, state out) runs generation."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

import rnnkit
from rnnkit.deploy import export_model, read_metadata
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tools.cli import main

TEXT = "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind\n" * 8


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("charlm")
    (root / "play.txt").write_text(TEXT, encoding="utf-8")
    return rnnkit.train(
        "charlm",
        out=root / "run",
        verbose=False,
        data={"source": str(root / "play.txt"), "bptt": 16},
        model={"cell": "lstm", "hidden_size": 8, "num_layers": 2, "embedding_dim": 6},
        train={"epochs": 1, "batch_size": 4, "progress": False, "tensorboard": False},
    )


def test_greedy_generation_in_onnxruntime_equals_rnnkit(lm_run, tmp_path):
    out = tmp_path / "lm.onnx"
    assert main(["export", str(lm_run.run_dir), "--out", str(out)]) == 0
    meta = read_metadata(out)
    assert [i["name"] for i in meta["inputs"]] == ["ids", "h0", "c0"]
    assert [o["name"] for o in meta["outputs"]] == ["logits", "h_n", "c_n"]
    symbols = meta["artefacts"]["vocab.json"]["symbols"]
    assert "q" in symbols
    model = lm_run.model
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    prime = torch.tensor([[symbols.index(c) for c in "to be"]])  # (1, P)
    zeros = np.zeros((2, 1, 8), dtype=np.float32)
    logits, h, c = sess.run(None, {"ids": prime.numpy(), "h0": zeros, "c0": zeros})
    with torch.no_grad():
        ref_logits, state = model(prime, None)
    np.testing.assert_allclose(logits, ref_logits.numpy(), atol=1e-5, rtol=0)
    ours, theirs = [], []
    nxt_o, nxt_t = int(logits[0, -1].argmax()), int(ref_logits[0, -1].argmax())
    for _ in range(20):  # one step at a time, the state carried
        ours.append(nxt_o)
        theirs.append(nxt_t)
        logits, h, c = sess.run(None, {"ids": np.array([[nxt_o]]), "h0": h, "c0": c})
        with torch.no_grad():
            step_logits, state = model.step(torch.tensor([nxt_t]), state)
        np.testing.assert_allclose(logits[:, 0], step_logits.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(h, state[0].numpy(), atol=1e-5, rtol=0)
        nxt_o, nxt_t = int(logits[0, 0].argmax()), int(step_logits[0].argmax())
    assert ours == theirs


@pytest.mark.parametrize("cell", ["gru", "rnn", "indrnn", "mingru", "minlstm"])
def test_step_function_of_every_family(cell):
    torch.manual_seed(0)
    model = LanguageModel.from_config(
        LanguageModelConfig(cell=cell, hidden_size=6, num_layers=2, embedding_dim=4), 11
    ).eval()
    proto, io = export_model(model)
    assert [i["name"] for i in io["inputs"]] == ["ids", "h0"]
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    for T in (1, 7):
        ids = torch.randint(0, 11, (3, T), generator=gen)
        h0 = 0.5 * torch.randn(2, 3, 6, generator=gen)
        with torch.no_grad():
            logits, h_n = model(ids, h0)
        got = sess.run(None, {"ids": ids.numpy(), "h0": h0.numpy()})
        np.testing.assert_allclose(got[0], logits.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(got[1], h_n.numpy(), atol=1e-5, rtol=0)
    assert json.dumps(io)  # the description is plain JSON
