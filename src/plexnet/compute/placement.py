"""Placement: job + provider snapshot + reputation -> a frozen Decision. Pure: no Ray, no database.

The cost and time model (all of it lives in the "cost model" section below):

* A provider works with its free devices (all of them unless ``free_devices`` says
  otherwise): speed ``peak_flops * devices * MFU`` FLOP/s, billed
  ``price_per_device_hour * devices`` credits an hour for the seconds it works.
* Parallel job of ``n`` shards: a shard takes ``(flops / n) / speed`` seconds of
  compute plus ``(input_bytes / n) * 8 / (bandwidth_mbps * 1e6)`` of transfer — none
  when the provider already holds every input CID (``ProviderState.holds``), which
  is how data locality wins: through the price, not a special case. A provider
  works its ``x`` shards one after another, plus one RTT of setup when used:
  ``time = x * (compute + transfer) + rtt_ms / 1000``. Compute seconds bill as
  compute; transfer and setup seconds as transfer.
* Coupled job (a gang of ``n`` providers, one worker each, all in one region):
  the gang runs at the pace of its slowest member, ``time = flops / (n * min
  speed) + steps * (2 * sync_bytes_per_step * (n - 1) / n * 8 / (min bandwidth *
  1e6) + max rtt) + input transfer`` where the input transfer is ``(input_bytes /
  n) * 8 / (min bandwidth * 1e6)`` unless every member holds the inputs. Every
  member bills the whole time; ``flops / (n * min speed)`` as compute, the rest as
  transfer.
* Verification: the provider's replication rate (falling as its reputation's
  lower bound rises) times its compute and transfer cost — the replicas run
  elsewhere at about the same price. Risk premium: ``1 - reliability`` times that
  cost, the expected re-run. Expected cost = base cost * (1 + replication + risk).
* Constraints: the requirements; each provider's (or the gang's) time within the
  deadline; the decision's total within the budget. Every excluded provider gets
  a reason; when nothing fits, PlacementError names the binding constraint and
  the value that would satisfy it.

Solvers (solver.py): parallel jobs go to an exact MILP when at most
``EXACT_MAX_PROVIDERS`` providers can take a shard, else to an O(P log P) greedy;
coupled jobs to an exact enumeration of gangs when it is small, else to a greedy.
``place`` returns the cheapest plan; ``quote`` adds the fastest within the budget
and the most reliable, for a requester to choose from. Micro-credits are integers
(1 credit = 1,000,000); each cost part is rounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Final, Literal, TypeVar

import numpy as np

from plexnet.compute import solver
from plexnet.compute.errors import PlacementError
from plexnet.compute.job import JobSpec, Requirements, VerificationPolicy
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.reputation import Reputation
from plexnet.compute.verification import replication_rate

__all__ = [
    "EXACT_MAX_PROVIDERS",
    "MFU",
    "Assignment",
    "CostBreakdown",
    "Decision",
    "ProviderState",
    "SolverChoice",
    "eligible",
    "place",
    "quote",
]

# Model FLOP utilisation assumed for estimates: small jobs on commodity devices
# reach a fraction of peak. 0.3 is the usual planning figure for dense training.
MFU: Final = 0.3
# Above this many providers able to take a shard, "auto" uses the greedy: below it
# a MILP decision takes about 10 ms (bench/placement.py measures both).
EXACT_MAX_PROVIDERS: Final = 200
# Coupled jobs: the largest exact enumeration "auto" runs (array cells; ~0.2 s).
_GANG_EXACT_MAX_WORK: Final = 200_000_000
_MICRO: Final = 1_000_000

SolverChoice = Literal["auto", "exact", "heuristic"]


@dataclass(frozen=True)
class ProviderState:
    """A provider as placement sees it now: its profile, track record, free devices, cache."""

    profile: ProviderProfile
    reputation: Reputation = field(default_factory=Reputation)
    free_devices: int | None = None  # None: all of them
    holds: frozenset[str] = frozenset()  # input CIDs already cached there

    def __post_init__(self) -> None:
        if self.free_devices is not None and not 0 <= self.free_devices <= \
                self.profile.device_count:
            raise ValueError(f"{self.profile.name}: free_devices {self.free_devices} outside "
                             f"0..{self.profile.device_count}")


@dataclass(frozen=True)
class CostBreakdown:
    """Expected cost in micro-credits, by cause."""

    compute_micro: int = 0
    transfer_micro: int = 0
    verification_micro: int = 0
    risk_micro: int = 0

    @property
    def total_micro(self) -> int:
        return self.compute_micro + self.transfer_micro + self.verification_micro + \
            self.risk_micro

    def __add__(self, other: CostBreakdown) -> CostBreakdown:
        return CostBreakdown(self.compute_micro + other.compute_micro,
                             self.transfer_micro + other.transfer_micro,
                             self.verification_micro + other.verification_micro,
                             self.risk_micro + other.risk_micro)


@dataclass(frozen=True)
class Assignment:
    """One provider's share: shards (parallel) or one gang worker (coupled)."""

    provider: str
    units: int
    time_s: float
    cost: CostBreakdown


