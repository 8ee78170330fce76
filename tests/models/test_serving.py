"""The model server on a real uvicorn HTTP server: predictions, micro-batching, bad input."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from plexnet.core.blobstore import LocalBlobStore
from plexnet.models.mlp import load_mlp, predict, save_mlp
from plexnet.models.serving import create_app
from plexnet.models.supervised import train_mlp


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import uvicorn

    x, y = load_digits(return_X_y=True)
    model, _ = train_mlp(x[:1200], y[:1200], 10, {"epochs": 10, "hidden": [32]})
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    cid = blobs.put(save_mlp(model))
    junk = blobs.put(b"not a model at all")
    app = create_app(blobs, max_batch=32, max_wait_ms=5, max_rows=100)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "cid": cid, "junk": junk, "blobs": blobs,
           "x": x[1200:], "y": y[1200:], "model": load_mlp(save_mlp(model))}
    server.should_exit = True
    thread.join(10)


def test_predictions_match_the_model_in_process(served):
    x = served["x"][:50]
    r = httpx.post(f"{served['url']}/v1/models/{served['cid']}/predict",
                   json={"inputs": x.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == predict(served["model"], x).tolist()
    assert np.allclose(np.sum(body["probabilities"], axis=1), 1, atol=1e-5)


def test_concurrent_requests_are_micro_batched_and_each_gets_its_own_answer(served):
    url = f"{served['url']}/v1/models/{served['cid']}/predict"
    x = served["x"][:120]
    want = predict(served["model"], x).tolist()
    with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda i: client.post(url, json={"inputs": [x[i].tolist()]}),
                            range(len(x))))
    assert all(r.status_code == 200 for r in got)
    assert [r.json()["predictions"][0] for r in got] == want
    metrics = httpx.get(f"{served['url']}/metrics").text
    # some model calls carried more than one request
    count = float(next(line.split()[-1] for line in metrics.splitlines()
                       if line.startswith("plexnet_serve_batch_rows_count")))
    total = float(next(line.split()[-1] for line in metrics.splitlines()
                       if line.startswith("plexnet_serve_batch_rows_sum")))
    assert total / count > 1.0
    assert 'plexnet_serve_requests_total{model="' + served["cid"] + '",status="ok"}' in metrics


def test_bad_requests_get_a_clear_4xx(served):
    base = f"{served['url']}/v1/models"
    cid = served["cid"]
    cases = [
        (f"{base}/{cid}/predict", {"inputs": [[1.0, 2.0]]}, 422, "64 numbers"),
        (f"{base}/{cid}/predict", {"inputs": [[0.0] * 64, [0.0] * 3]}, 422, "one length"),
        (f"{base}/{cid}/predict", {"rows": []}, 422, "non-empty list"),
        (f"{base}/{cid}/predict", {"inputs": [[0.0] * 64] * 101}, 413, "at most 100"),
        (f"{base}/{cid}/predict", {"inputs": [[float("nan")] * 64]}, 422, "NaN"),
        (f"{base}/bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/predict",
         {"inputs": [[0.0] * 64]}, 404, "no model"),
        (f"{base}/not-a-cid/predict", {"inputs": [[0.0] * 64]}, 404, "no model"),
        (f"{base}/{served['junk']}/predict", {"inputs": [[0.0] * 64]}, 422,
         "neither a plexnet MLP artifact nor an ONNX model"),
    ]
    for url, payload, code, words in cases:
        if payload.get("inputs") and any(v != v for row in payload["inputs"] for v in row):
            r = httpx.post(url, content=b'{"inputs": [[' + b",".join([b"NaN"] * 64) + b"]]}",
                           headers={"content-type": "application/json"})
        else:
            r = httpx.post(url, json=payload)
        assert r.status_code == code, (url, r.status_code, r.text)
        assert words in r.json()["detail"], r.text
    r = httpx.post(f"{base}/{cid}/predict", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_a_model_whose_bytes_do_not_match_its_cid_is_refused(served, tmp_path):
    blobs = LocalBlobStore(tmp_path / "b")
    x, y = load_digits(return_X_y=True)
    model, _ = train_mlp(x[:300], y[:300], 10, {"epochs": 2, "hidden": [8]})
    cid = blobs.put(save_mlp(model))
    path = next(p for p in (tmp_path / "b").rglob("*") if p.is_file())
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    from fastapi.testclient import TestClient

    with TestClient(create_app(blobs)) as client:
        r = client.post(f"/v1/models/{cid}/predict", json={"inputs": [[0.0] * 64]})
    assert r.status_code == 422 and "cannot be served" in r.json()["detail"]
