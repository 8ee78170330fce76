"""Placing a model server on a provider's Ray node, chosen for a latency target.

Two halves, kept apart (decide, then act):

* :func:`choose_host` is pure. A latency target (``edge``, ``fog`` or ``cloud``,
  see :data:`LATENCY_TIERS`) becomes placement :class:`Requirements`; every
  provider that breaks one is excluded with the reason (``placement.eligible``),
  and of the rest the cheapest by ``price_per_device_hour`` hosts the server
  (ties: lower ``rtt_ms``, then name). A server holds its provider's device for
  as long as it runs, so the hourly price is the whole cost; among providers that
  all meet the latency bound, being nearer still is only a tie-break. The frozen
  :class:`Placement` says who was chosen, who else could have been, and why the
  others were left out.
* :func:`deploy` carries it out: a Ray actor pinned to the provider's node with
  its custom resource (``provider_NAME``: 0.01, as job attempts are pinned, and
  no CPUs, so a server never blocks the node's job slot) builds the same FastAPI
  application ``plexnet serve`` runs (``serving.create_app``) over the blob store
  at ``blob_root``, checks each model it is asked to preload (a bad CID fails
  :func:`deploy` with the blob store's or the artifact's own error, not the
  first request), and runs uvicorn in a background thread of the actor process.
  :func:`deploy` returns once ``GET /healthz`` answers from the caller's side.

The server listens on 127.0.0.1 of the provider's machine and reads blobs from a
path on it: that is every provider of a one-machine network (``LocalCluster``,
or ``plexnet provider join`` run here), whose nodes share this machine's blob
store. A provider on another machine would need the server on its external
address and the blobs replicated there; neither is done here.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final

from plexnet.compute.job import Requirements
from plexnet.compute.placement import ProviderState, eligible
from plexnet.compute.profile import ProviderProfile
from plexnet.models.errors import DeployError

__all__ = ["LATENCY_TIERS", "Deployment", "Placement", "choose_host", "deploy"]

# Round-trip bounds to the requester, in ms. Edge: the device sits on the
# requester's own network, one LAN or 5G hop away (5G's low-latency target is 1-10
# ms), which is what lets a control loop or an AR frame use each answer. Fog: a
# site in the same metro area (an ISP point of presence, a campus rack), typically
# 10-30 ms; an edge device also qualifies. Under 30 ms of network a request plus a
# small model's run stays well within the ~100 ms a person perceives as instant.
# Cloud: any provider, including a distant region at 50-150 ms, for batch and
# large models where the price matters more than the wait.
LATENCY_TIERS: Final[Mapping[str, Requirements]] = MappingProxyType({
    "edge": Requirements(tiers=["edge"], max_rtt_ms=10.0),
    "fog": Requirements(tiers=["fog", "edge"], max_rtt_ms=30.0),
    "cloud": Requirements(),
})
# The next looser target, suggested when nothing meets one.
_LOOSER: Final = {"edge": "fog", "fog": "cloud"}
_POLL_S: Final = 0.05


@dataclass(frozen=True)
class Placement:
    """Where a model server goes: the host, the other candidates, who was excluded and why."""

    target: str
    requirements: Requirements
    host: ProviderState
    candidates: tuple[ProviderState, ...]  # every eligible provider, best first (host first)
    excluded: tuple[tuple[str, str], ...]  # (name, why), by name

    @property
    def profile(self) -> ProviderProfile:
        """The chosen provider's profile."""
        return self.host.profile

    def describe(self) -> str:
        """What the target asked of a host, in words: "tier edge, rtt <= 10 ms"."""
        return _describe(self.requirements)


def _describe(req: Requirements) -> str:
    parts = [f"tier {' or '.join(req.tiers)}" if req.tiers else "any tier"]
    if req.max_rtt_ms is not None:
        parts.append(f"rtt <= {req.max_rtt_ms:g} ms")
    if req.min_memory_gb:
        parts.append(f">= {req.min_memory_gb:g} GiB memory")
    if req.min_reputation:
        parts.append(f"reputation >= {req.min_reputation:g}")
    return ", ".join(parts)


