"""Simulator: a discrete-event compute market driving the real placement and verification.

One heap of timestamped events (arrival, task end, provider failure, repair) over a
provider inventory and a job trace (both read by ``workload.py``). Pure, and
deterministic for a seed (only the reported wall time varies). The model:

* **Capacity.** A provider runs at most one task per device; a task holds
  ``min(free devices, devices the job asked for)`` of them. Placement sees the
  ``shortlist`` free providers with the lowest price per FLOP/s (Kubernetes
  scores a sample of nodes for the same reason: scale) and runs the real
  ``place()`` on them, which may spread a job's shards over several providers.
  A job it cannot place waits in a FIFO queue (no backfill) and the head retries
  whenever capacity frees: that wait is the queueing delay. A head that fails
  with nothing running (and, after three such tries, even while providers are
  in repair) can never run: its job is reported as unplaced, and so is a job
  whose replica finds no second provider (its work cannot be verified).
* **Shards.** A job is ``max(shards_per_job, reference GPU-seconds /
  max_shard_gpu_s)`` equal shards (a long training run commits a checkpoint hash
  per segment, and a segment is the unit a verifier re-runs), spread by
  ``place()`` and verified per task.
* **Verification.** When a task of the job's own work finishes, ``choose_replicas``
  picks ``ceil(replication_rate(policy, reputation) * shards)`` of its shards to
  run again elsewhere (replicas are trusted: their own faults are not modelled).
  A byzantine provider fakes ``faked_count(shards, f)`` of them; when the replica
  ends it is caught with probability ``detection_probability`` (drawn). Caught:
  its stake is slashed, its Beta reputation records a failure, and the whole task
  re-runs elsewhere as a ``rerun``. Passed: the reputation records the agreeing
  shards (so the replication rate falls); any fakes are accepted and counted.
* **Churn.** Providers fail at exponential times (MTBF from their reliability via
  ``mtbf_from_reliability``) and rejoin after an exponential repair time. Tasks
  checkpoint every ``young_daly_interval(checkpoint_cost_s, MTBF)`` of compute. A
  failed task's whole shards up to its last checkpoint are kept and verified like
  finished work (a part-shard is carried on by whoever resumes it); the rest
  resumes elsewhere, paying the input transfer again.
* **Money.** Realised, not expected: each task bills ``price x devices x seconds``.
  Compute and transfer of primary work are ``compute`` and ``transfer``; replicas
  are ``verification``; checkpoints, work lost to failures and fraud re-runs are
  ``risk``. Caught cheats are paid like everyone else (marketplaces bill by the
  second; the slashed stake is reported, not refunded). ``placement``'s own
  expected cost is reported beside the realised one.

Useful work is genuine, accepted FLOPs; it is counted in GPU-hours of the
reference device (``workload.REFERENCE_DEVICE``), so for OpenB it is the trace's
own GPU-hours. Experiments built on it live in ``comparison.py``, plots in
``simulation_plots.py``.
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Final, Literal

import numpy as np

from plexnet.compute.errors import ComputeError, PlacementError
from plexnet.compute.job import JobSpec, VerificationPolicy, Workload
from plexnet.compute.placement import MFU, ProviderState, place
from plexnet.compute.reputation import Reputation
from plexnet.compute.scenario import Market, SimulationConfig
from plexnet.compute.simulation_report import (
    CostSummary,
    Report,
    delay_quantiles,
    utilisation_series,
)
from plexnet.compute.verification import (
    choose_replicas,
    detection_probability,
    faked_count,
    mtbf_from_reliability,
    replication_rate,
    young_daly_interval,
)
from plexnet.compute.workload import Arrivals, Inventory, reference_flops_per_s

__all__ = ["simulate"]

Role = Literal["primary", "replica", "rerun"]
# (class of compute seconds, class of transfer seconds) by role; checkpoints and lost
# work are always "risk".
_CLASSES: Final[dict[Role, tuple[str, str]]] = {
    "primary": ("compute", "transfer"), "replica": ("verification", "verification"),
    "rerun": ("risk", "risk")}
_ARRIVE, _END, _FAIL, _REPAIR = range(4)
_NO_BUDGET: Final = 10**18
_IDLE_TRIES: Final = 3


@lru_cache(maxsize=1 << 16)  # the Beta quantile costs ~50 µs and reputations repeat
def _rate(policy: VerificationPolicy, reputation: Reputation) -> float:
    return replication_rate(policy, reputation)


@dataclass(eq=False)
class _Task:
    work: _Work
    provider: int
    devices: int
    units: int
    flops: float
    start_s: float
    transfer_s: float
    compute_s: float
    checkpoint_s: float


@dataclass(eq=False)
class _Check:
    """A finished task awaiting its replica's verdict."""

    task: _Task
    faked: int
    replicated: int
    compute_usd: float  # what the task's compute cost, useful in proportion to genuine work
    ran: bool = False