@dataclass(frozen=True)
class Decision:
    """Where a job runs, at what expected time (the makespan) and cost, and who was left out why."""

    job_id: str
    kind: Literal["parallel", "coupled"]
    assignments: tuple[Assignment, ...]
    time_s: float
    cost: CostBreakdown
    excluded: tuple[tuple[str, str], ...]
    solver: Literal["milp", "heuristic", "exact-enumeration"]
    region: str | None


# --- cost model -------------------------------------------------------------


@lru_cache(maxsize=1 << 16)  # the Beta quantile costs ~50 µs; snapshots repeat
def _replication_rate(policy: VerificationPolicy, reputation: Reputation) -> float:
    return replication_rate(policy, reputation)


def _devices(s: ProviderState) -> int:
    return s.profile.device_count if s.free_devices is None else s.free_devices


def _speed(s: ProviderState) -> float:
    return s.profile.peak_flops * _devices(s) * MFU


def _rate_micro_per_s(s: ProviderState) -> float:
    return s.profile.price_per_device_hour * _devices(s) / 3600 * _MICRO


def _overheads(job: JobSpec, s: ProviderState) -> tuple[float, float]:
    """(replication rate, risk share) as fractions of the base cost."""
    return _replication_rate(job.verification, s.reputation), 1 - s.profile.reliability


def _holds_inputs(job: JobSpec, s: ProviderState) -> bool:
    return bool(job.inputs) and s.holds.issuperset(job.inputs)


_Seconds = TypeVar("_Seconds", float, solver.Floats)


def _transfer_s(n_bytes: float, bandwidth_mbps: _Seconds) -> _Seconds:
    return n_bytes * 8 / (bandwidth_mbps * 1e6)


def _shard_s(job: JobSpec, s: ProviderState) -> tuple[float, float, float]:
    """(compute, transfer, setup) seconds of one shard of a parallel job on ``s``."""
    n = job.workload.units
    transfer = 0.0 if _holds_inputs(job, s) else _transfer_s(job.input_bytes / n,
                                                             s.profile.bandwidth_mbps)
    return job.flops / n / _speed(s), transfer, s.profile.rtt_ms / 1000


def _gang_compute_s(job: JobSpec, min_speed: solver.Floats) -> solver.Floats:
    return np.asarray(job.flops / (job.workload.units * min_speed))


def _gang_time_s(job: JobSpec, min_speed: solver.Floats, min_bandwidth_mbps: solver.Floats,
                 max_rtt_s: solver.Floats, all_hold: bool) -> solver.Floats:
    w = job.workload
    sync_bytes = 2 * w.sync_bytes_per_step * (w.units - 1) / w.units  # ring all-reduce
    input_bytes = 0.0 if all_hold else job.input_bytes / w.units
    comm = _transfer_s(w.steps * sync_bytes + input_bytes, min_bandwidth_mbps)
    return np.asarray(_gang_compute_s(job, min_speed) + comm + w.steps * max_rtt_s)


def _gang_s(job: JobSpec, crew: Sequence[ProviderState]) -> tuple[float, float]:
    """(time, compute time) in seconds of the gang ``crew``."""
    slowest = np.asarray(min(_speed(s) for s in crew))
    t = _gang_time_s(job, slowest, np.asarray(min(s.profile.bandwidth_mbps for s in crew)),
                     np.asarray(max(s.profile.rtt_ms for s in crew) / 1000),
                     all(_holds_inputs(job, s) for s in crew))
    return float(t), float(_gang_compute_s(job, slowest))


