"""Data entry kinds: contributors sign batches in, curators admit them, versions are cut.

* ``data.contribute`` — signed by the contributor: a batch (its CID in the blob
  store), how many records, the Merkle root over their record leaves, the
  licence the contributor grants, and the CID of the schema the records follow.
* ``data.admit`` — signed by the dataset's curator (its publisher; for a dataset
  with no version yet, whoever then publishes version 1): the gate report of one
  batch (its CID) and how many records were accepted, flagged and rejected. The
  counts feed the contributor's reputation (``contributors``).
* ``dataset.publish`` — signed by the publisher: version N of a named dataset,
  its manifest CID, the Merkle root over all its records, each contributor's
  share of them, the versions it derives from, and the admitted batches it
  completes. Version 1 claims the name; later versions come from the same
  publisher, in order, and derive from the version before. A batch can be
  included once, and only after it was admitted.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from plexnet.ledger.entry import Body, Cid, Did, Entry, Hash, State, register
from plexnet.ledger.kinds.identity import Name, Ref, json_text, require, require_row

__all__ = ["Contribute", "DataAdmit", "DatasetPublish", "dataset_ref"]

Count = Annotated[int, Field(ge=0, le=2**53 - 1)]
Licence = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$")]


def dataset_ref(name: str, version: int) -> str:
    return f"{name}@{version}"


def _latest_publisher(state: State, name: str) -> str | None:
    row = state.get("dataset_names", name)
    return None if row is None else str(row["publisher"])


@register("data.contribute")
class Contribute(Body):
    dataset: Name
    batch_cid: Cid
    records: Annotated[int, Field(ge=1, le=2**53 - 1)]
    root: Hash
    license: Licence = "CC-BY-4.0"
    schema_cid: Cid | None = None

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(state.get("contributions", self.batch_cid) is None,
                f"batch {self.batch_cid} was already contributed")
        state.put("contributions", self.batch_cid, {
            "batch_cid": self.batch_cid, "dataset": self.dataset, "contributor": entry.signer,
            "records": self.records, "root": self.root, "license": self.license,
            "schema_cid": self.schema_cid, "status": "pending", "accepted": None,
            "flagged": None, "rejected": None,
            "report_cid": None, "admitted_by": None, "included_in": None,
            "contributed_seq": seq, "updated_seq": seq,
        })


@register("data.admit")
class DataAdmit(Body):
    batch_cid: Cid
    report_cid: Cid
    accepted: Count
    flagged: Count
    rejected: Count

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        row = require_row(state, "contributions", self.batch_cid, "contribution")
        require(row["status"] == "pending", f"batch {self.batch_cid} is already {row['status']}")
        curator = _latest_publisher(state, row["dataset"])
        require(curator in (None, entry.signer),
                f"dataset {row['dataset']!r} is curated by {curator}")
        require(self.accepted + self.flagged + self.rejected == row["records"],
                f"the counts sum to {self.accepted + self.flagged + self.rejected}; the batch "
                f"holds {row['records']} records")
        state.put("contributions", self.batch_cid, {
            **row, "status": "admitted", "accepted": self.accepted, "flagged": self.flagged,
            "rejected": self.rejected, "report_cid": self.report_cid,
            "admitted_by": entry.signer, "updated_seq": seq})
        who = row["contributor"]
        stats = state.get("contributors", who) or {
            "did": who, "batches": 0, "accepted": 0, "flagged": 0, "rejected": 0,
            "first_seq": seq}
        state.put("contributors", who, {
            **stats, "batches": stats["batches"] + 1,
            "accepted": stats["accepted"] + self.accepted,
            "flagged": stats["flagged"] + self.flagged,
            "rejected": stats["rejected"] + self.rejected, "updated_seq": seq})


@register("dataset.publish")
class DatasetPublish(Body):
    name: Name
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    manifest_cid: Cid
    root: Hash
    records: Count
    shares: dict[Did, Count] = Field(default_factory=dict, max_length=100_000)
    parents: list[Ref] = Field(default_factory=list, max_length=64)
    contributions: list[Cid] = Field(default_factory=list, max_length=100_000)
    reports: list[Cid] = Field(default_factory=list, max_length=100_000)
    op: Literal["admit", "curate", "augment", "synthesize", "deidentify", "feedback",
                "import"] = "admit"

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        ref = dataset_ref(self.name, self.version)
        require(state.get("datasets", ref) is None, f"dataset {ref} is already published")
        publisher = _latest_publisher(state, self.name)
        if self.version > 1:
            prev = dataset_ref(self.name, self.version - 1)
            require_row(state, "datasets", prev, "previous dataset version")
            require(publisher == entry.signer, f"dataset {self.name!r} belongs to {publisher}")
            require(prev in self.parents, f"{ref} must derive from {prev}")
        else:
            require(publisher is None, f"dataset {self.name!r} already exists")
        require(sum(self.shares.values()) == self.records,
                f"the shares sum to {sum(self.shares.values())}, not {self.records} records")
        for parent in self.parents:
            require_row(state, "datasets", parent, "parent dataset version")
        require(len(set(self.contributions)) == len(self.contributions),
                "a contribution is listed twice")
        for cid in self.contributions:
            row = require_row(state, "contributions", cid, "contribution")
            require(row["dataset"] == self.name,
                    f"contribution {cid} was made to {row['dataset']!r}, not {self.name!r}")
            require(row["status"] == "admitted",
                    f"contribution {cid} is {row['status']}: admit it first")
            require(row["admitted_by"] == entry.signer,
                    f"contribution {cid} was admitted by {row['admitted_by']}")
            require(row["included_in"] is None,
                    f"contribution {cid} is already in {row['included_in']}")
            state.put("contributions", cid, {**row, "included_in": ref, "updated_seq": seq})
        state.put("datasets", ref, {
            "ref": ref, "name": self.name, "version": self.version, "publisher": entry.signer,
            "manifest_cid": self.manifest_cid, "root": self.root, "records": self.records,
            "contributors": json_text(self.shares), "parents": json_text(self.parents),
            "op": self.op, "published_seq": seq,
        })
        state.put("dataset_names", self.name, {
            "name": self.name, "publisher": entry.signer, "latest": self.version,
            "updated_seq": seq})
