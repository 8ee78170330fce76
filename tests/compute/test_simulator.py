"""The market simulator: determinism, conservation, known answers, the comparison, the CLI."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest
import typer
from typer.testing import CliRunner

from plexnet.cli.simulate_command import simulate as simulate_command
from plexnet.compute.catalog import device
from plexnet.compute.comparison import build_arrivals, build_inventory, compare, replication_sweep
from plexnet.compute.errors import ComputeError
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.scenario import (
    CENTRALISED_CLOUD,
    DECENTRALISED_MARKET,
    Market,
    SimulationConfig,
)
from plexnet.compute.simulation_plots import PLOTS, write_plots
from plexnet.compute.simulator import simulate
from plexnet.compute.workload import (
    REFERENCE_DEVICE,
    Arrivals,
    Inventory,
    TraceJob,
    openb_arrivals,
    openb_inventory,
    philly_arrivals,
)
from plexnet.core.errors import ConfigError

REF = device(REFERENCE_DEVICE)
# A quiet market: no churn, no cheats, no replication, a free and instant network.
QUIET = Market("quiet", ("vast",), churn_per_hour=0.0, repair_s=3600, byzantine_fraction=0.0,
               fake_fraction=0.0, replication=0.0, min_replication=0.0, bandwidth_mbps=1e6,
               rtt_ms=0.0, tier="cloud")
EXACT = SimulationConfig(input_gb=0.0)


def providers(n: int, price: float = 1.0, devices: int = 1, prices: list[float] | None = None,
              reliability: float = 1.0) -> Inventory:
    return Inventory(tuple(ProviderProfile(
        name=f"p{i:03d}", device_kind="gpu", device_model=REF.name, device_count=devices,
        peak_flops=REF.peak_flops_tensor, memory_gb=REF.memory_gb, tier="cloud", region="r",
        bandwidth_mbps=1e6, rtt_ms=0.0, reliability=reliability,
        price_per_device_hour=prices[i] if prices else price) for i in range(n)), {}, "test")


def jobs(*spec: tuple[float, float]) -> Arrivals:
    """(arrival_s, reference GPU-hours) per job, one GPU each."""
    return Arrivals(tuple(TraceJob(f"j{i}", t, 1, h) for i, (t, h) in enumerate(spec)), {},
                    "test")


def without_wall(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "wall_s"}


def check_conservation(r, arrivals: Arrivals) -> None:
    assert r.jobs_done + r.jobs_unplaced == r.jobs_submitted == len(arrivals.jobs)
    c = r.cost
    assert c.total_usd == pytest.approx(c.compute_usd + c.transfer_usd + c.verification_usd +
                                        c.risk_usd)
    assert min(c.compute_usd, c.transfer_usd, c.verification_usd, c.risk_usd) >= 0
    assert 0 <= r.useful_compute_fraction <= 1 and 0 <= r.utilisation <= 1
    if r.jobs_unplaced == 0:  # every GPU-hour asked for was done, genuinely or faked
        asked = sum(j.gpu_hours for j in arrivals.jobs)
        assert r.useful_gpu_hours + r.faked_gpu_hours_accepted == pytest.approx(asked, rel=1e-6)
    json.dumps(r.to_dict(), allow_nan=False)


# --- known answers -------------------------------------------------------------


def test_one_provider_one_job_costs_price_times_time():
    arrivals = jobs((0.0, 2.0))
    r = simulate(QUIET, providers(1, price=1.5), arrivals, EXACT)
    assert r.jobs_done == 1
    assert r.cost.total_usd == pytest.approx(1.5 * 2.0)  # 2 h on the reference device
    assert r.cost.compute_usd == pytest.approx(r.cost.total_usd)
    assert r.expected_cost_usd == pytest.approx(3.0)  # placement agrees: no premiums here
    assert r.cost_per_gpu_hour == pytest.approx(1.5)
    assert r.useful_compute_fraction == pytest.approx(1.0)
    assert r.simulated_s == pytest.approx(7200)
    assert r.queue_delay_mean_s == 0
    check_conservation(r, arrivals)


def test_a_busy_provider_makes_the_next_job_queue():
    arrivals = jobs((0.0, 2.0), (0.0, 1.0))
    r = simulate(QUIET, providers(1), arrivals, EXACT)
    assert r.jobs_done == 2
    assert r.queue_delay_mean_s == pytest.approx(3600)  # 0 s and 7,200 s
    assert r.delay_quantiles_s[-1] == pytest.approx(7200)
    assert r.utilisation == pytest.approx(1.0)
    check_conservation(r, arrivals)


def test_placement_picks_the_cheapest_free_provider():
    r = simulate(QUIET, providers(3, prices=[3.0, 1.0, 2.0]), jobs((0.0, 1.0)), EXACT)
    assert r.cost.total_usd == pytest.approx(1.0)


def test_byzantine_at_full_fakes_with_full_replication_is_always_caught():
    market = replace(QUIET, byzantine_fraction=1.0, fake_fraction=1.0, replication=1.0,
                     min_replication=1.0)
    arrivals = jobs(*((3600.0 * i, 1.0) for i in range(6)))
    r = simulate(market, providers(4), arrivals, EXACT)
    assert r.fraud_caught > 0
    assert r.fraud_missed == 0
    assert r.faked_gpu_hours_accepted == 0
    # caught cheats fall below min_reputation and run out: no job is done on faked work
    assert r.jobs_done == 0 and r.jobs_unplaced == len(arrivals.jobs)
    assert r.useful_gpu_hours == 0
    check_conservation(r, arrivals)


def test_without_churn_or_cheats_verification_costs_the_floor():
    market = replace(QUIET, replication=0.02, min_replication=0.02)
    arrivals = jobs(*((600.0 * i, 0.5 + i / 10) for i in range(10)))
    r = simulate(market, providers(5), arrivals, EXACT)
    assert r.jobs_done == 10
    assert r.verification_overhead_fraction == pytest.approx(0.02)  # 1 of 50 shards
    assert r.fraud_caught == r.fraud_missed == 0
    assert r.cost.risk_usd == 0
    check_conservation(r, arrivals)


def test_adaptive_replication_starts_at_the_ceiling_and_falls():
    market = replace(QUIET, replication=0.2, min_replication=0.02)
    first = simulate(market, providers(2), jobs((0.0, 1.0)), EXACT)
    assert first.verification_overhead_fraction == pytest.approx(0.2)  # a newcomer
    many = simulate(market, providers(2), jobs(*((7200.0 * i, 1.0) for i in range(20))), EXACT)
    assert 0.02 < many.verification_overhead_fraction < 0.2


def test_churn_lowers_the_useful_compute_fraction():
    arrivals = jobs(*((1800.0 * i, 5.0) for i in range(12)))
    calm = simulate(QUIET, providers(8), arrivals, EXACT)
    flaky_market = replace(QUIET, churn_per_hour=0.5, repair_s=1800)
    flaky = simulate(flaky_market, build_flaky(8, flaky_market), arrivals, EXACT)
    assert calm.useful_compute_fraction == pytest.approx(1.0)
    assert flaky.interrupted_tasks > 0 and flaky.provider_failures > 0
    assert flaky.cost.risk_usd > 0
    assert flaky.useful_compute_fraction < calm.useful_compute_fraction
    check_conservation(flaky, arrivals)
    assert flaky.jobs_done == 12


def build_flaky(n: int, market: Market) -> Inventory:
    return providers(n, reliability=market.terms().reliability)


def test_a_job_nothing_can_run_or_verify_is_reported_not_lost():
    market = replace(QUIET, replication=0.5, min_replication=0.5)  # replicas need a 2nd host
    arrivals = jobs((0.0, 1.0), (0.0, 1.0))
    r = simulate(market, providers(1), arrivals, EXACT)
    assert r.jobs_done == 0 and r.jobs_unplaced == 2 and r.unverified_tasks == 2
    assert r.useful_gpu_hours == 0
    check_conservation(r, arrivals)
    big = Arrivals((TraceJob("wide", 0.0, 1, 1.0),), {}, "test")
    tight = replace(EXACT, deadline_factor=0.1, deadline_margin_s=0.0)  # 1 device is too slow
    r = simulate(QUIET, providers(1), big, tight)
    assert r.jobs_unplaced == 1 and r.queue_delay_mean_s is None


# --- determinism, the real traces, the comparison --------------------------------


def test_same_seed_same_report_other_seed_other_report():
    arrivals = build_arrivals("philly", jobs=150, seed=3, rate_per_hour=200)
    inventory = build_inventory("synthetic", DECENTRALISED_MARKET, count=80, seed=3)
    config = SimulationConfig(seed=3)
    a = simulate(DECENTRALISED_MARKET, inventory, arrivals, config)
    b = simulate(DECENTRALISED_MARKET, inventory, arrivals, config)
    assert without_wall(a.to_dict()) == without_wall(b.to_dict())
    c = simulate(DECENTRALISED_MARKET, inventory, arrivals, replace(config, seed=4))
    assert without_wall(c.to_dict()) != without_wall(a.to_dict())
    check_conservation(a, arrivals)


def test_openb_trace_mapping():
    arrivals = openb_arrivals()
    assert len(arrivals.jobs) == 6203
    assert arrivals.skipped == {"cpu-only pod": 1088,
                                "never scheduled in the trace (Pending)": 861}
    assert sum(j.gpu_hours for j in arrivals.jobs) == pytest.approx(51470.674, rel=1e-6)
    times = [j.arrival_s for j in arrivals.jobs]
    assert times == sorted(times)
    terms = DECENTRALISED_MARKET.terms()
    nodes = openb_inventory(DECENTRALISED_MARKET.books, terms, _rng())
    assert len(nodes.profiles) == 1213 and nodes.skipped == {
        "cpu-only node (the price books price GPUs)": 310}
    models = {p.device_model for p in nodes.profiles}
    assert models == {"V100", "V100-32GB", "T4", "P100", "A100-40GB", "A10"}
    v100 = {p.price_per_device_hour for p in nodes.profiles if p.device_model == "V100"}
    assert v100 == {0.2}  # vast's V100 quote, the only one in the marketplace books


def test_philly_arrivals_are_poisson_at_the_rate():
    arrivals = philly_arrivals(2000, 120.0, _rng())
    gaps = [b.arrival_s - a.arrival_s for a, b in itertools.pairwise(arrivals.jobs)]
    assert sum(gaps) / len(gaps) == pytest.approx(30.0, rel=0.1)
    assert all(j.gpu_hours > 0 and j.gpus == 1 for j in arrivals.jobs)


def test_compare_returns_a_ratio_and_sweep_and_plots(tmp_path):
    arrivals = build_arrivals("philly", jobs=60, rate_per_hour=120)
    comparison = compare("synthetic", arrivals, count=40)
    assert comparison.cost_ratio is not None and comparison.cost_ratio > 0
    assert comparison.savings == pytest.approx(1 - comparison.cost_ratio)
    assert comparison.decentralised.market == "decentralised"
    assert comparison.centralised.fraud_caught == comparison.centralised.fraud_missed == 0
    assert "centralised per useful GPU-hour" in comparison.verdict()
    json.dumps(comparison.to_dict(), allow_nan=False)
    market = replace(DECENTRALISED_MARKET, byzantine_fraction=0.3)
    inventory = build_inventory("synthetic", market, count=40)
    sweep = replication_sweep(market, inventory, arrivals, (0.02, 1.0))
    assert [p.replication for p in sweep] == [0.02, 1.0]
    paths = write_plots(tmp_path, [comparison.decentralised, comparison.centralised], sweep)
    assert [p.name for p in paths] == list(PLOTS)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_bad_assumptions_are_refused():
    with pytest.raises(ComputeError, match="min_replication"):
        replace(CENTRALISED_CLOUD, replication=0.01)
    with pytest.raises(ComputeError, match="byzantine_fraction"):
        replace(DECENTRALISED_MARKET, byzantine_fraction=1.5)
    with pytest.raises(ComputeError, match=r"1\.\.10,000"):
        build_inventory("synthetic", DECENTRALISED_MARKET, count=10_001)
    with pytest.raises(ComputeError, match="no jobs"):
        simulate(QUIET, providers(1), Arrivals((), {}, "none"))


def _rng():
    import numpy as np

    return np.random.default_rng(0)


# --- the CLI command -----------------------------------------------------------------


@pytest.fixture
def cli():
    app = typer.Typer()
    app.command("simulate")(simulate_command)
    app.command("noop")(lambda: None)  # a second command keeps "simulate" a sub-command
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["simulate", *args])


@pytest.mark.parametrize(("args", "message"), [
    (["--providers", "cloud"], "--providers 'cloud': choose openb or synthetic"),
    (["--arrivals", "x"], "--arrivals 'x': choose openb or philly"),
    (["--scenario", "both"], "--scenario 'both': choose single or compare"),
    (["--count", "0"], "--count 0 is outside [1, 10000]"),
    (["--jobs", "0"], "--jobs 0 is outside"),
    (["--byzantine-fraction", "1.5"], "--byzantine-fraction 1.5 is outside [0, 1]"),
    (["--fake-fraction", "-0.1"], "--fake-fraction -0.1 is outside [0, 1]"),
    (["--churn-per-hour", "-1"], "--churn-per-hour -1.0 is outside [0, 100]"),
    (["--rate", "0"], "--rate and --time-scale must be > 0"),
])
def test_cli_refuses_bad_options_with_one_clear_error(cli, args, message):
    result = cli(*args)
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)


def test_cli_runs_compare_as_json_and_writes_plots(cli, tmp_path):
    result = cli("--providers", "synthetic", "--count", "30", "--arrivals", "philly", "--jobs",
                 "40", "--rate", "100", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["cost_ratio"] > 0 and "verdict" in payload
    saved = json.loads((tmp_path / "simulate.json").read_text())
    assert len(saved["replication_sweep"]) == 6
    assert all((tmp_path / name).exists() for name in PLOTS)


def test_cli_single_market_table(cli):
    result = cli("--scenario", "single", "--market", "centralised", "--providers", "synthetic",
                 "--count", "20", "--arrivals", "philly", "--jobs", "20")
    assert result.exit_code == 0, result.output
    assert "USD per useful GPU-hour" in result.stdout and "centralised" in result.stdout
