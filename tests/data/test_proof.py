"""Record proofs: built from a real ledger, checked with nothing but the proof itself."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.data import IntegrityError, Records, Schema, publish
from plexnet.data.proof import RecordProof, check_record_proof, prove_record
from plexnet.ledger import Entry, Ledger, NotFound, ProofError
from plexnet.ledger.kinds.identity import IdentityRegister

SCHEMA = Schema(kind="tabular", labels=["low", "high"], columns=[
    {"name": "a"}, {"name": "b"}, {"name": "city", "type": "string"}])


@pytest.fixture
def published(tmp_path):
    operator, alice = Identity.generate("op"), Identity.generate("alice")
    ledger = Ledger.create(connect(f"sqlite:///{tmp_path / 'l.db'}"), operator)
    ledger.append([Entry.create(alice, IdentityRegister(did=alice.did, name="alice"))])
    blobs = LocalBlobStore(tmp_path / "blobs")
    records = Records.make([0, 1, 1, 0, 1], x=np.arange(10).reshape(5, 2) / 4,
                           strings={"city": ["Oslo", "Lima", "Pune", "Kyiv", "Accra"]},
                           contributor=alice.did)
    _cid, manifest, entry = publish(alice, blobs, "towns", 1, SCHEMA, [(records, None)],
                                    "CC0-1.0")
    ledger.append([entry])
    later = Identity.generate("later")
    ledger.append([Entry.create(later, IdentityRegister(did=later.did, name="later"))])
    # the log moved on: the publish entry is proved under a later tree head
    return ledger, manifest, records, operator, alice


def test_a_proof_checks_offline(published):
    ledger, manifest, records, operator, alice = published
    proof = prove_record(ledger, manifest, 3, records.record_json()[3])
    again = RecordProof.model_validate_json(proof.model_dump_json())  # as a file would
    facts = check_record_proof(again, operator.did)
    assert facts["contributor"] == alice.did and facts["dataset"] == "towns@1"
    assert facts["provenance"] == "human" and '"city":"Kyiv"' in again.record


@pytest.mark.parametrize("tamper", ["record", "index", "root", "entry", "head", "path"])
def test_every_link_is_checked(published, tamper):
    ledger, manifest, records, operator, _ = published
    proof = prove_record(ledger, manifest, 1, records.record_json()[1])
    fields = proof.model_dump()
    if tamper == "record":
        fields["record"] = fields["record"].replace("Lima", "Rome")
    elif tamper == "index":
        fields["index"] = 2
    elif tamper == "root":
        fields["root"] = "00" * 32
    elif tamper == "entry":
        fields["publish_entry"] = base64.b64encode(b"{}").decode()
    elif tamper == "head":
        fields["head"]["root"] = "11" * 32
    else:
        fields["path"][0] = "22" * 32
    with pytest.raises(ProofError):
        check_record_proof(RecordProof.model_validate(fields), operator.did)


def test_another_operator_is_refused(published):
    ledger, manifest, records, _, _ = published
    proof = prove_record(ledger, manifest, 0, records.record_json()[0])
    with pytest.raises(ProofError):
        check_record_proof(proof, Identity.generate("mallory").did)


def test_bad_requests(published):
    ledger, manifest, records, _, _ = published
    with pytest.raises(NotFound):
        prove_record(ledger, manifest, 5, records.record_json()[0])
    with pytest.raises(IntegrityError, match="does not match"):
        prove_record(ledger, manifest, 0, records.record_json()[1])
