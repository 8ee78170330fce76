"""Coupled jobs, coordinated: a gang of workers that all-reduce, checkpointed, resumed, audited.

1. Placement (:func:`placement.place`, ``coupled`` workload) picks a gang in one
   region; each member's rank is one attempt of unit ``rank`` (``job.place``).
2. Ray Train's ``TorchTrainer`` (gloo on CPU) runs one worker per member.
   ``ScalingConfig(label_selector=[{"provider": name}, ...])`` gives rank ``i`` the
   ``i``-th selector on Ray 2.60; every worker still reads its node's ``provider``
   label and refuses to run anywhere else.
3. The work is cut into segments of steps. The first is
   ``policy.checkpoint_every_steps`` long; after the first two (the second runs
   warm) the ranks agree (all-reduce MAX) on the measured step time and
   checkpoint cost, and :func:`segment_steps` sets the length from Young/Daly and
   the gang's MTBF (members' reliabilities). After each segment every
   rank's provider signs a commitment to its checkpoint CID and posts it to a
   board actor on the coordinator's node; at the end it signs a ``job.receipt``
   whose metrics list those CIDs (``checkpoints``, with ``boundaries``).
4. A member vanishes: the gang's open attempts are lost (``job.lost``) and a new
   gang without it (``job.assign``, purpose ``rerun``) resumes from the last
   checkpoint every rank committed.
5. A provider outside the gang re-runs ``policy.audit_segments`` random segments
   (and the first one on which the ranks disagree) from their start checkpoint,
   as ``n`` local processes with gloo over localhost — the same world size, so
   the same reduction order — and compares CIDs. A rank whose commitment differs
   is ``bad``: slashed, and the gang re-run without it from that segment's start.
6. Settlement (:func:`settlement.settle`), as for parallel jobs: verified
   attempts paid by name, cheats slashed, the rest refunded, the job settled.

The workers' side — the plug-in point, segments, commitments and replays — is
:mod:`plexnet.compute.gang`.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from plexnet.compute.errors import ExecutionError, PlacementError
from plexnet.compute.gang import (
    COMMIT_DOMAIN,
    MIN_SEGMENTS,
    Board,
    Round,
    Segment,
    gang_mtbf_s,
    gang_worker,
    load_gang_task,
    registered_gangs,
    replay_segments,
    unknown_gang,
)
from plexnet.compute.job import JobSpec
from plexnet.compute.placement import place
from plexnet.compute.runner import Faults
from plexnet.compute.settlement import Attempt, Participant, abort, settle
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.identity import Identity, verify_json
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds import jobs as jb

__all__ = ["GangReport", "run_coupled_job"]

_MAX_ROUNDS: Final = 8

# --- the coordinator ------------------------------------------------------------------


@dataclass
class GangReport:
    """What happened: gangs, attempts, audits, money, and how many steps counted."""

    job_id: str
    total_steps: int
    gangs: list[tuple[str, ...]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)  # the chain the result rests on
    audited: list[Segment] = field(default_factory=list)   # with the verifier's end CIDs
    verifier: str | None = None
    lost_providers: list[str] = field(default_factory=list)
    caught: list[str] = field(default_factory=list)
    paid_micro: dict[str, int] = field(default_factory=dict)
    slashed_micro: dict[str, int] = field(default_factory=dict)
    refund_micro: int = 0
    steps_run: int = 0
    result: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)  # rank 0's last receipt metrics

    @property
    def useful_fraction(self) -> float:
        """Steps that count over steps the gangs ran (steps lost to churn or fraud are waste)."""
        return self.total_steps / self.steps_run if self.steps_run else 1.0


_Claims = list[list[tuple[tuple[int, int], str]]]  # per rank: ((s0, s1), checkpoint CID)


def _chain(claims: _Claims, start: str | None) -> tuple[list[Segment], Segment | None]:
    """Segments every rank committed alike, and the first one they disagree on (CID left empty)."""
    chain: list[Segment] = []
    for same in zip(*claims, strict=False):
        (a, b), cid = same[0]
        begin = chain[-1].checkpoint if chain else start
        if any(c != same[0] for c in same):
            return chain, Segment(a, b, begin, "")
        chain.append(Segment(a, b, begin, cid))
    return chain, None


class _GangRun:
    def __init__(self, job: JobSpec, participants: Sequence[Participant], operator: Identity,
                 ledger: Ledger, blob_root: Path, keystore_root: Path, faults: Faults | None,
                 seed: int, say: Callable[[str], None],
                 kill: Callable[[Sequence[str], int], None] | None, board: Any,
                 storage: str) -> None:
        module = registered_gangs().get(job.task)
        if module is None:
            raise unknown_gang(job.task)
        self.job, self.module, self.faults, self.kill, self.say = job, module, faults, kill, say
        self.by_name = {p.name: p for p in participants}
        self.operator, self.ledger, self.blob_root = operator, ledger, blob_root
        self.keystore_root, self.rng = keystore_root, np.random.default_rng(seed)
        self.board, self.storage = board, storage
        total = load_gang_task(job.task, module).total_steps(LocalBlobStore(blob_root),
                                                              list(job.inputs), job.params)
        if total < 1:
            raise ExecutionError(f"job {job.job_id}: task {job.task} plans no steps")
        self.report = GangReport(job.job_id, total)
        self.rounds: list[list[Attempt]] = []
        self.dead: set[str] = set()
        self.receipts: dict[tuple[int, int], tuple[list[int], list[str]]] = {}
        self.verified: dict[tuple[int, int], list[dict[str, Any]]] = {}

    def _entry(self, body: Any) -> Entry:
        return Entry.create(self.operator, body)

    def _place(self, step: int) -> list[Attempt]:
        """Place a gang for the steps left; record its attempts (job.place, later job.assign)."""
        left = (self.report.total_steps - step) / self.report.total_steps
        job = self.job.model_copy(update={"flops": self.job.flops * left, "workload": self.job.
                                          workload.model_copy(update={"steps": round(
                                              self.job.workload.steps * left)})})
        self.dead |= set(self.by_name) - _live_providers()
        try:
            decision = place(job, [p.state for name, p in self.by_name.items()
                                   if name not in self.dead | set(self.report.caught)])
        except PlacementError as exc:
            if not self.rounds:
                raise
            raise ExecutionError(f"job {job.job_id}: no gang left to resume on: {exc}") from None
        first = not self.rounds
        gang = [Attempt(rank, len(self.rounds), a.provider, "primary" if first else "rerun",
                        max(1, int(a.cost.compute_micro + a.cost.transfer_micro)))
                for rank, a in enumerate(decision.assignments)]
        specs = [jb.AttemptSpec(unit=a.unit, attempt=a.attempt, provider=self.by_name[
            a.provider].did, purpose=a.purpose, price_micro=a.price_micro) for a in gang]
        self.ledger.append([self._entry(jb.JobPlace(
            job_id=job.job_id, attempts=specs, summary={
                "solver": decision.solver, "time_s": round(decision.time_s, 3),
                "cost_micro": int(decision.cost.total_micro), "steps": self.report.total_steps})
            if first else jb.JobAssign(job_id=job.job_id, attempts=specs))])
        self.rounds.append(gang)
        self.report.gangs.append(tuple(a.provider for a in gang))
        return gang

    def run(self) -> None:
        start: str | None = None
        step = 0
        while len(self.rounds) < _MAX_ROUNDS:
            gang = self._place(step)
            self.say(f"gang {', '.join(a.provider for a in gang)} trains steps {step}.."
                     f"{self.report.total_steps}")
            chain, done = self._run_round(gang, start, step)
            self.report.segments = [s for s in self.report.segments if s.end_step <= step] + chain
            if done:
                redo = self._audit(gang, start)
                if redo is None:
                    return
                start, step = redo
            elif chain:
                start, step = chain[-1].checkpoint, chain[-1].end_step
            self.report.segments = [s for s in self.report.segments if s.end_step <= step]
        raise ExecutionError(f"job {self.job.job_id}: gave up after {_MAX_ROUNDS} gangs")

    def _run_round(self, gang: list[Attempt], start: str | None,
                   step: int) -> tuple[list[Segment], bool]:
        """Run one gang: (segments all ranks committed, whether every receipt came back)."""
        import ray
        from ray.train import FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig, TorchTrainer

        index, members = len(self.rounds) - 1, tuple(a.provider for a in gang)
        total = self.report.total_steps
        plan = Round(self.job.job_id, self.job.task, self.module, tuple(self.job.inputs),
                      dict(self.job.params), index, members,
                      tuple(self.by_name[m].key_name for m in members),
                      tuple(a.attempt for a in gang), start, step, total,
                      min(self.job.verification.checkpoint_every_steps,
                          max(1, math.ceil(total / MIN_SEGMENTS))),
                      gang_mtbf_s([self.by_name[m].state.profile.reliability for m in members]),
                      str(self.blob_root), str(self.keystore_root), self.faults, self.board)
        trainer = TorchTrainer(
            gang_worker, train_loop_config={"plan": plan},
            torch_config=TorchConfig(backend="gloo", timeout_s=int(min(1800, self.job.deadline_s))),
            # Ray Train v2's ScalingConfig; mypy sees the v1 class, without label_selector.
            scaling_config=ScalingConfig(num_workers=len(gang), use_gpu=False,  # type: ignore[call-arg]
                                         label_selector=[{"provider": m} for m in members],
                                         placement_strategy="STRICT_SPREAD"),
            run_config=RunConfig(name=f"gang-{index}-{time.time_ns()}", storage_path=self.storage,
                                 failure_config=FailureConfig(max_failures=0)))
        failure: list[BaseException] = []
        thread = threading.Thread(target=_fit, args=(trainer, failure), daemon=True)
        thread.start()
        seen = 0
        while True:
            thread.join(0.5)
            state = ray.get(self.board.read.remote(index))
            chain, _ = _chain([[((p["steps"][0], p["steps"][1]), p["checkpoint"])
                                for p in self._commits(state, a)] for a in gang], start)
            for seg in chain[seen:]:
                if self.kill is not None:
                    self.kill(members, seg.end_step)
            seen = len(chain)
            if not thread.is_alive():
                break
        ran = max([step, *state["progress"].values(), *(s.end_step for s in chain)])
        if len(state["receipts"]) == len(gang):
            self.report.steps_run += total - step
            receipts = [Entry.from_bytes(state["receipts"][a.unit]) for a in gang]
            for a, r in zip(gang, receipts, strict=True):
                if r.signer != self.by_name[a.provider].did:
                    raise ExecutionError(f"receipt of rank {a.unit} is not signed by {a.provider}")
                a.status, a.outputs = "done", tuple(r.body["outputs"])
                a.wall_s = float(r.body["metrics"]["wall_s"])
                self.receipts[(a.unit, a.attempt)] = (r.body["metrics"]["boundaries"],
                                                      r.body["metrics"]["checkpoints"])
            self.ledger.append(receipts)
            self.report.metrics = dict(receipts[0].body["metrics"])
            return chain, True
        error = failure[0] if failure else ExecutionError("the gang stopped without receipts")
        gone = _vanished(members, error)
        if not gone:
            raise ExecutionError(f"job {self.job.job_id}: gang failed: {error}") from None
        self.report.steps_run += ran - step
        self.dead |= set(gone)
        self.report.lost_providers += gone
        for a in gang:
            a.status = "lost"
        self.ledger.append([self._entry(jb.JobLost(
            job_id=self.job.job_id, reason=f"gang member {', '.join(gone)} vanished",
            attempts=[jb.UnitResult(unit=a.unit, attempt=a.attempt) for a in gang]))])
        self.say(f"{', '.join(gone)} vanished near step {ran}; every rank committed up to step "
                 f"{chain[-1].end_step if chain else step}")
        return chain, False

    def _commits(self, state: dict[str, dict[int, Any]], a: Attempt) -> list[dict[str, Any]]:
        """Rank ``a.unit``'s commitments so far, each checked once against its provider's key."""
        mine = self.verified.setdefault((a.unit, a.attempt), [])
        for payload, signature in state["commits"].get(a.unit, [])[len(mine):]:
            verify_json(self.by_name[a.provider].did, COMMIT_DOMAIN, payload, signature)
            if (payload["job_id"], payload["unit"], payload["attempt"]) != (
                    self.job.job_id, a.unit, a.attempt):
                raise ExecutionError(f"rank {a.unit} committed for another attempt")
            mine.append(payload)
        return mine

    def _audit(self, gang: list[Attempt], start: str | None) -> tuple[str | None, int] | None:
        """Replay random agreed segments and the first disputed one elsewhere; judge every rank.

        Returns where a new gang must re-run from when a rank is caught, else None.
        """
        claims: _Claims = []
        for a in gang:  # what each receipt on the ledger commits to
            bounds, cids = self.receipts[(a.unit, a.attempt)]
            claims.append([((bounds[i], bounds[i + 1]), c) for i, c in enumerate(cids)])
        chain, disputed = _chain(claims, start)
        picks = self.rng.choice(len(chain), size=min(len(chain), self.job.verification.
                                                     audit_segments), replace=False)
        chosen = [*([disputed] if disputed else []), *(chain[int(i)] for i in sorted(picks))]
        verifier = self._verifier(gang)
        if not chosen or verifier is None:
            for a in gang:
                a.verdict = "accepted"
            self.say("not audited: " + ("no segment" if not chosen else "no provider to verify"))
            return None
        self.say(f"{verifier} replays {len(chosen)} of {len(claims[0])} segments")
        ends = replay_segments(self.job.task, list(self.job.inputs), self.job.params, chosen,
                               len(gang), self.blob_root, self.by_name[verifier].state.profile)
        self.report.verifier = verifier
        self.report.audited += [Segment(s.start_step, s.end_step, s.start, e)
                                for s, e in zip(chosen, ends, strict=True)]
        failed: list[Segment] = []
        for a, mine in zip(gang, claims, strict=True):
            said = dict(mine)
            wrong = [s for s, e in zip(chosen, ends, strict=True)
                     if said.get((s.start_step, s.end_step)) != e]
            a.verdict = "bad" if wrong else "ok"
            failed += wrong
            if wrong and a.provider not in self.report.caught:
                self.report.caught.append(a.provider)
                self.say(f"{a.provider} committed a checkpoint the replay does not reproduce")
        if not failed:
            return None
        earliest = min(failed, key=lambda s: s.start_step)
        return earliest.start, earliest.start_step

    def _verifier(self, gang: list[Attempt]) -> str | None:
        """The cheapest live provider outside the gang that was never caught cheating."""
        skip = {a.provider for a in gang} | self.dead | set(self.report.caught)
        free = [(p.state.profile.price_per_device_hour, name) for name, p in self.by_name.items()
                if name not in skip and name in _live_providers()]
        return min(free)[1] if free else None

    # -------------------------------------------------------------- settlement

    def finish(self, escrow_id: str, requester: str) -> GangReport:
        """Complete with the last gang's attempts, judge, pay, slash, refund, settle."""
        report, final = self.report, self.rounds[-1]
        attempts = [a for gang in self.rounds for a in gang]
        for a in attempts:
            if a.status == "done" and (a.verdict is None or (
                    a.provider in report.caught and a.verdict != "bad")):
                a.verdict = "rejected"  # a cheat's other work is not paid
        payout = settle(self.ledger, self.job, self.operator, self.by_name, attempts, final,
                        report.caught, escrow_id=escrow_id, requester=requester,
                        slash_reason=f"checkpoint commitments in job {self.job.job_id} "
                                     "do not replay")
        report.paid_micro, report.slashed_micro = payout.paid_micro, payout.slashed_micro
        report.refund_micro = payout.refund_micro
        report.attempts = sorted(attempts, key=lambda a: (a.attempt, a.unit))
        report.result = final[0].outputs
        return report

    def abort(self, reason: str, escrow_id: str, requester: str) -> None:
        """The job cannot finish: open attempts lost, job failed, escrow refunded, settled."""
        open_ = [a for gang in self.rounds for a in gang if a.status == "assigned"]
        abort(self.ledger, self.job, self.operator, open_, reason, escrow_id=escrow_id,
              requester=requester)


