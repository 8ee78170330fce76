"""The job controller: carry a parallel job from placement to settlement on a Ray cluster.

One job, start to finish, every step a signed ledger entry:

1. place it (:func:`placement.place`) and record the first attempt of every unit,
   each at the price the decision gave it (``job.place``);
2. replicate a random share of each provider's units on another provider, the
   share falling with the provider's reputation (``job.assign``);
3. run every attempt on its provider's Ray node (:func:`runner.submit_attempt`);
   append each signed receipt as it arrives; when a provider vanishes, record its
   open attempts as lost (``job.lost``) and re-run them elsewhere;
4. compare each replicated unit's outputs; on disagreement a third provider
   breaks the tie; a provider caught lying has all its other work re-run and
   rejected (``job.complete``, ``job.verify``);
5. pay each provider for its verified attempts, slash the stake of every cheat,
   refund the rest of the escrow, settle (``credit.release``, ``credit.slash``,
   ``job.settle``).

The ledger enforces the money rules on its own (only verified attempts are paid,
none twice); this controller only decides. It assumes the deterministic task
kinds plexnet ships: honest replicas of a unit produce identical output CIDs.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from plexnet.compute.errors import ExecutionError, PlacementError
from plexnet.compute.job import JobSpec
from plexnet.compute.placement import place
from plexnet.compute.runner import Faults, attempt_error, submit_attempt
from plexnet.compute.settlement import Attempt, Participant, abort, settle
from plexnet.compute.task import load_task
from plexnet.compute.verification import choose_replicas, replication_rate
from plexnet.core.identity import Identity
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds import jobs as jb

__all__ = ["JobReport", "run_parallel_job"]

_MAX_ATTEMPTS_PER_UNIT = 8
_COALESCE_S = 0.02


@dataclass
class JobReport:
    """What happened: attempts, verdicts, money, and how much compute was useful."""

    job_id: str
    decision: Any
    attempts: list[Attempt] = field(default_factory=list)
    paid_micro: dict[str, int] = field(default_factory=dict)
    slashed_micro: dict[str, int] = field(default_factory=dict)
    refund_micro: int = 0
    lost_providers: list[str] = field(default_factory=list)
    caught: list[str] = field(default_factory=list)
    useful_s: float = 0.0
    verification_s: float = 0.0
    wasted_s: float = 0.0
    results: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def useful_fraction(self) -> float:
        """Useful work over all work the providers did (verification counts as cost)."""
        total = self.useful_s + self.verification_s + self.wasted_s
        return self.useful_s / total if total else 1.0

    @property
    def churn_useful_fraction(self) -> float:
        """Useful work over useful plus work lost to vanished providers."""
        total = self.useful_s + self.wasted_s
        return self.useful_s / total if total else 1.0


class _Run:
    def __init__(self, job: JobSpec, participants: Sequence[Participant], operator: Identity,
                 ledger: Ledger, blob_root: Path, keystore_root: Path,
                 faults: Faults | None, rng: np.random.Generator,
                 on_event: Callable[[str], None] | None) -> None:
        self.job = job
        self.by_name = {p.name: p for p in participants}
        self.operator = operator
        self.ledger = ledger
        self.append = ledger.append
        self.blob_root = blob_root
        self.keystore_root = keystore_root
        self.faults = faults
        self.rng = rng
        self.say = on_event or (lambda _text: None)
        self.attempts: dict[tuple[int, int], Attempt] = {}
        self.dead: set[str] = set()
        self.pending: dict[Any, Attempt] = {}
        self.busy_since: dict[str, float] = {}
        self.report = JobReport(job.job_id, None)

    # ------------------------------------------------------------ helpers

    def _spec(self, a: Attempt) -> jb.AttemptSpec:
        return a.spec(self.by_name[a.provider].did)

    def _entry(self, body: Any) -> Entry:
        return Entry.create(self.operator, body)

    def _unit_price(self, provider: str) -> int:
        """What one unit costs on ``provider`` under the placement cost model.

        Raises:
            PlacementError: if ``provider`` cannot take a unit of this job at all.
        """
        single = self.job.model_copy(update={
            "job_id": self.job.job_id, "flops": self.job.flops / self.job.workload.units,
            "input_bytes": self.job.input_bytes / self.job.workload.units,
            "workload": self.job.workload.model_copy(update={"units": 1}),
        })
        decision = place(single, [self.by_name[provider].state])
        cost = decision.cost
        # One micro-credit is the least the ledger can pay for verified work.
        return max(1, int(cost.compute_micro + cost.transfer_micro))

    def _next_attempt(self, unit: int) -> int:
        return 1 + max(n for (u, n) in self.attempts if u == unit)

    def _other_provider(self, unit: int, exclude: set[str]) -> str:
        """The cheapest live provider that has not touched ``unit`` yet (and is not excluded)."""
        used = {a.provider for (u, _), a in self.attempts.items() if u == unit}
        priced = []
        for name in sorted(set(self.by_name) - self.dead - used - exclude):
            try:
                priced.append((self._unit_price(name), name))
            except PlacementError:
                continue  # this provider does not meet the job's requirements
        if not priced:
            raise ExecutionError(f"job {self.job.job_id}: no eligible provider left for unit "
                                 f"{unit} (dead: {sorted(self.dead)}, tried: {sorted(used)})")
        return min(priced)[1]

    def _new_attempts(self, wanted: list[tuple[int, str, str]]) -> list[Attempt]:
        made = []
        for unit, provider, purpose in wanted:
            n = self._next_attempt(unit)
            if n >= _MAX_ATTEMPTS_PER_UNIT:
                raise ExecutionError(f"job {self.job.job_id}: unit {unit} failed "
                                     f"{_MAX_ATTEMPTS_PER_UNIT} times")
            a = Attempt(unit, n, provider, purpose, self._unit_price(provider))
            self.attempts[(unit, n)] = a
            made.append(a)
        if made:
            self.append([self._entry(jb.JobAssign(job_id=self.job.job_id,
                                                  attempts=[self._spec(a) for a in made]))])
        return made

    def _launch(self, attempts: list[Attempt]) -> None:
        for a in attempts:
            p = self.by_name[a.provider]
            ref = submit_attempt(self.job, p.state.profile, a.unit, a.attempt,
                                 blob_root=self.blob_root, keystore_root=self.keystore_root,
                                 provider_key=p.key_name, faults=self.faults)
            self.pending[ref] = a
            self.busy_since.setdefault(a.provider, time.perf_counter())

    # ------------------------------------------------------------- phases

    def place(self) -> None:
        states = [p.state for p in self.by_name.values()]
        decision = place(self.job, states)
        self.report.decision = decision
        first: list[Attempt] = []
        unit = 0
        for assignment in decision.assignments:
            per_unit = self._unit_price(assignment.provider)
            for _ in range(assignment.units):
                a = Attempt(unit, 0, assignment.provider, "primary", per_unit)
                self.attempts[(unit, 0)] = a
                first.append(a)
                unit += 1
        self.append([self._entry(jb.JobPlace(
            job_id=self.job.job_id, attempts=[self._spec(a) for a in first],
            summary={"solver": decision.solver, "time_s": round(decision.time_s, 3),
                     "cost_micro": int(decision.cost.total_micro),
                     "providers": {a.provider: a.units for a in decision.assignments}}))])
        self.say(f"placed {self.job.workload.units} units by {decision.solver}: "
                 + ", ".join(f"{a.provider} x{a.units}" for a in decision.assignments))
        replicas = []
        for name in {a.provider for a in first}:
            units = sorted(a.unit for a in first if a.provider == name)
            rate = replication_rate(self.job.verification, self.by_name[name].state.reputation)
            chosen = choose_replicas(len(units), rate, self.rng)
            for index in sorted(chosen):
                replicas.append((units[index], self._other_provider(units[index], set()),
                                 "replica"))
        self._launch(first + self._new_attempts(replicas))
        if replicas:
            self.say(f"replicating {len(replicas)} of {len(first)} units on other providers")

    def run(self) -> None:
        """Run every launched attempt to the end, then verify (which may launch more)."""
        self._collect()
        self._resolve()

    def _collect(self) -> None:
        """Wait for the pending attempts; append receipts in batches as they arrive."""
        import ray

        deadline = time.perf_counter() + self.job.deadline_s
        while self.pending:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise ExecutionError(f"job {self.job.job_id} missed its deadline")
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=min(left, 5.0))
            if not ready:
                self._check_nodes()
                continue
            # gather what finishes within a few milliseconds into one ledger batch: a
            # transaction per receipt would cost more than trivial units themselves
            ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending),
                                timeout=_COALESCE_S)
            receipts, arrived = [], []
            for ref in ready:
                a = self.pending.pop(ref)
                try:
                    receipt_bytes, _node, wall_s = ray.get(ref)
                except Exception as exc:  # the task raised, or its node died
                    self._failed(a, exc)
                    continue
                receipt = Entry.from_bytes(receipt_bytes)
                if receipt.signer != self.by_name[a.provider].did:
                    raise ExecutionError(f"receipt for {a.unit}/{a.attempt} is not signed by "
                                         f"{a.provider}")
                receipts.append(receipt)
                arrived.append((a, receipt, wall_s))
            if receipts:
                self.append(receipts)
            for a, receipt, wall_s in arrived:
                a.status, a.outputs, a.wall_s = "done", tuple(receipt.body["outputs"]), wall_s
                self.busy_since[a.provider] = time.perf_counter()

    def _check_nodes(self) -> None:

        alive = {n["NodeID"] for n in _ray_nodes() if n["Alive"]}
        for name in list(self.by_name):
            if name not in self.dead and self._node_of(name) not in alive:
                self._vanished(name, "its Ray node is gone")

    def _node_of(self, name: str) -> str | None:

        resource = self.by_name[name].state.profile.resource
        for node in _ray_nodes():
            if resource in node.get("Resources", {}) or resource in node.get("resources", {}):
                return str(node["NodeID"])
        return None

    def _failed(self, a: Attempt, exc: BaseException) -> None:
        from ray.exceptions import RayTaskError

        if isinstance(exc, RayTaskError):
            raise attempt_error(self.job.job_id, a.provider, exc)  # a bug, not churn
        self._vanished(a.provider, f"{type(exc).__name__}", first=a)

    def _vanished(self, name: str, why: str, first: Attempt | None = None) -> None:
        """A provider is gone: its open attempts are lost and re-run elsewhere."""
        import ray

        self.dead.add(name)
        self.report.lost_providers.append(name)
        # Work lost: the attempt the provider was running when it went (queued ones
        # had not started). It began when its previous attempt finished, and ran at
        # most a unit's usual time; the rest of the gap is detection delay, not work.
        began = self.busy_since.get(name, time.perf_counter())
        done = [a.wall_s for a in self.attempts.values() if a.status == "done"]
        usual = statistics.median(done) if done else time.perf_counter() - began
        self.report.wasted_s += min(time.perf_counter() - began, usual)
        lost = [first] if first else []
        for ref, a in list(self.pending.items()):
            if a.provider == name:
                ray.cancel(ref, force=True)
                self.pending.pop(ref)
                lost.append(a)
        for a in lost:
            a.status = "lost"
        self.append([self._entry(jb.JobLost(
            job_id=self.job.job_id, reason=f"provider {name} vanished ({why})",
            attempts=[jb.UnitResult(unit=a.unit, attempt=a.attempt) for a in lost]))])
        redo = [(a.unit, self._other_provider(a.unit, set()), "rerun") for a in lost]
        self.say(f"provider {name} vanished: {len(lost)} attempts lost, re-running elsewhere")
        self._launch(self._new_attempts(redo))

    # --------------------------------------------------------- verification

    def _resolve(self) -> None:
        """Compare replicas; break ties; re-run a cheat's other work; loop until settled."""
        while True:
            cheats: set[str] = set()
            tiebreaks: list[tuple[int, str, str]] = []
            for unit in range(self.job.workload.units):
                done = [a for (u, _), a in sorted(self.attempts.items())
                        if u == unit and a.status == "done" and a.verdict is None]
                if len(done) < 2:
                    continue
                groups: dict[tuple[str, ...], list[Attempt]] = defaultdict(list)
                for a in done:
                    groups[a.outputs].append(a)
                if len(groups) == 1:
                    continue
                ranked = sorted(groups.values(), key=len, reverse=True)
                if len(ranked[0]) > len(ranked[1]):  # a majority: the minority lied
                    for group in ranked[1:]:
                        cheats.update(a.provider for a in group)
                        for a in group:
                            a.verdict = "bad"
                elif not any(a.purpose == "tiebreak" and a.status == "assigned"
                             for (u, _), a in self.attempts.items() if u == unit):
                    tiebreaks.append((unit, self._other_provider(unit, cheats), "tiebreak"))
            reruns = []
            for name in sorted(cheats - set(self.report.caught)):
                self.report.caught.append(name)
                for a in self.attempts.values():
                    if a.provider == name and a.verdict is None:
                        a.verdict = "rejected"
                        if a.status == "done" and not self._has_other_good(a.unit, a):
                            reruns.append((a.unit, self._other_provider(a.unit, cheats),
                                           "rerun"))
                self.say(f"provider {name} caught returning wrong results: its work is "
                         "rejected and re-run elsewhere")
            more = self._new_attempts(tiebreaks + reruns)
            if not more:
                return
            self._launch(more)
            self._collect()

    def _has_other_good(self, unit: int, exclude: Attempt) -> bool:
        return any(a is not exclude and a.status == "done" and a.verdict != "bad"
                   and a.provider not in self.report.caught
                   for (u, _), a in self.attempts.items() if u == unit)

    # ----------------------------------------------------------- settlement

    def abort(self, reason: str, escrow_id: str, requester: str) -> None:
        """The job cannot finish: stop its attempts, fail it, refund the requester."""
        import ray

        for ref in self.pending:
            ray.cancel(ref, force=True)
        stopped = list(self.pending.values())
        self.pending.clear()
        abort(self.ledger, self.job, self.operator, stopped, reason, escrow_id=escrow_id,
              requester=requester)

    def finish(self, escrow_id: str, requester: str) -> JobReport:
        report = self.report
        results: dict[int, Attempt] = {}
        for (unit, _), a in sorted(self.attempts.items()):
            if a.status != "done" or a.provider in report.caught or a.verdict == "bad":
                continue
            agreeing = [b for (u, _), b in self.attempts.items() if u == unit and b is not a
                        and b.status == "done" and b.outputs == a.outputs
                        and b.provider not in report.caught]
            a.verdict = "ok" if agreeing else "accepted"
            results.setdefault(unit, a)
        missing = set(range(self.job.workload.units)) - results.keys()
        if missing:
            raise ExecutionError(f"job {self.job.job_id}: no accepted result for units "
                                 f"{sorted(missing)}")
        for a in self.attempts.values():
            if a.status == "done" and a.verdict is None:
                a.verdict = "rejected"
        payout = settle(self.ledger, self.job, self.operator, self.by_name,
                        self.attempts.values(), [a for _, a in sorted(results.items())],
                        report.caught, escrow_id=escrow_id, requester=requester,
                        slash_reason=f"wrong results in job {self.job.job_id}")
        report.paid_micro, report.slashed_micro = payout.paid_micro, payout.slashed_micro
        report.refund_micro = payout.refund_micro
        for a in self.attempts.values():
            if a.status != "done":
                continue
            if results.get(a.unit) is a:
                report.useful_s += a.wall_s
            else:
                report.verification_s += a.wall_s
        report.attempts = sorted(self.attempts.values(), key=lambda a: (a.unit, a.attempt))
        report.results = {u: a.outputs for u, a in results.items()}
        return report


