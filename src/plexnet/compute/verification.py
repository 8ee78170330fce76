"""Verification maths: how much untrusted work to re-run, and what that buys.

* Faked shards: re-run a random share of a parallel job's shards on a second
  provider and compare output CIDs. The share falls as reputation rises
  (:func:`replication_rate`); P(catching a fake) is hypergeometric
  (:func:`detection_probability`), checked by :func:`simulate_detection`.
* Faked training: the provider commits a hash per checkpointed segment and a
  verifier re-runs random segments, the same maths (:func:`audit_segments_needed`).
* Vanishing providers: training resumes from the last checkpoint, taken at an
  interval set by the provider's failure rate (Young 1974, Daly 2006).

Pure: no Ray, database or clock; randomness comes in as a ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from plexnet.compute.reputation import Reputation

if TYPE_CHECKING:
    from plexnet.compute.job import VerificationPolicy

__all__ = [
    "VerificationPlan",
    "audit_overhead_fraction",
    "audit_segments_needed",
    "choose_replicas",
    "detection_probability",
    "expected_useful_fraction",
    "faked_count",
    "mtbf_from_reliability",
    "plan_replication",
    "replicas_needed",
    "replication_rate",
    "simulate_detection",
    "young_daly_interval",
    "young_interval",
]

_HOUR_S = 3600.0
# rate·n and work/interval are often meant to be whole (0.1·30 = 3.0000000000000004);
# rounding to 9 places first keeps ceil() from adding a spurious shard or segment.
_ROUND_DIGITS = 9


def _count(name: str, value: int, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _unit(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return float(value)


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    ok = value >= 0.0 if allow_zero else value > 0.0
    if not ok:  # also rejects NaN
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} seconds, got {value!r}")
    return float(value)


def _ceil(x: float) -> int:
    return math.ceil(round(x, _ROUND_DIGITS))


def replication_rate(policy: VerificationPolicy, reputation: Reputation,
                     confidence: float = 0.95) -> float:
    """Share of a provider's shards to replicate, given what it has earned.

    BOINC's adaptive replication (BOINC wiki, "AdaptiveReplication") counts a
    host's consecutive valid results CV: below 10 every job is replicated, above
    it a job is replicated with probability 1/CV, so checking falls hyperbolically
    with a clean record and snaps back on an invalid result. We read the same
    record off the Beta posterior instead of a counter: with ``doubt = 1 - L``,
    where ``L`` is the reputation's lower credible bound at ``confidence``,

        rate = clamp(policy.replication · doubt / doubt₀,
                     policy.min_replication, policy.replication)

    and ``doubt₀`` is the doubt about a provider with no record (Beta(1, 1)).
    After n clean results from that prior, ``doubt = 1 - (1 - c)^(1/(n+1)) ≈
    -ln(1 - c)/(n + 1)`` (≈ 3/(n+1) at c = 0.95): BOINC's 1/CV hyperbola, with the
    scale set by a confidence level rather than a magic 10. Using the *lower*
    bound means a handful of lucky results earns little; a failure lowers the
    bound and raises the rate again (more gently than BOINC's reset to zero,
    since fraud is also slashed).

    Returns:
        The share of shards to replicate, in [min_replication, replication].

    Raises:
        ValueError: on a floor above the ceiling, a confidence outside (0, 1),
            or a reputation with non-positive parameters.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if not (reputation.alpha > 0 and reputation.beta > 0):
        raise ValueError(f"reputation needs alpha, beta > 0, got {reputation!r}")
    if policy.min_replication > policy.replication:
        raise ValueError(f"min_replication {policy.min_replication} exceeds replication "
                         f"{policy.replication}; lower min_replication")
    doubt = 1.0 - reputation.lower_bound(confidence)
    prior_doubt = 1.0 - Reputation().lower_bound(confidence)
    rate = policy.replication * min(1.0, doubt / prior_doubt)
    return max(policy.min_replication, rate)


def choose_replicas(n_shards: int, rate: float, rng: np.random.Generator) -> frozenset[int]:
    """Pick which shards to re-run: ``ceil(rate·n)`` of them, at least one if rate > 0.

    The choice is uniform and without replacement, and must stay secret until
    the provider has committed its output CIDs: a provider that could predict
    the replicated shards would compute exactly those honestly and fake the rest,
    and would never be caught. So ``rng`` must be seeded from entropy the
    provider cannot see (not from the job id alone).

    Returns:
        Indices in ``range(n_shards)`` of the shards to replicate; ``rng`` advances.
    """
    n = _count("n_shards", n_shards, low=1)
    rate = _unit("rate", rate)
    m = min(n, max(1, _ceil(rate * n))) if rate > 0 else 0
    return frozenset(int(i) for i in rng.choice(n, size=m, replace=False))


