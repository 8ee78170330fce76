"""An HTTP model server: models loaded by CID from the blob store, requests micro-batched.

:func:`create_app` builds a FastAPI application over a blob store:

* ``POST /v1/models/{cid}/predict`` with ``{"inputs": [[...], ...]}`` answers
  ``{"model": cid, "predictions": [...], "probabilities": [[...], ...]}``. The model
  is loaded on first use from the blob: an MLP artifact (safetensors, see ``mlp.py``)
  runs in PyTorch, an ONNX file in onnxruntime (the edge runtime). The blob store
  checks the bytes against the CID as it reads them, so a file whose bytes do not
  match its CID is refused (HTTP 422), never served.
* ``GET /v1/models`` lists the loaded models; ``GET /healthz`` says the server is up;
  ``GET /metrics`` exposes Prometheus counters and histograms: requests by model and
  status, request latency, batch sizes.

**Micro-batching.** Concurrent requests for one model are queued and run together in
a worker thread (so the event loop keeps accepting requests): each model call takes
every request that queued up while the previous call ran, up to ``max_batch`` rows,
and with ``max_wait_ms > 0`` also waits that long after its first request for more.
The default waits not at all: an idle server answers at once, and under load the
queue fills by itself while the model runs, so batches form without added latency.

Bad input is an HTTP 4xx with a message: an unknown CID (404), bytes that are not a
model or do not match the CID (422), inputs of the wrong width, ragged or non-finite
(422), more than ``max_rows`` rows in one request (413).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations

from plexnet.core.blobstore import BlobStore
from plexnet.models.errors import ArtifactError

__all__ = ["LoadedModel", "create_app", "load_model"]


@dataclass
class LoadedModel:
    """A model ready to answer: ``run`` maps ``(n, n_in)`` float32 to ``(n, n_out)`` logits."""

    cid: str
    runtime: str  # "torch" or "onnxruntime"
    n_in: int
    n_out: int
    run: Any
    queue: asyncio.Queue[Any] | None = field(default=None, repr=False)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def load_model(blobs: BlobStore, cid: str) -> LoadedModel:
    """The model in blob ``cid`` (a classifier safetensors artifact, MLP or CNN, or an
    ONNX file).

    Raises:
        BlobNotFound: no such blob. BlobCorrupted: its bytes do not match the CID.
        ArtifactError: the bytes are neither a classifier artifact nor an ONNX model.
    """
    data = blobs.get(cid)
    try:
        import torch

        from plexnet.models.mlp import load_classifier

        model = load_classifier(data)
    except ArtifactError:
        model = None
    if model is not None:
        n_in = int(model.config["in"])
        n_out = int(model.config["out"])

        def run_torch(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.as_tensor(x)).numpy()  # type: ignore[no-any-return]

        return LoadedModel(cid, "torch", n_in, n_out, run_torch)
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ArtifactError(f"blob {cid} is neither a plexnet MLP artifact nor an ONNX "
                            f"model: {str(exc).splitlines()[0][:200]}") from None
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    n_in, n_out = inp.shape[-1], out.shape[-1]
    if not isinstance(n_in, int) or not isinstance(n_out, int):
        raise ArtifactError(f"ONNX model {cid} must have fixed feature and output widths")

    def run_onnx(x: np.ndarray) -> np.ndarray:
        return session.run([out.name], {inp.name: x})[0]  # type: ignore[no-any-return]

    return LoadedModel(cid, "onnxruntime", n_in, n_out, run_onnx)


def create_app(blobs: BlobStore, *, max_batch: int = 64, max_wait_ms: float = 0.0,
               max_rows: int = 1024) -> Any:
    """The FastAPI application; see the module docstring."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
    )

    from plexnet.core.errors import BlobCorrupted, BlobNotFound, InvalidCID

    registry = CollectorRegistry()
    requests = Counter("plexnet_serve_requests", "Prediction requests", ["model", "status"],
                       registry=registry)
    latency = Histogram("plexnet_serve_latency_seconds", "Request latency", ["model"],
                        registry=registry,
                        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1))
    batch_rows = Histogram("plexnet_serve_batch_rows", "Rows per model call", ["model"],
                           registry=registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    models: dict[str, LoadedModel] = {}
    workers: list[asyncio.Task[None]] = []

    async def batcher(model: LoadedModel) -> None:
        assert model.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await model.queue.get()
            jobs, rows = [first], len(first[0])
            deadline = loop.time() + max_wait_ms / 1000
            while rows < max_batch:
                if not model.queue.empty():  # whatever queued up while the model ran
                    job = model.queue.get_nowait()
                else:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(model.queue.get(), left)
                    except TimeoutError:
                        break
                jobs.append(job)
                rows += len(job[0])
            x = np.concatenate([j[0] for j in jobs])
            batch_rows.labels(model.cid).observe(len(x))
            try:
                logits = await asyncio.to_thread(model.run, x)
            except Exception as exc:  # a model failing is the model's error, per request
                for _, fut in jobs:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            at = 0
            for xs, fut in jobs:
                if not fut.done():
                    fut.set_result(logits[at:at + len(xs)])
                at += len(xs)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        for w in workers:
            w.cancel()

    app = FastAPI(title="plexnet model server", lifespan=lifespan)

    def get_model(cid: str) -> LoadedModel:
        if cid in models:
            return models[cid]
        try:
            model = load_model(blobs, cid)
        except (BlobNotFound, InvalidCID) as exc:
            raise HTTPException(404, f"no model {cid}: {exc}") from None
        except (BlobCorrupted, ArtifactError) as exc:
            raise HTTPException(422, f"model {cid} cannot be served: {exc}") from None
        model.queue = asyncio.Queue()
        workers.append(asyncio.get_running_loop().create_task(batcher(model)))
        models[cid] = model
        return model

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "models": len(models)}

    @app.get("/v1/models")
    async def list_models() -> list[dict[str, Any]]:
        return [{"cid": m.cid, "runtime": m.runtime, "inputs": m.n_in, "outputs": m.n_out}
                for m in models.values()]

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/models/{cid}/predict")
    async def predict(cid: str, request: Request) -> Any:
        started = time.perf_counter()
        status = "ok"
        try:
            model = get_model(cid)
            try:
                body = await request.json()
            except ValueError:
                raise HTTPException(422, "the body must be JSON: {\"inputs\": [[...], ...]}") \
                    from None
            rows = body.get("inputs") if isinstance(body, dict) else None
            if not isinstance(rows, list) or not rows:
                raise HTTPException(422, "give {\"inputs\": [[...], ...]}: a non-empty list "
                                    "of rows")
            if len(rows) > max_rows:
                raise HTTPException(413, f"{len(rows)} rows in one request; at most "
                                    f"{max_rows}")
            try:
                x = np.asarray(rows, dtype=np.float32)
            except (ValueError, TypeError):
                raise HTTPException(422, "inputs must be rows of numbers of one length") \
                    from None
            if x.ndim != 2 or x.shape[1] != model.n_in:
                raise HTTPException(422, f"each row must hold {model.n_in} numbers; got "
                                    f"shape {list(x.shape)}")
            if not np.isfinite(x).all():
                raise HTTPException(422, "inputs hold NaN or infinite values")
            fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
            assert model.queue is not None
            await model.queue.put((x, fut))
            logits = await fut
            probs = _softmax(logits.astype(np.float64))
            return JSONResponse({"model": cid, "predictions": probs.argmax(1).tolist(),
                                 "probabilities": np.round(probs, 6).tolist()})
        except HTTPException as exc:
            status = str(exc.status_code)
            raise
        finally:
            # Unknown CIDs share one label: a client cannot grow the metrics without bound.
            requests.labels(cid if cid in models else "unknown", status).inc()
            if status == "ok":
                latency.labels(cid).observe(time.perf_counter() - started)

    app.state.models = models
    app.state.limits = {"max_batch": max_batch, "max_wait_ms": max_wait_ms,
                        "max_rows": max_rows}
    return app