def _breakdown(job: JobSpec, s: ProviderState, compute_s: float, transfer_s: float
               ) -> CostBreakdown:
    rate = _rate_micro_per_s(s)
    base = rate * (compute_s + transfer_s)
    replication, risk = _overheads(job, s)
    return CostBreakdown(round(rate * compute_s), round(rate * transfer_s),
                         round(replication * base), round(risk * base))


def _expected_rate(job: JobSpec, s: ProviderState) -> float:
    """Expected micro-credits per second of work on ``s``, overheads included."""
    return _rate_micro_per_s(s) * (1 + sum(_overheads(job, s)))


# --- requirements -----------------------------------------------------------

def _violation(req: Requirements, s: ProviderState) -> tuple[int, str] | None:
    """The first requirement ``s`` breaks (its stage and the reason), or None."""
    p = s.profile
    if req.device_kinds and p.device_kind not in req.device_kinds:
        return 0, f"device kind {p.device_kind} not in {req.device_kinds}"
    if req.tiers and p.tier not in req.tiers:
        return 1, f"tier {p.tier} not in {req.tiers}"
    if req.regions and p.region not in req.regions:
        return 2, f"region {p.region} not in {req.regions}"
    if p.memory_gb < req.min_memory_gb:
        return 3, f"{p.memory_gb:g} GiB memory < {req.min_memory_gb:g} GiB required"
    if req.max_rtt_ms is not None and p.rtt_ms > req.max_rtt_ms:
        return 4, f"rtt {p.rtt_ms:g} ms > max_rtt_ms {req.max_rtt_ms:g}"
    if s.reputation.mean < req.min_reputation:
        return 5, f"reputation {s.reputation.mean:.3f} < min_reputation {req.min_reputation:g}"
    if _devices(s) == 0:
        return 6, "no free devices"
    return None


def eligible(requirements: Requirements, providers: Sequence[ProviderState | ProviderProfile]
             ) -> tuple[list[ProviderState], list[tuple[str, str]]]:
    """Split ``providers`` by ``requirements`` alone: no job, deadline or budget.

    For callers that pick a host by other rules than the cost model (a model
    server, say). A bare ProviderProfile counts as a fresh provider with every
    device free. Order is kept.

    Returns:
        The providers that meet every requirement, and ``(name, why)`` for each
        one that does not, naming the first requirement it breaks.
    """
    ok: list[ProviderState] = []
    excluded: list[tuple[str, str]] = []
    for p in providers:
        s = p if isinstance(p, ProviderState) else ProviderState(p)
        if (broken := _violation(requirements, s)) is None:
            ok.append(s)
        else:
            excluded.append((s.profile.name, broken[1]))
    return ok, excluded


def _binding(req: Requirements, stage: int, left: list[ProviderState]) -> str:
    """Why no provider passes ``stage``, given those that passed every earlier one."""
    profiles = [s.profile for s in left]
    if stage == 0:
        have = sorted({p.device_kind for p in profiles})
        return (f"no provider offers device kind {' or '.join(req.device_kinds)}; there are "
                f"{', '.join(have)} — add one of them to device_kinds")
    if stage in (1, 2):
        attr = "tier" if stage == 1 else "region"
        want = req.tiers if stage == 1 else req.regions
        have = sorted({getattr(p, attr) for p in profiles})
        return (f"no provider in {attr} {' or '.join(want)}; there are {', '.join(have)} "
                f"— add one of them to {attr}s")
    if stage == 3:
        most = max(p.memory_gb for p in profiles)
        return (f"no provider offers {req.min_memory_gb:g} GiB; the largest has {most:g} GiB "
                f"— lower min_memory_gb to {most:g}")
    if stage == 4:
        near = min(p.rtt_ms for p in profiles)
        return (f"no provider within {req.max_rtt_ms:g} ms; the nearest is at {near:g} ms "
                f"— raise max_rtt_ms to {near:g}")
    if stage == 5:
        top = math.floor(max(s.reputation.mean for s in left) * 1000) / 1000
        return (f"no provider has reputation {req.min_reputation:g}; the best has {top:g} "
                f"— lower min_reputation to {top:g}")
    return "every provider that meets the requirements is busy (no free devices); retry later"


