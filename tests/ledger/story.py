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
    """Append one of every entry kind, in a plausible order; return the ids used."""
    op, alice, bob, carol = cast.operator, cast.alice, cast.bob, cast.carol
    register(ledger, alice, bob, carol)
    e = Entry.create
    ledger.append([
        e(op, cr.Mint(to=alice.did, amount=cr.micro(100))),
        e(op, cr.Mint(to=bob.did, amount=cr.micro(10))),
        e(alice, cr.Transfer(to=carol.did, amount=cr.micro(1), memo="thanks")),
        e(bob, cr.Escrow(escrow_id="stake-bob", amount=cr.micro(5), arbiter=op.did,
                         purpose="provider stake")),
        e(bob, jb.ProviderRegister(profile={"device": "cpu", "price_per_device_hour": 0.1})),
    ])
    batch_cid = cid_for(b"carol's records")
    ledger.append([
        e(carol, ds.Contribute(dataset="digits", batch_cid=batch_cid, records=10,
                               root="ab" * 32)),
        e(carol, ds.DatasetPublish(name="digits", version=1, manifest_cid=cid_for(b"manifest"),
                                   root="cd" * 32, records=10, contributions=[batch_cid])),
    ])
    artifact = cid_for(b"model weights")
    ledger.append([
        e(alice, cr.Escrow(escrow_id="job-1", amount=cr.micro(20), arbiter=op.did)),
        e(alice, jb.JobSubmit(job_id="job-1", task="train.supervised",
                              spec={"dataset": "digits@1"}, escrow_id="job-1")),
        e(alice, jb.JobPlace(job_id="job-1", provider=bob.did)),
    ])
    ledger.append([e(bob, jb.JobReceipt(job_id="job-1", inputs=[cid_for(b"manifest")],
                                        outputs=[artifact], metrics={"accuracy": 0.9}))])
    ledger.append([
        e(alice, cr.Release(escrow_id="job-1", to=bob.did, amount=cr.micro(15))),
        e(alice, cr.Release(escrow_id="job-1", to=alice.did, amount=cr.micro(5))),
        e(alice, jb.JobSettle(job_id="job-1")),
        e(op, cr.Slash(escrow_id="stake-bob", to=alice.did, amount=cr.micro(1),
                       reason="late delivery")),
        e(alice, md.ModelRegister(model_id="digits-mlp", artifact_cid=artifact,
                                  lineage=md.Lineage(dataset="digits@1", dataset_root="cd" * 32,
                                                     job_id="job-1"),
                                  metrics={"accuracy": 0.9})),
    ])
    return {"artifact": artifact, "batch": batch_cid}
