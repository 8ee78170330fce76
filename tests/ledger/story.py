"""Helpers that build ledgers for tests: register people, and a story using every entry kind."""

from __future__ import annotations

from dataclasses import dataclass

from plexnet.core.cid import cid_for
from plexnet.core.identity import Identity
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds import datasets as ds
from plexnet.ledger.kinds import jobs as jb
from plexnet.ledger.kinds import models as md
from plexnet.ledger.kinds.identity import IdentityRegister


@dataclass
class Cast:
    operator: Identity
    alice: Identity      # requester
    bob: Identity        # provider
    carol: Identity      # contributor and publisher


def register(ledger: Ledger, *people: Identity) -> None:
    ledger.append([Entry.create(p, IdentityRegister(did=p.did, name=p.name)) for p in people])


def story(ledger: Ledger, cast: Cast) -> dict[str, str]:
    """Append one of every entry kind, in a plausible order; return the ids used.

    bob and carol are providers. job-1 has two units: bob does both; carol
    replicates both; she agrees on unit 0 and is caught faking unit 1, is slashed
    and not paid for it. job-2 is placed on carol, who vanishes; it fails and is
    refunded.
    """
    op, alice, bob, carol = cast.operator, cast.alice, cast.bob, cast.carol
    register(ledger, alice, bob, carol)
    e = Entry.create
    ledger.append([
        e(op, cr.Mint(to=alice.did, amount=cr.micro(100))),
        e(op, cr.Mint(to=bob.did, amount=cr.micro(10))),
        e(op, cr.Mint(to=carol.did, amount=cr.micro(10))),
        e(alice, cr.Transfer(to=carol.did, amount=cr.micro(1), memo="thanks")),
        e(bob, cr.Escrow(escrow_id="stake-bob", amount=cr.micro(5), arbiter=op.did,
                         purpose="provider stake")),
        e(carol, cr.Escrow(escrow_id="stake-carol", amount=cr.micro(5), arbiter=op.did,
                           purpose="provider stake")),
        e(bob, jb.ProviderRegister(profile={"device": "cpu", "price_per_device_hour": 0.1})),
        e(carol, jb.ProviderRegister(profile={"device": "gpu", "price_per_device_hour": 1.0})),
    ])
    batch_cid = cid_for(b"carol's records")
    ledger.append([
        e(carol, ds.Contribute(dataset="digits", batch_cid=batch_cid, records=10,
                               root="ab" * 32)),
        e(carol, ds.DataAdmit(batch_cid=batch_cid, report_cid=cid_for(b"gate report"),
                              accepted=10, flagged=0, rejected=0)),
        e(carol, ds.DatasetPublish(name="digits", version=1, manifest_cid=cid_for(b"manifest"),
                                   root="cd" * 32, records=10, contributions=[batch_cid],
                                   shares={carol.did: 10})),
    ])
    artifact, other, fake = cid_for(b"model weights"), cid_for(b"unit 1"), cid_for(b"fake")

    def attempt(unit: int, n: int, who: Identity, purpose: str) -> jb.AttemptSpec:
        return jb.AttemptSpec(unit=unit, attempt=n, provider=who.did, purpose=purpose,
                              price_micro=cr.micro(5))

    def receipt(who: Identity, job: str, unit: int, n: int, out: str) -> Entry:
        return e(who, jb.JobReceipt(job_id=job, unit=unit, attempt=n,
                                    inputs=[cid_for(b"manifest")], outputs=[out],
                                    metrics={"accuracy": 0.9}))

    ledger.append([
        e(alice, cr.Escrow(escrow_id="job-1", amount=cr.micro(25), arbiter=op.did)),
        e(alice, jb.JobSubmit(job_id="job-1", task="train.supervised",
                              spec={"dataset": "digits@1"}, escrow_id="job-1", units=2)),
        e(op, jb.JobPlace(job_id="job-1", attempts=[attempt(0, 0, bob, "primary"),
                                                    attempt(1, 0, bob, "primary")],
                          summary={"solver": "milp"})),
        e(op, jb.JobAssign(job_id="job-1", attempts=[attempt(0, 1, carol, "replica"),
                                                     attempt(1, 1, carol, "replica")])),
    ])
    ledger.append([receipt(bob, "job-1", 0, 0, artifact), receipt(bob, "job-1", 1, 0, other),
                   receipt(carol, "job-1", 0, 1, artifact), receipt(carol, "job-1", 1, 1, fake)])
    ledger.append([
        e(op, jb.JobComplete(job_id="job-1", results=[jb.UnitResult(unit=0, attempt=0),
                                                       jb.UnitResult(unit=1, attempt=0)])),
        e(op, jb.JobVerify(job_id="job-1", verdicts=[
            jb.Verdict(unit=0, attempt=0, verdict="ok"), jb.Verdict(unit=0, attempt=1,
                                                                    verdict="ok"),
            jb.Verdict(unit=1, attempt=0, verdict="accepted"),
            jb.Verdict(unit=1, attempt=1, verdict="bad")])),
        e(op, cr.Release(escrow_id="job-1", to=bob.did, amount=cr.micro(10),
                         attempts=["job-1/0/0", "job-1/1/0"])),
        e(op, cr.Release(escrow_id="job-1", to=carol.did, amount=cr.micro(5),
                         attempts=["job-1/0/1"])),
        e(op, cr.Release(escrow_id="job-1", to=alice.did, amount=cr.micro(10),
                         memo="refund")),
        e(alice, jb.JobSettle(job_id="job-1")),
        e(op, cr.Slash(escrow_id="stake-carol", to=alice.did, amount=cr.micro(1),
                       reason="faked unit 1 of job-1", attempt="job-1/1/1")),
        e(alice, md.ModelRegister(model_id="digits-mlp", artifact_cid=artifact,
                                  lineage=md.Lineage(dataset="digits@1", dataset_root="cd" * 32,
                                                     job_id="job-1"),
                                  metrics={"accuracy": 0.9},
                                  card=md.ModelCard(architecture={"arch": "mlp", "in": 64},
                                                    params=9610, tier="L0",
                                                    artifacts={"onnx": cid_for(b"onnx")}))),
    ])
    ledger.append([
        e(alice, cr.Escrow(escrow_id="job-2", amount=cr.micro(3), arbiter=op.did)),
        e(alice, jb.JobSubmit(job_id="job-2", task="infer.batch", spec={}, escrow_id="job-2")),
        e(op, jb.JobPlace(job_id="job-2", attempts=[attempt(0, 0, carol, "primary")])),
        e(op, jb.JobLost(job_id="job-2", attempts=[jb.UnitResult(unit=0, attempt=0)],
                         reason="provider vanished")),
        e(alice, jb.JobFail(job_id="job-2", reason="no provider delivered")),
        e(alice, cr.Release(escrow_id="job-2", to=alice.did, amount=cr.micro(3),
                            memo="refund")),
        e(alice, jb.JobSettle(job_id="job-2")),
        e(bob, jb.ProviderLeave(reason="going offline")),
    ])
    return {"artifact": artifact, "batch": batch_cid}