def faked_count(n_shards: int, fake_fraction: float) -> int:
    """Shards a provider fakes when it fakes ``fake_fraction`` of ``n_shards``.

    ``floor(f·n)``, but at least one when f > 0: the fewest fakes the fraction
    allows, which is the cheater's best case, so answers built on it are
    conservative.
    """
    n = _count("n_shards", n_shards, low=1)
    fraction = _unit("fake_fraction", fake_fraction)
    if fraction == 0.0:
        return 0
    return max(1, math.floor(round(fraction * n, _ROUND_DIGITS)))


def detection_probability(n_shards: int, faked: int, replicated: int) -> float:
    """P(at least one faked shard is replicated) for uniform random choices.

    Hypergeometric: the replicated shards miss every fake with probability
    ``C(n-k, m) / C(n, m) = prod_{i<m} (1 - k/(n-i))``, summed in log space with
    ``log1p`` so that tiny miss probabilities at large n keep their precision.
    The same maths serves audited training segments (n = committed segments).
    """
    n = _count("n_shards", n_shards, low=1)
    k, m = _count("faked", faked), _count("replicated", replicated)
    if k > n or m > n:
        raise ValueError(f"faked ({k}) and replicated ({m}) cannot exceed n_shards ({n})")
    if k == 0 or m == 0:
        return 0.0
    if m > n - k:  # pigeonhole: the replicas cannot all fit among honest shards
        return 1.0
    log_miss = float(np.log1p(-k / (n - np.arange(m, dtype=np.float64))).sum())
    return -math.expm1(log_miss)