def _ray_nodes() -> list[dict[str, Any]]:
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return nodes


def run_parallel_job(job: JobSpec, participants: Sequence[Participant], *, operator: Identity,
                     requester_did: str, escrow_id: str, ledger: Ledger,
                     blob_root: Path, keystore_root: Path, faults: Faults | None = None,
                     seed: int = 0,
                     on_event: Callable[[str], None] | None = None) -> JobReport:
    """Run a submitted ``parallel`` job to settlement (see the module docstring).

    Args:
        job: the spec the requester submitted (``job.submit`` is already on the ledger).
        participants: the providers to consider, with their reputations.
        operator: the coordinator's identity; it signs placement, verdicts and payouts.
        requester_did: who gets refunds and slashed stakes.
        escrow_id: the job's escrow (``job.submit`` named it).
        ledger: where every step is appended (with the operator's key).
        faults: injected misbehaviour (tests, demo, simulator).
        seed: seeds the choice of replicated units.
        on_event: receives one line per notable event, for progress output.

    Raises:
        PlacementError: if no provider can take the job (nothing is appended).
        ExecutionError: if the job cannot finish (no eligible provider left, a task
            bug); the job is then failed, the escrow refunded and the job settled.
    """
    if job.workload.kind != "parallel":
        raise PlacementError(f"run_parallel_job runs parallel jobs, not {job.workload.kind}")
    load_task(job.task)  # UnknownTask now, not on every provider later
    run = _Run(job, participants, operator, ledger, blob_root, keystore_root, faults,
               np.random.default_rng(seed), on_event)
    run.place()
    try:
        run.run()
        return run.finish(escrow_id, requester_did)
    except ExecutionError as exc:
        run.abort(str(exc), escrow_id, requester_did)
        raise
