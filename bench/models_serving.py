"""Serving benchmark (not a test): plexnet's model server against calling onnxruntime directly.

An MLP (64→128→10) trained on digits is exported to ONNX, stored by CID and served
by :func:`plexnet.models.serving.create_app` on a real uvicorn server on localhost.
Measured side by side in one run, one row per request:

* direct: ``session.run`` on the same ONNX bytes in this process (the floor);
* sequential HTTP: one client, one request at a time — p50/p99 latency; the
  overhead is the server's p50 minus the direct p50 (goal: ≤ 2 ms);
* concurrent HTTP: 16 client threads — throughput and p50/p99 latency, with the
  server's micro-batching (up to 64 rows per model call, no added wait).

    python bench/models_serving.py            # 2,000 sequential, 4,000 concurrent requests
    python bench/models_serving.py --quick    # a tenth of that
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _onnx_model() -> tuple[bytes, np.ndarray]:
    import torch
    from sklearn.datasets import load_digits

    from plexnet.models.supervised import train_mlp

    x, y = load_digits(return_X_y=True)
    model, _ = train_mlp(x, y, 10, {"epochs": 5, "hidden": [128]})
    buf = io.BytesIO()
    example = torch.zeros(1, 64)
    torch.onnx.export(model, (example,), buf, dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},))
    return buf.getvalue(), x.astype(np.float32)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "models_serving.json")
    args = ap.parse_args()
    n = args.requests // 10 if args.quick else args.requests
    import httpx
    import onnxruntime as ort
    import uvicorn

    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.models.serving import create_app

    data, x = _onnx_model()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    direct = []
    for i in range(n):
        row = x[i % len(x)][None]
        t = time.perf_counter()
        session.run(None, {name: row})
        direct.append(time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        blobs = LocalBlobStore(Path(tmp))
        cid = blobs.put(data)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(blobs), host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/v1/models/{cid}/predict"
        with httpx.Client() as client:
            client.post(url, json={"inputs": [x[0].tolist()]}).raise_for_status()  # load it
            sequential = []
            for i in range(n):
                payload = {"inputs": [x[i % len(x)].tolist()]}
                t = time.perf_counter()
                client.post(url, json=payload).raise_for_status()
                sequential.append(time.perf_counter() - t)
            concurrent: list[float] = []

            def one(i: int) -> None:
                t = time.perf_counter()
                client.post(url, json={"inputs": [x[i % len(x)].tolist()]}).raise_for_status()
                concurrent.append(time.perf_counter() - t)

            t0 = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(one, range(2 * n)))
            wall = time.perf_counter() - t0
            metrics = client.get(f"http://127.0.0.1:{port}/metrics").text
        server.should_exit = True
        thread.join(10)
    found = {line.split("{")[0]: float(line.split()[-1]) for line in metrics.splitlines()
             if line.startswith(("plexnet_serve_batch_rows_sum",
                                 "plexnet_serve_batch_rows_count"))}
    rows = [found["plexnet_serve_batch_rows_sum"], found["plexnet_serve_batch_rows_count"]]
    result: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]), "platform": platform.platform(),
        "requests": n, "model": "MLP 64-128-10, ONNX, onnxruntime 1 thread",
        "direct_ms": {"p50": _pct(direct, 50), "p99": _pct(direct, 99)},
        "sequential_ms": {"p50": _pct(sequential, 50), "p99": _pct(sequential, 99)},
        "overhead_p50_ms": _pct(sequential, 50) - _pct(direct, 50),
        "concurrent": {"clients": 16, "requests": 2 * n, "throughput_rps": 2 * n / wall,
                       "p50_ms": _pct(concurrent, 50), "p99_ms": _pct(concurrent, 99),
                       "mean_rows_per_model_call": rows[0] / rows[1] if len(rows) == 2 else None},
        "direct_throughput_rps": 1 / statistics.mean(direct),
    }
    print(f"direct onnxruntime: p50 {result['direct_ms']['p50']:.3f} ms, p99 "
          f"{result['direct_ms']['p99']:.3f} ms ({n} calls)")
    print(f"plexnet serve, sequential: p50 {result['sequential_ms']['p50']:.3f} ms, p99 "
          f"{result['sequential_ms']['p99']:.3f} ms; median overhead "
          f"{result['overhead_p50_ms']:.3f} ms (goal <= 2 ms)")
    c = result["concurrent"]
    print(f"plexnet serve, 16 clients: {c['throughput_rps']:.0f} requests/s, p50 "
          f"{c['p50_ms']:.2f} ms, p99 {c['p99_ms']:.2f} ms, "
          f"{c['mean_rows_per_model_call']:.2f} rows per model call")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
