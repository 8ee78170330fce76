"""Model lineage from the ledger: parent models back to their dataset, job and contributors."""

from __future__ import annotations

import pytest

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.data.lineage import draw_lineage
from plexnet.ledger import Entry, Ledger, NotFound
from plexnet.ledger.kinds.identity import IdentityRegister
from plexnet.models.lineage import model_lineage
from plexnet.models.registry import register_model


def test_a_fine_tuned_chain_is_walked_back_to_its_first_model(tmp_path):
    operator = Identity.generate("op")
    ledger = Ledger.create(connect(f"sqlite:///{tmp_path / 'l.db'}"), operator)
    lab = Identity.generate("lab")
    ledger.append([Entry.create(lab, IdentityRegister(did=lab.did, name="lab"))])
    cid = LocalBlobStore(tmp_path / "blobs").put(b"weights")
    ledger.append([register_model(lab, "general", cid, metrics={"accuracy": 0.97})])
    ledger.append([register_model(lab, "industry", cid, parents=["general"])])
    ledger.append([register_model(lab, "vertical", cid, parents=["industry"])])
    graph = model_lineage(ledger, "vertical")
    assert {n.key for n in graph.nodes} == {"model:general", "model:industry",
                                            "model:vertical"}
    assert {(e.source, e.target) for e in graph.edges} == {
        ("model:general", "model:industry"), ("model:industry", "model:vertical")}
    assert next(n for n in graph.nodes if n.key == "model:general").detail["metrics"] == {
        "accuracy": 0.97}
    png = draw_lineage(graph, tmp_path / "l.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(NotFound, match="no model 'nope'"):
        model_lineage(ledger, "nope")
