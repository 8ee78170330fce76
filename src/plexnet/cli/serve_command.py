"""plexnet serve: the HTTP model server over this workspace's blob store.

Registered in ``main.py`` as ``app.command("serve")(serve)``. Models named with
``--model`` are loaded (and checked against their CIDs) before the server starts,
so a bad CID fails here with one line instead of on the first request; any other
model in the blob store is loaded on its first request.
"""

from __future__ import annotations

from typing import Annotated

import typer

from plexnet.cli.output import err
from plexnet.core.errors import ConfigError

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="a model CID to load before starting (repeatable)")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    max_batch: Annotated[int, typer.Option(help="most rows per model call")] = 64,
    max_wait_ms: Annotated[float, typer.Option(help="wait this long for more requests "
                                               "before a model call")] = 0.0,
    max_rows: Annotated[int, typer.Option(help="most rows in one request")] = 1024,
) -> None:
    """Serve models from the blob store over HTTP: POST /v1/models/CID/predict with
    {"inputs": [[...]]}; GET /v1/models, /healthz, /metrics (Prometheus)."""
    import uvicorn

    from plexnet.models.serving import create_app, load_model

    if not 0 < port < 65536 or max_batch < 1 or max_rows < 1 or max_wait_ms < 0:
        raise ConfigError("need 0 < port < 65536, max-batch and max-rows >= 1, "
                          "max-wait-ms >= 0")
    ws = ctx.obj
    for cid in model or []:
        loaded = load_model(ws.blobs, cid)
        err.print(f"model {cid}: {loaded.runtime}, {loaded.n_in} inputs, {loaded.n_out} "
                  "outputs", highlight=False)
    app = create_app(ws.blobs, max_batch=max_batch, max_wait_ms=max_wait_ms,
                     max_rows=max_rows)
    err.print(f"serving on http://{host}:{port} (Ctrl-C stops)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
