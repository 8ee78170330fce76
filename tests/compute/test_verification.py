"""Verification maths: known answers, closed form against Monte Carlo, and bad arguments."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import hypergeom

from plexnet.compute.job import VerificationPolicy
from plexnet.compute.reputation import Reputation
from plexnet.compute.verification import (
    VerificationPlan,
    audit_overhead_fraction,
    audit_segments_needed,
    choose_replicas,
    detection_probability,
    expected_useful_fraction,
    faked_count,
    mtbf_from_reliability,
    plan_replication,
    replicas_needed,
    replication_rate,
    simulate_detection,
    young_daly_interval,
    young_interval,
)

POLICY = VerificationPolicy(replication=0.2, min_replication=0.02)
HOUR_S, MINUTE_S = 3600.0, 60.0


# --- detection: the hypergeometric closed form ---------------------------------------

@pytest.mark.parametrize(("n", "k", "m", "expected"), [
    (10, 1, 1, 1 / 10),          # one fake, one replica: 1 chance in 10
    (10, 1, 5, 5 / 10),
    (10, 2, 2, 1 - 28 / 45),     # miss = C(8,2)/C(10,2) = 28/45
    (5, 2, 3, 1 - 1 / 10),       # miss = C(3,3)/C(5,3) = 1/10
    (6, 3, 2, 1 - 3 / 15),       # miss = C(3,2)/C(6,2) = 3/15
    (4, 2, 3, 1.0),              # 3 replicas cannot all fit among 2 honest shards
    (10, 0, 5, 0.0),             # nothing faked, nothing to find
    (10, 3, 0, 0.0),             # nothing replicated, nothing found
    (10, 10, 1, 1.0),
])
def test_detection_known_answers(n, k, m, expected):
    assert detection_probability(n, k, m) == pytest.approx(expected, abs=1e-12)


@given(n=st.integers(1, 3000), data=st.data())
def test_detection_matches_scipy_hypergeometric(n, data):
    k = data.draw(st.integers(0, n))
    m = data.draw(st.integers(0, n))
    miss = hypergeom.pmf(0, n, k, m)  # P(no fake among the m replicated)
    assert detection_probability(n, k, m) == pytest.approx(1 - miss, abs=1e-9)


@given(n=st.integers(1, 500), data=st.data())
def test_detection_rises_with_replicas_and_fakes(n, data):
    k = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(0, n - 1))
    p = detection_probability(n, k, m)
    assert 0.0 <= p <= 1.0
    assert detection_probability(n, k, m + 1) >= p
    assert detection_probability(n, k + 1, m) >= p


def test_detection_is_precise_at_scale():
    # 1 - 0.9**m is the with-replacement approximation; without replacement is better
    p = detection_probability(100_000, 10_000, 44)
    assert 1 - 0.9**44 < p < 1
    assert detection_probability(100_000, 10_000, 500) == pytest.approx(1.0)


# --- how many replicas ----------------------------------------------------------------

@pytest.mark.parametrize(("n", "expected"), [(10, 10), (100, 36), (1000, 43), (10_000, 44)])
def test_replicas_needed_for_99pct_against_10pct_fakes(n, expected):
    m = replicas_needed(n, 0.1, 0.99)
    k = faked_count(n, 0.1)
    assert m == expected
    assert detection_probability(n, k, m) >= 0.99 > detection_probability(n, k, m - 1)


@given(n=st.integers(1, 2000), fraction=st.floats(0.001, 1.0), target=st.floats(0.0, 1.0))
def test_replicas_needed_is_the_smallest(n, fraction, target):
    m = replicas_needed(n, fraction, target)
    k = faked_count(n, fraction)
    assert 0 <= m <= n
    assert detection_probability(n, k, m) >= target
    if m > 0:
        assert detection_probability(n, k, m - 1) < target


def test_faked_count_is_conservative():
    assert faked_count(10, 0.1) == 1
    assert faked_count(30, 0.1) == 3      # 0.1·30 is 3.0000000000000004 in floats
    assert faked_count(15, 0.1) == 1      # floor: the cheater's best case
    assert faked_count(5, 0.01) == 1      # faking anything fakes at least one shard
    assert faked_count(5, 0.0) == 0


def test_nothing_faked_cannot_be_detected():
    assert replicas_needed(100, 0.0, 0.0) == 0
    with pytest.raises(ValueError, match="nothing is faked"):
        replicas_needed(100, 0.0, 0.5)


# --- adaptive replication -------------------------------------------------------------

def test_newcomer_gets_the_policy_rate():
    assert replication_rate(POLICY, Reputation()) == pytest.approx(0.2)


def test_rate_after_clean_results_follows_the_lower_bound():
    # Beta(n+1, 1): lower bound 0.05**(1/(n+1)), so doubt ≈ 3/(n+1), BOINC's 1/CV shape
    for n in (1, 5, 10, 30):
        doubt = 1 - 0.05 ** (1 / (n + 1))
        expected = max(0.02, 0.2 * doubt / 0.95)
        assert replication_rate(POLICY, Reputation(n + 1, 1)) == pytest.approx(expected)
    assert replication_rate(POLICY, Reputation(11, 1)) == pytest.approx(0.0502, abs=1e-4)


def test_rate_falls_with_reputation_to_the_floor():
    rates = [replication_rate(POLICY, Reputation().observe(verified=n)) for n in range(0, 400)]
    assert all(a >= b for a, b in itertools.pairwise(rates))
    assert rates[0] == pytest.approx(0.2)
    assert rates[-1] == pytest.approx(0.02)


def test_lucky_newcomer_is_not_a_veteran():
    lucky = replication_rate(POLICY, Reputation().observe(verified=2))
    veteran = replication_rate(POLICY, Reputation().observe(verified=2000))
    assert lucky > 0.1 > 0.02 == pytest.approx(veteran)


def test_a_failure_raises_the_rate():
    clean = Reputation().observe(verified=10)   # rate ≈ 0.05, above the floor
    assert replication_rate(POLICY, clean.observe(failed=1)) > replication_rate(POLICY, clean)


def test_a_bad_record_never_exceeds_the_policy_rate():
    assert replication_rate(POLICY, Reputation().observe(failed=20)) == pytest.approx(0.2)


@given(verified=st.integers(0, 10_000), failed=st.integers(0, 100),
       ceiling=st.floats(0.0, 1.0), floor_share=st.floats(0.0, 1.0))
def test_rate_is_bounded_by_the_policy_and_monotone(verified, failed, ceiling, floor_share):
    policy = VerificationPolicy(replication=ceiling, min_replication=ceiling * floor_share)
    reputation = Reputation().observe(verified=verified, failed=failed)
    rate = replication_rate(policy, reputation)
    assert policy.min_replication <= rate <= policy.replication + 1e-12
    assert replication_rate(policy, reputation.observe(verified=1)) <= rate + 1e-12
    assert replication_rate(policy, reputation.observe(failed=1)) >= rate - 1e-12


# --- choosing replicas ----------------------------------------------------------------

def test_choose_replicas_size_and_range():
    rng = np.random.default_rng(1)
    assert len(choose_replicas(30, 0.1, rng)) == 3
    assert len(choose_replicas(1000, 0.043, rng)) == 43
    assert len(choose_replicas(10, 0.001, rng)) == 1    # at least one when rate > 0
    assert choose_replicas(10, 0.0, rng) == frozenset()
    assert choose_replicas(7, 1.0, rng) == frozenset(range(7))
    assert choose_replicas(1000, 0.5, rng) <= frozenset(range(1000))


def test_choose_replicas_is_seeded_and_uniform():
    a = choose_replicas(100, 0.1, np.random.default_rng(7))
    assert a == choose_replicas(100, 0.1, np.random.default_rng(7))
    rng = np.random.default_rng(8)
    counts = np.zeros(20)
    draws = 5000
    for _ in range(draws):
        counts[list(choose_replicas(20, 0.25, rng))] += 1
    # each shard is replicated with probability 5/20; binomial sd ≈ 30.6
    assert np.all(np.abs(counts - draws * 0.25) < 5 * math.sqrt(draws * 0.25 * 0.75))


# --- closed form against Monte Carlo --------------------------------------------------

@pytest.mark.parametrize(("n", "fraction", "rate"), [
    (10, 0.1, 0.5), (20, 0.2, 0.1), (100, 0.1, 0.2), (100, 0.05, 0.03), (1000, 0.1, 0.02),
    (1000, 0.01, 0.1),
])
def test_simulation_agrees_with_closed_form(n, fraction, rate):
    trials = 4000
    rng = np.random.default_rng(n * 1000 + round(rate * 1000))
    simulated = simulate_detection(n, fraction, rate, trials, rng)
    m = len(choose_replicas(n, rate, np.random.default_rng(0)))
    exact = detection_probability(n, faked_count(n, fraction), m)
    sd = math.sqrt(max(exact * (1 - exact), 1e-4) / trials)
    assert simulated == pytest.approx(exact, abs=5 * sd)


def test_simulation_edges():
    rng = np.random.default_rng(3)
    assert simulate_detection(50, 0.0, 0.5, 100, rng) == 0.0
    assert simulate_detection(50, 0.1, 0.0, 100, rng) == 0.0
    assert simulate_detection(50, 0.1, 1.0, 100, rng) == 1.0


# --- training audits ------------------------------------------------------------------

def test_audit_segments_needed():
    assert audit_segments_needed(10, 1, 0.99) == 10       # one fake in ten: audit all
    assert audit_segments_needed(10, 5, 0.5) == 1         # half faked: one audit is a coin
    assert audit_segments_needed(100, 10, 0.99) == 36     # same as 10% of 100 shards
    assert audit_segments_needed(10, 3, 0.0) == 0
    a = audit_segments_needed(200, 4, 0.95)
    assert detection_probability(200, 4, a) >= 0.95 > detection_probability(200, 4, a - 1)


def test_audit_overhead_is_the_audited_share():
    assert audit_overhead_fraction(40, 4) == pytest.approx(0.1)
    assert audit_overhead_fraction(40, 0) == 0.0


# --- checkpoints and churn ------------------------------------------------------------

def test_young_interval_known_answer():
    assert young_interval(300.0, 86_400.0) == pytest.approx(7200.0)   # sqrt(2·300·86400)
    assert young_interval(0.0, 3600.0) == 0.0


@pytest.mark.parametrize(("mtbf_s", "expected_min"), [
    (24 * HOUR_S, 117.0),    # Daly 2006, fig. 3: M = 24 h, δ = 5 min -> 117 min
    (6 * HOUR_S, 57.0),      # fig. 4: M = 6 h -> 57 min
    (15 * MINUTE_S, 9.1),    # fig. 5: M = 15 min -> 9.1 min
])
def test_daly_reproduces_the_papers_examples(mtbf_s, expected_min):
    tau = young_daly_interval(5 * MINUTE_S, mtbf_s)
    assert tau / MINUTE_S == pytest.approx(expected_min, abs=0.35)


def test_daly_tends_to_young_for_cheap_checkpoints():
    for cost_s in (1.0, 10.0, 60.0):
        young, daly = young_interval(cost_s, 1e7), young_daly_interval(cost_s, 1e7)
        assert abs(daly - young) / young < 2 * math.sqrt(cost_s / 1e7) + cost_s / young


def test_daly_falls_back_to_mtbf_for_expensive_checkpoints():
    assert young_daly_interval(2000.0, 1000.0) == 1000.0
    assert young_daly_interval(2000.0, 1000.0 + 1e-6) < 1000.0 + 1e-6
    assert young_daly_interval(10.0, math.inf) == math.inf


def test_mtbf_from_reliability():
    assert mtbf_from_reliability(math.exp(-1)) == pytest.approx(3600.0)
    assert mtbf_from_reliability(0.99) == pytest.approx(-3600 / math.log(0.99))
    assert mtbf_from_reliability(1.0) == math.inf


def test_useful_fraction_first_order_known_answers():
    # no failures: only checkpoints waste time; 10 segments, 9 checkpoints
    assert expected_useful_fraction(1000, 100, 10, 60, math.inf) == pytest.approx(1000 / 1090)
    # one segment, no checkpoint: lose R plus half the job per failure
    assert expected_useful_fraction(100, 1000, 10, 20, 1000) == pytest.approx(1 - 70 / 1000)
    # failures faster than progress: the first-order model says nothing gets done
    assert expected_useful_fraction(1e6, 1e5, 10, 20, 100) == 0.0


def test_useful_fraction_peaks_near_the_young_daly_interval():
    cost_s, restart_s, mtbf_s, work_s = 60.0, 120.0, 12 * HOUR_S, 1e8
    grid = np.geomspace(60, 20_000, 400)
    useful = [expected_useful_fraction(work_s, t, cost_s, restart_s, mtbf_s) for t in grid]
    best = grid[int(np.argmax(useful))]
    assert best == pytest.approx(young_daly_interval(cost_s, mtbf_s), rel=0.05)


@given(work=st.floats(1, 1e7), interval=st.floats(1, 1e6), cost=st.floats(0, 1e3),
       restart=st.floats(0, 1e3), mtbf=st.floats(1, 1e8))
def test_useful_fraction_is_a_fraction(work, interval, cost, restart, mtbf):
    assert 0.0 <= expected_useful_fraction(work, interval, cost, restart, mtbf) <= 1.0


# --- the plan -------------------------------------------------------------------------

def test_plan_for_newcomer_and_veteran():
    rng = np.random.default_rng(11)
    newcomer = plan_replication(1000, POLICY, Reputation(), rng)
    assert isinstance(newcomer, VerificationPlan)
    assert len(newcomer.replicated) == 200
    assert newcomer.rate == pytest.approx(0.2)
    assert newcomer.overhead_fraction == pytest.approx(0.2)
    assert newcomer.detection_at_10pct == pytest.approx(1.0)
    veteran = plan_replication(1000, POLICY, Reputation().observe(verified=5000), rng)
    assert len(veteran.replicated) == 20
    assert veteran.detection_at_10pct == pytest.approx(detection_probability(1000, 100, 20))
    assert 0.85 < veteran.detection_at_10pct < 0.9
    with pytest.raises(AttributeError):
        veteran.rate = 1.0  # type: ignore[misc]


# --- nonsense in, ValueError out ------------------------------------------------------

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: detection_probability(0, 0, 0), "n_shards must be >= 1"),
    (lambda: detection_probability(10, -1, 2), "faked must be >= 0"),
    (lambda: detection_probability(10, 11, 2), "cannot exceed n_shards"),
    (lambda: detection_probability(10, 1, 11), "cannot exceed n_shards"),
    (lambda: detection_probability(10.0, 1, 1), "must be an integer"),
    (lambda: detection_probability(10, True, 1), "must be an integer"),
    (lambda: choose_replicas(10, 1.5, RNG), "rate must lie in"),
    (lambda: choose_replicas(10, -0.1, RNG), "rate must lie in"),
    (lambda: choose_replicas(10, math.nan, RNG), "rate must lie in"),
    (lambda: choose_replicas(-3, 0.5, RNG), "n_shards must be >= 1"),
    (lambda: replicas_needed(100, 0.1, 1.2), "target must lie in"),
    (lambda: replicas_needed(100, -0.1, 0.9), "fake_fraction must lie in"),
    (lambda: simulate_detection(100, 0.1, 0.1, 0, RNG), "trials must be >= 1"),
    (lambda: audit_segments_needed(10, 11, 0.9), "cannot exceed segments"),
    (lambda: audit_overhead_fraction(10, 11), "cannot exceed segments"),
    (lambda: audit_overhead_fraction(0, 0), "segments must be >= 1"),
    (lambda: young_interval(-1.0, 10.0), "checkpoint_cost_s must be >= 0"),
    (lambda: young_daly_interval(1.0, 0.0), "mtbf_s must be > 0"),
    (lambda: young_daly_interval(math.nan, 10.0), "checkpoint_cost_s"),
    (lambda: mtbf_from_reliability(0.0), "reliability_per_hour must lie in"),
    (lambda: mtbf_from_reliability(1.5), "reliability_per_hour must lie in"),
    (lambda: expected_useful_fraction(0, 10, 1, 1, 100), "work_s must be > 0"),
    (lambda: expected_useful_fraction(10, -1, 1, 1, 100), "interval_s must be > 0"),
    (lambda: expected_useful_fraction(10, 10, 1, -1, 100), "restart_cost_s must be >= 0"),
    (lambda: replication_rate(POLICY, Reputation(), confidence=1.0), "confidence"),
    (lambda: replication_rate(POLICY, Reputation(0.0, 1.0)), "alpha, beta > 0"),
    (lambda: replication_rate(VerificationPolicy(replication=0.1, min_replication=0.3),
                              Reputation()), "lower min_replication"),
])
def test_nonsense_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
