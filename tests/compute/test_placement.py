"""Placement is pure: job + snapshot -> frozen decision; exact and greedy solvers; helpful errors.

Providers here run at ``speed`` FLOP/s effective (peak = speed / MFU) and cost
3.6 credits an hour = 1,000 micro-credits a second unless said otherwise, and jobs
skip verification, so the costs below can be checked by hand.
"""

import contextlib
import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plexnet.compute import JobSpec, PlacementError, ProviderProfile, Requirements
from plexnet.compute.job import VerificationPolicy, Workload
from plexnet.compute.placement import MFU, ProviderState, place, quote
from plexnet.compute.reputation import Reputation
from plexnet.compute.solver import shards_greedy, shards_milp

NO_CHECKS = VerificationPolicy(replication=0, min_replication=0)


def _provider(name, *, kind="gpu", tier="cloud", memory=16.0, price=3.6, speed=1e12,
              region="eu", bandwidth=1000.0, rtt=0.0, count=1, reliability=1.0):
    return ProviderProfile(name=name, device_kind=kind, device_model="m", device_count=count,
                           peak_flops=speed / MFU, memory_gb=memory, tier=tier, region=region,
                           bandwidth_mbps=bandwidth, rtt_ms=rtt, price_per_device_hour=price,
                           reliability=reliability)


def _job(units=1, *, kind="parallel", flops=1e14, deadline=3600.0, budget=10**12, **kw):
    kw.setdefault("verification", NO_CHECKS)
    workload = Workload(kind=kind, units=units, sync_bytes_per_step=kw.pop("sync", 0.0),
                        steps=kw.pop("steps", 0))
    return JobSpec(job_id="j1", task="train.supervised", flops=flops, workload=workload,
                   deadline_s=deadline, budget_micro=budget, **kw)


def _plan(decision):
    return {a.provider: a.units for a in decision.assignments}


# --- parallel jobs: the cost model and the solvers --------------------------

def test_cost_model_by_hand():
    """4 shards of 1e14 FLOPs and 1e8 bytes at 1e12 FLOP/s and 1 Gbit/s, 50 ms setup."""
    p = _provider("a", rtt=50, reliability=0.99)
    checks = VerificationPolicy(replication=0.1, min_replication=0.1)  # 0.1 whatever the record
    job = _job(4, flops=4e14, input_bytes=4e8, verification=checks)
    d = place(job, [p])
    (a,) = d.assignments
    assert a.units == 4 and a.time_s == pytest.approx(4 * (100 + 0.8) + 0.05)
    assert d.cost.compute_micro == 400_000
    assert d.cost.transfer_micro == 3_250  # 4 * 0.8 s of transfer + 0.05 s of setup
    assert d.cost.verification_micro == 40_325
    assert d.cost.risk_micro == pytest.approx(0.01 * 403_250, abs=1)  # 4032.5, rounded
    parts = (d.cost.compute_micro, d.cost.transfer_micro, d.cost.verification_micro,
             d.cost.risk_micro)
    assert d.cost.total_micro == sum(parts) and all(type(x) is int for x in parts)
    assert d.time_s == a.time_s and d.kind == "parallel" and d.region == "eu"


# A: 100 s and 100,000 per shard, 5 fit by 500 s; B: 50 s and 125,000, 10 fit;
# C: 200 s and 80,000, 2 fit. Cheapest: C 2 + A 5 + B 3 = 1,035,000, makespan 500 s.
THREE = [_provider("a"), _provider("b", speed=2e12, price=9.0),
         _provider("c", speed=0.5e12, price=1.44)]


@pytest.mark.parametrize("solver", ["exact", "heuristic", "auto"])
def test_solvers_agree_on_a_known_optimum(solver):
    d = place(_job(10, flops=1e15, deadline=500), THREE, solver=solver)
    assert _plan(d) == {"a": 5, "b": 3, "c": 2}
    assert d.cost.total_micro == 1_035_000 and d.time_s == 500
    assert d.solver == ("heuristic" if solver == "heuristic" else "milp")


def test_fixed_costs_can_fool_the_greedy_but_not_the_milp():
    # Per-shard cost, per-provider setup cost, and how many shards each can take.
    # Greedy by amortised cost (1.5, 8, 8.67) opens all three: 3 + 16 + 20 = 39;
    # the optimum leaves B out: a 2 + c 3 = 3 + 26 = 29.
    unit, fixed, caps = np.array([1.0, 7, 3]), np.array([1.0, 2, 17]), np.array([2, 2, 3])
    assert shards_milp(unit, fixed, caps, 5).tolist() == [2, 0, 3]
    assert shards_greedy(unit, fixed, caps, 5).tolist() == [2, 2, 1]
    assert shards_milp(unit, fixed, caps, 8) is None and shards_greedy(unit, fixed, caps, 8) is None