def choose_host(providers: Sequence[ProviderState | ProviderProfile], target: str, *,
                min_reputation: float = 0.0, min_memory_gb: float = 0.0,
                max_rtt_ms: float | None = None) -> Placement:
    """The provider to serve from for a latency ``target``: the cheapest one that meets it.

    Args:
        providers: the snapshot; a bare ProviderProfile counts as a fresh provider.
        target: ``edge``, ``fog`` or ``cloud`` (see :data:`LATENCY_TIERS`).
        min_reputation: least posterior-mean reputation a host needs.
        min_memory_gb: least memory per device, GiB (the model has to fit).
        max_rtt_ms: replaces the target's round-trip bound, in ms (tiers still apply).

    Returns:
        The placement; ``excluded`` names every provider left out, with why.

    Raises:
        DeployError: an unknown target, no providers, or none that meets the
            target; the message gives each provider's reason and what to relax.
        ValueError: two providers share a name.
    """
    if target not in LATENCY_TIERS:
        raise DeployError(f"unknown latency target {target!r}; use one of "
                          f"{', '.join(LATENCY_TIERS)}")
    base = LATENCY_TIERS[target]
    req = Requirements.model_validate({
        **base.model_dump(), "min_reputation": min_reputation, "min_memory_gb": min_memory_gb,
        "max_rtt_ms": base.max_rtt_ms if max_rtt_ms is None else max_rtt_ms})
    names = [p.profile.name if isinstance(p, ProviderState) else p.name for p in providers]
    if len(set(names)) < len(names):
        raise ValueError("provider names must be unique")
    if not providers:
        raise DeployError("no providers registered: join one with `plexnet provider join`")
    ok, excluded = eligible(req, providers)
    excluded.sort()
    if not ok:
        why = "; ".join(f"{name}: {reason}" for name, reason in excluded)
        looser = _LOOSER.get(target)
        hint = (f"serve at the {looser} target, raise the rtt bound, or register a {target} "
                f"provider" if looser else "lower the reputation or memory minimum")
        raise DeployError(f"no provider meets the {target} target ({_describe(req)}): {why} "
                          f"— {hint}")
    ranked = sorted(ok, key=lambda s: (s.profile.price_per_device_hour, s.profile.rtt_ms,
                                       s.profile.name))
    return Placement(target, req, ranked[0], tuple(ranked), tuple(excluded))


# --- running it -------------------------------------------------------------


class _ModelServer:
    """The Ray actor on the provider's node: the app, its models, uvicorn in a thread."""

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: Any = None

    def start(self, blob_root: str, models: list[str], limits: dict[str, Any], port: int,
              timeout_s: float) -> tuple[int, str]:
        """Check the models, start serving; return (port, this node's Ray id)."""
        import socket
        import threading

        import ray
        import uvicorn

        from plexnet.core.blobstore import LocalBlobStore
        from plexnet.models.serving import create_app, load_model

        blobs = LocalBlobStore(Path(blob_root))
        for cid in models:
            # The app loads again on first use; this read is the check that the
            # CID names a servable model, raising its own error here.
            load_model(blobs, cid)
        app = create_app(blobs, **limits)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # Bound here and handed to uvicorn: port 0 gets a free port, with no
            # window for another process to take it between choosing and binding.
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            sock.close()
            raise DeployError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick "
                              "another port or leave it to the system (0)") from None
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="plexnet-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DeployError("uvicorn did not start on the provider's node")
            time.sleep(_POLL_S)
        return sock.getsockname()[1], ray.get_runtime_context().get_node_id()

    def stop(self) -> None:
        """Stop uvicorn and wait: its listening socket is closed when this returns."""
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)


@functools.cache
def _actor_class() -> Any:
    """``_ModelServer`` as a Ray actor class, made once per process."""
    import ray

    return ray.remote(_ModelServer)


