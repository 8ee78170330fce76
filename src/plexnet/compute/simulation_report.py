"""Simulation reports: what one run, a comparison and a replication sweep found.

Frozen dataclasses of plain numbers, strings, tuples and dicts, so
``dataclasses.asdict`` (``to_dict``) is JSON-serialisable as it stands. Money is
US dollars (1 credit = 1 USD); work is GPU-hours of the simulator's reference
device. No NaN anywhere: a figure that does not exist (no useful work, no job
started) is ``None``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Comparison", "CostSummary", "Report", "SweepPoint", "delay_quantiles",
           "utilisation_series"]


@dataclass(frozen=True)
class CostSummary:
    """Realised cost by cause, USD; ``total_usd`` is the sum of the four."""

    compute_usd: float
    transfer_usd: float
    verification_usd: float
    risk_usd: float
    total_usd: float


@dataclass(frozen=True)
class Report:
    """One simulation run.

    Attributes:
        skipped: trace rows that did not become a provider or a job, by reason.
        expected_cost_usd: what ``place()`` expected the placed work to cost
            (its verification and risk premiums included), beside the realised
            ``cost``.
        base_cost_per_gpu_hour: compute and transfer only, per useful GPU-hour:
            the sticker price, before verification and churn are paid for.
        verification_overhead_fraction: verification cost / compute cost.
        useful_compute_fraction: cost of genuine, accepted compute / total cost.
        delay_quantiles_s: queueing delay at the 0th, 1st, ..., 100th percentile.
        utilisation_series: (time_s, busy devices / devices up), time-weighted
            over equal bins.
    """

    v: int
    market: str
    providers: int
    devices: int
    jobs_submitted: int
    jobs_done: int
    jobs_unplaced: int
    skipped: dict[str, int]
    cost: CostSummary
    expected_cost_usd: float
    useful_gpu_hours: float
    cost_per_gpu_hour: float | None
    base_cost_per_gpu_hour: float | None
    queue_delay_mean_s: float | None
    queue_delay_p50_s: float | None
    queue_delay_p95_s: float | None
    utilisation: float
    fraud_caught: int
    fraud_missed: int
    faked_gpu_hours_accepted: float
    slashed_usd: float
    verification_overhead_fraction: float
    useful_compute_fraction: float
    provider_failures: int
    interrupted_tasks: int
    replicated_tasks: int
    fraud_reruns: int
    unverified_tasks: int
    simulated_s: float
    wall_s: float
    delay_quantiles_s: tuple[float, ...]
    utilisation_series: tuple[tuple[float, float], ...]
    assumptions: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Comparison:
    """The same workload on a decentralised market and on centralised clouds.

    ``cost_ratio`` is decentralised / centralised cost per useful GPU-hour, all
    overheads paid; ``base_cost_ratio`` the same on sticker prices alone;
    ``savings`` is ``1 - cost_ratio`` (0.85 would be "85% cheaper").
    """

    decentralised: Report
    centralised: Report
    cost_ratio: float | None
    base_cost_ratio: float | None
    savings: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def verdict(self) -> str:
        """One sentence on the claim that decentralised compute is 80-90% cheaper."""
        if self.cost_ratio is None or self.base_cost_ratio is None or self.savings is None:
            return "no useful work was done on one side, so there is no ratio"
        base = 1 - self.base_cost_ratio
        return (f"decentralised costs {self.cost_ratio:.2f}x centralised per useful GPU-hour "
                f"({self.savings:.0%} cheaper) once verification and churn are paid for; on "
                f"sticker prices alone it is {base:.0%} cheaper (claim: 80-90%)")


@dataclass(frozen=True)
class SweepPoint:
    """Fraud outcomes at one fixed replication rate."""

    replication: float
    fraud_caught: int
    fraud_missed: int
    caught_share: float | None
    verification_overhead_fraction: float
    cost_per_gpu_hour: float | None


def delay_quantiles(delays_s: Sequence[float]) -> tuple[float, ...]:
    """The 0th..100th percentiles of the delays (empty when there are none)."""
    if not delays_s:
        return ()
    return tuple(float(q) for q in np.percentile(np.asarray(delays_s), np.arange(101)))


def utilisation_series(changes: Sequence[tuple[float, int, int]], end_s: float,
                       points: int) -> tuple[float, tuple[tuple[float, float], ...]]:
    """Overall and binned utilisation from (time, busy, up) change points.

    Each change holds until the next; the integrals are piecewise linear, so their
    values at the bin edges (``np.interp``) are exact.

    Returns:
        (busy device-seconds / up device-seconds, ((bin start_s, utilisation), ...)).
    """
    t = np.array([c[0] for c in changes] + [end_s], dtype=np.float64)
    busy = np.array([c[1] for c in changes], dtype=np.float64)
    up = np.array([c[2] for c in changes], dtype=np.float64)
    dt = np.diff(t)
    cum_busy = np.concatenate([[0.0], np.cumsum(busy * dt)])
    cum_up = np.concatenate([[0.0], np.cumsum(up * dt)])
    total = float(cum_busy[-1] / cum_up[-1]) if cum_up[-1] > 0 else 0.0
    if end_s <= t[0]:
        return total, ((float(t[0]), total),)
    edges = np.linspace(t[0], end_s, points + 1)
    b, u = np.diff(np.interp(edges, t, cum_busy)), np.diff(np.interp(edges, t, cum_up))
    ratio = np.divide(b, u, out=np.zeros_like(b), where=u > 0)
    return total, tuple((float(s), float(r)) for s, r in zip(edges[:-1], ratio, strict=True))
