"""Compute entry kinds: providers join and leave; jobs run as attempts that are receipted,
verified and paid.

The ledger records who was asked to do what, who delivered, what verification
found, and who was paid for which attempt — and refuses anything out of order,
so nobody can be paid for work that was not verified, or paid twice. What a
profile or a job spec *means* is the compute layer's business; they are stored
as canonical JSON. Job statuses::

    submitted -place-> placed -receipt-> running -complete-> completed
    completed -verify-> verified -settle-> settled
    submitted | placed | running | completed -fail-> failed -settle-> settled

A job of ``units`` units (shards or workers) runs as *attempts*, keyed
``<job_id>/<unit>/<attempt>``: the primary attempt of each unit, replicas for
verification, re-runs after a provider vanished or cheated, tie-breakers.

* ``provider.register`` / ``provider.leave`` — the provider.
* ``job.submit``   — the requester, naming an open escrow they paid for the budget.
* ``job.place``    — requester or operator: the first attempts (the placement decision).
* ``job.assign``   — requester or operator: further attempts (replica, re-run, tie-break).
* ``job.receipt``  — the attempt's provider: inputs, outputs, metrics.
* ``job.lost``     — operator: attempts whose provider vanished (never paid).
* ``job.complete`` — operator: the accepted attempt of every unit.
* ``job.verify``   — operator: a verdict on every receipted attempt; updates reputations.
* ``job.settle``   — requester or operator, once the job's escrow is fully paid out.
* ``job.fail``     — requester or operator.

Payment for attempts is a ``credit.release`` naming them (see ``kinds.credits``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plexnet.core import canonical
from plexnet.ledger.entry import Body, Cid, Did, Entry, State, register
from plexnet.ledger.kinds.identity import Ref, json_text, require, require_row

__all__ = [
    "AttemptSpec",
    "JobAssign",
    "JobComplete",
    "JobFail",
    "JobLost",
    "JobPlace",
    "JobReceipt",
    "JobSettle",
    "JobSubmit",
    "JobVerify",
    "ProviderLeave",
    "ProviderRegister",
    "UnitResult",
    "Verdict",
    "attempt_key",
]

TaskKind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Unit = Annotated[int, Field(ge=0, le=1_000_000)]
Purpose = Literal["primary", "replica", "rerun", "tiebreak"]
Many = Field(min_length=1, max_length=100_000)
_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True)


def attempt_key(job_id: str, unit: int, attempt: int) -> str:
    return f"{job_id}/{unit}/{attempt}"


class AttemptSpec(BaseModel):
    """One unit of work given to one provider, at an agreed price."""

    model_config = _FROZEN

    unit: Unit
    attempt: Annotated[int, Field(ge=0, le=1_000)]
    provider: Did
    purpose: Purpose
    price_micro: Annotated[int, Field(ge=0, le=2**53 - 1)]


class Verdict(BaseModel):
    """What verification found about one receipted attempt.

    ``ok``: checked and agreed (by replica or audit); ``accepted``: not checked,
    no evidence against it; ``bad``: checked and wrong; ``rejected``: not used —
    done by a provider caught lying elsewhere in the job, or superseded — and so
    not paid, without counting for or against anyone's reputation.
    """

    model_config = _FROZEN

    unit: Unit
    attempt: Annotated[int, Field(ge=0, le=1_000)]
    verdict: Literal["ok", "accepted", "bad", "rejected"]


class UnitResult(BaseModel):
    model_config = _FROZEN

    unit: Unit
    attempt: Annotated[int, Field(ge=0, le=1_000)]


@register("provider.register")
class ProviderRegister(Body):
    """A provider offers compute; re-registering updates its profile."""

    profile: dict[str, Any]

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        old = state.get("providers", entry.signer)
        state.put("providers", entry.signer, {
            "did": entry.signer, "profile": json_text(self.profile), "status": "active",
            "verified_ok": old["verified_ok"] if old else 0,
            "verified_bad": old["verified_bad"] if old else 0,
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
    units: Annotated[int, Field(ge=1, le=1_000_000)] = 1

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(state.get("jobs", self.job_id) is None, f"job {self.job_id!r} already exists")
        escrow = require_row(state, "escrows", self.escrow_id, "escrow")
        require(escrow["payer"] == entry.signer and escrow["status"] == "open",
                f"escrow {self.escrow_id!r} is not an open escrow paid by the requester")
        state.put("jobs", self.job_id, {
            "job_id": self.job_id, "requester": entry.signer, "task": self.task,
            "spec": json_text(self.spec), "escrow_id": self.escrow_id, "units": self.units,
            "status": "submitted", "results": None, "created_seq": seq, "updated_seq": seq,
        })


def _job(state: State, job_id: str, *statuses: str) -> dict[str, Any]:
    row = require_row(state, "jobs", job_id, "job")
    require(row["status"] in statuses,
            f"job {job_id!r} is {row['status']}; this needs it {' or '.join(statuses)}")
    return row


def _by_requester_or_operator(entry: Entry, state: State, job: dict[str, Any], what: str) -> None:
    require(entry.signer in (job["requester"], state.operator),
            f"only the requester or the operator may {what}")


def _add_attempts(state: State, seq: int, job: dict[str, Any],
                  attempts: list[AttemptSpec]) -> None:
    for a in attempts:
        require(a.unit < job["units"], f"job {job['job_id']!r} has no unit {a.unit}")
        key = attempt_key(job["job_id"], a.unit, a.attempt)
        require(state.get("attempts", key) is None, f"attempt {key} already exists")
        provider = require_row(state, "providers", a.provider, "provider")
        require(provider["status"] == "active", f"provider {a.provider} has left")
        if a.purpose in ("replica", "tiebreak"):
            # a check is only a check if someone else does it
            for earlier in range(a.attempt):
                other = state.get("attempts", attempt_key(job["job_id"], a.unit, earlier))
                require(other is None or other["provider"] != a.provider,
                        f"{a.purpose} {key} must go to a provider other than the ones "
                        "that already did this unit")
        state.put("attempts", key, {
            "key": key, "job_id": job["job_id"], "unit": a.unit, "attempt": a.attempt,
            "provider": a.provider, "purpose": a.purpose, "price_micro": a.price_micro,
            "status": "assigned", "verdict": None, "outputs": None, "receipt_seq": None,
            "paid_seq": None, "updated_seq": seq,
        })


@register("job.place")
class JobPlace(Body):
    """The placement decision: the first attempt of every unit, with its agreed price."""

    job_id: Ref
    attempts: Annotated[list[AttemptSpec], Many]
    summary: dict[str, Any] = Field(default_factory=dict)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "submitted")
        _by_requester_or_operator(entry, state, job, "place a job")
        require({a.unit for a in self.attempts} == set(range(job["units"])),
                f"placement must give every one of the {job['units']} units an attempt")
        _add_attempts(state, seq, job, self.attempts)
        state.put("jobs", self.job_id, {**job, "status": "placed", "updated_seq": seq})


@register("job.assign")
class JobAssign(Body):
    """More attempts for a placed job: replicas, re-runs, tie-breakers."""

    job_id: Ref
    attempts: Annotated[list[AttemptSpec], Many]

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "placed", "running")
        _by_requester_or_operator(entry, state, job, "assign attempts")
        _add_attempts(state, seq, job, self.attempts)


def _attempt(state: State, job_id: str, unit: int, attempt: int) -> dict[str, Any]:
    return require_row(state, "attempts", attempt_key(job_id, unit, attempt), "attempt")


@register("job.receipt")
class JobReceipt(Body):
    """The provider's signed account of one attempt: what went in, what came out."""

    job_id: Ref
    unit: Unit = 0
    attempt: Annotated[int, Field(ge=0, le=1_000)] = 0
    inputs: Annotated[list[Cid], Field(max_length=4096)]
    outputs: Annotated[list[Cid], Field(min_length=1, max_length=4096)]
    metrics: dict[str, Any] = Field(default_factory=dict)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "placed", "running")
        row = _attempt(state, self.job_id, self.unit, self.attempt)
        require(entry.signer == row["provider"],
                f"only the assigned provider may sign the receipt of attempt {row['key']}")
        require(row["status"] == "assigned", f"attempt {row['key']} is already {row['status']}")
        state.put("attempts", row["key"], {
            **row, "status": "done", "outputs": json_text(self.outputs), "receipt_seq": seq,
            "updated_seq": seq,
        })
        if job["status"] == "placed":
            state.put("jobs", self.job_id, {**job, "status": "running", "updated_seq": seq})