@dataclass(eq=False)
class Deployment:
    """A running model server on a provider's node. ``stop()`` or leave the ``with`` block."""

    url: str  # http://127.0.0.1:PORT on the provider's machine
    provider: str
    node_id: str  # the Ray node the server runs on
    models: tuple[str, ...]  # CIDs checked before it started
    _actor: Any = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def alive(self, timeout_s: float = 2.0) -> bool:
        """Whether ``GET /healthz`` answers 200 within ``timeout_s``."""
        return not self._stopped and _healthy(self.url, timeout_s)

    def stop(self) -> None:
        """Stop the server and kill its actor. Idempotent; safe if the node is gone."""
        if self._stopped:
            return
        self._stopped = True
        import ray
        from ray.exceptions import RayError

        if not ray.is_initialized():
            return  # the driver has left: Ray has already taken its actors down
        with contextlib.suppress(RayError):  # a dead actor or node: nothing to close
            ray.get(self._actor.stop.remote(), timeout=15)
        with contextlib.suppress(RayError):
            ray.kill(self._actor)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _healthy(url: str, timeout_s: float) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/healthz", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def deploy(profile: ProviderProfile, blob_root: Path | str, *, models: Sequence[str] = (),
           max_batch: int = 64, max_wait_ms: float = 0.0, max_rows: int = 1024, port: int = 0,
           start_timeout_s: float = 120.0) -> Deployment:
    """Start a model server on ``profile``'s Ray node; return once it answers.

    Ray must be initialised and connected to the cluster the provider's node is in.

    Args:
        profile: the host, as chosen by :func:`choose_host`.
        blob_root: the blob store directory, as a path on the provider's machine.
        models: CIDs to check before serving; any other model loads on first use.
        max_batch, max_wait_ms, max_rows: as for ``serving.create_app``.
        port: port on 127.0.0.1 of the provider's machine; 0 picks a free one.
        start_timeout_s: how long the actor may take to be scheduled, import its
            libraries, check the models and answer ``/healthz``, in seconds.

    Raises:
        BlobNotFound, BlobCorrupted, InvalidCID, ArtifactError: a model in
            ``models`` cannot be served (the blob store's or loader's own error).
        DeployError: the server did not come up in time, or its actor died.
        ValueError: a limit out of range.
    """
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

    from plexnet.core.errors import PlexnetError

    if not 0 <= port < 65536 or max_batch < 1 or max_rows < 1 or max_wait_ms < 0:
        raise ValueError("need 0 <= port < 65536, max_batch and max_rows >= 1, "
                         "max_wait_ms >= 0")
    deadline = time.monotonic() + start_timeout_s
    actor = _actor_class().options(
        resources={profile.resource: 0.01}, num_cpus=0, max_restarts=0,
    ).remote()
    limits = {"max_batch": max_batch, "max_wait_ms": max_wait_ms, "max_rows": max_rows}
    try:
        bound, node_id = ray.get(actor.start.remote(str(blob_root), list(models), limits, port,
                                                    start_timeout_s), timeout=start_timeout_s)
    except GetTimeoutError:
        ray.kill(actor)
        raise DeployError(f"the server on provider {profile.name} did not start within "
                          f"{start_timeout_s:g} s; is its Ray node up (`plexnet network "
                          "status`)?") from None
    except RayTaskError as exc:
        ray.kill(actor)
        if isinstance(exc.cause, PlexnetError):
            raise exc.cause from None
        raise DeployError(f"the server on provider {profile.name} failed to start: "
                          f"{type(exc.cause).__name__}: {exc.cause}") from None
    except RayActorError as exc:
        raise DeployError(f"the server's actor on provider {profile.name} died at start: "
                          f"{str(exc).splitlines()[0][:200]}") from None
    deployment = Deployment(f"http://127.0.0.1:{bound}", profile.name, node_id, tuple(models),
                            actor)
    while not _healthy(deployment.url, timeout_s=2.0):
        if time.monotonic() > deadline:
            deployment.stop()
            raise DeployError(f"the server on provider {profile.name} started but "
                              f"{deployment.url}/healthz does not answer here")
        time.sleep(_POLL_S)
    return deployment