def _smallest_sample(n: int, k: int, target: float) -> int:
    if target == 0.0:
        return 0
    if k == 0:
        raise ValueError("nothing is faked, so no sample can detect it; "
                         "use a positive fake share for a positive target")
    lo, hi = 1, n - k + 1  # detection is 1 at hi (pigeonhole) and rises with m
    while lo < hi:
        mid = (lo + hi) // 2
        if detection_probability(n, k, mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def replicas_needed(n_shards: int, fake_fraction: float, target: float) -> int:
    """Smallest number of replicated shards that detects ``fake_fraction`` with P >= target.

    Raises:
        ValueError: on bad arguments, or a positive target with nothing faked.
    """
    k = faked_count(n_shards, fake_fraction)
    return _smallest_sample(n_shards, k, _unit("target", target))


def simulate_detection(n_shards: int, fake_fraction: float, rate: float, trials: int,
                       rng: np.random.Generator) -> float:
    """Monte Carlo estimate of :func:`detection_probability` for the whole protocol.

    Each trial the provider fakes ``faked_count(n, f)`` shards chosen blind (a
    uniform subset: it cannot see the coordinator's choice), the coordinator
    picks replicas with :func:`choose_replicas`, and the trial counts as caught
    if the two sets meet.

    Returns:
        The share of ``trials`` in which the provider was caught; ``rng`` advances.
    """
    k = faked_count(n_shards, fake_fraction)
    trials = _count("trials", trials, low=1)
    caught = 0
    for _ in range(trials):
        replicated = choose_replicas(n_shards, rate, rng)
        faked = rng.choice(n_shards, size=k, replace=False)
        caught += not replicated.isdisjoint(int(i) for i in faked)
    return caught / trials


def audit_segments_needed(segments: int, faked: int, target: float) -> int:
    """Smallest number of committed training segments to re-run to catch ``faked`` of them.

    A training provider commits a checkpoint hash every
    ``policy.checkpoint_every_steps`` steps, so a run of S segments has S
    commitments; a verifier re-runs ``a`` of them chosen uniformly (secretly, as
    for replicas) from the previous committed checkpoint with fixed seeds. It
    catches the provider with ``detection_probability(S, faked, a)``, at a cost
    of :func:`audit_overhead_fraction` of the training compute.

    Raises:
        ValueError: on bad arguments, or a positive target with nothing faked.
    """
    s = _count("segments", segments, low=1)
    k = _count("faked", faked)
    if k > s:
        raise ValueError(f"faked ({k}) cannot exceed segments ({s})")
    return _smallest_sample(s, k, _unit("target", target))


def audit_overhead_fraction(segments: int, audited: int) -> float:
    """Verification compute as a share of the training compute: ``a / S``.

    Segments are equally long (a fixed number of steps), so re-running ``a`` of
    the ``S`` costs ``a / S`` of the run.
    """
    s = _count("segments", segments, low=1)
    a = _count("audited", audited)
    if a > s:
        raise ValueError(f"audited ({a}) cannot exceed segments ({s})")
    return a / s


def young_interval(checkpoint_cost_s: float, mtbf_s: float) -> float:
    """Young's first-order optimal compute time between checkpoints: ``sqrt(2·C·M)``.

    J. W. Young, "A first order approximation to the optimum checkpoint
    interval", Communications of the ACM 17(9), 1974.
    """
    c = _positive("checkpoint_cost_s", checkpoint_cost_s, allow_zero=True)
    return math.sqrt(2.0 * c * _positive("mtbf_s", mtbf_s))


def young_daly_interval(checkpoint_cost_s: float, mtbf_s: float) -> float:
    """Optimal compute time between checkpoints, Daly's higher-order form of Young's.

    Young (CACM 1974) gives ``sqrt(2·C·M)`` to first order. Daly ("A higher order
    estimate of the optimum checkpoint interval for restart dumps", Future
    Generation Computer Systems 22(3), 2006) refines it for exponential failures:

        τ = sqrt(2·C·M) · [1 + (1/3)·sqrt(C/(2M)) + (1/9)·(C/(2M))] - C   if C < 2M
        τ = M                                                             otherwise

    which matters when checkpoints are expensive relative to the MTBF, as on
    flaky edge devices. (Daly's own checks: M = 24 h, C = 5 min -> 117 min;
    M = 15 min, C = 5 min -> 9.1 min.) C >= 0 and M > 0 are in seconds; an
    infinite M (a provider that never fails) gives an infinite interval.
    """
    c = _positive("checkpoint_cost_s", checkpoint_cost_s, allow_zero=True)
    m = _positive("mtbf_s", mtbf_s)
    if math.isinf(m):
        return math.inf
    if c >= 2.0 * m:
        return m
    x = c / (2.0 * m)
    return math.sqrt(2.0 * c * m) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - c


def mtbf_from_reliability(reliability_per_hour: float) -> float:
    """MTBF in seconds from P(no failure within an hour), for exponential failures.

    ``r = exp(-1 h / M)``, so ``M = -1 h / ln r``; a perfectly reliable provider
    (r = 1) has an infinite MTBF.

    Raises:
        ValueError: if the reliability is outside (0, 1].
    """
    if not 0.0 < reliability_per_hour <= 1.0:
        raise ValueError(f"reliability_per_hour must lie in (0, 1], got "
                         f"{reliability_per_hour!r}")
    if reliability_per_hour == 1.0:
        return math.inf
    return -_HOUR_S / math.log(reliability_per_hour)


def expected_useful_fraction(work_s: float, interval_s: float, checkpoint_cost_s: float,
                             restart_cost_s: float, mtbf_s: float) -> float:
    """Expected share of a provider's busy time that is useful work, first order.

    The first-order model behind Young (1974), which Daly (2006) refines: work
    W runs in ``s = ceil(W/τ)`` segments with a checkpoint of cost C after each
    but the last (the last ends in the job's output, stored anyway), so the
    failure-free time is ``T₀ = W + (s-1)·C``. Failures arrive at rate 1/M; each
    costs a restart R plus, on average, half a segment period ``T₀/s`` of lost
    work. To first order ``T = T₀ + (T/M)·(R + T₀/(2s))``, so

        useful = W / T = (W / T₀) · (1 - (R + T₀/(2s)) / M)

    clamped at 0 where the first-order model breaks down (failures faster than
    progress). For long jobs this is Young's waste ``C/τ + τ/(2M) + R/M``.
    """
    w = _positive("work_s", work_s)
    tau = _positive("interval_s", interval_s)
    c = _positive("checkpoint_cost_s", checkpoint_cost_s, allow_zero=True)
    r = _positive("restart_cost_s", restart_cost_s, allow_zero=True)
    m = _positive("mtbf_s", mtbf_s)
    segments = max(1, _ceil(w / tau))
    failure_free_s = w + (segments - 1) * c
    lost_per_failure_s = r + failure_free_s / (2.0 * segments)
    return max(0.0, (w / failure_free_s) * (1.0 - lost_per_failure_s / m))


@dataclass(frozen=True)
class VerificationPlan:
    """What to replicate for one parallel job, and what that buys.

    Attributes:
        replicated: indices of the shards to re-run on a second provider.
        rate: the replication share the provider's reputation earned.
        detection_at_10pct: P(catching a provider that fakes 10% of its shards).
        overhead_fraction: replicated shards / all shards, i.e. extra compute as
            a share of the unverified job (1 + this is the cost multiple).
    """

    replicated: frozenset[int]
    rate: float
    detection_at_10pct: float
    overhead_fraction: float


def plan_replication(n_shards: int, policy: VerificationPolicy, reputation: Reputation,
                     rng: np.random.Generator) -> VerificationPlan:
    """Decide which shards of a parallel job to replicate for this provider.

    ``rng`` is the coordinator's secret generator (see :func:`choose_replicas`)
    and advances.
    """
    rate = replication_rate(policy, reputation)
    replicated = choose_replicas(n_shards, rate, rng)
    m = len(replicated)
    detection = detection_probability(n_shards, faked_count(n_shards, 0.1), m)
    return VerificationPlan(replicated=replicated, rate=rate, detection_at_10pct=detection,
                            overhead_fraction=m / n_shards)
