"""How the data layer runs heavy work: as task units, in process or as a compute job.

Gates that train models (the fold models of the label-issue gate, the model the
backdoor gate inspects) do it through a registered task kind, split into units.
A :class:`UnitRunner` runs those units and returns each unit's output CIDs:

* :class:`LocalRunner` runs them one after another in this process (tests, the
  command line without a network);
* a network runner (``plexnet.data.network.JobRunner``) submits them as a
  ``parallel`` job on the compute network: placed, run on providers' Ray nodes,
  replicated, verified and paid like any other job.

Either way the same task code runs on the same inputs, so the verdicts agree.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Protocol

import numpy as np

from plexnet.compute.task import TaskContext, load_task, registered
from plexnet.core import canonical
from plexnet.core.blobstore import BlobStore

__all__ = ["LocalRunner", "UnitRunner", "get_array", "put_array"]


def put_array(blobs: BlobStore, array: np.ndarray) -> str:
    """Store ``array`` as a plain ``.npy`` blob (never pickled); return its CID. Units
    take their inputs and give their outputs this way."""
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return str(blobs.put(out.getvalue()))


def get_array(blobs: BlobStore, cid: str) -> np.ndarray:
    """The array in ``.npy`` blob ``cid``.

    Raises:
        GateError: if the blob is not a plain ``.npy`` array (pickles are refused).
    """
    from plexnet.data.errors import GateError

    try:
        return np.load(io.BytesIO(blobs.get(cid)), allow_pickle=False)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise GateError(f"blob {cid} is not a plain .npy array: {exc}") from None


class UnitRunner(Protocol):
    """Runs ``units`` units of task kind ``task``; returns each unit's output CIDs."""

    blobs: BlobStore

    def run(self, task: str, inputs: list[str], params: dict[str, Any], units: int, *,
            flops: float = 0.0) -> list[tuple[str, ...]]: ...


class LocalRunner:
    """Runs every unit in this process, in order."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def run(self, task: str, inputs: list[str], params: dict[str, Any], units: int, *,
            flops: float = 0.0) -> list[tuple[str, ...]]:
        kind = load_task(task, registered().get(task))
        digest = hashlib.sha256(canonical.dumps([task, inputs, params, units])).hexdigest()
        job_id = f"local-{digest[:16]}"
        results = []
        for unit in range(units):
            ctx = TaskContext(blobs=self.blobs, provider="local", job_id=job_id, unit=unit,
                              units=units)
            results.append(tuple(kind.run(ctx, inputs, params).outputs.values()))
        return results
