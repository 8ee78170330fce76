"""Placement benchmark (not a test): decisions per second, and the heuristic's optimality gap.

A reproducible synthetic market (seeded numpy generator) mixes device kinds,
tiers and regions. Per-device-hour prices are drawn (lognormal, sigma 0.25) around
marketplace figures from the price books in ../shared/testdata/prices (H100 ~2.5,
A100 ~1.7, V100 ~0.5, T4 ~0.3 credits an hour) and about 0.05 for a CPU;
peaks are the vendors' dense BF16/FP16 tensor figures; reliabilities are uniform
on 0.9-0.999 and reputations Beta posteriors over a few hundred verified units.

Jobs are parallel with 10-1,000 shards (log-uniform), in two families of 60:
``batch`` — 1e15-1e20 FLOPs, 0-100 GB of inputs that some providers already hold,
deadlines of 10 minutes to 4 hours; ``small`` — latency-bound inference, 1e13-1e17
FLOPs and deadlines of 0.5-30 s, where a provider's one-RTT setup cost rivals its
shards' cost and the greedy's amortisation can mislead.

For 100, 1,000 and 10,000 providers it measures ``place`` with the greedy and with
the exact MILP (decisions/s, end to end: requirement checks, cost model, solver;
replication rates are cached after the first decision on a snapshot, as a
coordinator's would be), and the ratio of the greedy's expected cost to the MILP
optimum, median and worst, over the jobs both place (the first 25 of each family
at 10,000 providers, where one MILP takes about a second).

    python bench/placement.py            # the full run (about 2 minutes here)
    python bench/placement.py --quick    # fewer jobs, no 10,000-provider MILP
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from plexnet.compute.job import JobSpec, Workload
from plexnet.compute.placement import Decision, ProviderState, SolverChoice, place
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.reputation import Reputation
from plexnet.core.errors import PlexnetError

RESULTS = Path(__file__).parent / "results"
REGIONS = ["us-east", "us-west", "eu-west", "eu-central", "ap-south", "ap-northeast"]
INPUTS = [f"bafkreidataset{i:02d}" for i in range(10)]
# kind, model, peak FLOP/s per device, memory GiB, credits per device-hour, share
DEVICES = [
    ("gpu", "H100-SXM", 989e12, 80, 2.5, 0.10),
    ("gpu", "A100-80GB", 312e12, 80, 1.7, 0.20),
    ("gpu", "V100", 125e12, 32, 0.5, 0.20),
    ("gpu", "T4", 65e12, 16, 0.3, 0.25),
    ("cpu", "EPYC", 1.5e12, 64, 0.05, 0.25),
]


def population(n: int, seed: int) -> list[ProviderState]:
    rng = np.random.default_rng(seed)
    shares = np.array([d[5] for d in DEVICES])
    out = []
    for i in range(n):
        kind, model, peak, memory, price, _ = DEVICES[rng.choice(len(DEVICES), p=shares)]
        tier = "cloud" if model in ("H100-SXM", "A100-80GB") else str(
            rng.choice(["cloud", "fog", "edge"], p=[0.3, 0.5, 0.2]))
        count = 1 if kind == "cpu" else int(rng.choice([1, 2, 4, 8], p=[0.4, 0.3, 0.2, 0.1]))
        bandwidth = {"cloud": 10_000, "fog": 1_000, "edge": 100}[tier] * rng.lognormal(0, 0.3)
        verified = int(rng.integers(0, 400))
        failed = int(rng.binomial(verified, 0.02))
        profile = ProviderProfile(
            name=f"p{i:05d}", device_kind=kind, device_model=model, device_count=count,
            peak_flops=peak, memory_gb=memory, tier=tier, region=str(rng.choice(REGIONS)),
            bandwidth_mbps=float(bandwidth), rtt_ms=float(rng.uniform(5, 150)),
            price_per_device_hour=float(price * rng.lognormal(0, 0.25)),
            reliability=float(rng.uniform(0.9, 0.999)))
        holds = frozenset(rng.choice(INPUTS, size=3, replace=False)) if rng.random() < 0.1 \
            else frozenset()
        free = None if rng.random() < 0.8 else int(rng.integers(1, count + 1))
        out.append(ProviderState(profile, Reputation(1 + verified - failed, 1 + failed),
                                 free, holds))
    return out


def jobs(family: str, count: int, seed: int) -> list[JobSpec]:
    """``batch``: big jobs, minutes-to-hours shards; ``small``: latency-bound inference."""
    rng = np.random.default_rng(seed)
    big = family == "batch"
    return [JobSpec(job_id=f"{family}-{i}", task="infer.batch",
                    inputs=[str(rng.choice(INPUTS))],
                    input_bytes=float(rng.choice([0, 1e9, 1e10, 1e11])) if big else 0.0,
                    flops=float(10 ** (rng.uniform(15, 20) if big else rng.uniform(13, 17))),
                    workload=Workload(units=round(10 ** rng.uniform(1, 3))),
                    deadline_s=float(rng.uniform(600, 4 * 3600) if big else rng.uniform(0.5, 30)),
                    budget_micro=10**15)
            for i in range(count)]


def _run(js: list[JobSpec], states: list[ProviderState], solver: SolverChoice
         ) -> tuple[float, list[Decision | None]]:
    out: list[Decision | None] = []
    began = time.perf_counter()
    for job in js:
        try:
            out.append(place(job, states, solver=solver))
        except PlexnetError:
            out.append(None)  # no plan meets the deadline: counted, not compared
    return len(js) / (time.perf_counter() - began), out


def _gap(greedy: list[Decision | None], exact: list[Decision | None]) -> dict[str, object]:
    ratios = [g.cost.total_micro / e.cost.total_micro for g, e in zip(greedy, exact, strict=True)
              if g is not None and e is not None and e.cost.total_micro > 0]
    return {"compared": len(ratios), "gap_median": round(statistics.median(ratios), 6),
            "gap_worst": round(max(ratios), 6),
            "heuristic_beat_milp": sum(r < 1 - 1e-6 for r in ratios)}


def bench(sizes: list[int], n_jobs: int, milp_jobs: dict[int, int]) -> dict[str, object]:
    rows: dict[str, object] = {}
    for size in sizes:
        states = population(size, seed=size)
        place(jobs("batch", 1, 0)[0], states)  # warm the replication-rate cache and scipy
        for family in ("batch", "small"):
            js = jobs(family, n_jobs, seed=7)
            greedy_rate, greedy = _run(js, states, "heuristic")
            row: dict[str, object] = {"jobs": n_jobs,
                                      "placed": sum(d is not None for d in greedy),
                                      "heuristic_per_s": round(greedy_rate, 2)}
            if (k := milp_jobs.get(size, n_jobs)) > 0:
                milp_rate, exact = _run(js[:k], states, "exact")
                row |= {"milp_jobs": k, "milp_per_s": round(milp_rate, 2)}
                row |= _gap(greedy[:k], exact)
            rows[f"{size}/{family}"] = row
            print(f"  {size:>6,} providers, {family:>5} jobs: {row}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "placement.json")
    args = parser.parse_args()
    # The MILP takes about a second at 10,000 providers: fewer jobs there.
    n_jobs, milp_jobs = (20, {10_000: 0}) if args.quick else (60, {10_000: 25})
    print("placement decisions (parallel jobs):", flush=True)
    rows = bench([100, 1_000, 10_000], n_jobs, milp_jobs)
    result = {"machine": {"python": platform.python_version(), "cpu": platform.machine(),
                          "numpy": np.__version__, "scipy": version("scipy")},
              "quick": args.quick, "providers": rows}
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'providers/jobs':>15} {'heuristic/s':>12} {'MILP/s':>8} {'gap median':>11} "
          f"{'gap worst':>10} {'compared':>9}")
    for key, row in rows.items():
        r: dict[str, object] = row  # type: ignore[assignment]
        print(f"{key:>15} {r['heuristic_per_s']:>12} {r.get('milp_per_s', '-'):>8} "
              f"{r.get('gap_median', '-'):>11} {r.get('gap_worst', '-'):>10} "
              f"{r.get('compared', '-'):>9}")
    if not args.quick:
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
