"""Reputation: a Beta posterior over a provider's verified outcomes.

Each verified unit of work is a Bernoulli trial: honest (the replica or audit
agreed) or not. Starting from a uniform prior Beta(1, 1), ``alpha`` counts
agreements plus one and ``beta`` disagreements plus one. The posterior mean is
the expected honesty; the lower credible bound is what cautious placement and
adaptive replication use, so that a newcomer with two lucky results does not
look as trustworthy as a veteran with two thousand. The ledger keeps the counts
as a projection of verification entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import beta as beta_dist

__all__ = ["Reputation"]


@dataclass(frozen=True)
class Reputation:
    """Beta(alpha, beta) over "this provider's work verifies"."""

    alpha: float = 1.0
    beta: float = 1.0

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def observations(self) -> float:
        return self.alpha + self.beta - 2.0

    def lower_bound(self, confidence: float = 0.95) -> float:
        """One-sided lower credible bound on honesty at ``confidence``."""
        return float(beta_dist.ppf(1.0 - confidence, self.alpha, self.beta))

    def observe(self, verified: int = 0, failed: int = 0) -> Reputation:
        """The posterior after ``verified`` agreements and ``failed`` disagreements."""
        if verified < 0 or failed < 0:
            raise ValueError("counts must be non-negative")
        return Reputation(self.alpha + verified, self.beta + failed)
