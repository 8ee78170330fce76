"""Entries on the wire: canonical bytes only, typed bodies, signatures bound to their domain."""

from __future__ import annotations

import json

import pytest

from plexnet.core import canonical
from plexnet.core.identity import Identity
from plexnet.ledger import Entry, EntryRejected
from plexnet.ledger.entry import kinds, new_nonce
from plexnet.ledger.kinds.credits import Transfer
from plexnet.ledger.treehead import STH_DOMAIN


@pytest.fixture
def entry():
    alice, bob = Identity.generate("alice"), Identity.generate("bob")
    return Entry.create(alice, Transfer(to=bob.did, amount=5, memo="héllo \"quoted\""))


def test_bytes_are_the_canonical_serialization_and_round_trip(entry):
    data = entry.to_bytes()
    assert data == canonical.dumps(entry.model_dump(mode="json"))  # the splice is exact
    again = Entry.from_bytes(data)
    assert again.model_dump() == entry.model_dump() and again.to_bytes() == data


def test_non_canonical_bytes_are_rejected(entry):
    pretty = json.dumps(entry.model_dump(mode="json"), indent=2).encode()
    with pytest.raises(EntryRejected, match="not canonical"):
        Entry.from_bytes(pretty)
    with pytest.raises(EntryRejected, match="not canonical"):
        Entry.from_bytes(entry.to_bytes() + b" ")
    with pytest.raises(EntryRejected, match="not canonical"):
        Entry.from_bytes(b'{"a":1,"a":2}')


@pytest.mark.parametrize(("change", "match"), [
    ({"v": 2}, "v"),
    ({"kind": "credit.counterfeit"}, "unknown entry kind"),
    ({"extra": 1}, "extra"),
    ({"nonce": "xyz"}, "nonce"),
    ({"time_ms": -1}, "time_ms"),
    ({"signer": "did:key:zNotAKey"}, "signer"),
    ({"body": {"to": "did:key:z6Mk", "amount": 5}}, "to"),
    ({"body": {"amount": "5"}}, "amount"),
    ({"body": {"amount": -5}}, "amount"),
    ({"body": {"amount": 5.5}}, "amount"),
    ({"body": {"amount": 5, "sneaky": True}}, "sneaky"),
])
def test_malformed_entries_are_rejected_with_the_field_named(entry, change, match):
    value = entry.model_dump(mode="json")
    for key, new in change.items():
        if key == "body":
            value["body"] = {**value["body"], **new}
        else:
            value[key] = new
    with pytest.raises(EntryRejected, match=match):
        Entry.from_bytes(canonical.dumps(value))


def test_a_signature_from_another_domain_does_not_transfer(entry):
    alice = Identity.generate("alice")
    unsigned = {k: v for k, v in entry.model_dump(mode="json").items() if k != "sig"}
    unsigned["signer"] = alice.did
    forged = {**unsigned, "sig": alice.sign_json(STH_DOMAIN, unsigned)}
    with pytest.raises(EntryRejected, match="forged"):
        Entry.from_bytes(canonical.dumps(forged))


def test_nonces_are_unique_and_time_ordered():
    nonces = [new_nonce() for _ in range(1000)]
    assert len(set(nonces)) == 1000
    assert [n[:16] for n in nonces] == sorted(n[:16] for n in nonces)


def test_every_spine_kind_is_registered():
    assert set(kinds()) >= {
        "ledger.genesis", "identity.register", "credit.mint", "credit.transfer",
        "credit.escrow", "credit.release", "credit.slash", "provider.register",
        "provider.leave", "job.submit", "job.place", "job.receipt", "job.settle", "job.fail",
        "data.contribute", "dataset.publish", "model.register"}


def test_a_changed_copy_is_verified_afresh(entry):
    entry.verify()
    entry.to_bytes()
    forged = entry.model_copy(update={"body": {**entry.body, "amount": 500}})
    assert forged.to_bytes() != entry.to_bytes()
    with pytest.raises(EntryRejected, match="forged"):
        forged.verify()
