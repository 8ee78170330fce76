"""Coupled jobs on a real Ray cluster: a gang trains, commits, is audited, survives churn, settles.

The gang task is the real ``train.supervised`` (models.distributed) on the digits
data that ships with scikit-learn; every run is checked against the ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn.datasets import load_digits

import plexnet.models.distributed  # noqa: F401  registers the train.supervised gang kind
from plexnet.compute import JobSpec, ProviderProfile
from plexnet.compute.cluster import LocalCluster
from plexnet.compute.coupled import GangReport, run_coupled_job
from plexnet.compute.gang import gang_mtbf_s, replay_segments, segment_steps
from plexnet.compute.job import VerificationPolicy, Workload
from plexnet.compute.placement import ProviderState
from plexnet.compute.runner import Faults
from plexnet.compute.settlement import Participant
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.keystore import Keystore
from plexnet.data import Records, Schema, publish
from plexnet.ledger import Entry, Ledger, verify_ledger
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds import jobs as jb
from plexnet.ledger.kinds.identity import IdentityRegister
from plexnet.models.mlp import load_mlp

NAMES = ("alpha", "beta", "gamma", "delta")


def _profile(name: str, price: float) -> ProviderProfile:
    return ProviderProfile(name=name, device_kind="cpu", device_model="test", peak_flops=1e10,
                           memory_gb=8, tier="fog", region="local", bandwidth_mbps=1000,
                           rtt_ms=1, price_per_device_hour=price, stake_micro=cr.micro(4),
                           reliability=0.99)


PROFILES = [_profile(n, p) for n, p in zip(NAMES, (0.10, 0.11, 0.12, 0.13), strict=True)]


@dataclass
class World:
    ledger: Ledger
    root: Path
    blobs: LocalBlobStore
    participants: list[Participant]
    requester: object
    operator: object
    dataset: str


def _world(root: Path) -> World:
    keys = Keystore(root / "keys")
    operator, requester = keys.create("operator"), keys.create("requester")
    ledger = Ledger.create(connect(f"sqlite:///{root / 'ledger.db'}"), operator)
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
    blobs = LocalBlobStore(root / "blobs")
    digits = load_digits()
    schema = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)])
    records = Records.make(digits.target, x=digits.data, contributor=requester.did)
    cid, _, _ = publish(requester, blobs, "digits", 1, schema, [(records, None)], "BSD-3-Clause")
    participants = [Participant(ProviderState(p), people[p.name].did, p.name,
                                f"stake-{p.name}") for p in PROFILES]
    return World(ledger, root, blobs, participants, requester, operator, cid)


def _job(world: World, job_id: str, epochs: int, hidden: list[int]) -> JobSpec:
    job = JobSpec(job_id=job_id, task="train.supervised", inputs=[world.dataset],
                  params={"epochs": epochs, "hidden": hidden, "batch_size": 64, "seed": 3},
                  workload=Workload(kind="coupled", units=2, steps=epochs * 24,
                                    sync_bytes_per_step=4 * 64 * hidden[0]),
                  flops=1e9 * epochs, deadline_s=600, budget_micro=cr.micro(5),
                  verification=VerificationPolicy(checkpoint_every_steps=8, audit_segments=2))
    world.ledger.append([
        Entry.create(world.requester, cr.Escrow(escrow_id=job_id, amount=job.budget_micro,
                                                arbiter=world.operator.did)),
        Entry.create(world.requester, jb.JobSubmit(job_id=job_id, task=job.task,
                                                   spec=job.model_dump(mode="json"),
                                                   escrow_id=job_id, units=2)),
    ])
    return job


def _run(world: World, job: JobSpec, **kw) -> GangReport:
    return run_coupled_job(job, world.participants, operator=world.operator,
                           requester_did=world.requester.did, escrow_id=job.job_id,
                           ledger=world.ledger, blob_root=world.root / "blobs",
                           keystore_root=world.root / "keys", seed=5, **kw)


def _check_ledger(world: World, job: JobSpec, report: GangReport) -> None:
    check = verify_ledger(world.ledger.engine)
    assert check.ok, check.problems
    assert check.balances == check.minted
    assert world.ledger.row("jobs", job.job_id)["status"] == "settled"
    assert world.ledger.balance(f"escrow:{job.job_id}") == 0
    for row in world.ledger.rows("attempts"):
        if row["paid_seq"] is not None:
            assert row["verdict"] in ("ok", "accepted")
    assert sum(report.paid_micro.values()) + report.refund_micro == job.budget_micro
    model = load_mlp(world.blobs.get(report.result[1]))
    assert model.config["hidden"] == job.params["hidden"]


def _receipts(world: World, job: JobSpec) -> dict[tuple[int, int], dict]:
    rows = [r for r in world.ledger.rows("attempts") if r["job_id"] == job.job_id]
    return {(r["unit"], r["attempt"]): world.ledger.get(r["receipt_seq"]).entry.body
            for r in rows if r["receipt_seq"] is not None}


def test_segment_length_follows_young_daly_within_bounds():
    mtbf = gang_mtbf_s([0.99, 0.99])
    assert mtbf == pytest.approx(-3600 / math.log(0.99) / 2)
    assert gang_mtbf_s([1.0, 1.0]) == math.inf
    # 1 ms steps, 10 ms checkpoints, MTBF 10 min: sqrt(2·0.01·600) ≈ 3.5 s ≈ 3,500 steps
    assert segment_steps(0.001, 0.01, 600, 100_000) == pytest.approx(3500, rel=0.05)
    assert segment_steps(0.001, 0.01, math.inf, 1_000) == 125  # at most 1/8 of the run
    assert segment_steps(1.0, 0.0, 600, 1_000) == 4            # at least 1/256 of it


@pytest.fixture(scope="class")
def cluster():
    with LocalCluster(PROFILES) as c:
        yield c


@pytest.fixture(scope="class")
def honest(cluster, tmp_path_factory):
    world = _world(tmp_path_factory.mktemp("honest"))
    job = _job(world, "gang-honest", epochs=4, hidden=[32])
    return world, job, _run(world, job)


@pytest.mark.ray
@pytest.mark.slow
class TestOnOneCluster:
    """Runs that leave the cluster whole share it; the churn test below kills a node."""

    def test_gang_trains_is_audited_and_settles(self, honest):
        world, job, report = honest
        _check_ledger(world, job, report)
        assert report.gangs == [("alpha", "beta")] and not report.caught
        assert report.useful_fraction == 1.0
        receipts = _receipts(world, job)
        assert set(receipts) == {(0, 0), (1, 0)}
        ranks = [receipts[(r, 0)]["metrics"] for r in (0, 1)]
        assert ranks[0]["checkpoints"] == ranks[1]["checkpoints"]  # replicas of one state
        assert ranks[0]["boundaries"][-1] == report.total_steps == 4 * 24
        assert len(ranks[0]["checkpoints"]) >= 8
        assert report.verifier in ("gamma", "delta") and len(report.audited) == 2
        assert {a.verdict for a in report.attempts} == {"ok"}
        assert ranks[0]["val_accuracy"] > 0.8

    def test_replayed_segment_reproduces_the_committed_checkpoint(self, honest):
        world, job, report = honest
        last = report.segments[-1]
        middle = report.segments[len(report.segments) // 2]
        ends = replay_segments(job.task, list(job.inputs), job.params, [middle, last], 2,
                               world.root / "blobs", PROFILES[3])
        assert ends == [middle.checkpoint, last.checkpoint]
        # and the committed bytes are there, content-addressed
        assert world.blobs.get(last.checkpoint)

    def test_byzantine_member_is_caught_slashed_and_the_gang_rerun(self, cluster, tmp_path):
        world = _world(tmp_path)
        job = _job(world, "gang-byzantine", epochs=4, hidden=[32])
        report = _run(world, job, faults=Faults(byzantine={"alpha": 1.0}))
        assert report.caught == ["alpha"]
        assert report.gangs[0] == ("alpha", "beta") and "alpha" not in report.gangs[1]
        _check_ledger(world, job, report)
        assert "alpha" not in report.paid_micro
        assert report.slashed_micro["alpha"] == cr.micro(2)
        verdicts = {(a.provider, a.attempt): a.verdict for a in report.attempts}
        assert verdicts[("alpha", 0)] == "bad" and verdicts[("beta", 0)] == "ok"
        alpha = world.ledger.row("providers", world.participants[0].did)
        assert alpha["verified_bad"] == 1
        assert world.ledger.balance("escrow:stake-alpha") == cr.micro(2)


@pytest.mark.ray
@pytest.mark.slow
def test_member_vanishing_mid_job_resumes_from_last_checkpoint(tmp_path):
    with LocalCluster(PROFILES) as cluster:
        world = _world(tmp_path)
        job = _job(world, "gang-churn", epochs=40, hidden=[256, 256])
        killed: list[int] = []

        def kill(members, step):
            if not killed and step >= 200:
                killed.append(step)
                cluster.remove(members[0])

        report = _run(world, job, kill=kill)
    assert report.lost_providers == ["alpha"]
    assert report.gangs[0] == ("alpha", "beta") and "alpha" not in report.gangs[1]
    _check_ledger(world, job, report)
    lost = [r for r in world.ledger.rows("attempts") if r["status"] == "lost"]
    assert {(r["unit"], r["attempt"]) for r in lost} == {(0, 0), (1, 0)}
    assert all(r["paid_seq"] is None for r in lost)
    resumed = _receipts(world, job)[(0, 1)]["metrics"]
    start = resumed["boundaries"][0]
    assert start >= killed[0]  # resumed from a checkpoint every rank committed, not step 0
    assert resumed["start_checkpoint"] == next(s.start for s in report.segments
                                               if s.start_step == start)
    assert report.total_steps < report.steps_run
    assert report.useful_fraction > 0.8
