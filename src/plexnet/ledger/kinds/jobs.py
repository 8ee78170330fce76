"""Compute entry kinds: providers join and leave; jobs are submitted, placed, receipted, settled.

The ledger records the lifecycle and checks who may move a job along it;
what a profile or job spec *means* is the compute layer's business, so they are
stored as canonical JSON here. Statuses::

    submitted --place--> placed --receipt--> completed --settle--> settled
        \\_____________________\\______fail______> failed

* ``provider.register`` / ``provider.leave`` — signed by the provider.
* ``job.submit``  — the requester, naming an open escrow they paid for the budget.
* ``job.place``   — the requester or the operator, naming an active provider.
* ``job.receipt`` — the placed provider: input and output CIDs and metrics.
* ``job.settle``  — the requester or the operator, after paying from the escrow.
* ``job.fail``    — the requester, the operator or the placed provider.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from plexnet.ledger.entry import Body, Cid, Did, Entry, State, register
from plexnet.ledger.kinds.identity import (
    Ref,
    json_text,
    require,
    require_registered,
    require_row,
)

__all__ = [
    "JobFail",
    "JobPlace",
    "JobReceipt",
    "JobSettle",
    "JobSubmit",
    "ProviderLeave",
    "ProviderRegister",
]

TaskKind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


@register("provider.register")
class ProviderRegister(Body):
    """A provider offers compute; re-registering updates its profile."""

    profile: dict[str, Any]

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        old = state.get("providers", entry.signer)
        state.put("providers", entry.signer, {
            "did": entry.signer, "profile": json_text(self.profile), "status": "active",
            "registered_seq": old["registered_seq"] if old else seq, "updated_seq": seq,
        })


@register("provider.leave")
class ProviderLeave(Body):
    reason: Annotated[str, Field(max_length=500)] = ""

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        row = require_row(state, "providers", entry.signer, "provider")
        require(row["status"] == "active", f"provider {entry.signer} has already left")
        state.put("providers", entry.signer, {**row, "status": "left", "updated_seq": seq})


@register("job.submit")
class JobSubmit(Body):
    job_id: Ref
    task: TaskKind
    spec: dict[str, Any]
    escrow_id: Ref

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(state.get("jobs", self.job_id) is None, f"job {self.job_id!r} already exists")
        escrow = require_row(state, "escrows", self.escrow_id, "escrow")
        require(escrow["payer"] == entry.signer and escrow["status"] == "open",
                f"escrow {self.escrow_id!r} is not an open escrow paid by the requester")
        state.put("jobs", self.job_id, {
            "job_id": self.job_id, "requester": entry.signer, "task": self.task,
            "spec": json_text(self.spec), "escrow_id": self.escrow_id, "provider": None,
            "status": "submitted", "receipt_seq": None, "outputs": None,
            "created_seq": seq, "updated_seq": seq,
        })


def _job(state: State, job_id: str, status: str) -> dict[str, Any]:
    row = require_row(state, "jobs", job_id, "job")
    require(row["status"] == status, f"job {job_id!r} is {row['status']}, not {status}")
    return row


@register("job.place")
class JobPlace(Body):
    job_id: Ref
    provider: Did

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "submitted")
        require(entry.signer in (job["requester"], state.operator),
                "only the requester or the operator may place a job")
        provider = require_row(state, "providers", self.provider, "provider")
        require(provider["status"] == "active", f"provider {self.provider} has left")
        state.put("jobs", self.job_id, {
            **job, "provider": self.provider, "status": "placed", "updated_seq": seq,
        })


@register("job.receipt")
class JobReceipt(Body):
    """The provider's signed account of the work: what went in, what came out."""

    job_id: Ref
    inputs: Annotated[list[Cid], Field(max_length=4096)]
    outputs: Annotated[list[Cid], Field(min_length=1, max_length=4096)]
    metrics: dict[str, Any] = Field(default_factory=dict)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "placed")
        require(entry.signer == job["provider"],
                f"only the placed provider may sign the receipt of job {self.job_id!r}")
        state.put("jobs", self.job_id, {
            **job, "status": "completed", "receipt_seq": seq,
            "outputs": json_text(self.outputs), "updated_seq": seq,
        })


@register("job.settle")
class JobSettle(Body):
    job_id: Ref

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "completed")
        require(entry.signer in (job["requester"], state.operator),
                "only the requester or the operator may settle a job")
        state.put("jobs", self.job_id, {**job, "status": "settled", "updated_seq": seq})


@register("job.fail")
class JobFail(Body):
    job_id: Ref
    reason: Reason

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = require_row(state, "jobs", self.job_id, "job")
        require(job["status"] in ("submitted", "placed"),
                f"job {self.job_id!r} is {job['status']}; only open jobs can fail")
        require(entry.signer in (job["requester"], job["provider"], state.operator),
                "only the requester, the placed provider or the operator may fail a job")
        require_registered(state, entry.signer)
        state.put("jobs", self.job_id, {**job, "status": "failed", "updated_seq": seq})
