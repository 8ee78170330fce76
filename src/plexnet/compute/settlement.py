"""Who did which unit, and how a job's attempts end: verdicts recorded, work paid, cheats slashed.

Both coordinators — :mod:`controller` for parallel jobs, :mod:`coupled` for gangs
— track :class:`Attempt` objects for :class:`Participant` providers and finish
the same way: :func:`settle` appends ``job.complete`` and ``job.verify``, pays
each provider for its verified attempts by name, slashes every caught cheat's
stake citing a bad attempt, refunds the rest of the escrow and settles the job,
all in one ledger batch; :func:`abort` fails a job that cannot finish and
refunds it. The ledger checks every rule (only verified work is paid, nothing
twice); these functions only decide amounts.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from plexnet.compute.errors import ExecutionError
from plexnet.compute.job import JobSpec
from plexnet.compute.placement import ProviderState
from plexnet.core.identity import Identity
from plexnet.ledger import Body, Entry, Ledger
from plexnet.ledger.errors import EntryRejected
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds import jobs as jb

__all__ = ["SLASH_SHARE", "Attempt", "Participant", "Payout", "abort", "settle"]

# A caught cheat forfeits this share of its stake to the requester it cheated.
SLASH_SHARE = 0.5


@dataclass(frozen=True)
class Participant:
    """A provider as a coordinator needs it: its state, DID, key name and stake escrow."""

    state: ProviderState
    did: str
    key_name: str
    stake_escrow: str | None = None

    @property
    def name(self) -> str:
        return self.state.profile.name


@dataclass
class Attempt:
    """One try at one unit (a shard, or a gang member's rank), as a coordinator tracks it."""

    unit: int
    attempt: int
    provider: str
    purpose: str
    price_micro: int
    status: str = "assigned"          # assigned | done | lost
    outputs: tuple[str, ...] = ()
    wall_s: float = 0.0
    verdict: str | None = None        # ok | accepted | bad | rejected

    def spec(self, did: str) -> jb.AttemptSpec:
        return jb.AttemptSpec(unit=self.unit, attempt=self.attempt, provider=did,
                              purpose=self.purpose, price_micro=self.price_micro)

    def key(self, job_id: str) -> str:
        return jb.attempt_key(job_id, self.unit, self.attempt)


@dataclass(frozen=True)
class Payout:
    paid_micro: dict[str, int] = field(default_factory=dict)
    slashed_micro: dict[str, int] = field(default_factory=dict)
    refund_micro: int = 0


def settle(ledger: Ledger, job: JobSpec, operator: Identity, by_name: Mapping[str, Participant],
           attempts: Iterable[Attempt], results: Sequence[Attempt], caught: Sequence[str], *,
           escrow_id: str, requester: str, slash_reason: str) -> Payout:
    """Record the results and verdicts, pay, slash, refund and settle, in one ledger batch.

    Every receipted attempt must carry a verdict; ``results`` are the attempts
    whose outputs stand for the job's units.

    Raises:
        ExecutionError: if the verified work costs more than the escrowed budget.
    """
    attempts = list(attempts)

    def sign(body: Body) -> Entry:
        return Entry.create(operator, body)

    batch = [
        sign(jb.JobComplete(job_id=job.job_id, results=[
            jb.UnitResult(unit=a.unit, attempt=a.attempt) for a in results])),
        sign(jb.JobVerify(job_id=job.job_id, verdicts=[
            jb.Verdict(unit=a.unit, attempt=a.attempt, verdict=a.verdict)
            for a in attempts if a.status == "done"])),
    ]
    by_provider: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        if a.verdict in ("ok", "accepted"):
            by_provider[a.provider].append(a)
    paid: dict[str, int] = {}
    budget = job.budget_micro
    for name, mine in sorted(by_provider.items()):
        amount = sum(a.price_micro for a in mine)
        if amount == 0:
            continue
        if amount > budget:
            raise ExecutionError(f"job {job.job_id}: verified work costs more than the "
                                 "escrowed budget")
        budget -= amount
        paid[name] = amount
        batch.append(sign(cr.Release(escrow_id=escrow_id, to=by_name[name].did, amount=amount,
                                     memo=f"{len(mine)} verified attempts",
                                     attempts=[a.key(job.job_id) for a in mine])))
    slashed: dict[str, int] = {}
    for name in caught:
        p = by_name[name]
        evidence = next(a for a in attempts if a.provider == name and a.verdict == "bad")
        stake = p.state.profile.stake_micro
        if p.stake_escrow and stake:
            slashed[name] = max(1, int(stake * SLASH_SHARE))
            batch.append(sign(cr.Slash(escrow_id=p.stake_escrow, to=requester,
                                       amount=slashed[name], reason=slash_reason,
                                       attempt=evidence.key(job.job_id))))
    if budget:
        batch.append(sign(cr.Release(escrow_id=escrow_id, to=requester, amount=budget,
                                     memo="refund")))
    batch.append(sign(jb.JobSettle(job_id=job.job_id)))
    ledger.append(batch)
    return Payout(paid, slashed, budget)


def abort(ledger: Ledger, job: JobSpec, operator: Identity, open_attempts: Sequence[Attempt],
          reason: str, *, escrow_id: str, requester: str) -> None:
    """A job that cannot finish: its open attempts lost, the job failed, the escrow refunded.

    Nothing unverified is paid. If the job was already verified it is too late to
    fail it; what the escrow still holds is refunded and the job settled either way.
    """
    lost = [Entry.create(operator, jb.JobLost(
        job_id=job.job_id, reason=f"job aborted: {reason}"[:500],
        attempts=[jb.UnitResult(unit=a.unit, attempt=a.attempt) for a in open_attempts]))
            ] if open_attempts else []
    for a in open_attempts:
        a.status = "lost"
    with contextlib.suppress(EntryRejected):
        ledger.append([*lost, Entry.create(operator, jb.JobFail(job_id=job.job_id,
                                                                reason=reason[:500]))])
    escrow = ledger.row("escrows", escrow_id)
    left = int(escrow["remaining"]) if escrow else 0
    refund = [Entry.create(operator, cr.Release(escrow_id=escrow_id, to=requester, amount=left,
                                                memo="refund: job aborted"))] if left else []
    ledger.append([*refund, Entry.create(operator, jb.JobSettle(job_id=job.job_id))])
