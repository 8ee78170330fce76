"""Comparison: experiments built from simulations — the two markets side by side, a sweep.

``compare`` replays one job trace on a decentralised market and on centralised
clouds (``scenario.DECENTRALISED_MARKET`` and ``CENTRALISED_CLOUD`` unless told
otherwise) and returns the cost ratio per useful GPU-hour, the honest answer to
"decentralised compute is 80-90% cheaper". ``replication_sweep`` fixes the
replication rate at several values to show what each buys in fraud caught.
``build_inventory`` and ``build_arrivals`` turn the CLI's choices into inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from plexnet.compute.errors import ComputeError
from plexnet.compute.scenario import (
    CENTRALISED_CLOUD,
    DECENTRALISED_MARKET,
    Market,
    SimulationConfig,
)
from plexnet.compute.simulation_report import Comparison, SweepPoint
from plexnet.compute.simulator import simulate
from plexnet.compute.workload import (
    Arrivals,
    Inventory,
    openb_arrivals,
    openb_inventory,
    philly_arrivals,
    synthetic_inventory,
)

__all__ = ["ArrivalSource", "ProviderSource", "build_arrivals", "build_inventory", "compare",
           "replication_sweep"]

ProviderSource = Literal["openb", "synthetic"]
ArrivalSource = Literal["openb", "philly"]


def build_inventory(source: ProviderSource, market: Market, *, count: int = 1_000,
                    seed: int = 0) -> Inventory:
    """Providers priced from ``market.books`` with its terms (see ``workload``).

    Args:
        source: "openb" (the trace's 1,213 GPU nodes; ``count`` ignored) or
            "synthetic" (``count`` providers, at most 10,000).
        seed: the price (and shape) draws depend on it alone.
    """
    rng = np.random.default_rng([seed, 1])
    if source == "openb":
        return openb_inventory(market.books, market.terms(), rng)
    if source == "synthetic":
        return synthetic_inventory(count, market.books, market.terms(), rng)
    raise ComputeError(f"unknown provider source {source!r}; choose openb or synthetic")


def build_arrivals(source: ArrivalSource, *, jobs: int | None = None, seed: int = 0,
                   rate_per_hour: float = 60.0, time_scale: float = 1.0) -> Arrivals:
    """Jobs from the OpenB pods (first ``jobs``) or ``jobs`` Philly runtimes (default 1,000)."""
    if jobs is not None and jobs < 1:
        raise ComputeError(f"jobs must be >= 1, got {jobs}")
    if source == "openb":
        return openb_arrivals(jobs, time_scale)
    if source == "philly":
        return philly_arrivals(jobs or 1_000, rate_per_hour, np.random.default_rng([seed, 2]))
    raise ComputeError(f"unknown arrival source {source!r}; choose openb or philly")




def compare(providers: ProviderSource, arrivals: Arrivals, *, count: int = 1_000,
            config: SimulationConfig | None = None,
            markets: tuple[Market, Market] = (DECENTRALISED_MARKET, CENTRALISED_CLOUD)
            ) -> Comparison:
    """The same jobs on a decentralised market and on centralised clouds.

    Each side's providers come from ``providers`` priced from its own books (for
    OpenB the same hardware, priced twice).
    """
    config = config or SimulationConfig()
    dec, cen = (simulate(m, build_inventory(providers, m, count=count, seed=config.seed),
                         arrivals, config) for m in markets)
    ratio = (dec.cost_per_gpu_hour / cen.cost_per_gpu_hour
             if dec.cost_per_gpu_hour is not None and cen.cost_per_gpu_hour else None)
    base = (dec.base_cost_per_gpu_hour / cen.base_cost_per_gpu_hour
            if dec.base_cost_per_gpu_hour is not None and cen.base_cost_per_gpu_hour else None)
    return Comparison(dec, cen, ratio, base, None if ratio is None else 1 - ratio)


def replication_sweep(market: Market, inventory: Inventory, arrivals: Arrivals,
                      rates: Sequence[float], config: SimulationConfig | None = None
                      ) -> tuple[SweepPoint, ...]:
    """Fraud caught and missed with replication fixed at each of ``rates``."""
    points = []
    for rate in rates:
        r = simulate(replace(market, replication=rate, min_replication=rate), inventory,
                     arrivals, config)
        seen = r.fraud_caught + r.fraud_missed
        points.append(SweepPoint(rate, r.fraud_caught, r.fraud_missed,
                                 r.fraud_caught / seen if seen else None,
                                 r.verification_overhead_fraction, r.cost_per_gpu_hour))
    return tuple(points)