# --- problems and solving ---------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """Providers that can take part, with the per-provider terms the solvers need."""

    job: JobSpec
    states: tuple[ProviderState, ...]
    excluded: tuple[tuple[str, str], ...]
    exact: bool
    unit_time_s: solver.Floats  # parallel: seconds per shard (compute + transfer)
    setup_s: solver.Floats
    rate: solver.Floats  # expected micro-credits per second of work, overheads included

    def mask(self, min_reliability: float = 0.0) -> solver.Bools:
        return np.array([s.profile.reliability >= min_reliability for s in self.states],
                        dtype=bool)


def _problem(job: JobSpec, states: Sequence[ProviderState], excluded: list[tuple[str, str]],
             exact: bool) -> _Problem:
    shards = np.array([_shard_s(job, s) for s in states]).reshape(-1, 3)
    return _Problem(job, tuple(states), tuple(sorted(excluded)), exact,
                    shards[:, 0] + shards[:, 1], shards[:, 2],
                    np.array([_expected_rate(job, s) for s in states]))


def _fail(job: JobSpec, text: str) -> PlacementError:
    return PlacementError(f"cannot place job {job.job_id}: {text}")


def _too_slow(job: JobSpec, fastest_s: float) -> PlacementError:
    need = f"{math.ceil(fastest_s):,}"
    return _fail(job, f"fastest plan needs {need} s > deadline {job.deadline_s:,.0f} s — "
                      f"raise deadline_s to at least {need}")


def _prepare(job: JobSpec, providers: Sequence[ProviderState | ProviderProfile],
             choice: SolverChoice) -> _Problem:
    """Check requirements and deadlines; raise if nothing can work, naming why."""
    states = sorted((p if isinstance(p, ProviderState) else ProviderState(p)
                     for p in providers), key=lambda s: s.profile.name)
    if len({s.profile.name for s in states}) < len(states):
        raise ValueError("provider names must be unique")
    if not states:
        raise _fail(job, "no providers registered")
    excluded: list[tuple[str, str]] = []
    eligible: list[ProviderState] = []
    stages: dict[int, list[ProviderState]] = {}
    for s in states:
        if (broken := _violation(job.requirements, s)) is None:
            eligible.append(s)
        else:
            excluded.append((s.profile.name, broken[1]))
            stages.setdefault(broken[0], []).append(s)
    if not eligible:  # what binds is the requirement that removed the last providers
        stage = max(stages)
        raise _fail(job, _binding(job.requirements, stage, stages[stage]))
    prepare = _prepare_parallel if job.workload.kind == "parallel" else _prepare_coupled
    return prepare(job, eligible, excluded, choice)


def _prepare_parallel(job: JobSpec, eligible: list[ProviderState],
                      excluded: list[tuple[str, str]], choice: SolverChoice) -> _Problem:
    n = job.workload.units
    every = _problem(job, eligible, excluded, exact=False)
    caps = solver.shard_caps(every.unit_time_s, every.setup_s, n, job.deadline_s)
    if caps.sum() < n:
        raise _too_slow(job, solver.shards_fastest_horizon_s(every.unit_time_s, every.setup_s, n))
    for s, cap, t in zip(eligible, caps, every.unit_time_s + every.setup_s, strict=True):
        if cap == 0:
            excluded.append((s.profile.name, f"one shard needs {t:,.0f} s > deadline "
                                              f"{job.deadline_s:,.0f} s"))
    fit = caps > 0
    exact = choice == "exact" or (choice == "auto" and fit.sum() <= EXACT_MAX_PROVIDERS)
    return replace(every, states=tuple(s for s, ok in zip(eligible, fit, strict=True) if ok),
                   excluded=tuple(sorted(excluded)), exact=exact, unit_time_s=every.unit_time_s[
                       fit], setup_s=every.setup_s[fit], rate=every.rate[fit])


