"""plexnet simulate: replay a GPU cluster trace on a simulated compute market.

Registered in ``main.py`` as ``app.command("simulate")(simulate)``. The simulator
and matplotlib are imported inside the command, so ``plexnet --help`` stays fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from plexnet.cli.output import JsonFlag, err, print_json, print_table
from plexnet.core.errors import ConfigError

if TYPE_CHECKING:
    from plexnet.compute.comparison import ProviderSource
    from plexnet.compute.scenario import Market, SimulationConfig
    from plexnet.compute.simulation_report import Report
    from plexnet.compute.workload import Arrivals

__all__ = ["simulate"]

_SWEEP_RATES = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_SWEEP_JOBS = 500


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{flag} {value!r}: choose {' or '.join(allowed)}")
    return value


def _check(flag: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{flag} {value!r} is outside [{low:g}, {high:g}]")


def _override(market: Market, byzantine: float | None, fake: float | None,
              churn: float | None) -> Market:
    changes: dict[str, Any] = {"byzantine_fraction": byzantine, "fake_fraction": fake,
                               "churn_per_hour": churn}
    return replace(market, **{k: v for k, v in changes.items() if v is not None})


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.4f}"


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _rows(reports: list[Report]) -> list[list[str]]:
    def row(label: str, f: Any) -> list[str]:
        return [label, *(f(r) for r in reports)]

    return [
        row("providers / devices", lambda r: f"{r.providers:,} / {r.devices:,}"),
        row("jobs done / submitted", lambda r: f"{r.jobs_done:,} / {r.jobs_submitted:,}"),
        row("jobs unplaced", lambda r: f"{r.jobs_unplaced:,}"),
        row("useful GPU-hours", lambda r: f"{r.useful_gpu_hours:,.1f}"),
        row("total cost, USD", lambda r: f"{r.cost.total_usd:,.2f}"),
        row("  compute", lambda r: f"{r.cost.compute_usd:,.2f}"),
        row("  transfer", lambda r: f"{r.cost.transfer_usd:,.2f}"),
        row("  verification", lambda r: f"{r.cost.verification_usd:,.2f}"),
        row("  risk (churn, fraud)", lambda r: f"{r.cost.risk_usd:,.2f}"),
        row("USD per useful GPU-hour", lambda r: _money(r.cost_per_gpu_hour)),
        row("  sticker (compute+transfer)", lambda r: _money(r.base_cost_per_gpu_hour)),
        row("queueing delay mean / p50 / p95, s", lambda r: " / ".join(
            _seconds(x) for x in (r.queue_delay_mean_s, r.queue_delay_p50_s,
                                  r.queue_delay_p95_s))),
        row("utilisation", lambda r: f"{r.utilisation:.2%}"),
        row("fraud caught / missed", lambda r: f"{r.fraud_caught:,} / {r.fraud_missed:,}"),
        row("verification overhead", lambda r: f"{r.verification_overhead_fraction:.1%}"),
        row("useful-compute fraction", lambda r: f"{r.useful_compute_fraction:.1%}"),
        row("provider failures", lambda r: f"{r.provider_failures:,}"),
        row("wall time, s", lambda r: f"{r.wall_s:.2f}"),
    ]


def simulate(
    providers: Annotated[str, typer.Option(help="openb (the trace's GPU nodes) or synthetic "
                                           "(shapes drawn from the price books)")] = "openb",
    count: Annotated[int, typer.Option(help="synthetic providers, 1..10,000")] = 1_000,
    arrivals: Annotated[str, typer.Option(help="openb (the trace's pods) or philly "
                                          "(runtimes with Poisson arrivals)")] = "openb",
    jobs: Annotated[int | None, typer.Option(help="at most this many jobs (philly: "
                                             "default 1,000)")] = None,
    rate: Annotated[float, typer.Option(help="philly arrivals per hour")] = 60.0,
    time_scale: Annotated[float, typer.Option(help="openb: divide arrival times by this "
                                              "(>1 raises the load)")] = 1.0,
    byzantine_fraction: Annotated[float | None, typer.Option(
        help="share of providers that fake work (decentralised side; default 0.05)")] = None,
    fake_fraction: Annotated[float | None, typer.Option(
        help="share of its shards a cheat fakes (default 0.1)")] = None,
    churn_per_hour: Annotated[float | None, typer.Option(
        help="provider failures per hour (decentralised side; default 0.02)")] = None,
    scenario: Annotated[str, typer.Option(help="compare (decentralised vs centralised) or "
                                          "single")] = "compare",
    market: Annotated[str, typer.Option(help="single: decentralised or centralised")
                      ] = "decentralised",
    seed: Annotated[int, typer.Option(help="random seed; same seed, same result")] = 0,
    out: Annotated[Path | None, typer.Option(help="write simulate.json and PNG plots "
                                             "here")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Simulate a compute market on real traces: cost, queueing, fraud and churn.

    With --scenario compare the same jobs run on the decentralised marketplaces'
    prices (vast, hyperbolic, runpod) and on the clouds' (aws, gcp, lambda); the
    --byzantine-fraction, --fake-fraction and --churn-per-hour options change the
    decentralised side (clouds keep no cheats and near-zero churn).
    """
    _choice("--providers", providers, ("openb", "synthetic"))
    _choice("--arrivals", arrivals, ("openb", "philly"))
    _choice("--scenario", scenario, ("single", "compare"))
    _choice("--market", market, ("decentralised", "centralised"))
    _check("--count", count, 1, 10_000)
    _check("--jobs", jobs, 1, 10_000_000)
    _check("--byzantine-fraction", byzantine_fraction, 0, 1)
    _check("--fake-fraction", fake_fraction, 0, 1)
    _check("--churn-per-hour", churn_per_hour, 0, 100)
    if not rate > 0 or not time_scale > 0:
        raise ConfigError("--rate and --time-scale must be > 0")

    from plexnet.compute import comparison as cmp
    from plexnet.compute.scenario import (
        CENTRALISED_CLOUD,
        DECENTRALISED_MARKET,
        SimulationConfig,
    )

    config = SimulationConfig(seed=seed)
    err.print(f"loading {arrivals} arrivals …")
    trace = cmp.build_arrivals("openb" if arrivals == "openb" else "philly", jobs=jobs,
                               seed=seed, rate_per_hour=rate, time_scale=time_scale)
    dec = _override(DECENTRALISED_MARKET, byzantine_fraction, fake_fraction, churn_per_hour)
    source: ProviderSource = "openb" if providers == "openb" else "synthetic"
    result: dict[str, Any]
    if scenario == "compare":
        err.print(f"simulating {len(trace.jobs):,} jobs on both markets …")
        comparison = cmp.compare(source, trace, count=count, config=config,
                                 markets=(dec, CENTRALISED_CLOUD))
        reports = [comparison.decentralised, comparison.centralised]
        result = {**comparison.to_dict(), "verdict": comparison.verdict()}
    else:
        chosen = dec if market == "decentralised" else _override(
            CENTRALISED_CLOUD, byzantine_fraction, fake_fraction, churn_per_hour)
        err.print(f"simulating {len(trace.jobs):,} jobs on the {market} market …")
        from plexnet.compute.simulator import simulate as run

        reports = [run(chosen, cmp.build_inventory(source, chosen, count=count, seed=seed),
                       trace, config)]
        result = reports[0].to_dict()
    if out is not None:
        _write(out, result, reports, dec, trace, source, count, config)
    if json_out:
        print_json(result)
        return
    print_table("plexnet simulate", ["", *(r.market for r in reports)], _rows(reports))
    if "verdict" in result:
        typer.echo(result["verdict"])


def _write(out: Path, result: dict[str, Any], reports: list[Report], dec: Market,
           trace: Arrivals, source: ProviderSource, count: int,
           config: SimulationConfig) -> None:
    """simulate.json (the result and a replication sweep on the first jobs) and the PNGs."""
    from plexnet.compute import comparison as cmp
    from plexnet.compute.simulation_plots import write_plots
    from plexnet.compute.workload import Arrivals

    small = Arrivals(trace.jobs[:_SWEEP_JOBS], trace.skipped, trace.source)
    err.print(f"replication sweep on {len(small.jobs):,} jobs …")
    sweep = cmp.replication_sweep(dec, cmp.build_inventory(source, dec, count=count,
                                                           seed=config.seed),
                                  small, _SWEEP_RATES, config)
    out.mkdir(parents=True, exist_ok=True)
    payload = {**result, "replication_sweep": [asdict(p) for p in sweep]}
    (out / "simulate.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    paths = write_plots(out, reports, sweep, shards=config.shards_per_job,
                        fake_fraction=dec.fake_fraction)
    err.print(f"wrote {out / 'simulate.json'} and {len(paths)} plots")