def test_a_setup_cost_favours_fewer_providers():
    # b is cheaper per shard but costs 100 s of setup (100,000) to open.
    providers = [_provider("a"), _provider("b", speed=2e12, price=3.6, rtt=100_000)]
    assert _plan(place(_job(1, flops=1e14), providers)) == {"a": 1}  # 100k < 50k + 100k
    assert _plan(place(_job(10, flops=1e15), providers)) == {"b": 10}  # 1M > 500k + 100k


def test_locality_changes_the_choice():
    job = _job(2, flops=2e14, input_bytes=2e11, inputs=["bafkreidata"])  # 800 s to ship
    providers = [ProviderState(_provider("a")), ProviderState(_provider("b"),
                                                              holds=frozenset({"bafkreidata"}))]
    d = place(job, providers)
    assert _plan(d) == {"b": 2} and d.cost.transfer_micro == 0
    assert _plan(place(job, [ProviderState(_provider("a")), ProviderState(_provider("b"))]))


def test_free_devices_set_speed_and_price():
    box = _provider("box", count=4)
    full, half = (place(_job(), [ProviderState(box, free_devices=k)]) for k in (None, 2))
    assert half.time_s == pytest.approx(2 * full.time_s)
    assert half.cost.total_micro == full.cost.total_micro
    with pytest.raises(ValueError, match="free_devices 5"):
        ProviderState(box, free_devices=5)


def test_unreliable_and_unproven_providers_cost_more():
    job = _job(verification=VerificationPolicy())
    veteran = ProviderState(_provider("a", reliability=0.99), Reputation(1000, 1))
    newcomer = ProviderState(_provider("b", reliability=0.99))
    flaky = ProviderState(_provider("c", reliability=0.8), Reputation(1000, 1))
    assert _plan(place(job, [newcomer, flaky, veteran])) == {"a": 1}
    # newcomer: replication about 0.2, risk 0.01; flaky: replication 0.02, risk 0.2
    assert _plan(place(job, [newcomer, flaky])) == {"b": 1}


def test_decisions_are_deterministic_and_frozen():
    providers = [_provider(f"p{i}", price=1.0 + i % 3, speed=1e12 * (1 + i % 4), rtt=i)
                 for i in range(12)]
    job = _job(25, flops=1e16, deadline=1000)
    first = place(job, providers)
    for seed in range(3):
        shuffled = providers[:]
        random.Random(seed).shuffle(shuffled)
        assert place(job, shuffled) == first
    with pytest.raises(AttributeError):
        first.time_s = 0  # type: ignore[misc]


# --- exclusions and errors --------------------------------------------------

def test_exclusions_are_explained():
    providers = [_provider("ok"), _provider("cpu", kind="cpu"), _provider("small", memory=4),
                 _provider("far", rtt=300), _provider("slow", speed=1e9)]
    req = Requirements(device_kinds=["gpu"], min_memory_gb=8, max_rtt_ms=100)
    d = place(_job(deadline=600, requirements=req), providers)
    assert _plan(d) == {"ok": 1}
    assert dict(d.excluded) == {
        "cpu": "device kind cpu not in ['gpu']",
        "small": "4 GiB memory < 8 GiB required",
        "far": "rtt 300 ms > max_rtt_ms 100",
        "slow": "one shard needs 100,000 s > deadline 600 s",
    }


@pytest.mark.parametrize(("provider", "job", "message", "fix"), [
    (_provider("a", memory=8), _job(requirements=Requirements(min_memory_gb=16)),
     "no provider offers 16 GiB; the largest has 8 GiB — lower min_memory_gb to 8",
     {"requirements": Requirements(min_memory_gb=8)}),
    (_provider("a", kind="cpu"), _job(requirements=Requirements(device_kinds=["gpu"])),
     "no provider offers device kind gpu; there are cpu — add one of them to device_kinds",
     {"requirements": Requirements(device_kinds=["gpu", "cpu"])}),
    (_provider("a", tier="edge"), _job(requirements=Requirements(tiers=["cloud"])),
     "no provider in tier cloud; there are edge — add one of them to tiers",
     {"requirements": Requirements(tiers=["edge"])}),
    (_provider("a", region="us"), _job(requirements=Requirements(regions=["eu"])),
     "no provider in region eu; there are us — add one of them to regions",
     {"requirements": Requirements(regions=["us"])}),
    (_provider("a", rtt=40), _job(requirements=Requirements(max_rtt_ms=10)),
     "no provider within 10 ms; the nearest is at 40 ms — raise max_rtt_ms to 40",
     {"requirements": Requirements(max_rtt_ms=40)}),
    (_provider("a"), _job(requirements=Requirements(min_reputation=0.9)),
     "no provider has reputation 0.9; the best has 0.5 — lower min_reputation to 0.5",
     {"requirements": Requirements(min_reputation=0.5)}),
    (_provider("a"), _job(4, flops=4e14, deadline=300),
     "fastest plan needs 400 s > deadline 300 s — raise deadline_s to at least 400",
     {"deadline_s": 400}),
    (_provider("a"), _job(flops=1e14, budget=1000),
     "cheapest feasible plan costs 100,000 micro-credits > budget 1,000 — raise the budget "
     "to at least 100,000", {"budget_micro": 100_000}),
])
def test_each_binding_constraint_is_named_with_its_fix(provider, job, message, fix):
    with pytest.raises(PlacementError) as info:
        place(job, [provider])
    assert str(info.value) == f"cannot place job j1: {message}"
    assert place(job.model_copy(update=fix), [provider]).assignments  # the fix works