def _regions(states: Sequence[ProviderState]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(states):
        groups.setdefault(s.profile.region, []).append(i)
    return dict(sorted(groups.items()))


def _prepare_coupled(job: JobSpec, eligible: list[ProviderState],
                     excluded: list[tuple[str, str]], choice: SolverChoice) -> _Problem:
    n = job.workload.units
    sizes = {r: len(ix) for r, ix in _regions(eligible).items()}
    top = max(sizes, key=lambda r: (sizes[r], r))
    if sizes[top] < n:
        raise _fail(job, f"a coupled gang needs {n} workers in one region; at most "
                         f"{sizes[top]} eligible providers share one ({top}) — lower "
                         f"workload.units to {sizes[top]} or relax the requirements")
    fit: list[ProviderState] = []
    for s in eligible:
        best_s = _gang_s(job, [s])[0]  # no gang with s in it beats a gang of copies of s
        if sizes[s.profile.region] < n:
            excluded.append((s.profile.name, f"only {sizes[s.profile.region]} eligible "
                                              f"providers in {s.profile.region} < {n} workers"))
        elif best_s > job.deadline_s:
            excluded.append((s.profile.name, f"as a gang member needs at least {best_s:,.0f} s "
                                              f"> deadline {job.deadline_s:,.0f} s"))
        else:
            fit.append(s)
    work = sum(solver.gang_work(*_gang_arrays(job, fit, ix)[1:4])
               for ix in _regions(fit).values())
    exact = choice == "exact" or (choice == "auto" and work <= _GANG_EXACT_MAX_WORK)
    problem = _problem(job, fit, excluded, exact)
    if _solve(problem, problem.mask(), job.deadline_s) is None:
        every = _problem(job, eligible, excluded, exact)
        fastest = _solve(every, every.mask(), math.inf, fastest=True)
        assert fastest is not None, "some region holds n eligible providers"
        raise _too_slow(job, fastest.time_s)
    return problem


def _gang_arrays(job: JobSpec, states: Sequence[ProviderState], ix: list[int]) -> tuple[
        solver.Floats, solver.Floats, solver.Floats, solver.Floats, solver.Bools]:
    """(weight, speed, bandwidth, rtt_s, holds) of the members ``ix``."""
    members = [states[i] for i in ix]
    return (np.array([_expected_rate(job, s) for s in members]),
            np.array([_speed(s) for s in members]),
            np.array([s.profile.bandwidth_mbps for s in members]),
            np.array([s.profile.rtt_ms / 1000 for s in members]),
            np.array([_holds_inputs(job, s) for s in members], dtype=bool))


def _decision(pb: _Problem, used: list[ProviderState], assignments: list[Assignment]
              ) -> Decision:
    regions = {s.profile.region for s in used}
    parallel = pb.job.workload.kind == "parallel"
    return Decision(pb.job.job_id, pb.job.workload.kind, tuple(assignments),
                    max(a.time_s for a in assignments),
                    sum((a.cost for a in assignments), CostBreakdown()), pb.excluded,
                    "heuristic" if not pb.exact else "milp" if parallel else "exact-enumeration",
                    regions.pop() if len(regions) == 1 else None)


def _solve(pb: _Problem, mask: solver.Bools, horizon_s: float, *, fastest: bool = False,
           budget: float = math.inf) -> Decision | None:
    """The cheapest plan on ``mask`` by the horizon (coupled: or the fastest within budget)."""
    job, n = pb.job, pb.job.workload.units
    if job.workload.kind == "parallel":
        caps = np.where(mask, solver.shard_caps(pb.unit_time_s, pb.setup_s, n, horizon_s), 0)
        shards = solver.shards_milp if pb.exact else solver.shards_greedy
        x = shards(pb.rate * pb.unit_time_s, pb.rate * pb.setup_s, caps, n)
        if x is None:
            return None
        used = [pb.states[i] for i in np.flatnonzero(x)]
        assignments = []
        for s, k in zip(used, x[x > 0].tolist(), strict=True):
            compute, transfer, setup = _shard_s(job, s)
            assignments.append(Assignment(s.profile.name, k, k * (compute + transfer) + setup,
                                          _breakdown(job, s, k * compute, k * transfer + setup)))
        return _decision(pb, used, assignments)
    gang = solver.gang_exact if pb.exact else solver.gang_greedy
    best: tuple[tuple[float, float], list[ProviderState]] | None = None
    for ix in _regions(pb.states).values():
        ix = [i for i in ix if mask[i]]
        if len(ix) < n:
            continue
        members = gang(*_gang_arrays(job, pb.states, ix), n,
                       lambda s, b, r, h: _gang_time_s(job, s, b, r, h), horizon_s,
                       budget=budget, fastest=fastest)
        if members is not None:
            crew = [pb.states[ix[i]] for i in members]
            t = _gang_s(job, crew)[0]
            cost = sum(_expected_rate(job, s) for s in crew) * t
            key = (t, cost) if fastest else (cost, t)
            if best is None or key < best[0]:
                best = key, crew
    if best is None:
        return None
    crew = best[1]
    t, compute = _gang_s(job, crew)
    return _decision(pb, crew, [Assignment(s.profile.name, 1, t,
                                           _breakdown(job, s, compute, t - compute))
                                for s in crew])


def _within_budget(pb: _Problem, d: Decision | None) -> bool:
    return d is not None and d.cost.total_micro <= pb.job.budget_micro


def _fastest(pb: _Problem) -> Decision | None:
    """The plan with the shortest makespan within the budget (then the cheapest such)."""
    job, n = pb.job, pb.job.workload.units
    if job.workload.kind == "coupled":
        return _solve(pb, pb.mask(), job.deadline_s, fastest=True, budget=job.budget_micro)
    lo = min(solver.shards_fastest_horizon_s(pb.unit_time_s, pb.setup_s, n), job.deadline_s)
    if _within_budget(pb, quick := _solve(pb, pb.mask(), lo)):
        return quick
    hi, best = job.deadline_s, _solve(pb, pb.mask(), job.deadline_s)
    while hi - lo > 1e-6 * hi:  # a later horizon never costs more: bisect on it
        mid = (lo + hi) / 2
        if _within_budget(pb, d := _solve(pb, pb.mask(), mid)):
            hi, best = mid, d
        else:
            lo = mid
    return best


def _most_reliable(pb: _Problem) -> Decision | None:
    """The cheapest plan whose least reliable provider is as reliable as can be."""
    levels = sorted({s.profile.reliability for s in pb.states}, reverse=True)
    lo, hi = 0, len(levels) - 1  # everyone passes levels[hi], and that plan fits
    best = _solve(pb, pb.mask(levels[hi]), pb.job.deadline_s)
    while lo < hi:  # admitting less reliable providers never costs more: bisect
        mid = (lo + hi) // 2
        if _within_budget(pb, d := _solve(pb, pb.mask(levels[mid]), pb.job.deadline_s)):
            hi, best = mid, d
        else:
            lo = mid + 1
    return best


def _cheapest(pb: _Problem) -> Decision:
    decision = _solve(pb, pb.mask(), pb.job.deadline_s)
    assert decision is not None, "_prepare leaves only solvable problems"
    cost, budget = decision.cost.total_micro, pb.job.budget_micro
    if cost > budget:
        raise _fail(pb.job, f"cheapest feasible plan costs {cost:,} micro-credits > budget "
                            f"{budget:,} — raise the budget to at least {cost:,}")
    return decision


def place(job: JobSpec, providers: Sequence[ProviderState | ProviderProfile], *,
          solver: SolverChoice = "auto") -> Decision:
    """The cheapest plan for ``job`` on ``providers`` that meets its deadline and budget.

    Args:
        job: what to run; its workload says parallel shards or a coupled gang.
        providers: the snapshot; a bare ProviderProfile counts as a fresh provider
            with every device free and nothing cached.
        solver: "exact" (MILP for parallel jobs, enumeration for coupled ones),
            "heuristic" (greedy), or "auto" (exact while the instance is small).

    Returns:
        The decision, with every provider left out and why.

    Raises:
        PlacementError: nothing fits; the message names the binding constraint and
            the value that would satisfy it.
        ValueError: two providers share a name.
    """
    return _cheapest(_prepare(job, providers, solver))


def quote(job: JobSpec, providers: Sequence[ProviderState | ProviderProfile], *,
          solver: SolverChoice = "auto") -> list[Decision]:
    """The options to show a requester before anything is committed, without duplicates.

    The cheapest plan first, then the fastest within the budget, then the cheapest
    of those whose least reliable provider is as reliable as any plan's can be.
    Arguments and errors as for :func:`place`.
    """
    pb = _prepare(job, providers, solver)
    options: list[Decision] = []
    for d in (_cheapest(pb), _fastest(pb), _most_reliable(pb)):
        if d is not None and all(d.assignments != o.assignments for o in options):
            options.append(d)
    return options