@register("job.lost")
class JobLost(Body):
    """Attempts whose provider vanished before delivering: never paid."""

    job_id: Ref
    attempts: Annotated[list[UnitResult], Many]
    reason: Reason

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        _job(state, self.job_id, "placed", "running")
        require(entry.signer == state.operator, "only the operator may declare attempts lost")
        for a in self.attempts:
            row = _attempt(state, self.job_id, a.unit, a.attempt)
            require(row["status"] == "assigned", f"attempt {row['key']} is {row['status']}")
            state.put("attempts", row["key"], {**row, "status": "lost", "updated_seq": seq})


@register("job.complete")
class JobComplete(Body):
    """The operator names the receipted attempt whose result stands for each unit."""

    job_id: Ref
    results: Annotated[list[UnitResult], Many]

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "running")
        require(entry.signer == state.operator, "only the operator may complete a job")
        require(sorted(r.unit for r in self.results) == list(range(job["units"])),
                "a completed job names exactly one result for every unit")
        keys = []
        for r in self.results:
            row = _attempt(state, self.job_id, r.unit, r.attempt)
            require(row["status"] == "done", f"attempt {row['key']} has no receipt")
            keys.append(row["key"])
        state.put("jobs", self.job_id, {**job, "status": "completed",
                                        "results": json_text(keys), "updated_seq": seq})


