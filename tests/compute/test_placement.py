"""Placement is pure: decisions from a job and a provider snapshot, exclusions explained."""

import pytest

from plexnet.compute import JobSpec, PlacementError, ProviderProfile, Requirements, place
from plexnet.compute.placement import MFU, estimate


def _provider(name, kind="cpu", tier="fog", memory=16.0, price=0.1, flops=1e12, region="eu"):
    return ProviderProfile(name=name, device_kind=kind, device_model="m", peak_flops=flops,
                           memory_gb=memory, tier=tier, region=region, bandwidth_mbps=100,
                           rtt_ms=10, price_per_device_hour=price)


def _job(**kw):
    base = {"job_id": "j1", "task": "train.supervised", "budget_micro": 10**6, "flops": 1e13}
    return JobSpec(**{**base, **kw})


def test_cheapest_feasible_provider_wins_and_exclusions_are_explained():
    providers = [_provider("gpu", kind="gpu", tier="cloud", price=2.0, flops=1e14),
                 _provider("desk", price=0.01), _provider("phone", kind="npu", tier="edge",
                                                         memory=4, price=0.001)]
    decision = place(_job(requirements=Requirements(min_memory_gb=8)), providers)
    assert decision.provider == "desk"
    assert dict(decision.excluded) == {"phone": "4 GiB memory < 8 GiB required"}
    assert {e.provider for e in decision.candidates} == {"gpu", "desk"}


def test_estimates_follow_flops_over_effective_speed():
    p = _provider("a", flops=1e12, price=3.6)
    est = estimate(_job(flops=1e15), p)
    assert est.time_s == pytest.approx(1e15 / (1e12 * MFU))
    assert est.cost_micro == round(3.6 * est.time_s / 3600 * 1e6)


def test_deadline_and_budget_exclude():
    providers = [_provider("slow", flops=1e9, price=0.01), _provider("dear", price=1e6)]
    with pytest.raises(PlacementError) as info:
        place(_job(deadline_s=60), providers)
    text = str(info.value)
    assert "slow: needs" in text and "deadline" in text
    assert "dear: costs" in text and "budget" in text


@pytest.mark.parametrize(("req", "reason"), [
    (Requirements(device_kinds=["gpu"]), "device kind cpu"),
    (Requirements(tiers=["cloud"]), "tier fog"),
    (Requirements(regions=["us"]), "region eu"),
])
def test_each_requirement_is_named_when_it_binds(req, reason):
    with pytest.raises(PlacementError, match=reason):
        place(_job(requirements=req), [_provider("only")])


def test_no_providers():
    with pytest.raises(PlacementError, match="no providers registered"):
        place(_job(), [])


def test_ties_break_by_time_then_name():
    a, b = _provider("b", price=0.0), _provider("a", price=0.0)
    assert place(_job(), [a, b]).provider == "a"
