"""Ray node processes of a plexnet network: the head, and one node per provider.

``plexnet network up`` starts a Ray head on this machine; ``plexnet provider join``
starts a Ray worker node that carries the provider's custom resource and labels,
attached to a head on this machine or another. Each node runs as ``ray start
--block`` in a session of its own, so it outlives the command that started it;
its pid and address go in ``<home>/network/<name>.json`` so that ``leave`` and
``down`` stop exactly the nodes plexnet started and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from plexnet.compute.errors import ComputeError
from plexnet.compute.profile import ProviderProfile

__all__ = ["HEAD", "NodeRecord", "connect_ray", "node_records", "start_head", "start_provider",
           "stop_node"]

HEAD: Final = "head"
_STARTUP_S: Final = 60.0
# Each node's shared-memory object store. Ray's default (30% of RAM) per node
# would let a few simulated providers on one machine claim all of it.
_OBJECT_STORE_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True)
class NodeRecord:
    """A node plexnet started: which, where, and the pid of its ``ray start --block``."""

    name: str
    address: str
    pid: int
    log: str

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _folder(home: Path) -> Path:
    folder = home / "network"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ray_binary() -> str:
    candidate = Path(sys.executable).with_name("ray")
    found = str(candidate) if candidate.exists() else shutil.which("ray")
    if not found:
        raise ComputeError("the `ray` command is not installed; pip install 'ray[default]'")
    return found


def _env() -> dict[str, str]:
    # Local networks run without Ray's token auth unless the operator sets it up.
    return {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}


def _launch(home: Path, name: str, address: str, args: list[str]) -> NodeRecord:
    existing = {r.name: r for r in node_records(home)}
    if name in existing and existing[name].alive():
        raise ComputeError(f"node {name!r} is already running (pid {existing[name].pid})")
    log = _folder(home) / f"{name}.log"
    with log.open("ab") as out:
        # The argument list is built here from validated names, never from a shell.
        proc = subprocess.Popen([_ray_binary(), "start", "--block", "--disable-usage-stats",  # noqa: S603
                                 f"--object-store-memory={_OBJECT_STORE_BYTES}", *args],
                                stdout=out, stderr=subprocess.STDOUT, env=_env(),
                                start_new_session=True)
    record = NodeRecord(name, address, proc.pid, str(log))
    (_folder(home) / f"{name}.json").write_text(json.dumps(asdict(record)))
    return record


def start_head(home: Path, port: int = 6379) -> NodeRecord:
    """Start a Ray head with no CPUs (work must land on providers); wait until it serves."""
    address = f"127.0.0.1:{port}"
    record = _launch(home, HEAD, address, ["--head", f"--port={port}", "--num-cpus=0",
                                           "--include-dashboard=false"])
    _wait(lambda: _ping(address), record, "the Ray head")
    return record


def start_provider(home: Path, profile: ProviderProfile, address: str,
                   cpus: int = 1) -> NodeRecord:
    """Start a Ray worker node for ``profile`` attached to the head at ``address``."""
    labels = f"provider={profile.name},tier={profile.tier},region={profile.region}"
    record = _launch(home, profile.name, address, [
        f"--address={address}", f"--num-cpus={cpus}",
        f"--resources={json.dumps({profile.resource: 1})}", f"--labels={labels}"])
    _wait(lambda: profile.resource in _cluster_resources(address), record,
          f"provider {profile.name}'s Ray node")
    return record


def stop_node(home: Path, name: str, timeout_s: float = 30.0) -> bool:
    """Stop a node plexnet started (SIGTERM, then SIGKILL); False if it was not running."""
    path = _folder(home) / f"{name}.json"
    if not path.exists():
        return False
    record = NodeRecord(**json.loads(path.read_text()))
    path.unlink()
    if not record.alive():
        return False
    os.killpg(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while record.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if record.alive():
        os.killpg(record.pid, signal.SIGKILL)
    return True


def node_records(home: Path) -> list[NodeRecord]:
    return [NodeRecord(**json.loads(p.read_text()))
            for p in sorted(_folder(home).glob("*.json"))]


def connect_ray(address: str) -> None:
    """Join the Ray cluster at ``address`` as a driver (idempotent)."""
    import logging

    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)


def _ping(address: str) -> bool:
    result = subprocess.run([_ray_binary(), "status", f"--address={address}"], env=_env(),  # noqa: S603
                            capture_output=True, timeout=30)
    return result.returncode == 0


def _cluster_resources(address: str) -> dict[str, Any]:
    connect_ray(address)
    import ray

    resources: dict[str, Any] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return resources


def _wait(ready: Any, record: NodeRecord, what: str) -> None:
    deadline = time.monotonic() + _STARTUP_S
    while time.monotonic() < deadline:
        if not record.alive():
            raise ComputeError(f"{what} exited at start; see {record.log}")
        with contextlib.suppress(Exception):  # not reachable yet: ask again
            if ready():
                return
        time.sleep(0.5)
    raise ComputeError(f"{what} did not come up within {_STARTUP_S:.0f} s; see {record.log}")
