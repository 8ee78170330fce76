"""Scenario: the assumptions one simulation runs under, every one a parameter.

``Market`` is one side of the decentralised-vs-centralised comparison: whose price
books price the providers, how often they fail, how many cheat and how much work
is replicated to catch them. ``SimulationConfig`` is how the simulator maps jobs
onto placement. ``DECENTRALISED_MARKET`` and ``CENTRALISED_CLOUD`` are the
defaults the comparison uses; their assumptions are stated beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from plexnet.compute import pricebook
from plexnet.compute.errors import ComputeError
from plexnet.compute.job import VerificationPolicy
from plexnet.compute.placement import SolverChoice
from plexnet.compute.profile import Tier
from plexnet.compute.workload import ProviderTerms

__all__ = ["CENTRALISED_CLOUD", "DECENTRALISED_MARKET", "Market", "SimulationConfig"]


@dataclass(frozen=True)
class Market:
    """One side of the comparison: whose price books, and how its providers behave.

    Attributes:
        churn_per_hour: failures per provider-hour (exponential); 0 never fails.
        repair_s: mean time a failed provider takes to rejoin (exponential).
        byzantine_fraction: share of providers that fake work.
        fake_fraction: share of its shards a byzantine provider fakes.
        replication, min_replication: the VerificationPolicy ceiling (for a
            provider with no record) and floor.
        stake_usd: stake each provider locks, slashed when caught.
    """

    name: str
    books: tuple[str, ...]
    churn_per_hour: float
    repair_s: float
    byzantine_fraction: float
    fake_fraction: float
    replication: float
    min_replication: float
    bandwidth_mbps: float
    rtt_ms: float
    tier: Tier
    stake_usd: float = 0.0

    def __post_init__(self) -> None:
        for name in ("byzantine_fraction", "fake_fraction", "replication", "min_replication"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ComputeError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        if self.min_replication > self.replication:
            raise ComputeError(f"min_replication {self.min_replication} exceeds replication "
                               f"{self.replication}; lower the floor")
        if not 0.0 <= self.churn_per_hour <= 100.0:
            raise ComputeError(f"churn_per_hour must lie in [0, 100], got "
                               f"{self.churn_per_hour!r}")
        if not (self.repair_s > 0 and self.bandwidth_mbps > 0 and self.rtt_ms >= 0
                and self.stake_usd >= 0):
            raise ComputeError("repair_s and bandwidth_mbps must be > 0, rtt_ms and "
                               "stake_usd >= 0")

    def terms(self) -> ProviderTerms:
        """Network and trust terms for this market's provider profiles."""
        return ProviderTerms(self.tier, self.bandwidth_mbps, self.rtt_ms,
                             math.exp(-self.churn_per_hour), round(self.stake_usd * 1e6))

    def policy(self) -> VerificationPolicy:
        return VerificationPolicy(replication=self.replication,
                                  min_replication=self.min_replication)


# Assumptions, each a parameter. Marketplace hosts: one failure per 50 provider-hours
# and 4 h to come back (consumer hardware, home links, hosts that leave), 5% byzantine
# faking 10% of their shards, the default VerificationPolicy (20% ceiling, 2% floor),
# 1 Gbit/s and 40 ms. Clouds: one failure per 5,000 node-hours (large-cluster GPU
# failure rates are of that order) repaired in 30 min, no byzantine providers, so only
# the same 2% floor of spot checks, 10 Gbit/s and 2 ms.
DECENTRALISED_MARKET: Final = Market(
    "decentralised", pricebook.DECENTRALISED, churn_per_hour=0.02, repair_s=4 * 3600,
    byzantine_fraction=0.05, fake_fraction=0.1, replication=0.2, min_replication=0.02,
    bandwidth_mbps=1_000, rtt_ms=40, tier="fog", stake_usd=100)
CENTRALISED_CLOUD: Final = Market(
    "centralised", pricebook.CENTRALISED, churn_per_hour=0.0002, repair_s=1800,
    byzantine_fraction=0.0, fake_fraction=0.0, replication=0.02, min_replication=0.02,
    bandwidth_mbps=10_000, rtt_ms=2, tier="cloud")


@dataclass(frozen=True)
class SimulationConfig:
    """How the simulation maps jobs onto placement; units in the names."""

    seed: int = 0
    shards_per_job: int = 50  # at least; 50 makes a 2% floor exactly one replicated shard
    max_shard_gpu_s: float = 3600.0  # longer jobs get more shards (one per checkpointed hour)
    deadline_factor: float = 3.0  # deadline: this x the job's time on its reference GPUs
    deadline_margin_s: float = 900.0  # ... plus this, for transfer and setup
    input_gb: float = 1.0  # inputs each job moves to its providers (pro rata per shard)
    checkpoint_cost_s: float = 60.0
    shortlist: int = 32  # providers offered to place(); 0 offers every free one
    min_reputation: float = 0.5  # posterior mean below which a provider gets no work
    solver: SolverChoice = "heuristic"  # the greedy "auto" picks at this scale
    series_points: int = 200

    def __post_init__(self) -> None:
        if not (1 <= self.shards_per_job <= 100_000 and self.max_shard_gpu_s > 0
                and self.deadline_factor > 0
                and self.deadline_margin_s >= 0 and self.input_gb >= 0
                and self.checkpoint_cost_s >= 0 and self.shortlist >= 0
                and 0 <= self.min_reputation <= 1 and self.series_points >= 2):
            raise ComputeError(f"invalid simulation config {self!r}")
