"""Running one attempt on its provider's Ray node, and the faults tests can inject there.

Thin on purpose: placement decided where; this module pins one Ray task to the
provider's custom resource. On that node the task kind runs, its outputs go to
the blob store, and the provider signs a ``job.receipt`` entry with its own key.
The caller gets the signed receipt back to check and append.

:class:`Faults` is the declared plug-in point for misbehaviour in tests, the demo
and the simulator: a byzantine provider skips a fraction of its attempts and
returns made-up outputs (with a perfectly good signature — it is lying, not
broken). Verification never looks at it; it has to catch the lie on its own.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plexnet.compute.errors import ExecutionError
from plexnet.compute.job import JobSpec
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.task import registered
from plexnet.core.identity import Identity
from plexnet.core.keystore import Keystore

__all__ = ["Faults", "RunResult", "attempt_error", "run_job", "submit_attempt"]


@dataclass(frozen=True)
class Faults:
    """Injected misbehaviour: provider name -> fraction of its attempts it fakes."""

    byzantine: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    def fakes(self, provider: str, job_id: str, unit: int, attempt: int) -> bool:
        """Whether ``provider`` fakes this attempt (deterministic, uniform in [0, 1))."""
        fraction = self.byzantine.get(provider, 0.0)
        if fraction <= 0:
            return False
        digest = hashlib.sha256(f"{self.seed}/{provider}/{job_id}/{unit}/{attempt}".encode())
        return int.from_bytes(digest.digest()[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class RunResult:
    """What came back from the provider: the signed receipt and where it ran."""

    receipt: bytes
    node_id: str
    wall_s: float


@functools.lru_cache(maxsize=64)
def _cached_identity(keystore_root: str, name: str, mtime_ns: int) -> Identity:
    del mtime_ns  # part of the key: a replaced key file is read again
    return Keystore(Path(keystore_root)).load(name)


def _provider_identity(keystore_root: str, name: str) -> Identity:
    """The provider's key, read once per worker process (parsing PEM costs ~1 ms)."""
    path = Path(keystore_root) / f"{name}.pem"
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        mtime = 0  # let Keystore.load raise its clear error
    return _cached_identity(keystore_root, name, mtime)


def _execute(job_json: str, module: str | None, unit: int, attempt: int, blob_root: str,
             keystore_root: str, provider_key: str, provider: str,
             fake: bool) -> tuple[bytes, str, float]:
    """Runs on the provider's node: do the work (or fake it), store outputs, sign."""
    import os

    import ray

    from plexnet.compute.task import TaskContext, load_task
    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds.jobs import JobReceipt

    started = time.perf_counter()
    job = JobSpec.model_validate_json(job_json)
    blobs = LocalBlobStore(Path(blob_root))
    if fake:
        outputs = {"result": blobs.put(os.urandom(64))}  # no work, made-up bytes
        metrics: dict[str, Any] = {}
    else:
        task = load_task(job.task, module)
        ctx = TaskContext(blobs, provider, job.job_id, unit=unit,
                          units=job.workload.units, attempt=attempt)
        result = task.run(ctx, list(job.inputs), job.params)
        for cid in result.outputs.values():
            if not blobs.has(cid):
                raise ExecutionError(f"task {job.task} reported output {cid} it did not store")
        outputs, metrics = result.outputs, dict(result.metrics)
    wall_s = time.perf_counter() - started
    identity = _provider_identity(keystore_root, provider_key)
    metrics.update(outputs=outputs, wall_s=round(wall_s, 4))
    receipt = Entry.create(identity, JobReceipt(job_id=job.job_id, unit=unit, attempt=attempt,
                                                inputs=list(job.inputs),
                                                outputs=list(outputs.values()), metrics=metrics))
    return receipt.to_bytes(), ray.get_runtime_context().get_node_id(), wall_s


@functools.cache
def _remote_execute() -> Any:
    """``_execute`` as a Ray remote function, made once: Ray exports it once per process."""
    import ray

    return ray.remote(_execute)


def submit_attempt(job: JobSpec, provider: ProviderProfile, unit: int, attempt: int, *,
                   blob_root: Path, keystore_root: Path, provider_key: str,
                   faults: Faults | None = None) -> Any:
    """Start one attempt on ``provider``'s node; return its Ray ObjectRef at once.

    ``ray.get`` on the reference yields ``(receipt bytes, node id, wall seconds)``.
    """
    remote = _remote_execute().options(
        resources={provider.resource: 0.01}, num_cpus=1, max_retries=0,
        name=f"{job.task}:{job.job_id}/{unit}/{attempt}",
    )
    fake = bool(faults and faults.fakes(provider.name, job.job_id, unit, attempt))
    return remote.remote(job.model_dump_json(), registered().get(job.task), unit, attempt,
                         str(blob_root), str(keystore_root), provider_key, provider.name, fake)


def run_job(job: JobSpec, provider: ProviderProfile, *, blob_root: Path, keystore_root: Path,
            provider_key: str, unit: int = 0, attempt: int = 0) -> RunResult:
    """Run one attempt of ``job`` on ``provider``'s node and wait for its signed receipt.

    Raises:
        ExecutionError: if the task fails, the provider's node dies, or the
            deadline passes.
    """
    import ray
    from ray.exceptions import GetTimeoutError

    ref = submit_attempt(job, provider, unit, attempt, blob_root=blob_root,
                         keystore_root=keystore_root, provider_key=provider_key)
    try:
        receipt, node_id, wall_s = ray.get(ref, timeout=job.deadline_s)
    except GetTimeoutError:
        ray.cancel(ref, force=True)
        raise ExecutionError(f"job {job.job_id} missed its {job.deadline_s:.0f} s deadline "
                             f"on {provider.name}") from None
    except Exception as exc:
        raise attempt_error(job.job_id, provider.name, exc) from None
    return RunResult(receipt, node_id, wall_s)


def attempt_error(job_id: str, provider: str, exc: BaseException) -> ExecutionError:
    """An ExecutionError saying whether the task failed or the provider vanished."""
    from ray.exceptions import RayTaskError

    if isinstance(exc, RayTaskError):
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        return ExecutionError(f"job {job_id} failed on {provider}: "
                              f"{type(cause).__name__}: {cause}")
    return ExecutionError(f"job {job_id} lost on {provider}: {type(exc).__name__}: {exc}")
