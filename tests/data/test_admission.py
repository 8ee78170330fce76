"""Admission end to end on a real ledger: signed batches, gates, reports, versions, refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from plexnet.core import canonical
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.errors import SignatureError
from plexnet.core.identity import Identity
from plexnet.data import AdmissionError, IntegrityError, Records, Schema, SchemaError, contribute
from plexnet.data.admission import Policy, admit, contributor_reputation, judge, verify_report
from plexnet.data.dataset import load_records
from plexnet.data.gates.base import Finding, Gate, GateContext, GateResult
from plexnet.data.shard import write_shard
from plexnet.ledger import Entry, EntryRejected, Ledger, merkle, verify_ledger
from plexnet.ledger.kinds.datasets import Contribute
from plexnet.ledger.kinds.identity import IdentityRegister

SCHEMA = Schema(kind="image", shape=[2, 2], labels=["a", "b"], value_range=(0, 16))


@dataclass(frozen=True)
class Threshold(Gate):
    """Test gate at the declared plug-in point: reject records whose first pixel
    exceeds ``reject_above``; flag those above ``flag_above``."""

    name = "test.threshold"
    reject_above: float = 12.0
    flag_above: float = 8.0

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        first = batch.x[:, 0]
        findings = [Finding(i, "reject", "too bright", float(v)) if v > self.reject_above
                    else Finding(i, "flag", "rather bright", float(v))
                    for i, v in enumerate(first) if v > self.flag_above]
        seen = 0 if ctx.existing is None else len(ctx.existing)
        return GateResult(self.name, tuple(findings), {"existing": seen})


@pytest.fixture
def world(tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    operator = Identity.generate("op")
    ledger = Ledger.create(connect(f"sqlite:///{tmp_path / 'ledger.db'}"), operator)
    people = {n: Identity.generate(n) for n in ("curator", "alice", "bob")}
    ledger.append([Entry.create(p, IdentityRegister(did=p.did, name=n))
                   for n, p in people.items()])
    return ledger, blobs, people


def _batch(first_pixels, label=0):
    x = np.zeros((len(first_pixels), 4))
    x[:, 0] = first_pixels
    x[:, 1] = np.arange(len(first_pixels))  # distinct records
    return Records.make(np.full(len(first_pixels), label), x=x)


def test_admission_accepts_flags_rejects_and_publishes(world):
    ledger, blobs, people = world
    _, a = contribute(people["alice"], blobs, "toy", SCHEMA, _batch([1, 2, 9, 13]))
    _, b = contribute(people["bob"], blobs, "toy", SCHEMA, _batch([3, 14, 4]), license_="CC0-1.0")
    ledger.append([a, b])
    result = admit(people["curator"], blobs, "toy", [a, b], schema=SCHEMA, license_="CC-BY-4.0",
                   policy=Policy((Threshold(),)))
    assert [v.decisions for v in result.verdicts] == [
        ("accepted", "accepted", "flagged", "rejected"), ("accepted", "rejected", "accepted")]
    assert result.counts() == {"accepted": 4, "flagged": 1, "rejected": 2}
    ledger.append(list(result.entries))
    row = ledger.row("datasets", "toy@1")
    assert row["records"] == 4 and json.loads(row["contributors"]) == {
        people["alice"].did: 2, people["bob"].did: 2}
    assert ledger.row("contributions", a.body["batch_cid"])["flagged"] == 1
    assert ledger.row("contributors", people["bob"].did)["rejected"] == 1
    # the second batch was judged with the first batch's accepted records as context
    assert result.reports[1]["gates"][0]["stats"] == {"existing": 2}
    # reports are signed by the curator, stored, and their CIDs are on the ledger
    report = canonical.loads(blobs.get(result.report_cids[0]))
    verify_report(report)
    assert report["records"][1]["reasons"][0]["reason"] == "too bright"
    assert ledger.row("contributions", a.body["batch_cid"])["report_cid"] == result.report_cids[0]
    # each accepted record proves into the root the ledger holds
    records, manifest = load_records(blobs, result.manifest_cid)
    assert manifest.root == row["root"] and len(records) == 4
    for i, leaf in enumerate(records.leaf_hashes()):
        merkle.verify_inclusion(leaf, i, 4, merkle.inclusion_proof(records.leaf_hashes(), i),
                                bytes.fromhex(row["root"]))
    alice = ledger.row("contributors", people["alice"].did)
    assert contributor_reputation(alice).mean == 0.6  # Beta(1 + 2 accepted, 1 + 1 rejected)
    verify_ledger(ledger.engine, raise_on_problem=True)


def test_version_two_extends_version_one(world):
    ledger, blobs, people = world
    _, a = contribute(people["alice"], blobs, "toy", SCHEMA, _batch([1, 2]))
    ledger.append([a])
    first = admit(people["curator"], blobs, "toy", [a], schema=SCHEMA, license_="CC-BY-4.0",
                  policy=Policy(()))
    ledger.append(list(first.entries))
    _, b = contribute(people["bob"], blobs, "toy", SCHEMA, _batch([5, 6, 7], label=1))
    ledger.append([b])
    second = admit(people["curator"], blobs, "toy", [b], schema=SCHEMA, license_="CC-BY-4.0",
                   policy=Policy((Threshold(),)), base=first.manifest_cid)
    ledger.append(list(second.entries))
    assert second.manifest.version == 2 and second.manifest.parents == ["toy@1"]
    assert second.manifest.leaves[:2] == first.manifest.leaves
    assert second.reports[0]["base"] == "toy@1"
    # only the curator of toy may admit into it, and a batch is admitted once
    _, c = contribute(people["alice"], blobs, "toy", SCHEMA, _batch([1]))
    ledger.append([c])
    stranger = admit(people["alice"], blobs, "toy", [c], schema=SCHEMA, license_="CC-BY-4.0",
                     policy=Policy(()), base=second.manifest_cid)
    with pytest.raises(EntryRejected, match="curated by"):
        ledger.append(list(stranger.entries))
    with pytest.raises(EntryRejected, match="already admitted"):
        ledger.append(list(admit(people["curator"], blobs, "toy", [b], schema=SCHEMA,
                                 license_="CC-BY-4.0", policy=Policy(()),
                                 base=second.manifest_cid).entries))


def test_forged_and_tampered_batches_are_refused(world):
    _ledger, blobs, people = world
    alice, bob = people["alice"], people["bob"]
    _, good = contribute(alice, blobs, "toy", SCHEMA, _batch([1, 2]))
    forged = Entry.model_validate({**good.model_dump(), "signer": bob.did})
    with pytest.raises(AdmissionError, match="batch refused"):
        admit(people["curator"], blobs, "toy", [forged], schema=SCHEMA, license_="CC-BY-4.0",
              policy=Policy(()))
    unsigned = Entry.model_validate({**good.model_dump(), "sig": "A" * 86})
    with pytest.raises(AdmissionError, match="batch refused"):
        admit(people["curator"], blobs, "toy", [unsigned], schema=SCHEMA,
              license_="CC-BY-4.0", policy=Policy(()))
    # an entry whose root does not match the stored records
    other = write_shard(_batch([3, 4]).signed_by(alice.did))
    cid = blobs.put(other.data)
    lying = Entry.create(alice, Contribute(dataset="toy", batch_cid=cid, records=2,
                                           root="ab" * 32))
    with pytest.raises(IntegrityError):
        admit(people["curator"], blobs, "toy", [lying], schema=SCHEMA, license_="CC-BY-4.0",
              policy=Policy(()))
    # records signed in as someone else's
    theirs = write_shard(_batch([3, 4]).signed_by(bob.did))
    cid = blobs.put(theirs.data)
    stolen = Entry.create(alice, Contribute(dataset="toy", batch_cid=cid, records=2,
                                            root=theirs.root.hex()))
    with pytest.raises(AdmissionError, match="signed by"):
        admit(people["curator"], blobs, "toy", [stolen], schema=SCHEMA, license_="CC-BY-4.0",
              policy=Policy(()))
    with pytest.raises(AdmissionError, match="not 'other'"):
        admit(people["curator"], blobs, "other", [good], schema=SCHEMA, license_="CC-BY-4.0",
              policy=Policy(()))


def test_a_batch_that_breaks_the_schema_admits_nothing(world):
    ledger, blobs, people = world
    _, good = contribute(people["alice"], blobs, "toy", SCHEMA, _batch([1, 2]))
    wide = Schema(kind="image", shape=[2, 2], labels=["a", "b", "c"], value_range=(0, 16))
    _, other_schema = contribute(people["bob"], blobs, "toy", wide, _batch([1, 2], label=2))
    # a batch that names no schema, whose records break the dataset's
    shard = write_shard(_batch([1, 3], label=2).signed_by(people["bob"].did))
    raw = Entry.create(people["bob"], Contribute(dataset="toy", batch_cid=blobs.put(shard.data),
                                                 records=2, root=shard.root.hex()))
    ledger.append([good, other_schema, raw])
    with pytest.raises(AdmissionError, match="follows schema"):
        admit(people["curator"], blobs, "toy", [good, other_schema], schema=SCHEMA,
              license_="CC-BY-4.0", policy=Policy((Threshold(),)))
    with pytest.raises(SchemaError, match="label space"):
        admit(people["curator"], blobs, "toy", [good, raw], schema=SCHEMA,
              license_="CC-BY-4.0", policy=Policy((Threshold(),)))
    assert ledger.row("contributions", good.body["batch_cid"])["status"] == "pending"
    assert ledger.row("datasets", "toy@1") is None


def test_a_report_that_was_changed_does_not_verify(world):
    _ledger, blobs, people = world
    _, a = contribute(people["alice"], blobs, "toy", SCHEMA, _batch([13]))
    result = admit(people["curator"], blobs, "toy", [a], schema=SCHEMA, license_="CC-BY-4.0",
                   policy=Policy((Threshold(),)))
    assert result.manifest is None and len(result.entries) == 1  # nothing accepted: no version
    report = dict(result.reports[0])
    report["counts"] = {"accepted": 1, "flagged": 0, "rejected": 0}
    with pytest.raises(SignatureError):
        verify_report(report)


def test_judge_is_pure_and_reports_gate_bugs():
    @dataclass(frozen=True)
    class Wild(Gate):
        name = "test.wild"

        def check(self, batch, ctx):
            return GateResult(self.name, (Finding(len(batch), "reject", "off the end"),))

    batch = _batch([1, 9])
    ctx = GateContext(schema=SCHEMA)
    first = judge(batch, ctx, Policy((Threshold(),)))
    assert first.decisions == judge(batch, ctx, Policy((Threshold(),))).decisions
    from plexnet.data.errors import GateError

    with pytest.raises(GateError, match="reported record 2"):
        judge(batch, ctx, Policy((Wild(),)))