def _fit(trainer: Any, failure: list[BaseException]) -> None:
    try:
        trainer.fit()
    except Exception as exc:  # the coordinator decides: churn or a bug
        failure.append(exc)


def _live_providers() -> set[str]:
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return {str(n.get("Labels", {}).get("provider")) for n in nodes if n["Alive"]}


def _vanished(members: Sequence[str], error: BaseException, wait_s: float = 30.0) -> list[str]:
    """Members whose node died, waiting until Ray declares it (fallback: ranks whose actor died)."""
    from ray.exceptions import NodeDiedError, RayActorError

    died = RayActorError | NodeDiedError
    failures: dict[int, BaseException] = getattr(error, "worker_failures", None) or {}
    suspects = [members[r] for r, e in sorted(failures.items()) if r < len(members) and (
        isinstance(e, died) or isinstance(getattr(e, "health_check_failure", None), died))]
    deadline = time.monotonic() + (wait_s if suspects else 0.0)
    while True:
        gone = [m for m in members if m not in _live_providers()]
        if gone or time.monotonic() >= deadline:
            return gone or suspects
        time.sleep(0.5)


def run_coupled_job(job: JobSpec, participants: Sequence[Participant], *, operator: Identity,
                    requester_did: str, escrow_id: str, ledger: Ledger, blob_root: Path,
                    keystore_root: Path, seed: int = 0,
                    on_event: Callable[[str], None] | None = None,
                    kill: Callable[[Sequence[str], int], None] | None = None,
                    faults: Faults | None = None) -> GangReport:
    """Run a submitted ``coupled`` job to settlement (see the module docstring).

    Args:
        job: the spec the requester submitted (``job.submit`` is already on the ledger);
            ``workload.units`` is the gang size, ``job.task`` a registered gang kind.
        participants: the providers to consider, with their reputations.
        operator: the coordinator's identity; it signs placement, verdicts and payouts.
        requester_did: who gets refunds and slashed stakes.
        escrow_id: the job's escrow.
        ledger: where every step is appended.
        blob_root: the blob store every node shares (inputs, checkpoints, outputs).
        keystore_root: where each provider's node finds its key.
        seed: seeds the secret choice of audited segments.
        on_event: receives one line per notable event.
        kill: called each time the gang (its members in rank order) has committed
            another segment, with the steps every rank has committed: where a test
            or the simulator takes a provider away.
        faults: injected misbehaviour: a byzantine provider commits corrupted
            checkpoints for that share of its segments (and keeps training honestly).

    Raises:
        PlacementError: if no gang can take the job (nothing is appended).
        ExecutionError: if the job cannot finish; it is then failed, refunded, settled.
    """
    import ray

    if job.workload.kind != "coupled":
        raise PlacementError(f"run_coupled_job runs coupled jobs, not {job.workload.kind}")
    say = on_event or (lambda _text: None)
    # The board lives on the coordinator's node, which outlives any provider.
    board: Any = ray.remote(num_cpus=0)(Board).options(label_selector={
        "ray.io/node-id": ray.get_runtime_context().get_node_id()}).remote()
    storage = tempfile.mkdtemp(prefix="plexnet-gang-")
    try:
        run = _GangRun(job, participants, operator, ledger, blob_root, keystore_root, faults,
                       seed, say, kill, board, storage)
        try:
            run.run()
            return run.finish(escrow_id, requester_did)
        except ExecutionError as exc:
            run.abort(str(exc), escrow_id, requester_did)
            raise
    finally:
        ray.kill(board)
        shutil.rmtree(storage, ignore_errors=True)