def test_the_binding_requirement_is_the_one_that_removes_the_last_provider():
    providers = [_provider("cpu", kind="cpu", memory=64), _provider("gpu", memory=8)]
    with pytest.raises(PlacementError, match="the largest has 8 GiB"):  # not the cpu's 64
        place(_job(requirements=Requirements(device_kinds=["gpu"], min_memory_gb=16)),
              providers)


def test_deadline_counts_every_provider_together():
    # 100 s a shard: neither finishes 10 shards alone by 500 s; together they do.
    providers = [_provider("a"), _provider("b")]
    assert _plan(place(_job(10, flops=1e15, deadline=500), providers)) == {"a": 5, "b": 5}
    with pytest.raises(PlacementError, match="fastest plan needs 600 s > deadline 500 s"):
        place(_job(12, flops=1.2e15, deadline=500), providers)


def test_busy_providers_are_excluded():
    busy = ProviderState(_provider("busy", count=2), free_devices=0)
    assert dict(place(_job(), [busy, _provider("idle")]).excluded) == {"busy": "no free devices"}
    with pytest.raises(PlacementError, match="is busy"):
        place(_job(), [busy])


def test_no_providers_and_duplicate_names():
    with pytest.raises(PlacementError, match="no providers registered"):
        place(_job(), [])
    with pytest.raises(ValueError, match="unique"):
        place(_job(), [_provider("a"), _provider("a")])


# --- coupled jobs -----------------------------------------------------------

def test_a_gang_stays_in_one_region_and_avoids_a_slow_member():
    # eu: two fast members and a cheap slow one that would hold the gang back.
    # us: the cheapest member alone, but a gang of two costs more than eu's fast pair.
    providers = [_provider("eu-a", speed=1e12), _provider("eu-b", speed=1e12),
                 _provider("eu-slow", speed=1e11, price=0.18),
                 _provider("us-a", region="us", price=1.8), _provider("us-b", region="us",
                                                                      price=9.0)]
    job = _job(2, kind="coupled", flops=1e15)
    for solver in ("exact", "heuristic"):
        d = place(job, providers, solver=solver)
        assert {a.provider for a in d.assignments} == {"eu-a", "eu-b"}
        assert d.region == "eu" and d.time_s == 500 and d.cost.total_micro == 1_000_000
    assert place(job, providers, solver="exact").solver == "exact-enumeration"


def test_gang_time_follows_the_slowest_link_and_latency():
    # 100 steps exchanging 2 * 1e8 * (2-1)/2 bytes each over 100 Mbit/s: 8 s a step,
    # plus 20 ms of latency: 802 s of communication on top of 500 s of compute.
    providers = [_provider("a", bandwidth=100, rtt=20), _provider("b", rtt=5)]
    d = place(_job(2, kind="coupled", flops=1e15, steps=100, sync=1e8), providers)
    assert d.time_s == pytest.approx(500 + 100 * (8 + 0.02))
    assert d.cost.compute_micro == 1_000_000 and d.cost.transfer_micro == 2 * 802_000


def test_coupled_needs_enough_workers_in_one_region():
    providers = [_provider("a"), _provider("b", region="us"), _provider("c", region="asia")]
    with pytest.raises(PlacementError, match="needs 2 workers in one region; at most 1"):
        place(_job(2, kind="coupled"), providers)


