"""plexnet serve: the HTTP model server over this workspace's blob store.

Registered in ``main.py`` as ``app.command("serve")(serve)``. Models named with
``--model`` are loaded (and checked against their CIDs) before the server starts,
so a bad CID fails here with one line instead of on the first request; any other
model in the blob store is loaded on its first request.

Without ``--tier`` the server runs here, in this process. With ``--tier edge|fog|
cloud`` it is placed on a provider of the workspace's network instead: the
active providers on the ledger whose keys this home holds (the nodes on this
machine, which share its blob store; ``job_commands.participants``), filtered by
the latency target and ranked by price (``models.deploy.choose_host``), then a
Ray actor on the chosen provider's node serves until Ctrl-C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from plexnet.cli.output import err, out
from plexnet.core.errors import ConfigError

if TYPE_CHECKING:
    from plexnet.cli.workspace import Workspace

__all__ = ["serve"]

_LOCAL_HOST = "127.0.0.1"
_LOCAL_PORT = 8000
_HEALTH_EVERY_S = 2.0


def serve(
    ctx: typer.Context,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="a model CID to load before starting (repeatable)")] = None,
    host: Annotated[str | None, typer.Option(
        help=f"address to listen on (default {_LOCAL_HOST}; not with --tier)")] = None,
    port: Annotated[int | None, typer.Option(
        help=f"port to listen on (default {_LOCAL_PORT}; with --tier a free one)")] = None,
    max_batch: Annotated[int, typer.Option(help="most rows per model call")] = 64,
    max_wait_ms: Annotated[float, typer.Option(help="wait this long for more requests "
                                               "before a model call")] = 0.0,
    max_rows: Annotated[int, typer.Option(help="most rows in one request")] = 1024,
    tier: Annotated[str | None, typer.Option(
        help="serve from a provider of the network chosen for this latency target: edge, "
             "fog or cloud (the cheapest that meets it)")] = None,
    max_rtt_ms: Annotated[float | None, typer.Option(
        help="with --tier: the round-trip bound in ms, instead of the target's")] = None,
) -> None:
    """Serve models from the blob store over HTTP: POST /v1/models/CID/predict with
    {"inputs": [[...]]}; GET /v1/models, /healthz, /metrics (Prometheus)."""
    if tier is None:
        if max_rtt_ms is not None:
            raise ConfigError("--max-rtt-ms applies with --tier only")
        _serve_here(ctx.obj, model or [], host or _LOCAL_HOST,
                    _LOCAL_PORT if port is None else port, max_batch, max_wait_ms, max_rows)
        return
    if host is not None:
        raise ConfigError("--host applies to a local server only: a server placed with --tier "
                          "listens on 127.0.0.1 of its provider's machine")
    if not 0 <= (port or 0) < 65536 or max_batch < 1 or max_rows < 1 or max_wait_ms < 0 \
            or (max_rtt_ms is not None and max_rtt_ms <= 0):
        raise ConfigError("need 0 <= port < 65536, max-batch and max-rows >= 1, "
                          "max-wait-ms >= 0, max-rtt-ms > 0")
    _serve_placed(ctx.obj, model or [], tier, max_rtt_ms, port or 0, max_batch, max_wait_ms,
                  max_rows)


def _serve_here(ws: Workspace, models: list[str], host: str, port: int, max_batch: int,
                max_wait_ms: float, max_rows: int) -> None:
    import uvicorn

    from plexnet.models.serving import create_app, load_model

    if not 0 < port < 65536 or max_batch < 1 or max_rows < 1 or max_wait_ms < 0:
        raise ConfigError("need 0 < port < 65536, max-batch and max-rows >= 1, "
                          "max-wait-ms >= 0")
    for cid in models:
        loaded = load_model(ws.blobs, cid)
        err.print(f"model {cid}: {loaded.runtime}, {loaded.n_in} inputs, {loaded.n_out} "
                  "outputs", highlight=False)
    app = create_app(ws.blobs, max_batch=max_batch, max_wait_ms=max_wait_ms,
                     max_rows=max_rows)
    err.print(f"serving on http://{host}:{port} (Ctrl-C stops)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _serve_placed(ws: Workspace, models: list[str], tier: str, max_rtt_ms: float | None,
                  port: int, max_batch: int, max_wait_ms: float, max_rows: int) -> None:
    import signal
    import time

    from plexnet.cli.job_commands import participants
    from plexnet.cli.network_commands import _head_address
    from plexnet.compute.node import connect_ray
    from plexnet.models.deploy import LATENCY_TIERS, choose_host, deploy
    from plexnet.models.errors import DeployError

    if tier not in LATENCY_TIERS:  # before the ledger is opened
        raise ConfigError(f"--tier must be one of {', '.join(LATENCY_TIERS)}, not {tier!r}")
    if not ws.has_ledger():
        raise ConfigError("no ledger here, so no providers to serve from: run `plexnet "
                          "network up` and `plexnet provider join`, or serve without --tier")
    placement = choose_host([p.state for p in participants(ws)], tier, max_rtt_ms=max_rtt_ms)
    host = placement.profile
    out.print(f"{tier} target ({escape(placement.describe())}): provider "
              f"{host.name} ({host.tier}, {host.rtt_ms:g} ms, "
              f"{host.price_per_device_hour:g} credits/device-hour)", highlight=False)
    for name, why in placement.excluded:
        out.print(f"excluded {name}: {escape(why)}", highlight=False)
    connect_ray(_head_address(ws, None))
    with deploy(host, ws.settings.blob_root, models=models, max_batch=max_batch,
                max_wait_ms=max_wait_ms, max_rows=max_rows, port=port) as deployment:
        for cid in deployment.models:
            err.print(f"model {cid}: checked on {host.name}", highlight=False)
        out.print(f"serving on {deployment.url} from {host.name} (Ray node "
                  f"{deployment.node_id[:12]})", highlight=False)
        err.print("Ctrl-C stops", highlight=False)
        # SIGTERM stops it as Ctrl-C does (uvicorn's own convention): the actor is
        # killed on the way out of the ``with`` instead of left to Ray's clean-up.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while deployment.alive():
                time.sleep(_HEALTH_EVERY_S)
        except KeyboardInterrupt:
            err.print(f"stopping the server on {host.name}", highlight=False)
            return
        finally:
            signal.signal(signal.SIGTERM, previous)
        raise DeployError(f"the server on {host.name} stopped answering (its node may have "
                          "left the network); run the command again to place it anew")



def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
