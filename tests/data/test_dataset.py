"""Datasets: shards with Merkle roots, manifests, record proofs, and integrity checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.data import (
    IntegrityError,
    Schema,
    SchemaError,
    contribute,
    load_arrays,
    publish,
    record_proof,
)
from plexnet.data.shard import read_shard, record_leaf_hashes, write_shard
from plexnet.ledger import Entry, Ledger, merkle
from plexnet.ledger.kinds.identity import IdentityRegister

SCHEMA = Schema(features=3, labels=[0, 1])


def _records(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 16, size=(n, 3)).astype(float), rng.integers(0, 2, size=n)


def test_shard_round_trip_is_reproducible():
    x, y = _records(50)
    a, b = write_shard(x, y), write_shard(x, y)
    assert a.data == b.data and a.root == b.root  # same records, same CID
    x2, y2 = read_shard(a.data, a.root)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert a.root == merkle.root(record_leaf_hashes(x, y))


def test_contribute_publish_load_and_prove(tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    ledger = Ledger.create(connect(f"sqlite:///{tmp_path / 'l.db'}"), Identity.generate("op"))
    alice, bob = Identity.generate("alice"), Identity.generate("bob")
    ledger.append([Entry.create(p, IdentityRegister(did=p.did, name=p.name))
                   for p in (alice, bob)])
    refs, entries = [], []
    for who, seed in ((alice, 1), (bob, 2)):
        ref, entry = contribute(who, blobs, "toy", SCHEMA, *_records(20, seed))
        refs.append(ref)
        entries.append(entry)
    ledger.append(entries)
    cid, manifest, entry = publish(alice, blobs, "toy", 1, SCHEMA, refs, "CC0-1.0")
    ledger.append([entry])
    row = ledger.row("datasets", "toy@1")
    assert row["root"] == manifest.root and row["records"] == 40
    assert json.loads(row["contributors"]) == {alice.did: 20, bob.did: 20}
    x, y, loaded = load_arrays(blobs, cid)
    assert x.shape == (40, 3) and len(y) == 40 and loaded == manifest
    for index in (0, 19, 20, 39):  # each contributor can prove their records are in v1
        merkle.verify_inclusion(bytes.fromhex(manifest.leaves[index]), index, 40,
                                record_proof(manifest, index), bytes.fromhex(row["root"]))


def test_tampered_shard_is_caught(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    who = Identity.generate("a")
    ref, _ = contribute(who, blobs, "toy", SCHEMA, *_records(10))
    x, y = _records(10, seed=9)
    forged = write_shard(x, y)
    with pytest.raises(IntegrityError):
        read_shard(forged.data, bytes.fromhex(ref.root))


@pytest.mark.parametrize(("x", "y", "match"), [
    (np.zeros((4, 2)), np.zeros(4, dtype=int), "schema wants"),
    (np.zeros((4, 3)), np.array([0, 1, 2, 0]), "label space"),
    (np.full((4, 3), np.nan), np.zeros(4, dtype=int), "NaN"),
])
def test_schema_violations(tmp_path, x, y, match):
    with pytest.raises(SchemaError, match=match):
        contribute(Identity.generate("a"), LocalBlobStore(tmp_path), "toy", SCHEMA, x, y)
