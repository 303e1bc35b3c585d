"""`rnnkit export --int8`: dynamic int8 weights, what ONNX Runtime quantises, the reported
size and test-split change against float32."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from rnnkit.deploy import export_model, read_metadata
from rnnkit.deploy.quantize import quantize_int8, weight_ops
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tools.cli import main


@pytest.fixture(scope="module")
def run(tiny_sentiment_run):
    model = {"cell": "lstm", "num_layers": 1, "hidden_size": 16, "embedding_dim": 16}
    return tiny_sentiment_run("int8", per_class=30, model=model, epochs=2)


def test_cli_int8_writes_a_smaller_file_and_reports_the_change(run, capsys):
    assert main(["export", str(run.run_dir), "--int8"]) == 0
    out = capsys.readouterr().out
    path = run.run_dir / "model.int8.onnx"
    meta = read_metadata(path)
    q = meta["int8"]
    assert q["quantised"] == {"Gather": 1, "LSTM": 1, "MatMul": 1}  # embedding, stack, head
    # a tiny model: the graph's own bytes weigh; a real one gets near 1/4 (docs/deploy.md)
    assert q["kept_float32"] == {} and q["int8_bytes"] < 0.6 * q["float32_bytes"]
    test = q["test"]
    assert test["split"] == "test" and test["sequences"] == run.task.split_size("test")
    change = test["int8_accuracy"] - test["float32_accuracy"]
    assert test["accuracy_change"] == pytest.approx(change)
    assert 0 < test["max_abs_change"] < 0.1  # int8 changes the numbers, a little
    assert "accuracy" in out and "points" in out and "MB" in out
    # the file runs in ONNX Runtime and agrees with the float model's classes
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert "DynamicQuantizeLSTM" in {n.op_type for n in onnx.load(str(path)).graph.node}
    ids = np.array([[3, 4, 5, 0], [6, 7, 0, 0]], dtype=np.int64)
    lengths = np.array([3, 2], dtype=np.int64)
    probs = sess.run(["probabilities"], {"inputs": ids, "lengths": lengths})[0]
    with torch.no_grad():
        ref = run.model.probabilities(run.model(torch.as_tensor(ids), torch.as_tensor(lengths)))
    np.testing.assert_allclose(probs, ref.numpy(), atol=0.05)


@pytest.mark.parametrize(("cell", "op"), [("gru", "GRU"), ("rnn", "RNN")])
def test_gru_and_rnn_operators_stay_float_so_int8_writes_them_as_scan_loops(cell, op):
    torch.manual_seed(0)
    cfg = ClassifierConfig(cell=cell, hidden_size=8, num_layers=2, embedding_dim=4,
                           bidirectional=True)  # fmt: skip
    model = SequenceClassifier.from_config(cfg, num_classes=3, vocab_size=30).eval()
    # ONNX's own GRU / RNN operators: ONNX Runtime has no int8 kernel, the report says so
    proto, _ = export_model(model)
    quantised, report = quantize_int8(proto)
    assert report["kept_float32"] == {op: 2}
    assert op in report["note"] and "float32" in report["note"]
    assert weight_ops(quantised) == {op: 2}
    # for int8 the stack is a Scan loop per layer and direction: every weight is int8
    proto, _ = export_model(model, for_int8=True)
    assert {n.op_type for n in proto.graph.node} & {"GRU", "RNN"} == set()
    quantised, report = quantize_int8(proto)
    layers_x_directions = 2 * 2  # an input projection and a recurrent matrix in each
    assert report["kept_float32"] == {} and "note" not in report
    assert report["quantised"] == {"Gather": 1, "MatMul": 2 * layers_x_directions + 1}
    # the Scan graph is the same function as the operator graph, within float32 rounding
    ids = np.array([[3, 4, 5, 6, 0], [7, 8, 0, 0, 0], [9, 0, 0, 0, 0]], dtype=np.int64)
    lengths = np.array([4, 2, 1], dtype=np.int64)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], {"inputs": ids, "lengths": lengths})[0]
    with torch.no_grad():
        want = model.probabilities(model(torch.as_tensor(ids), torch.as_tensor(lengths)))
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    q = ort.InferenceSession(quantised.SerializeToString(), providers=["CPUExecutionProvider"])
    int8 = q.run(["probabilities"], {"inputs": ids, "lengths": lengths})[0]
    assert 0 < np.abs(int8 - got).max() < 0.1  # int8 changes the numbers, a little


def test_scan_bodies_are_quantised_too():
    torch.manual_seed(0)
    cfg = ClassifierConfig(cell="lstm", hidden_size=8, num_layers=1, embedding_dim=4,
                           layer_norm=True)  # fmt: skip
    model = SequenceClassifier.from_config(cfg, num_classes=2, vocab_size=30).eval()
    proto, _ = export_model(model)
    before = weight_ops(proto)
    assert before["MatMul"] == 3  # input projection, recurrent matrix (in the Scan), head
    quantised, report = quantize_int8(proto)
    assert report["quantised"]["MatMul"] == 3 and report["kept_float32"] == {}


def test_int8_out_and_existing_files(run, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    assert main(["export", str(run.run_dir), "--int8", "--out", str(out)]) == 0
    assert read_metadata(out)["int8"]["int8_bytes"] > 0
    assert main(["export", str(run.run_dir), "--int8", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_an_int8_onnx_model_runs_the_tasks_own_predict_in_python(run):
    """docs/deploy.md: ``OnnxModel(run.model, int8=True)`` stands in for ``run.model`` in
    ``run.task.predict`` (tokenising included) and gives the float model's classes."""
    from rnnkit.deploy.engine import OnnxModel

    int8 = OnnxModel(run.model, int8=True)
    assert int8.parity <= 1e-5  # the float32 graph was checked against the model first
    texts = ["a joy film 3", "boring movie 7", "a joy film 12 boring"]
    got, want = run.task.predict(int8, texts), run.task.predict(run.model, texts)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g["probabilities"] != w["probabilities"]  # int8 weights: not the same numbers
        for label, p in w["probabilities"].items():
            assert g["probabilities"][label] == pytest.approx(p, abs=0.05)
