"""ONNX export of every recurrent family and eval-time option (Scan loops) against rnnkit."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

import rnnkit
from rnnkit.deploy import export_model
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

V = 20  # vocabulary of the test models


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def assert_parity(model, steps=(1, 6, 20)):
    """ONNX Runtime equals the model within 1e-5 on ragged batches (1, some, all = T)."""
    model.eval()
    proto, _ = export_model(model)
    sess = session(proto)
    gen = torch.Generator().manual_seed(0)
    for T in steps:
        x = torch.randint(1, V, (4, T), generator=gen)
        lengths = torch.tensor([1, max(1, T // 2), T, min(3, T)])
        with torch.no_grad():
            ref = model(x, lengths)
        got = sess.run(["logits"], {"inputs": x.numpy(), "lengths": lengths.numpy()})[0]
        np.testing.assert_allclose(got, ref.numpy(), atol=1e-5, rtol=0)
    return proto


def classifier(pooling="last", **model):
    torch.manual_seed(0)
    cfg = ClassifierConfig(hidden_size=6, num_layers=2, embedding_dim=5, pooling=pooling, **model)
    return SequenceClassifier.from_config(cfg, num_classes=3, vocab_size=V)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["indrnn", "mingru", "minlstm"])
def test_new_families(cell, bidirectional):
    for pooling in ("last", "max"):
        proto = assert_parity(classifier(pooling, cell=cell, bidirectional=bidirectional))
        assert "Scan" in {n.op_type for n in proto.graph.node}


def test_indrnn_recurrent_max_is_applied():
    model = classifier(cell="indrnn")
    model.recurrent.recurrent_max = 0.5
    with torch.no_grad():
        model.recurrent.weight_hh_l0.fill_(3.0)  # outside the bound: clamped in forward
    assert_parity(model)


@pytest.mark.parametrize(
    "options",
    [{"layer_norm": True}, {"zoneout": 0.3}, {"layer_norm": True, "zoneout": 0.2}],
)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_eval_time_options(cell, options):
    model = classifier(cell=cell, bidirectional=True, **options)
    with torch.no_grad():  # layer-norm gains and biases away from their 1 / 0 start
        for name, p in model.named_parameters():
            if name.split(".")[-1].startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    assert_parity(model)


def test_lstm_peephole_with_layer_norm():
    assert_parity(classifier(cell="lstm", bidirectional=True, peephole=True, layer_norm=True))


def test_training_only_options_are_absent_in_eval():
    # recurrent dropout and DropConnect change nothing in eval: the fused ONNX LSTM is used
    model = classifier(cell="lstm", recurrent_dropout=0.3, weight_drop=0.3)
    proto = assert_parity(model)
    assert "LSTM" in {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_proj_size(bidirectional):
    torch.manual_seed(0)
    D = 2 if bidirectional else 1
    stack = rnnkit.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=bidirectional,
                        proj_size=3)  # fmt: skip
    for pooling in ("last", "mean"):
        model = SequenceClassifier(stack, 3 * D, 2, vocab_size=V, embedding_dim=5,
                                   pooling=pooling, bidirectional=bidirectional)  # fmt: skip
        assert_parity(model)
