"""`rnnkit serve`: the HTTP API answers predictions, and every bad request a clear 4xx JSON."""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

import rnnkit
from rnnkit.deploy.batching import Batcher
from rnnkit.deploy.server import Batching, Limits, create_app
from rnnkit.errors import RnnkitError
from rnnkit.tools.cli import main


@pytest.fixture(scope="module")
def run(tiny_sentiment_run):
    model = {"cell": "gru", "num_layers": 1, "hidden_size": 6, "embedding_dim": 5}
    return tiny_sentiment_run("serve", per_class=20, model=model)


@pytest.fixture(scope="module")
def client(run):
    app = create_app(run.run_dir, limits=Limits(max_items=4, max_text_chars=50,
                                                 max_body_bytes=2000))  # fmt: skip
    return TestClient(app, raise_server_exceptions=False)


def test_predict_health_metadata(run, client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["task"] == "sentiment"
    assert health["engine"] == "torch" and health["batching"]["max_batch"] == 64
    meta = client.get("/metadata").json()
    assert meta["task"] == "sentiment" and meta["labels"] == run.task.label_names
    assert "predict" in meta["capabilities"] and meta["limits"]["max_items"] == 4
    texts = ["superb and warm", "boring"]
    r = client.post("/predict", json={"inputs": texts})
    assert r.status_code == 200
    assert r.json()["predictions"] == json.loads(json.dumps(run.predict(texts)))
    assert "/predict" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"inputs": "not a list"}, 422, "inputs"),
        ({"inputs": [1, 2]}, 422, "inputs.0"),
        ({"texts": ["x"]}, 422, "inputs: Field required"),
        ({"inputs": []}, 422, "at least 1"),
        ({"inputs": ["a", "b", "c", "d", "e"]}, 422, "at most 4"),
        ({"inputs": ["fine", "   "]}, 400, "inputs.1: empty text"),
        ({"inputs": ["x" * 51]}, 400, "over the limit of 50"),
        ({"inputs": ["x" * 1900] * 2}, 413, "over the limit of 2000 bytes"),
    ],
)
def test_bad_requests_get_clear_json_errors(client, body, status, fragment):
    r = client.post("/predict", json=body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]
    assert client.get("/health").status_code == 200  # still serving


def test_malformed_bytes_unknown_routes_and_methods(client):
    bad = client.post("/predict", content=b'{"inputs": ["\xff\xfe"]}',
                      headers={"content-type": "application/json"})  # fmt: skip
    assert bad.status_code == 400 and "not UTF-8" in bad.json()["error"]
    broken = client.post("/predict", content=b"{not json",
                         headers={"content-type": "application/json"})  # fmt: skip
    assert broken.status_code == 422 and "expected JSON" in broken.json()["error"]
    missing = client.get("/nope")
    assert missing.status_code == 404 and "/predict" in missing.json()["error"]
    assert "/generate" in missing.json()["error"]
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_an_input_longer_than_the_model_reads_says_what_was_cut(run):
    client = TestClient(create_app(run.run_dir), raise_server_exceptions=False)
    limit = run.config.data.max_length
    long = " ".join(["superb"] * (limit + 5))
    r = client.post("/predict", json={"inputs": [long, "boring"]})
    assert r.status_code == 200
    cut, whole = r.json()["predictions"]
    assert cut["truncated"] == run.task.input_cuts([long])[0]  # predict's own phrase
    assert cut["truncated"].startswith(f"{limit + 5} tokens; the model reads the first {limit}")
    assert "truncated" not in whole
    assert {k: v for k, v in cut.items() if k != "truncated"} == json.loads(
        json.dumps(run.predict([long])[0])
    )


def test_bad_limits_and_missing_run_are_refused(tmp_path):
    with pytest.raises(RnnkitError, match="max_items"):
        Limits(max_items=0)
    assert main(["serve", str(tmp_path / "nope"), "--port", "1"]) == 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_over_loopback_one_and_many_requests(run):
    port = free_port()
    app = create_app(run.run_dir)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        expected = run.predict(["superb"])[0]["label"]

        def ask(i):
            r = httpx.post(f"{base}/predict", json={"inputs": ["superb", f"boring {i}"]})
            return r.status_code, r.json()["predictions"][0]["label"]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(16)))
        assert answers == [(200, expected)] * 16
        assert httpx.post(f"{base}/predict", json={"inputs": []}).status_code == 422
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert not thread.is_alive()


