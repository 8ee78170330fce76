"""Market simulation benchmark (not a test): the full OpenB replay, and what decentralised costs.

1. **OpenB replay**: all 8,152 pods (6,203 become GPU jobs; the rest are CPU-only
   or never ran) on all 1,523 nodes (1,213 with GPUs), once priced from the
   marketplace books (vast, hyperbolic, runpod) under ``DECENTRALISED_MARKET``'s
   churn and cheats, once from the clouds' (aws, gcp with host VM, lambda) under
   ``CENTRALISED_CLOUD``'s. Same hardware, same jobs: the cost ratio per useful
   GPU-hour is the answer to "decentralised compute is 80-90% cheaper". Wall
   time of each simulation is recorded. The trace is light for its cluster
   (about 14 of 6,212 GPUs busy on average), so capacity never binds and each
   side buys its cheapest FLOPs.
2. **Loaded market**: 3,000 Philly runtimes at 1,000 jobs/h on 100 synthetic
   providers per side (shapes and prices drawn from each side's books), where
   capacity binds, jobs queue and the cheap offers run out.
3. **Sensitivity**: the OpenB replay with the marketplace's churn and cheating
   turned down and up.
4. **Replication sweep**: fraud caught vs a fixed replication rate on the first
   1,500 OpenB jobs with 20% of providers cheating.
5. **Shortlist check**: the first 800 OpenB jobs with placement offered 32
   providers (the default) and every free provider.
6. **Scale**: 10,000 synthetic marketplace providers, 10,000 Philly jobs.

    python bench/simulate.py            # everything (about 2 minutes here)
    python bench/simulate.py --quick    # the OpenB replay and the loaded market only

Writes ``bench/results/simulate.json`` and PNGs under ``bench/results/simulate/``
(``openb/`` for the replay and the sweep, ``loaded/`` for the loaded market).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from plexnet.compute.comparison import build_arrivals, build_inventory, compare, replication_sweep
from plexnet.compute.scenario import CENTRALISED_CLOUD, DECENTRALISED_MARKET, SimulationConfig
from plexnet.compute.simulation_plots import write_plots
from plexnet.compute.simulation_report import Comparison, Report
from plexnet.compute.simulator import simulate
from plexnet.compute.workload import Arrivals

RESULTS = Path(__file__).parent / "results"
SWEEP_RATES = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def brief(r: Report) -> dict[str, Any]:
    """The report without its long series (those are in the PNGs)."""
    d = asdict(r)
    for key in ("utilisation_series", "delay_quantiles_s"):
        d.pop(key)
    return d


def side_by_side(c: Comparison) -> dict[str, Any]:
    return {"cost_ratio": c.cost_ratio, "base_cost_ratio": c.base_cost_ratio,
            "savings": c.savings, "verdict": c.verdict(),
            "decentralised": brief(c.decentralised), "centralised": brief(c.centralised)}


def show(title: str, c: Comparison) -> None:
    print(f"\n{title}", flush=True)
    for r in (c.decentralised, c.centralised):
        print(f"  {r.market:>13}: {r.cost_per_gpu_hour or 0:.4f} USD/GPU-h "
              f"(sticker {r.base_cost_per_gpu_hour or 0:.4f}); compute {r.cost.compute_usd:,.0f}"
              f" + transfer {r.cost.transfer_usd:,.0f} + verification "
              f"{r.cost.verification_usd:,.0f} + risk {r.cost.risk_usd:,.0f} = "
              f"{r.cost.total_usd:,.0f} USD; delay p95 {r.queue_delay_p95_s or 0:,.0f} s; "
              f"fraud {r.fraud_caught}/{r.fraud_missed} caught/missed; wall {r.wall_s:.1f} s",
              flush=True)
    print(f"  -> {c.verdict()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "simulate.json")
    args = parser.parse_args()
    config = SimulationConfig()
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.machine(),
                    "numpy": version("numpy"), "scipy": version("scipy")},
        "quick": args.quick, "config": asdict(config),
        "markets": {"decentralised": asdict(DECENTRALISED_MARKET),
                    "centralised": asdict(CENTRALISED_CLOUD)}}
    plots = args.out.parent / "simulate"

    openb = build_arrivals("openb")
    started = time.perf_counter()
    replay = compare("openb", openb, config=config)
    result["openb_replay"] = {**side_by_side(replay),
                              "jobs": len(openb.jobs), "trace_rows_skipped": openb.skipped,
                              "wall_s_both": time.perf_counter() - started}
    show(f"OpenB replay: {len(openb.jobs):,} jobs on {replay.decentralised.providers:,} GPU "
         "nodes", replay)

    loaded_jobs = build_arrivals("philly", jobs=3_000, rate_per_hour=1_000)
    loaded = compare("synthetic", loaded_jobs, count=100, config=config)
    result["loaded_market"] = {**side_by_side(loaded), "providers_per_side": 100,
                               "jobs": 3_000, "rate_per_hour": 1_000}
    show("Loaded market: 3,000 Philly jobs at 1,000/h on 100 synthetic providers a side",
         loaded)
    write_plots(plots / "loaded", [loaded.decentralised, loaded.centralised])

    sweep: tuple[Any, ...] = ()
    if not args.quick:
        result["sensitivity"] = []
        print("\nSensitivity (OpenB replay, marketplace side varied):", flush=True)
        for churn, cheats in ((0.005, 0.01), (0.02, 0.0), (0.1, 0.05), (0.1, 0.2)):
            market = replace(DECENTRALISED_MARKET, churn_per_hour=churn,
                             byzantine_fraction=cheats)
            c = compare("openb", openb, config=config, markets=(market, CENTRALISED_CLOUD))
            result["sensitivity"].append({
                "churn_per_hour": churn, "byzantine_fraction": cheats,
                "cost_ratio": c.cost_ratio, "savings": c.savings,
                "decentralised_cost_per_gpu_hour": c.decentralised.cost_per_gpu_hour,
                "useful_compute_fraction": c.decentralised.useful_compute_fraction,
                "fraud_caught": c.decentralised.fraud_caught,
                "fraud_missed": c.decentralised.fraud_missed})
            print(f"  churn {churn}/h, {cheats:.0%} byzantine: ratio {c.cost_ratio:.3f} "
                  f"({c.savings:.0%} cheaper), useful "
                  f"{c.decentralised.useful_compute_fraction:.1%}", flush=True)

        cheating = replace(DECENTRALISED_MARKET, byzantine_fraction=0.2)
        first = Arrivals(openb.jobs[:1_500], openb.skipped, openb.source)
        sweep = replication_sweep(cheating, build_inventory("openb", cheating), first,
                                  SWEEP_RATES, config)
        result["replication_sweep"] = {"byzantine_fraction": 0.2, "jobs": 1_500,
                                       "points": [asdict(p) for p in sweep]}
        print("\nReplication sweep (20% byzantine, f = 0.1):", flush=True)
        for p in sweep:
            share = "-" if p.caught_share is None else f"{p.caught_share:.0%}"
            print(f"  rate {p.replication:.2f}: caught {p.fraud_caught}, missed "
                  f"{p.fraud_missed} ({share}); verification "
                  f"{p.verification_overhead_fraction:.1%}", flush=True)

        head = Arrivals(openb.jobs[:800], openb.skipped, openb.source)
        rows = []
        for market in (DECENTRALISED_MARKET, CENTRALISED_CLOUD):
            inventory = build_inventory("openb", market)
            for shortlist in (32, 0):
                r = simulate(market, inventory, head, replace(config, shortlist=shortlist))
                rows.append({"market": market.name, "shortlist": shortlist or "all",
                             "cost_per_gpu_hour": r.cost_per_gpu_hour, "wall_s": r.wall_s})
        result["shortlist_check"] = {"jobs": 800, "rows": rows}
        print("\nShortlist check (800 OpenB jobs):", flush=True)
        for row in rows:
            print(f"  {row['market']:>13}, shortlist {row['shortlist']:>3}: "
                  f"{row['cost_per_gpu_hour']:.4f} USD/GPU-h, {row['wall_s']:.1f} s",
                  flush=True)

        big = build_inventory("synthetic", DECENTRALISED_MARKET, count=10_000)
        many = build_arrivals("philly", jobs=10_000, rate_per_hour=2_000)
        r = simulate(DECENTRALISED_MARKET, big, many, config)
        result["scale"] = {"providers": r.providers, "devices": r.devices, "jobs": 10_000,
                           "wall_s": r.wall_s, "jobs_done": r.jobs_done,
                           "provider_failures": r.provider_failures}
        print(f"\nScale: {r.providers:,} providers ({r.devices:,} devices), 10,000 jobs: "
              f"{r.wall_s:.1f} s wall, {r.provider_failures:,} failures", flush=True)

    write_plots(plots / "openb", [replay.decentralised, replay.centralised], sweep,
                shards=config.shards_per_job, fake_fraction=DECENTRALISED_MARKET.fake_fraction)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out} and PNGs under {plots}")


if __name__ == "__main__":
    main()
