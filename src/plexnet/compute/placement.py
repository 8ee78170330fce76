"""Placement: job + provider snapshot -> a frozen decision. Pure: no Ray, no database.

The rule for now (issue 3 replaces it with quotes, an exact MILP and a fast
heuristic): drop every provider that breaks a requirement, recording why; estimate
each remaining provider's time (FLOPs over its peak, at an assumed utilisation)
and cost (device-hours times price); keep those that meet the deadline and the
budget; choose the cheapest, breaking ties by time, then name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from plexnet.compute.errors import PlacementError
from plexnet.compute.job import JobSpec
from plexnet.compute.profile import ProviderProfile

__all__ = ["MFU", "Estimate", "Placement", "estimate", "place"]

# Model FLOP utilisation assumed for estimates: small jobs on commodity devices
# reach a fraction of peak. 0.3 is the usual planning figure for dense training.
MFU: Final = 0.3
_MICRO: Final = 1_000_000


@dataclass(frozen=True)
class Estimate:
    provider: str
    time_s: float
    cost_micro: int


@dataclass(frozen=True)
class Placement:
    """The decision: where the job runs, what it should cost, and who was excluded why."""

    job_id: str
    provider: str
    estimate: Estimate
    candidates: tuple[Estimate, ...]
    excluded: tuple[tuple[str, str], ...]


def estimate(job: JobSpec, p: ProviderProfile) -> Estimate:
    """Time and cost of ``job`` on ``p`` (at least one second of one device)."""
    time_s = max(job.flops / (p.peak_flops * p.device_count * MFU), 1.0)
    cost = p.price_per_device_hour * p.device_count * time_s / 3600
    return Estimate(p.name, time_s, max(round(cost * _MICRO), 1))


def _violation(job: JobSpec, p: ProviderProfile) -> str | None:
    req = job.requirements
    if req.device_kinds and p.device_kind not in req.device_kinds:
        return f"device kind {p.device_kind} not in {req.device_kinds}"
    if req.tiers and p.tier not in req.tiers:
        return f"tier {p.tier} not in {req.tiers}"
    if req.regions and p.region not in req.regions:
        return f"region {p.region} not in {req.regions}"
    if p.memory_gb < req.min_memory_gb:
        return f"{p.memory_gb:g} GiB memory < {req.min_memory_gb:g} GiB required"
    return None


def place(job: JobSpec, providers: list[ProviderProfile]) -> Placement:
    """Choose a provider for ``job``.

    Raises:
        PlacementError: naming why each provider was excluded and what would help.
    """
    excluded: list[tuple[str, str]] = []
    fits: list[Estimate] = []
    for p in sorted(providers, key=lambda p: p.name):
        why = _violation(job, p)
        if why is None:
            est = estimate(job, p)
            if est.time_s > job.deadline_s:
                why = f"needs {est.time_s:.0f} s > deadline {job.deadline_s:.0f} s"
            elif est.cost_micro > job.budget_micro:
                why = f"costs {est.cost_micro} > budget {job.budget_micro} micro-credits"
            else:
                fits.append(est)
        if why is not None:
            excluded.append((p.name, why))
    if not fits:
        detail = "; ".join(f"{n}: {w}" for n, w in excluded) or "no providers registered"
        raise PlacementError(f"no provider can take job {job.job_id}: {detail}")
    best = min(fits, key=lambda e: (e.cost_micro, e.time_s, e.provider))
    return Placement(job.job_id, best.provider, best, tuple(fits), tuple(excluded))
