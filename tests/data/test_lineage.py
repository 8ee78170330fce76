"""Lineage from the ledger across versions and derived datasets; derived data and feedback."""

from __future__ import annotations

import numpy as np
import pytest

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.data import Records, Schema, SchemaError, contribute, load_records
from plexnet.data.admission import Policy, admit
from plexnet.data.derive import derive, feedback_records
from plexnet.data.lineage import dataset_lineage, draw_lineage
from plexnet.ledger import Entry, Ledger, NotFound
from plexnet.ledger.kinds.identity import IdentityRegister

SCHEMA = Schema(kind="image", shape=[2, 2], labels=["a", "b", "c"], value_range=(0, 16))


def _records(n, seed):
    rng = np.random.default_rng(seed)
    return Records.make(rng.integers(0, 3, n), x=rng.integers(0, 17, (n, 4)))


@pytest.fixture
def history(tmp_path):
    operator = Identity.generate("op")
    ledger = Ledger.create(connect(f"sqlite:///{tmp_path / 'l.db'}"), operator)
    people = {n: Identity.generate(n) for n in ("curator", "alice", "bob", "user")}
    ledger.append([Entry.create(p, IdentityRegister(did=p.did, name=n))
                   for n, p in people.items()])
    blobs = LocalBlobStore(tmp_path / "blobs")
    base = None
    for version, who in enumerate(("alice", "bob"), start=1):
        _, entry = contribute(people[who], blobs, "img", SCHEMA, _records(6, version))
        ledger.append([entry])
        result = admit(people["curator"], blobs, "img", [entry], schema=SCHEMA,
                       license_="CC-BY-4.0", policy=Policy(()), base=base)
        ledger.append(list(result.entries))
        base = result.manifest_cid
    records, manifest = load_records(blobs, base)
    _, curated, entry = derive(people["curator"], blobs, manifest, "img-curated",
                               records.subset([0, 2, 4, 7]), "curate",
                               {"fraction": 1 / 3, "score": "el2n"})
    ledger.append([entry])
    return ledger, blobs, people, manifest, curated


def test_lineage_walks_versions_and_derivations(history, tmp_path):
    ledger, _, people, _, curated = history
    graph = dataset_lineage(ledger, "img-curated@1")
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    assert ("img@2", "img-curated@1", "curate") in edges
    assert ("img@1", "img@2", "admit") in edges
    assert (f"contributor:{people['alice'].did}", "img@1", "+6") in edges
    assert (f"contributor:{people['bob'].did}", "img@2", "+6") in edges  # only what v2 added
    assert curated.shares == {people["alice"].did: 3, people["bob"].did: 1}
    png = draw_lineage(graph, tmp_path / "lineage.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(NotFound):
        dataset_lineage(ledger, "img@9")


def test_feedback_is_contributed_and_admitted_like_any_batch(history):
    ledger, blobs, people, _, _ = history
    records, _ = load_records(blobs, ledger.row("datasets", "img@2")["manifest_cid"])
    leaves = [h.hex() for h in records.leaf_hashes()[:3]]
    fb = feedback_records([0, 1, 2], [0, 2, 2], "img-model-1", x=np.clip(records.x[:3] + 1, 0, 16),
                          inputs=leaves)
    _, entry = contribute(people["user"], blobs, "img", SCHEMA, fb)
    ledger.append([entry])
    result = admit(people["curator"], blobs, "img", [entry], schema=SCHEMA,
                   license_="CC-BY-4.0", policy=Policy(()),
                   base=ledger.row("datasets", "img@2")["manifest_cid"])
    ledger.append(list(result.entries))
    after, _ = load_records(blobs, result.manifest_cid)
    prov = after.provenance[-2]
    assert prov.tag == "feedback" and prov.model == "img-model-1" and prov.predicted == 1
    assert prov.parent == leaves[1] and int(after.y[-2]) == 2


def test_bad_derivations(history):
    _, blobs, people, manifest, _ = history
    with pytest.raises(SchemaError, match="name of its own"):
        derive(people["curator"], blobs, manifest, "img", _records(2, 9), "curate", {})
    with pytest.raises(SchemaError, match="matching"):
        feedback_records([0, 1], [0], "m")