def test_gang_enumeration_is_exact_against_brute_force():
    rng = random.Random(5)
    for trial in range(25):
        providers = [ProviderState(_provider(
            f"p{i}", speed=rng.choice([1e11, 5e11, 1e12]), price=rng.uniform(0.5, 5),
            bandwidth=rng.choice([50, 500, 5000]), rtt=rng.uniform(1, 50),
            region=rng.choice(["eu", "us"])), holds=frozenset(rng.choice([(), ("bafkdata",)])))
            for i in range(7)]
        job = _job(3, kind="coupled", flops=1e15, steps=200, sync=1e7, inputs=["bafkdata"],
                   input_bytes=1e10, deadline=rng.choice([3000, 1e6]))
        gangs = []
        for crew in itertools.combinations(providers, 3):
            if len({s.profile.region for s in crew}) == 1:
                with contextlib.suppress(PlacementError):  # this gang misses the deadline
                    gangs.append(place(job, crew, solver="exact").cost.total_micro)
        try:
            exact = place(job, providers, solver="exact")
        except PlacementError:
            assert not gangs, trial
            continue
        assert exact.cost.total_micro == pytest.approx(min(gangs), abs=3), trial
        assert len({a.time_s for a in exact.assignments}) == 1
        assert place(job, providers, solver="heuristic").cost.total_micro >= \
            exact.cost.total_micro - 3


def test_gang_members_too_slow_for_the_deadline_are_excluded():
    providers = [_provider("a"), _provider("b"), _provider("slow", speed=1e10)]
    d = place(_job(2, kind="coupled", flops=1e15, deadline=600), providers)
    assert dict(d.excluded) == {"slow": "as a gang member needs at least 50,000 s > deadline "
                                        "600 s"}
    with pytest.raises(PlacementError, match="fastest plan needs 500 s > deadline 400 s"):
        place(_job(2, kind="coupled", flops=1e15, deadline=400), providers)


# --- quotes -----------------------------------------------------------------

def test_quote_offers_the_cheapest_then_the_fastest_within_budget():
    job = _job(10, flops=1e15, deadline=500, budget=1_100_000)
    cheapest, fastest = quote(job, THREE)
    assert cheapest == place(job, THREE)
    # By 400 s: c 2 + a 4 + b 4 = 1,060,000; by 300 s all ten fit but cost 1,130,000.
    assert fastest.time_s == 400 and fastest.cost.total_micro == 1_060_000
    assert _plan(fastest) == {"a": 4, "b": 4, "c": 2}
    loose = quote(job.model_copy(update={"budget_micro": 2_000_000}), THREE)
    assert loose[1].time_s == 300 and loose[1].cost.total_micro == 1_130_000


def test_quote_offers_the_most_reliable_plan_when_it_differs():
    providers = [_provider("cheap", reliability=0.9), _provider("sure", price=7.2,
                                                                 reliability=0.999)]
    options = quote(_job(), providers)
    assert [_plan(o) for o in options] == [{"cheap": 1}, {"sure": 1}]
    assert len(quote(_job(), [_provider("only")])) == 1  # duplicates dropped


def test_quote_a_gang():
    providers = [_provider("eu-a"), _provider("eu-b"), _provider("us-a", region="us", speed=4e12,
                                                                   price=36),
                 _provider("us-b", region="us", speed=4e12, price=36)]
    cheapest, fastest = quote(_job(2, kind="coupled", flops=1e15), providers)
    assert cheapest.region == "eu" and cheapest.time_s == 500
    assert fastest.region == "us" and fastest.time_s == 125
    assert fastest.cost.total_micro == 2 * 10_000 * 125


# --- property: the MILP is never beaten, and both plans are feasible --------

@st.composite
def _instances(draw):
    n = draw(st.integers(1, 12))
    providers = [_provider(f"p{i}", speed=draw(st.sampled_from([2e11, 5e11, 1e12, 3e12])),
                           price=draw(st.floats(0.1, 10)), rtt=draw(st.floats(0, 60_000)),
                           bandwidth=draw(st.sampled_from([10.0, 100.0, 1000.0])),
                           reliability=draw(st.floats(0.9, 1)))
                 for i in range(draw(st.integers(1, 6)))]
    job = _job(n, flops=draw(st.floats(1e13, 1e16)), input_bytes=draw(st.floats(0, 1e10)),
               deadline=draw(st.floats(60, 20_000)), verification=VerificationPolicy())
    return job, providers


def _feasible(job, decision):
    assert sum(a.units for a in decision.assignments) == job.workload.units
    assert all(a.time_s <= job.deadline_s * (1 + 1e-9) for a in decision.assignments)
    assert decision.cost.total_micro <= job.budget_micro


@settings(max_examples=150, deadline=None)
@given(_instances())
def test_milp_is_never_worse_than_the_greedy_and_both_are_feasible(instance):
    job, providers = instance
    outcomes = []
    for solver in ("exact", "heuristic"):
        try:
            outcomes.append(place(job, providers, solver=solver))
        except PlacementError:
            outcomes.append(None)
    exact, greedy = outcomes
    assert (exact is None) == (greedy is None)  # the budget is loose: only deadlines bind
    if exact is not None:
        _feasible(job, exact)
        _feasible(job, greedy)
        slack = 2 * (len(exact.assignments) + len(greedy.assignments))  # rounding to micro
        assert exact.cost.total_micro <= greedy.cost.total_micro + slack