@dataclass(eq=False)
class _Work:
    job: int
    role: Role
    flops: float
    units: int
    exclude: frozenset[int]
    check: _Check | None = None  # replica work: what it verifies
    root: _Work | None = None  # a resumed replica piece reports to its root
    first: bool = False  # the job's own primary work, whose start ends its queueing
    pending: int = 0  # replica roots: tasks running or queued
    idle_tries: int = 0

    @property
    def owner(self) -> _Work | None:
        return self.root if self.root is not None else self if self.check is not None else None


@dataclass
class _Books:
    """Running totals the report is built from."""

    usd: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("compute", "transfer", "verification", "risk"), 0.0))
    useful_usd: float = 0.0
    useful_flops: float = 0.0
    faked_flops: float = 0.0
    expected_usd: float = 0.0
    caught: int = 0
    missed: int = 0
    slashed_usd: float = 0.0
    failures: int = 0
    interruptions: int = 0
    replicas: int = 0
    reruns: int = 0
    unverified: int = 0


class _Engine:
    def __init__(self, market: Market, inventory: Inventory, arrivals: Arrivals,
                 config: SimulationConfig) -> None:
        if not inventory.profiles:
            raise ComputeError("no providers to simulate")
        if not arrivals.jobs:
            raise ComputeError("no jobs to simulate")
        self.market, self.cfg, self.policy = market, config, market.policy()
        self.inventory, self.arrivals = inventory, arrivals
        pop, self.churn_rng, self.verify_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(3))
        self.profiles = inventory.profiles
        n = len(self.profiles)
        self.index = {p.name: i for i, p in enumerate(self.profiles)}
        self.free = [p.device_count for p in self.profiles]
        self.up, self.down = [True] * n, 0
        self.rep = [Reputation()] * n
        self.stake = [p.stake_micro / 1e6 for p in self.profiles]
        cheats = set(pop.choice(n, size=round(market.byzantine_fraction * n),
                                replace=False).tolist())
        self.byzantine = [i in cheats for i in range(n)]
        self.key = [(p.price_per_device_hour / p.peak_flops, i)
                    for i, p in enumerate(self.profiles)]
        self.avail = sorted(self.key)  # up, with a free device; cheapest per FLOP first
        self.mtbf = [mtbf_from_reliability(p.reliability) for p in self.profiles]
        self.tau = [young_daly_interval(config.checkpoint_cost_s, m) for m in self.mtbf]
        self.jobs = arrivals.jobs
        self.shards = [min(100_000, max(config.shards_per_job, math.ceil(
            job.gpu_hours * 3600 / config.max_shard_gpu_s))) for job in self.jobs]
        self.open = [0] * len(self.jobs)
        self.start = [math.nan] * len(self.jobs)
        self.done = [math.nan] * len(self.jobs)
        self.unplaced = [False] * len(self.jobs)
        self.queue: deque[_Work] = deque()
        self.tasks: dict[int, _Task] = {}
        self.on: list[set[int]] = [set() for _ in range(n)]
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.busy, self.alive = 0, sum(self.free)
        self.t0 = min(job.arrival_s for job in self.jobs)
        self.series: list[tuple[float, int, int]] = [(self.t0, 0, self.alive)]
        self.books = _Books()
        for j, job in enumerate(self.jobs):
            self._push(job.arrival_s, _ARRIVE, j)
        for i in range(n):
            self._schedule_failure(i, self.t0)
        self.arrivals_left, self.open_jobs = len(self.jobs), 0

    # --- events ---------------------------------------------------------------

    def _push(self, t: float, kind: int, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, ref))

    def _schedule_failure(self, i: int, t: float) -> None:
        if math.isfinite(self.mtbf[i]):
            self._push(t + float(self.churn_rng.exponential(self.mtbf[i])), _FAIL, i)

    def run(self) -> float:
        """Process events until every job has finished or been given up; the end time."""
        end = self.t0
        while self.heap and (self.arrivals_left or self.open_jobs):
            t, _, kind, ref = heapq.heappop(self.heap)
            end = t
            if kind == _ARRIVE:
                self.arrivals_left -= 1
                self.open_jobs += 1
                job = self.jobs[ref]
                self._enqueue(_Work(ref, "primary", job.flops, self.shards[ref], frozenset(),
                                    first=True))
            elif kind == _END:
                if (task := self.tasks.pop(ref, None)) is not None:
                    self.on[task.provider].discard(ref)
                    self._finish(task, t)
            elif kind == _FAIL:
                self._fail(ref, t)
            else:
                self._repair(ref, t)
            self._drain(t)
            if (self.busy, self.alive) != self.series[-1][1:]:
                self.series.append((t, self.busy, self.alive))
        return end

    # --- capacity -------------------------------------------------------------

    def _set_free(self, i: int, free: int, up: bool) -> None:
        was = self.up[i] and self.free[i] > 0
        self.free[i], self.up[i] = free, up
        now = up and free > 0
        if now and not was:
            bisect.insort(self.avail, self.key[i])
        elif was and not now:
            del self.avail[bisect.bisect_left(self.avail, self.key[i])]

    def _shortlist(self, exclude: frozenset[int]) -> list[int]:
        chosen: list[int] = []
        limit = self.cfg.shortlist or len(self.avail)
        for _, i in self.avail:
            if i not in exclude and self.rep[i].mean >= self.cfg.min_reputation:
                chosen.append(i)
                if len(chosen) == limit:
                    break
        return chosen

    def _enqueue(self, w: _Work) -> None:
        self.queue.append(w)
        self.open[w.job] += 1
        if (owner := w.owner) is not None:
            owner.pending += 1

    def _drain(self, t: float) -> None:
        while self.queue:
            w = self.queue[0]
            if self._place(w, t):
                self.queue.popleft()
                continue
            if self.tasks:
                return  # a running task will free capacity
            w.idle_tries += 1
            if self.down and w.idle_tries <= _IDLE_TRIES:
                return  # a repair may bring the capacity it needs
            self.queue.popleft()
            self._give_up(w, t)

    def _place(self, w: _Work, t: float) -> bool:
        cap = self.jobs[w.job].gpus
        shortlist = self._shortlist(w.exclude)
        if not shortlist:
            return False
        nominal_s = w.flops / (reference_flops_per_s() * cap)
        spec = JobSpec(job_id=f"{self.jobs[w.job].job_id}.{w.role}", task="sim.work",
                       input_bytes=self.cfg.input_gb * 1e9 * w.flops / self.jobs[w.job].flops,
                       workload=Workload(units=w.units), flops=w.flops,
                       deadline_s=self.cfg.deadline_factor * nominal_s +
                       self.cfg.deadline_margin_s, budget_micro=_NO_BUDGET,
                       verification=self.policy)
        states = [ProviderState(self.profiles[i], self.rep[i], min(self.free[i], cap))
                  for i in shortlist]
        try:
            decision = place(spec, states, solver=self.cfg.solver)
        except PlacementError:
            return False
        extra = len(decision.assignments) - 1
        self.open[w.job] += extra
        if (owner := w.owner) is not None:
            owner.pending += extra
        if w.first:  # placement's estimate for the job as submitted, and its queueing
            self.start[w.job] = t
            self.books.expected_usd += decision.cost.total_micro / 1e6
        for a in decision.assignments:
            i = self.index[a.provider]
            p, devices = self.profiles[i], min(self.free[i], cap)
            flops = w.flops * a.units / w.units
            compute_s = flops / (p.peak_flops * devices * MFU)
            tau = self.tau[i]
            segments = math.ceil(compute_s / tau) if 0 < tau < math.inf else 1
            task = _Task(w, i, devices, a.units, flops, t, max(0.0, a.time_s - compute_s),
                         compute_s, (segments - 1) * self.cfg.checkpoint_cost_s)
            self._set_free(i, self.free[i] - devices, True)
            self.busy += devices
            self.seq += 1
            self.tasks[self.seq] = task
            self.on[i].add(self.seq)
            heapq.heappush(self.heap, (t + task.transfer_s + compute_s + task.checkpoint_s,
                                       self.seq, _END, self.seq))
        return True

    # --- outcomes -------------------------------------------------------------

    def _bill(self, task: _Task, kind: str, seconds: float) -> float:
        usd = self.profiles[task.provider].price_per_device_hour * task.devices * seconds / 3600
        self.books.usd[kind] += usd
        return usd

    def _finish(self, task: _Task, t: float) -> None:
        w = task.work
        self._set_free(task.provider, self.free[task.provider] + task.devices,
                       self.up[task.provider])
        self.busy -= task.devices
        compute_kind, transfer_kind = _CLASSES[w.role]
        self._bill(task, transfer_kind, task.transfer_s)
        self._bill(task, "risk", task.checkpoint_s)
        compute_usd = self._bill(task, compute_kind, task.compute_s)
        if w.role != "replica":
            self._verify(task, compute_usd)
        elif (owner := w.owner) is not None and owner.check is not None:
            owner.check.ran = True
        self._settle_owner(w)
        self._close(w.job, t)

    def _verify(self, task: _Task, compute_usd: float) -> None:
        i = task.provider
        m = len(choose_replicas(task.units, _rate(self.policy, self.rep[i]), self.verify_rng))
        k = faked_count(task.units, self.market.fake_fraction) if self.byzantine[i] else 0
        check = _Check(task, k, m, compute_usd)
        if m == 0:
            self._accept(check)
            return
        self.books.replicas += 1
        self._enqueue(_Work(task.work.job, "replica", task.flops * m / task.units, m,
                            frozenset({i}), check=check))

    def _accept(self, check: _Check) -> None:
        task = check.task
        genuine = 1 - check.faked / task.units
        self.books.useful_flops += task.flops * genuine
        self.books.useful_usd += check.compute_usd * genuine
        if check.faked:
            self.books.missed += 1
            self.books.faked_flops += task.flops * (1 - genuine)

    def _judge(self, check: _Check) -> None:
        task, i = check.task, check.task.provider
        caught = check.faked > 0 and bool(self.verify_rng.random() < detection_probability(
            task.units, check.faked, check.replicated))
        if not caught:
            self.rep[i] = self.rep[i].observe(verified=check.replicated)
            self._accept(check)
            return
        failed = max(1, round(check.replicated * check.faked / task.units))  # expected overlap
        self.rep[i] = self.rep[i].observe(verified=check.replicated - failed, failed=failed)
        self.books.caught += 1
        self.books.reruns += 1
        self.books.slashed_usd += self.stake[i]
        self.stake[i] = 0.0
        self._enqueue(_Work(task.work.job, "rerun", task.flops, task.units, frozenset({i})))

    def _settle_owner(self, w: _Work) -> None:
        owner = w.owner
        if owner is None or owner.check is None:
            return
        owner.pending -= 1
        if owner.pending == 0:
            if owner.check.ran:
                self._judge(owner.check)
            else:  # no replica could run anywhere: the work cannot be trusted
                self.books.unverified += 1
                self.unplaced[owner.job] = True

    def _close(self, j: int, t: float) -> None:
        self.open[j] -= 1
        if self.open[j] == 0:
            self.open_jobs -= 1
            if not self.unplaced[j]:
                self.done[j] = t

    def _give_up(self, w: _Work, t: float) -> None:
        if w.role != "replica":
            self.unplaced[w.job] = True
        self._settle_owner(w)
        self._close(w.job, t)

    def _fail(self, i: int, t: float) -> None:
        self.books.failures += 1
        self.down += 1
        self.alive -= self.profiles[i].device_count
        running = sorted(self.on[i])
        self._set_free(i, self.free[i], False)
        for k in running:
            if (task := self.tasks.pop(k, None)) is not None:
                self._interrupt(task, t)
        self.on[i].clear()
        self._push(t + float(self.churn_rng.exponential(self.market.repair_s)), _REPAIR, i)

    def _interrupt(self, task: _Task, t: float) -> None:
        """Bill a task cut short by its provider's failure, keep its checkpointed work,
        and queue the rest elsewhere."""
        i, w = task.provider, task.work
        self.books.interruptions += 1
        self._set_free(i, self.free[i] + task.devices, False)
        self.busy -= task.devices
        elapsed = t - task.start_s
        transfer = min(elapsed, task.transfer_s)
        progress, tau, c = elapsed - transfer, self.tau[i], self.cfg.checkpoint_cost_s
        kept = (progress if tau <= 0 else 0.0 if math.isinf(tau)
                else math.floor(progress / (tau + c)) * tau)
        kept = min(kept, task.compute_s)
        compute_kind, transfer_kind = _CLASSES[w.role]
        self._bill(task, transfer_kind, transfer)
        kept_usd = self._bill(task, compute_kind, kept)
        self._bill(task, "risk", elapsed - transfer - kept)
        frac = kept / task.compute_s if task.compute_s > 0 else 0.0
        shard = self.jobs[w.job].flops / self.shards[w.job]
        if frac > 0 and w.role != "replica":
            done = math.floor(round(task.flops * frac / shard, 9))  # whole shards kept
            if done:  # verified like finished work
                self._verify(replace(task, units=done, flops=task.flops * frac, compute_s=kept),
                             kept_usd)
            else:  # a part-shard, carried on from its checkpoint; its resumer's check covers it
                self.books.useful_flops += task.flops * frac
                self.books.useful_usd += kept_usd
        rest = task.flops * (1 - frac)
        self._enqueue(_Work(w.job, w.role, rest, max(1, math.ceil(round(rest / shard, 9))),
                            w.exclude | {i}, root=w.owner))
        self._settle_owner(w)
        self._close(w.job, t)

    def _repair(self, i: int, t: float) -> None:
        self.down -= 1
        self.alive += self.profiles[i].device_count
        self._set_free(i, self.free[i], True)
        self._schedule_failure(i, t)

    # --- report ---------------------------------------------------------------

    def report(self, end_s: float, wall_s: float) -> Report:
        b, jobs = self.books, self.jobs
        delays = [s - j.arrival_s for s, j in zip(self.start, jobs, strict=True)
                  if not math.isnan(s)]
        quantiles = delay_quantiles(delays)
        util, series = utilisation_series(self.series, end_s, self.cfg.series_points)
        usd = b.usd
        total = sum(usd.values())
        gpu_hours = b.useful_flops / reference_flops_per_s() / 3600
        skipped = {**self.inventory.skipped, **self.arrivals.skipped}
        return Report(
            v=1, market=self.market.name, providers=len(self.profiles),
            devices=sum(p.device_count for p in self.profiles), jobs_submitted=len(jobs),
            jobs_done=sum(not math.isnan(d) for d in self.done),
            jobs_unplaced=sum(self.unplaced), skipped=skipped,
            cost=CostSummary(usd["compute"], usd["transfer"], usd["verification"],
                             usd["risk"], total),
            expected_cost_usd=b.expected_usd, useful_gpu_hours=gpu_hours,
            cost_per_gpu_hour=total / gpu_hours if gpu_hours > 0 else None,
            base_cost_per_gpu_hour=((usd["compute"] + usd["transfer"]) / gpu_hours
                                    if gpu_hours > 0 else None),
            queue_delay_mean_s=sum(delays) / len(delays) if delays else None,
            queue_delay_p50_s=quantiles[50] if quantiles else None,
            queue_delay_p95_s=quantiles[95] if quantiles else None,
            utilisation=util, fraud_caught=b.caught, fraud_missed=b.missed,
            faked_gpu_hours_accepted=b.faked_flops / reference_flops_per_s() / 3600,
            slashed_usd=b.slashed_usd,
            verification_overhead_fraction=(usd["verification"] / usd["compute"]
                                            if usd["compute"] > 0 else 0.0),
            useful_compute_fraction=b.useful_usd / total if total > 0 else 0.0,
            provider_failures=b.failures, interrupted_tasks=b.interruptions,
            replicated_tasks=b.replicas, fraud_reruns=b.reruns, unverified_tasks=b.unverified,
            simulated_s=end_s - self.t0, wall_s=wall_s, delay_quantiles_s=quantiles,
            utilisation_series=series,
            assumptions={"market": asdict(self.market), "config": asdict(self.cfg),
                         "providers": self.inventory.source, "jobs": self.arrivals.source})


def simulate(market: Market, inventory: Inventory, arrivals: Arrivals,
             config: SimulationConfig | None = None) -> Report:
    """Replay ``arrivals`` on ``inventory`` under ``market``'s assumptions.

    Deterministic for ``config.seed`` (only ``Report.wall_s`` varies).

    Raises:
        ComputeError: no providers, no jobs, or an invalid assumption.
    """
    started = time.perf_counter()
    engine = _Engine(market, inventory, arrivals, config or SimulationConfig())
    end = engine.run()
    return engine.report(end, time.perf_counter() - started)
