"""Parallel jobs end to end on a real Ray cluster: verification, byzantine providers, churn.

Every run is checked against the ledger: balances sum to what was minted, only
verified attempts were paid, each at most once, and `ledger verify` replays clean.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from plexnet.compute import JobSpec, ProviderProfile
from plexnet.compute.cluster import LocalCluster
from plexnet.compute.controller import run_parallel_job
from plexnet.compute.job import VerificationPolicy, Workload
from plexnet.compute.matmul import matmul_work
from plexnet.compute.placement import ProviderState
from plexnet.compute.runner import Faults
from plexnet.compute.settlement import Participant
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.keystore import Keystore
from plexnet.ledger import Entry, Ledger, verify_ledger
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds import jobs as jb
from plexnet.ledger.kinds.identity import IdentityRegister

pytestmark = [pytest.mark.ray, pytest.mark.slow]

NAMES = ("alpha", "beta", "gamma", "delta")


def _profile(name: str, price: float) -> ProviderProfile:
    return ProviderProfile(name=name, device_kind="cpu", device_model="test", peak_flops=1e10,
                           memory_gb=8, tier="fog", region="local", bandwidth_mbps=1000,
                           rtt_ms=1, price_per_device_hour=price, stake_micro=cr.micro(4))


PROFILES = [_profile(n, p) for n, p in zip(NAMES, (0.10, 0.11, 0.12, 0.13), strict=True)]


@dataclass
class World:
    ledger: Ledger
    keys: Keystore
    blobs: LocalBlobStore
    root: Path
    participants: list[Participant]
    requester: object
    operator: object


def _world(tmp_path: Path) -> World:
    keys = Keystore(tmp_path / "keys")
    operator, requester = keys.create("operator"), keys.create("requester")
    ledger = Ledger.create(connect(f"sqlite:///{tmp_path / 'ledger.db'}"), operator)
    people = {p.name: keys.create(p.name) for p in PROFILES}
    ledger.append([Entry.create(i, IdentityRegister(did=i.did, name=i.name))
                   for i in (requester, *people.values())])
    batch = [Entry.create(operator, cr.Mint(to=requester.did, amount=cr.micro(100)))]
    for p in PROFILES:
        me = people[p.name]
        batch += [Entry.create(operator, cr.Mint(to=me.did, amount=cr.micro(10))),
                  Entry.create(me, cr.Escrow(escrow_id=f"stake-{p.name}", amount=p.stake_micro,
                                             arbiter=operator.did)),
                  Entry.create(me, jb.ProviderRegister(profile=p.model_dump(mode="json")))]
    ledger.append(batch)
    participants = [Participant(ProviderState(p), people[p.name].did, p.name,
                                f"stake-{p.name}") for p in PROFILES]
    return World(ledger, keys, LocalBlobStore(tmp_path / "blobs"), tmp_path, participants,
                 requester, operator)


def _submit(world: World, job: JobSpec) -> None:
    world.ledger.append([
        Entry.create(world.requester, cr.Escrow(escrow_id=job.job_id, amount=job.budget_micro,
                                                arbiter=world.operator.did)),
        Entry.create(world.requester, jb.JobSubmit(job_id=job.job_id, task=job.task,
                                                   spec=job.model_dump(mode="json"),
                                                   escrow_id=job.job_id,
                                                   units=job.workload.units)),
    ])


def _job(job_id: str, units: int, n: int = 96, repeats: int = 1,
         replication: float = 0.5) -> JobSpec:
    return JobSpec(job_id=job_id, task="bench.matmul", params={"n": n, "repeats": repeats},
                   workload=Workload(kind="parallel", units=units), flops=2 * n**3 * units,
                   deadline_s=300, budget_micro=cr.micro(5),
                   verification=VerificationPolicy(replication=replication,
                                                   min_replication=replication))


def _run(world: World, job: JobSpec, faults: Faults | None = None, seed: int = 1):
    _submit(world, job)
    return run_parallel_job(job, world.participants, operator=world.operator,
                            requester_did=world.requester.did, escrow_id=job.job_id,
                            ledger=world.ledger, blob_root=world.root / "blobs",
                            keystore_root=world.root / "keys", faults=faults, seed=seed)


def _check_ledger(world: World, job: JobSpec) -> None:
    report = verify_ledger(world.ledger.engine)
    assert report.ok, report.problems
    assert report.balances == report.minted
    assert world.ledger.row("jobs", job.job_id)["status"] == "settled"
    assert world.ledger.balance(f"escrow:{job.job_id}") == 0
    for row in world.ledger.rows("attempts"):
        if row["paid_seq"] is not None:
            assert row["verdict"] in ("ok", "accepted")


def _check_results(world: World, report, job: JobSpec) -> None:
    for unit, outputs in report.results.items():
        (cid,) = outputs
        want = matmul_work(job.params["n"], job.params["repeats"], 0, unit)
        assert world.blobs.get(cid) == want.astype("<i8").tobytes()


@pytest.fixture(scope="class")
def cluster():
    with LocalCluster(PROFILES) as c:
        yield c


class TestOnOneCluster:
    """Runs that leave the cluster whole share it (the churn test kills a node: its own)."""

    def test_honest_job_is_verified_and_paid(self, cluster, tmp_path):
        _honest(tmp_path)

    def test_byzantine_provider_is_caught_slashed_and_not_paid(self, cluster, tmp_path):
        _byzantine(tmp_path)


def _honest(tmp_path):
    world = _world(tmp_path)
    job = _job("honest", units=8)
    report = _run(world, job)
    _check_results(world, report, job)
    _check_ledger(world, job)
    assert not report.caught and not report.lost_providers
    verdicts = {a.verdict for a in report.attempts}
    assert "ok" in verdicts and "bad" not in verdicts  # replicas agreed
    assert sum(report.paid_micro.values()) + report.refund_micro == job.budget_micro


def _byzantine(tmp_path):
    world = _world(tmp_path)
    job = _job("byzantine", units=8, replication=1.0)  # check everything
    liar = "alpha"  # the cheapest, so it gets work
    report = _run(world, job, faults=Faults(byzantine={liar: 1.0}))
    assert report.caught == [liar]
    _check_results(world, report, job)   # every accepted result is the true product
    _check_ledger(world, job)
    assert liar not in report.paid_micro
    assert report.slashed_micro[liar] == cr.micro(2)
    liar_did = world.participants[0].did
    row = world.ledger.row("providers", liar_did)
    assert row["verified_bad"] >= 1
    assert world.ledger.balance(f"escrow:stake-{liar}") == cr.micro(2)


def test_provider_vanishing_mid_job_loses_nothing_and_is_not_paid_twice(tmp_path):
    profiles = PROFILES[:3]
    with LocalCluster(profiles) as cluster:
        world = _world(tmp_path)
        world.participants = world.participants[:3]
        job = _job("churn", units=9, n=256, repeats=6, replication=0.0)
        victim = "alpha"

        def kill_later() -> None:
            # wait until the victim has delivered something, then pull its plug
            for _ in range(600):
                if any(r["status"] == "done" and r["provider"] == world.participants[0].did
                       for r in world.ledger.rows("attempts")):
                    break
                time.sleep(0.05)
            cluster.remove(victim)

        killer = threading.Thread(target=kill_later)
        killer.start()
        report = _run(world, job)
        killer.join()
    assert victim in report.lost_providers
    _check_results(world, report, job)
    _check_ledger(world, job)
    lost = [r for r in world.ledger.rows("attempts") if r["status"] == "lost"]
    assert lost and all(r["paid_seq"] is None for r in lost)
    assert all(a.status == "done" for a in report.attempts if a.purpose == "rerun")
    assert 0 < report.churn_useful_fraction <= 1
    assert np.isfinite(report.useful_fraction)