@register("job.verify")
class JobVerify(Body):
    """Verdicts on every receipted attempt; each checked attempt moves its provider's reputation."""

    job_id: Ref
    verdicts: Annotated[list[Verdict], Many]

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "completed")
        require(entry.signer == state.operator, "only the operator may verify a job")
        for v in self.verdicts:
            row = _attempt(state, self.job_id, v.unit, v.attempt)
            require(row["status"] == "done", f"attempt {row['key']} has no receipt to judge")
            require(row["verdict"] is None, f"attempt {row['key']} was already judged")
            state.put("attempts", row["key"], {**row, "verdict": v.verdict, "updated_seq": seq})
            if v.verdict in ("ok", "bad"):
                provider = require_row(state, "providers", row["provider"], "provider")
                column = "verified_ok" if v.verdict == "ok" else "verified_bad"
                state.put("providers", row["provider"], {
                    **provider, column: provider[column] + 1, "updated_seq": seq})
        for key in canonical.loads(job["results"]):
            result = require_row(state, "attempts", key, "attempt")
            require(result["verdict"] in ("ok", "accepted"),
                    f"result {key} is judged {result['verdict']}; it cannot stand")
        state.put("jobs", self.job_id, {**job, "status": "verified", "updated_seq": seq})


@register("job.settle")
class JobSettle(Body):
    job_id: Ref

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "verified", "failed")
        _by_requester_or_operator(entry, state, job, "settle a job")
        escrow = require_row(state, "escrows", job["escrow_id"], "escrow")
        require(escrow["status"] == "closed",
                f"escrow {job['escrow_id']!r} still holds {escrow['remaining']} micro-credits; "
                "pay or refund them first")
        state.put("jobs", self.job_id, {**job, "status": "settled", "updated_seq": seq})


@register("job.fail")
class JobFail(Body):
    job_id: Ref
    reason: Reason

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        job = _job(state, self.job_id, "submitted", "placed", "running", "completed")
        _by_requester_or_operator(entry, state, job, "fail a job")
        state.put("jobs", self.job_id, {**job, "status": "failed", "updated_seq": seq})


def pay_attempts(state: State, seq: int, escrow_id: str, to: str, keys: list[str],
                 amount: int) -> None:
    """Check and record a payment for verified attempts (called by ``credit.release``)."""
    require(len(set(keys)) == len(keys), "an attempt is listed twice")
    total = 0
    for key in keys:
        row = require_row(state, "attempts", key, "attempt")
        job = require_row(state, "jobs", row["job_id"], "job")
        require(job["escrow_id"] == escrow_id,
                f"attempt {key} is not paid from escrow {escrow_id!r}")
        require(row["provider"] == to, f"attempt {key} was done by {row['provider']}")
        require(row["verdict"] in ("ok", "accepted"),
                f"attempt {key} is {row['verdict'] or 'unverified'}; only verified work is paid")
        require(row["paid_seq"] is None, f"attempt {key} was already paid (entry "
                f"{row['paid_seq']})")
        total += row["price_micro"]
        state.put("attempts", key, {**row, "paid_seq": seq, "updated_seq": seq})
    require(total == amount, f"the attempts are worth {total} micro-credits, not {amount}")


def check_slash_evidence(state: State, escrow_payer: str, key: str) -> None:
    """A slash citing an attempt must cite a bad attempt by the stake's owner."""
    row = require_row(state, "attempts", key, "attempt")
    require(row["verdict"] == "bad", f"attempt {key} is not judged bad")
    require(row["provider"] == escrow_payer, f"attempt {key} was not done by the stake's owner")