# ------------------------------------------------------------------ batching, other routes
def start(app):
    """uvicorn on a free loopback port in a thread; returns (base URL, stop())."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)

    def stop():
        server.should_exit = True
        thread.join(timeout=20)
        assert not thread.is_alive()

    return f"http://127.0.0.1:{port}", stop


def test_concurrent_requests_are_batched_and_each_gets_its_own_answers(run):
    app = create_app(run.run_dir, batching=Batching(window_ms=200, max_batch=64))
    base, stop = start(app)
    try:
        texts = [[f"superb {i}", "boring", "a joy"][: 1 + i % 3] for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(
                lambda t: httpx.post(f"{base}/predict", json={"inputs": t}, timeout=30), texts
            ))  # fmt: skip
        # one bad request among them gets its error; the others are answered
        bad = httpx.post(f"{base}/predict", json={"inputs": ["  "]}, timeout=30)
        stats = httpx.get(f"{base}/health").json()["batching"]
    finally:
        stop()
    for t, r in zip(texts, answers):  # batched with others: equal within float rounding
        assert r.status_code == 200
        got, ref = r.json()["predictions"], run.predict(t)
        assert [g["label"] for g in got] == [e["label"] for e in ref]
        assert all(abs(g["probability"] - e["probability"]) < 1e-5 for g, e in zip(got, ref))
    assert bad.status_code == 400
    assert stats["items"] == sum(map(len, texts)) and stats["calls"] < len(texts)
    assert stats["largest"] > 3  # several requests went to the model in one call


def test_batcher_runs_a_refused_request_alone():
    calls = []

    def fn(items):
        calls.append(list(items))
        if "bad" in items:
            raise RnnkitError("bad input")
        return [x.upper() for x in items]

    b = Batcher(fn, window_s=0.2, max_batch=10)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(b.submit, items, 10) for items in (["a"], ["bad"], ["c", "d"])]
        results = []
        for f in futures:
            try:
                results.append(f.result())
            except RnnkitError as e:
                results.append(str(e))
    b.close()
    assert results == [["A"], "bad input", ["C", "D"]]
    assert len(calls[0]) == 4  # tried together first, then each alone


def test_engine_onnx_answers_as_torch(run):
    texts = ["superb and warm", "boring", "a dull mess of a film"]
    ref = run.predict(texts)
    for engine in ("onnx", "onnx-int8"):
        client = TestClient(create_app(run.run_dir, engine=engine))
        r = client.post("/predict", json={"inputs": texts})
        assert r.status_code == 200 and client.get("/health").json()["engine"] == engine
        got = r.json()["predictions"]
        assert [p["label"] for p in got] == [p["label"] for p in ref] or engine == "onnx-int8"
        tol = 1e-5 if engine == "onnx" else 0.05
        for g, e in zip(got, ref):
            for k, v in e["probabilities"].items():
                assert abs(g["probabilities"][k] - v) <= tol
    with pytest.raises(RnnkitError, match="--engine"):
        create_app(run.run_dir, engine="tensorrt")


def test_generate_on_a_classifier_and_forecast_on_a_classifier_are_refused(client):
    r = client.post("/generate", json={"prime": "a", "length": 5})
    assert r.status_code == 400
    assert "cannot generate; the tasks that can: charlm" in r.json()["error"]
    r = client.post("/forecast", json={"series": [[1.0, 2.0]]})
    assert r.status_code == 400 and "cannot forecast" in r.json()["error"]
    r = client.post("/predict", json={"inputs": [[1.0, 2.0]]})
    assert r.status_code == 400 and "takes text, not an array" in r.json()["error"]


@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    (root / "t.txt").write_text("to be or not to be, that is the question\n" * 10)
    return rnnkit.train(
        "charlm", out=root / "run", verbose=False,
        data={"source": str(root / "t.txt"), "bptt": 16},
        model={"cell": "gru", "hidden_size": 8, "num_layers": 1, "embedding_dim": 4},
        train={"epochs": 1, "batch_size": 4, "progress": False, "tensorboard": False},
    )  # fmt: skip


def test_generate_for_a_char_lm(charlm_run):
    client = TestClient(create_app(charlm_run.run_dir, limits=Limits(max_generate=50)),
                        raise_server_exceptions=False)  # fmt: skip
    body = {"prime": "to be", "length": 20, "temperature": 0.8, "seed": 3}
    r = client.post("/generate", json=body)
    assert r.status_code == 200
    text = r.json()["text"]
    assert text.startswith("to be") and len(text) == 25
    assert client.post("/generate", json=body).json()["text"] == text  # seeded
    greedy = client.post("/generate", json={"prime": "to", "length": 10, "temperature": 0})
    expected = charlm_run.task.generate(charlm_run.model, "to", 10, temperature=0)
    assert greedy.json()["text"] == expected
    for bad, status, fragment in [
        ({"prime": "", "length": 5}, 422, "prime"),
        ({"prime": "to", "length": 51}, 422, "length"),
        ({"prime": "to", "length": 0}, 422, "length"),
        ({"prime": "to", "temperature": -1}, 422, "temperature"),
        ({"prime": "to", "top_p": 0}, 422, "top_p"),
        ({"prime": "Zq\u00e9", "length": 5}, 400, "outside the vocabulary"),
        ({"length": 5}, 422, "prime: Field required"),
    ]:
        r = client.post("/generate", json=bad)
        assert r.status_code == status, (bad, r.text)
        assert fragment in r.json()["error"]
    r = client.post("/predict", json={"inputs": ["to"]})
    assert r.status_code == 400 and "cannot predict" in r.json()["error"]


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fc")
    import numpy as np

    t = np.arange(60)
    lines = ["t,y"] + [f"{i},{100 + i + 10 * np.sin(i / 2):.3f}" for i in t]
    (root / "s.csv").write_text("\n".join(lines) + "\n")
    return rnnkit.train(
        "forecast", out=root / "run", verbose=False,
        data={"source": str(root / "s.csv"), "context": 6, "horizon": 3},
        model={"hidden_size": 5, "embedding_dim": 4},
        train={"epochs": 1, "batch_size": 16, "progress": False, "tensorboard": False},
    )  # fmt: skip


def test_forecast_route_and_series_as_arrays(forecast_run):
    client = TestClient(create_app(forecast_run.run_dir), raise_server_exceptions=False)
    series = [[100.0, 103, 101, 106, 108, 107, 110], [50.0, 51, 52, 53, 54, 55]]
    r = client.post("/forecast", json={"series": series})
    assert r.status_code == 200
    expected = forecast_run.predict([",".join(map(str, s)) for s in series])
    assert r.json()["forecasts"] == [e["forecast"] for e in expected]
    assert len(r.json()["forecasts"][0]) == 3
    cut = "7 values; the model reads the last 6 (data.context=6)"  # said, as predict does
    assert r.json()["truncated"] == [cut, ""]
    p = client.post("/predict", json={"inputs": series[:1]})
    assert p.json()["predictions"] == [{**expected[0], "truncated": cut}]
    whole = client.post("/forecast", json={"series": series[1:]})
    assert "truncated" not in whole.json()  # no series cut: no key
    short = client.post("/forecast", json={"series": [[1.0, 2.0]]})
    assert short.status_code == 400 and "data.context=6" in short.json()["error"]
    nan = client.post("/forecast", content=b'{"series": [[1, 2, NaN, 4, 5, 6]]}',
                      headers={"content-type": "application/json"})  # fmt: skip
    assert nan.status_code == 400 and "series.0.2: nan; expected finite" in nan.json()["error"]
    empty = client.post("/forecast", json={"series": [[]]})
    assert empty.status_code == 400 and "empty series" in empty.json()["error"]
    words = client.post("/forecast", json={"series": ["1,2,3"]})
    assert words.status_code == 422 and "series.0" in words.json()["error"]
    gen = client.post("/generate", json={"prime": "x"})
    assert gen.status_code == 400 and "cannot generate" in gen.json()["error"]


def test_openapi_fuzz_finds_no_server_error(run):
    """schemathesis: requests generated from the app's own OpenAPI document (bounded)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    app = create_app(run.run_dir, limits=Limits(max_items=4, max_text_chars=50),
                     batching=Batching(window_ms=0))  # fmt: skip
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen = []

    for operation in schema.get_all_operations():
        op = operation.ok()

        @given(case=op.as_strategy())
        @settings(max_examples=10, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case):
            response = case.call()
            assert response.status_code < 500, (case.path, case.body, response.text)
            if response.status_code >= 400:
                assert "error" in response.json()
            seen.append((case.path, response.status_code))

        check()
    paths = {p for p, _ in seen}
    assert {"/predict", "/forecast", "/generate", "/health"} <= paths
    assert len(seen) >= 4 * 5  # examples ran on every route


def test_a_task_that_predicts_from_local_files_is_refused_without_opening_them(
    run, client, monkeypatch, tmp_path
):
    """A speech run's inputs are WAV paths: the server must not open a path a request names
    (nor reveal whether it exists), so /predict is refused in one JSON line, and serving
    goes on."""
    task_class = type(rnnkit.load(run.run_dir).task)
    monkeypatch.setattr(task_class, "serve_input", "files")
    for path in ["/etc/passwd", str(tmp_path / "missing.wav")]:
        r = client.post("/predict", json={"inputs": [path]})
        assert r.status_code == 400
        error = r.json()["error"]
        assert "does not open" in error and "rnnkit predict" in error and path not in error
    monkeypatch.undo()
    assert client.post("/predict", json={"inputs": ["a fine film"]}).status_code == 200
