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
from rnnkit.deploy.server import Limits, create_app
from rnnkit.errors import RnnkitError
from rnnkit.tools.cli import main

POS = ["a joy", "brilliant", "great fun", "warm and witty", "superb"]
NEG = ["a dull mess", "boring", "awful", "flat and tired", "painfully bad"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    rows = ["text,label"]
    rows += [f"{POS[i % 5]} film {i},positive" for i in range(20)]
    rows += [f"{NEG[i % 5]} movie {i},negative" for i in range(20)]
    (root / "r.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return rnnkit.train(
        "sentiment",
        out=root / "run",
        verbose=False,
        data={"name": str(root / "r.csv"), "nb_init_dims": 2},
        model={"cell": "gru", "num_layers": 1, "hidden_size": 6, "embedding_dim": 5,
               "dropout": 0.0},
        train={"epochs": 1, "batch_size": 16, "progress": False, "tensorboard": False},
    )  # fmt: skip


@pytest.fixture(scope="module")
def client(run):
    app = create_app(run.run_dir, limits=Limits(max_items=4, max_text_chars=50,
                                                 max_body_bytes=2000))  # fmt: skip
    return TestClient(app, raise_server_exceptions=False)


def test_predict_health_metadata(run, client):
    assert client.get("/health").json() == {"status": "ok", "task": "sentiment"}
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
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and "error" in wrong.json()


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
