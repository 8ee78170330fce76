"""Execution benchmark (not a test): plexnet jobs vs raw Ray tasks, and work lost to churn.

1. Overhead. The same work — N units of ``bench.matmul`` — run two ways on the
   same local Ray cluster of one provider node (one CPU), alternating and
   repeated: (a) raw Ray tasks pinned to the provider's custom resource,
   returning the product; (b) a plexnet parallel job with
   verification off (placement, signed receipts for every unit, the ledger
   entries, outputs in the blob store, settlement). Reported: units per second
   of each and the ratio plexnet/raw, for ~1-second units and for trivial ones.
   Goals: >= 0.9x for 1-second tasks, >= 0.5x for trivial ones.
2. Churn. A job of N units on three providers; one provider's node is killed
   after it delivers its first unit; the job re-runs its lost work elsewhere.
   Reported: the useful-compute fraction (useful work over useful plus work lost
   to the vanished node). Goal: >= 90%.

    python bench/execution.py           # about 5 minutes here
    python bench/execution.py --quick   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from plexnet.compute import JobSpec, ProviderProfile
from plexnet.compute.cluster import LocalCluster
from plexnet.compute.controller import run_parallel_job
from plexnet.compute.job import VerificationPolicy, Workload
from plexnet.compute.matmul import matmul_work
from plexnet.compute.placement import ProviderState
from plexnet.compute.settlement import Participant
from plexnet.core.database import connect
from plexnet.core.keystore import Keystore
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds import jobs as jb
from plexnet.ledger.kinds.identity import IdentityRegister

RESULTS = Path(__file__).parent / "results"


def _calibrated_flops() -> float:
    """This CPU's bench.matmul speed, as the peak a profile should claim (speed / MFU).

    Calibration is what bench.matmul is for: with the claimed peak matching what the
    node delivers, placement's time estimates — and so its deadlines — are right.
    """
    from plexnet.compute.placement import MFU

    n = 384
    return 2 * n**3 / matmul_seconds(n) / MFU


def _profile(name: str, price: float) -> ProviderProfile:
    return ProviderProfile(name=name, device_kind="cpu", device_model="bench",
                           peak_flops=_PEAK[0], memory_gb=8, tier="fog", region="local",
                           bandwidth_mbps=1000, rtt_ms=1, price_per_device_hour=price)


_PEAK = [1e10]


class World:
    """A ledger, keys and participants for one cluster of providers."""

    def __init__(self, root: Path, profiles: list[ProviderProfile]) -> None:
        self.root = root
        keys = Keystore(root / "keys")
        self.operator, self.requester = keys.create("operator"), keys.create("requester")
        self.ledger = Ledger.create(connect(f"sqlite:///{root / 'ledger.db'}"), self.operator)
        people = {p.name: keys.create(p.name) for p in profiles}
        self.ledger.append([Entry.create(i, IdentityRegister(did=i.did, name=i.name))
                            for i in (self.requester, *people.values())])
        self.ledger.append(
            [Entry.create(self.operator, cr.Mint(to=self.requester.did, amount=cr.micro(1e6)))]
            + [Entry.create(people[p.name], jb.ProviderRegister(profile=p.model_dump(mode="json")))
               for p in profiles])
        self.participants = [Participant(ProviderState(p), people[p.name].did, p.name)
                             for p in profiles]
        self.jobs = 0

    def run(self, n: int, units: int, replication: float = 0.0, kill: object = None) -> object:
        self.jobs += 1
        job = JobSpec(job_id=f"job-{self.jobs}", task="bench.matmul", params={"n": n},
                      workload=Workload(kind="parallel", units=units), flops=2.0 * n**3 * units,
                      deadline_s=3600, budget_micro=cr.micro(100),
                      verification=VerificationPolicy(replication=replication,
                                                      min_replication=replication))
        self.ledger.append([
            Entry.create(self.requester, cr.Escrow(escrow_id=job.job_id, amount=job.budget_micro,
                                                   arbiter=self.operator.did)),
            Entry.create(self.requester, jb.JobSubmit(job_id=job.job_id, task=job.task,
                                                      spec=job.model_dump(mode="json"),
                                                      escrow_id=job.job_id, units=units))])
        return run_parallel_job(job, self.participants, operator=self.operator,
                                requester_did=self.requester.did, escrow_id=job.job_id,
                                ledger=self.ledger, blob_root=self.root / "blobs",
                                keystore_root=self.root / "keys")


def _raw(profiles: list[ProviderProfile], n: int, units: int) -> float:
    import ray

    work = ray.remote(num_cpus=1)(lambda n, unit: matmul_work(n, 1, 0, unit).tobytes())
    began = time.perf_counter()
    refs = [work.options(resources={profiles[u % len(profiles)].resource: 0.01}).remote(n, u)
            for u in range(units)]
    ray.get(refs)
    return units / (time.perf_counter() - began)


def _plexnet(world: World, n: int, units: int) -> float:
    began = time.perf_counter()
    world.run(n, units)
    return units / (time.perf_counter() - began)


def overhead(root: Path, runs: int, cases: dict[str, tuple[int, int]]) -> dict[str, object]:
    # One provider node: both sides run the units one after another on the same CPU,
    # so the difference is plexnet's overhead and nothing else (with more nodes the
    # cheapest plexnet plan may use fewer of them than a round-robin baseline).
    profiles = [_profile("a", 0.1)]
    out: dict[str, object] = {}
    with LocalCluster(profiles):
        world = World(root / "overhead", profiles)
        for label, (n, units) in cases.items():
            _raw(profiles, n, 2)  # warm the workers (imports) before timing
            _plexnet(world, n, 2)
            raw, plex = [], []
            for run in range(runs):
                order = (("raw", "plexnet") if run % 2 == 0 else ("plexnet", "raw"))
                for side in order:
                    if side == "raw":
                        raw.append(_raw(profiles, n, units))
                    else:
                        plex.append(_plexnet(world, n, units))
            seconds = matmul_seconds(n)
            out[label] = {"n": n, "units": units, "unit_compute_s": round(seconds, 4),
                          "raw_units_per_s": round(statistics.median(raw), 3),
                          "plexnet_units_per_s": round(statistics.median(plex), 3),
                          "ratio": round(statistics.median(plex) / statistics.median(raw), 4),
                          "runs": {"raw": raw, "plexnet": plex}}
            print(f"  {label}: raw {out[label]['raw_units_per_s']}/s, plexnet "  # type: ignore[index]
                  f"{out[label]['plexnet_units_per_s']}/s, ratio {out[label]['ratio']}",  # type: ignore[index]
                  flush=True)
    return out


def matmul_seconds(n: int) -> float:
    began = time.perf_counter()
    matmul_work(n, 1, 0, 0)
    return time.perf_counter() - began


def churn(root: Path, runs: int, n: int, units: int) -> dict[str, object]:
    fractions = []
    for run in range(runs):
        profiles = [_profile(name, price) for name, price in
                    (("a", 0.10), ("b", 0.11), ("c", 0.12))]
        with LocalCluster(profiles) as cluster:
            world = World(root / f"churn-{run}", profiles)
            names = {p.did: p.name for p in world.participants}

            def pull_plug(world: World = world, cluster: LocalCluster = cluster,
                          names: dict[str, str] = names) -> None:
                # kill whichever provider delivers first: it is the one holding work
                while True:
                    done = [r for r in world.ledger.rows("attempts") if r["status"] == "done"]
                    if done:
                        cluster.remove(names[done[0]["provider"]])
                        return
                    time.sleep(0.02)

            killer = threading.Thread(target=pull_plug, daemon=True)
            killer.start()
            report = world.run(n, units)
            killer.join(timeout=30)
            fractions.append(report.churn_useful_fraction)  # type: ignore[attr-defined]
            print(f"  churn run {run + 1}: lost {report.lost_providers}, useful "  # type: ignore[attr-defined]
                  f"{fractions[-1]:.3f}", flush=True)
    return {"n": n, "units": units, "unit_compute_s": round(matmul_seconds(n), 4),
            "useful_fraction_median": round(statistics.median(fractions), 4),
            "useful_fraction_min": round(min(fractions), 4), "runs": fractions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "execution.json")
    args = parser.parse_args()
    one_second = 640  # n for ~1 s of integer matmul here (measured below and reported)
    cases = ({"1s": (256, 4), "trivial": (8, 8)} if args.quick
             else {"1s": (one_second, 12), "trivial": (8, 200)})
    _PEAK[0] = _calibrated_flops()
    with tempfile.TemporaryDirectory(prefix="plexnet-exec-") as tmp:
        print("overhead (units/s):", flush=True)
        over = overhead(Path(tmp), 2 if args.quick else args.runs, cases)
        print("churn:", flush=True)
        ch = churn(Path(tmp), 1 if args.quick else args.runs, 384 if args.quick else 512,
                   6 if args.quick else 18)
    result = {"overhead": over, "churn": ch, "quick": args.quick}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
