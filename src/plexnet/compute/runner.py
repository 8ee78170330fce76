"""The execution controller: run a placed job on its provider's Ray node.

Thin on purpose: the decision was made by :mod:`placement`; this module pins one
Ray task to the provider's custom resource, and on that node the task kind runs,
its outputs go to the blob store, and the provider signs a ``job.receipt`` entry
with its own key. The controller returns the signed receipt for the requester
to check and the coordinator to append.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plexnet.compute.errors import ExecutionError
from plexnet.compute.job import JobSpec
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.task import registered

__all__ = ["RunResult", "run_job"]


@dataclass(frozen=True)
class RunResult:
    """What came back from the provider: the signed receipt and where it ran."""

    receipt: bytes
    node_id: str
    wall_s: float


def _execute(job_json: str, module: str | None, blob_root: str, keystore_root: str,
             provider_key: str, provider: str) -> tuple[bytes, str, float]:
    """Runs on the provider's node: do the work, store outputs, sign the receipt."""
    import ray

    from plexnet.compute.task import TaskContext, load_task
    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.core.keystore import Keystore
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds.jobs import JobReceipt

    started = time.perf_counter()
    job = JobSpec.model_validate_json(job_json)
    blobs = LocalBlobStore(Path(blob_root))
    task = load_task(job.task, module)
    result = task.run(TaskContext(blobs, provider, job.job_id), list(job.inputs), job.params)
    for cid in result.outputs.values():
        if not blobs.has(cid):
            raise ExecutionError(f"task {job.task} reported output {cid} it did not store")
    wall_s = time.perf_counter() - started
    identity = Keystore(Path(keystore_root)).load(provider_key)
    metrics: dict[str, Any] = {**result.metrics, "outputs": result.outputs,
                               "wall_s": round(wall_s, 3)}
    receipt = Entry.create(identity, JobReceipt(job_id=job.job_id, inputs=list(job.inputs),
                                                outputs=list(result.outputs.values()),
                                                metrics=metrics))
    return receipt.to_bytes(), ray.get_runtime_context().get_node_id(), wall_s


def run_job(job: JobSpec, provider: ProviderProfile, *, blob_root: Path, keystore_root: Path,
            provider_key: str) -> RunResult:
    """Run ``job`` on ``provider``'s node and wait for its signed receipt.

    Raises:
        ExecutionError: if the task fails, the provider's node dies, or the
            deadline passes.
    """
    import ray
    from ray.exceptions import GetTimeoutError, RayError, RayTaskError

    remote = ray.remote(_execute).options(
        resources={provider.resource: 0.01}, num_cpus=1, max_retries=0,
        name=f"{job.task}:{job.job_id}",
    )
    ref = remote.remote(job.model_dump_json(), registered().get(job.task), str(blob_root),
                        str(keystore_root), provider_key, provider.name)
    try:
        receipt, node_id, wall_s = ray.get(ref, timeout=job.deadline_s)
    except GetTimeoutError:
        ray.cancel(ref, force=True)
        raise ExecutionError(f"job {job.job_id} missed its {job.deadline_s:.0f} s deadline "
                             f"on {provider.name}") from None
    except RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        raise ExecutionError(f"job {job.job_id} failed on {provider.name}: "
                             f"{type(cause).__name__}: {cause}") from None
    except RayError as exc:
        raise ExecutionError(f"job {job.job_id} lost on {provider.name}: {exc}") from None
    return RunResult(receipt, node_id, wall_s)
