"""Heavy gate work as jobs on the compute network (a :class:`~plexnet.data.runner.UnitRunner`).

:class:`JobRunner` turns a gate's units (the label-issue gate's fold models, the
backdoor gate's representation model) into a ``parallel`` job that the requester
(the dataset's curator) escrows and submits; the compute controller places it,
runs every unit on a provider's Ray node, replicates a share of units on other
providers, compares their output CIDs, pays the verified ones and refunds the rest
— exactly as for any other job. The gate then reads the verified outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from plexnet.compute.controller import JobReport, run_parallel_job
from plexnet.compute.job import JobSpec, Requirements, VerificationPolicy, Workload
from plexnet.compute.settlement import Participant
from plexnet.core import canonical
from plexnet.core.blobstore import BlobStore
from plexnet.core.identity import Identity
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds.jobs import JobSubmit

__all__ = ["JobRunner"]


class JobRunner:
    """Runs units as a paid, verified ``parallel`` job; see the module docstring.

    Args:
        requester: who pays (escrows ``budget_micro`` per job) and owns the job.
        operator: the coordinator's identity (signs placement, verdicts, payouts).
        participants: the providers to place on.
        verification: the replication policy of the jobs.
        prefix: job ids are ``<prefix>-<n>-<digest>``.
    """

    def __init__(self, *, ledger: Ledger, blobs: BlobStore, blob_root: Path,
                 keystore_root: Path, participants: Sequence[Participant],
                 operator: Identity, requester: Identity, budget_micro: int,
                 requirements: Requirements | None = None,
                 verification: VerificationPolicy | None = None, prefix: str = "gate",
                 on_event: Callable[[str], None] | None = None) -> None:
        self.blobs = blobs
        self._ledger = ledger
        self._blob_root = blob_root
        self._keystore_root = keystore_root
        self._participants = list(participants)
        self._operator = operator
        self._requester = requester
        self._budget = budget_micro
        self._requirements = requirements or Requirements()
        self._verification = verification or VerificationPolicy()
        self._prefix = prefix
        self._on_event = on_event
        self.reports: list[JobReport] = []

    def run(self, task: str, inputs: list[str], params: dict[str, Any], units: int, *,
            flops: float = 0.0) -> list[tuple[str, ...]]:
        digest = hashlib.sha256(canonical.dumps([task, inputs, params, units])).hexdigest()
        job_id = f"{self._prefix}-{len(self.reports) + 1}-{digest[:10]}"
        spec = JobSpec(job_id=job_id, task=task, inputs=inputs, params=params,
                       input_bytes=float(sum(self.blobs.size(c) for c in inputs)),
                       workload=Workload(kind="parallel", units=units), flops=flops,
                       requirements=self._requirements, deadline_s=3600,
                       budget_micro=self._budget, verification=self._verification)
        me = self._requester
        self._ledger.append([
            Entry.create(me, cr.Escrow(escrow_id=job_id, amount=self._budget,
                                       arbiter=self._operator.did,
                                       purpose=f"budget of {job_id}")),
            Entry.create(me, JobSubmit(job_id=job_id, task=task,
                                       spec=spec.model_dump(mode="json"), escrow_id=job_id,
                                       units=units)),
        ])
        report = run_parallel_job(spec, self._participants, operator=self._operator,
                                  requester_did=me.did, escrow_id=job_id, ledger=self._ledger,
                                  blob_root=self._blob_root, keystore_root=self._keystore_root,
                                  on_event=self._on_event)
        self.reports.append(report)
        return [report.results[u] for u in range(units)]
