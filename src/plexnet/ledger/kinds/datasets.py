"""Data entry kinds: contributors attest their batches; publishers cut dataset versions.

* ``data.contribute`` — signed by the contributor: a batch (its CID in the blob
  store), how many records, and the Merkle root over their record leaf hashes.
* ``dataset.publish`` — signed by the publisher: version N of a named dataset,
  its manifest CID, the Merkle root over all its records, and the contributions
  it includes. Version 1 claims the name; later versions must come from the same
  publisher, in order. A contribution can be included once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from plexnet.ledger.entry import Body, Cid, Entry, Hash, State, register
from plexnet.ledger.kinds.identity import Name, json_text, require, require_row

__all__ = ["Contribute", "DatasetPublish", "dataset_ref"]

Count = Annotated[int, Field(ge=0, le=2**53 - 1)]


def dataset_ref(name: str, version: int) -> str:
    return f"{name}@{version}"


@register("data.contribute")
class Contribute(Body):
    dataset: Name
    batch_cid: Cid
    records: Annotated[int, Field(ge=1, le=2**53 - 1)]
    root: Hash

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(state.get("contributions", self.batch_cid) is None,
                f"batch {self.batch_cid} was already contributed")
        state.put("contributions", self.batch_cid, {
            "batch_cid": self.batch_cid, "dataset": self.dataset, "contributor": entry.signer,
            "records": self.records, "root": self.root, "included_in": None,
            "contributed_seq": seq, "updated_seq": seq,
        })


@register("dataset.publish")
class DatasetPublish(Body):
    name: Name
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    manifest_cid: Cid
    root: Hash
    records: Count
    contributions: list[Cid] = Field(max_length=100_000, default_factory=list)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        ref = dataset_ref(self.name, self.version)
        require(state.get("datasets", ref) is None, f"dataset {ref} is already published")
        if self.version > 1:
            prev = require_row(state, "datasets", dataset_ref(self.name, self.version - 1),
                               "previous dataset version")
            require(prev["publisher"] == entry.signer,
                    f"dataset {self.name!r} belongs to {prev['publisher']}")
        require(len(set(self.contributions)) == len(self.contributions),
                "a contribution is listed twice")
        shares: dict[str, int] = {}
        for cid in self.contributions:
            row = require_row(state, "contributions", cid, "contribution")
            require(row["dataset"] == self.name,
                    f"contribution {cid} was made to {row['dataset']!r}, not {self.name!r}")
            require(row["included_in"] is None,
                    f"contribution {cid} is already in {row['included_in']}")
            shares[row["contributor"]] = shares.get(row["contributor"], 0) + row["records"]
            state.put("contributions", cid, {**row, "included_in": ref, "updated_seq": seq})
        state.put("datasets", ref, {
            "ref": ref, "name": self.name, "version": self.version, "publisher": entry.signer,
            "manifest_cid": self.manifest_cid, "root": self.root, "records": self.records,
            "contributors": json_text(shares), "published_seq": seq,
        })
