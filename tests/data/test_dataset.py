"""Datasets: shards with Merkle roots, manifests, record proofs, versions, integrity checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.identity import Identity
from plexnet.data import (
    IntegrityError,
    Records,
    Schema,
    SchemaError,
    contribute,
    load_arrays,
    load_records,
    parse_ref,
    publish,
    record_proof,
    version_consistency,
)
from plexnet.data.shard import read_shard, write_shard
from plexnet.ledger import merkle

SCHEMA = Schema(kind="image", shape=[3, 1], labels=["no", "yes"], value_range=(0, 16))


def _records(n, seed=0, by="did:key:z6Mktest"):
    rng = np.random.default_rng(seed)
    return Records.make(rng.integers(0, 2, size=n), x=rng.integers(0, 16, size=(n, 3)),
                        contributor=by)


def test_shard_round_trip_is_reproducible():
    records = _records(50)
    a, b = write_shard(records), write_shard(records)
    assert a.data == b.data and a.root == b.root  # same records, same CID
    back = read_shard(a.data, a.root)
    assert np.array_equal(back.x, records.x) and np.array_equal(back.y, records.y)
    assert back.contributor == records.contributor and back.provenance == records.provenance
    assert a.root == merkle.root(records.leaf_hashes())


def test_publish_load_and_prove(tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    alice, bob = Identity.generate("alice"), Identity.generate("bob")
    parts = [(_records(20, 1, alice.did), None), (_records(20, 2, bob.did), None)]
    cid, manifest, entry = publish(alice, blobs, "toy", 1, SCHEMA, parts, "CC0-1.0")
    assert entry.body["shares"] == {alice.did: 20, bob.did: 20}
    assert manifest.shares == {alice.did: 20, bob.did: 20}
    records, loaded = load_records(blobs, cid)
    assert len(records) == 40 and loaded == manifest
    x, y, _ = load_arrays(blobs, cid)
    assert x.shape == (40, 3) and len(y) == 40
    for index in (0, 19, 20, 39):  # each contributor can prove their records are in v1
        merkle.verify_inclusion(bytes.fromhex(manifest.leaves[index]), index, 40,
                                record_proof(manifest, index), bytes.fromhex(manifest.root))


def test_versions_only_grow_and_prove_it(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    alice = Identity.generate("alice")
    _, v1, _ = publish(alice, blobs, "toy", 1, SCHEMA, [(_records(10, 1, alice.did), None)],
                       "CC0-1.0")
    _, v2, entry = publish(alice, blobs, "toy", 2, SCHEMA, [(_records(5, 2, alice.did), None)],
                           "CC0-1.0", base=v1)
    assert v2.leaves[:10] == v1.leaves and v2.parents == ["toy@1"]
    assert entry.body["parents"] == ["toy@1"] and v2.shares == {alice.did: 15}
    proof = version_consistency(v1, v2)
    merkle.verify_consistency(10, 15, bytes.fromhex(v1.root), bytes.fromhex(v2.root), proof)
    _, other, _ = publish(alice, blobs, "other", 1, SCHEMA, [(_records(12, 3, alice.did), None)],
                          "CC0-1.0")
    with pytest.raises(IntegrityError, match="does not extend"):
        version_consistency(v1, other)


def test_tampered_shard_is_caught(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    _cid, entry = contribute(Identity.generate("a"), blobs, "toy", SCHEMA, _records(10))
    forged = write_shard(_records(10, seed=9))
    with pytest.raises(IntegrityError):
        read_shard(forged.data, bytes.fromhex(entry.body["root"]))
    with pytest.raises(IntegrityError, match="not a readable record shard"):
        read_shard(b"not parquet at all")


def test_contribution_is_signed_by_and_attributed_to_the_contributor(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    carol = Identity.generate("carol")
    cid, entry = contribute(carol, blobs, "toy", SCHEMA, _records(4, by="someone else"),
                            license_="CC-BY-4.0")
    entry.verify()
    assert entry.signer == carol.did and entry.body["license"] == "CC-BY-4.0"
    assert set(read_shard(blobs.get(cid)).contributor) == {carol.did}
    assert json.loads(read_shard(blobs.get(cid)).record_json()[0])["by"] == carol.did


@pytest.mark.parametrize(("x", "y", "match"), [
    (np.zeros((4, 2)), np.zeros(4, dtype=int), "schema wants"),
    (np.zeros((4, 3)), np.array([0, 1, 2, 0]), "label space"),
    (np.full((4, 3), np.nan), np.zeros(4, dtype=int), "NaN"),
    (np.full((4, 3), 17.0), np.zeros(4, dtype=int), "outside the schema's range"),
])
def test_schema_violations_store_nothing(tmp_path, x, y, match):
    blobs = LocalBlobStore(tmp_path)
    with pytest.raises(SchemaError, match=match):
        contribute(Identity.generate("a"), blobs, "toy", SCHEMA, Records.make(y, x=x))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("ref", ["digits", "digits@", "digits@0", "@1", "digits@x"])
def test_bad_dataset_refs(ref):
    with pytest.raises(SchemaError, match="NAME@VERSION"):
        parse_ref(ref)
    assert parse_ref("digits@12") == ("digits", 12)
