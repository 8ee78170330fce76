"""Datasets: signed contributions of records, and content-addressed versioned manifests.

A contributor signs a batch of records in: the records go to the blob store as a
Parquet shard, and a ``data.contribute`` entry (signed by the contributor) names
its CID, record count, Merkle root and licence. Admission (``admission.py``)
decides which records of a batch enter the dataset. A publisher then cuts version
N: a manifest (canonical JSON, in the blob store) listing the shards, one leaf
hash per record and the Merkle root over them, every contributor's share, the
parent version(s) and how the version was derived; its root goes on the ledger
with ``dataset.publish``.

Versions of one dataset only grow: version N keeps version N-1's shards first, so
N-1's tree is a prefix of N's and an RFC 9162 consistency proof shows it
(:func:`version_consistency`). A derived dataset (a curated subset, an augmented
copy) is a new name whose parents are the versions it came from.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from plexnet.core import canonical
from plexnet.core.blobstore import BlobStore
from plexnet.core.identity import Identity
from plexnet.data.errors import IntegrityError, SchemaError
from plexnet.data.records import Records
from plexnet.data.schema import Schema, validate
from plexnet.data.shard import read_shard, write_shard
from plexnet.ledger import Entry, merkle
from plexnet.ledger.kinds.datasets import Contribute, DatasetPublish, dataset_ref

__all__ = [
    "Derivation",
    "Manifest",
    "ShardRef",
    "contribute",
    "load_arrays",
    "load_manifest",
    "load_records",
    "load_schema",
    "parse_ref",
    "publish",
    "record_proof",
    "store_records",
    "store_schema",
    "version_consistency",
]

Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ShardRef(BaseModel):
    """One shard of a version: its CID, size, root, and the batch it was admitted from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cid: str
    records: Annotated[int, Field(ge=1)]
    root: Hex
    batch: str | None = None  # CID of the contributed batch these records were admitted from


class Derivation(BaseModel):
    """How a version was made: ``admit`` (from contributed batches, with the gate
    reports), ``curate``, ``augment``, ``synthesize``, ``deidentify`` or ``import``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Literal["admit", "curate", "augment", "synthesize", "deidentify", "feedback",
                "import"] = "admit"
    params: dict[str, Any] = Field(default_factory=dict)
    reports: list[str] = []


class Manifest(BaseModel):
    """Version ``version`` of dataset ``name``: its shards and one leaf hash per record."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    v: Literal[2] = 2
    name: str
    version: Annotated[int, Field(ge=1)]
    schema_: Schema = Field(alias="schema")
    license: str
    shards: list[ShardRef]
    leaves: list[Hex]
    root: Hex
    shares: dict[str, int]
    parents: list[str] = []
    derivation: Derivation = Derivation()
    synthetic_budget: Annotated[float, Field(ge=0, le=1)] | None = None

    @property
    def ref(self) -> str:
        return dataset_ref(self.name, self.version)

    def to_bytes(self) -> bytes:
        return canonical.dumps(self.model_dump(mode="json", by_alias=True))


def parse_ref(ref: str) -> tuple[str, int]:
    """``"digits@3"`` → ``("digits", 3)``."""
    name, sep, version = ref.rpartition("@")
    if not sep or not name or not version.isdigit() or int(version) < 1:
        raise SchemaError(f"{ref!r} is not a dataset version; write NAME@VERSION, e.g. digits@1")
    return name, int(version)


def store_records(blobs: BlobStore, records: Records) -> tuple[str, bytes]:
    """Write ``records`` as a shard; return its CID and Merkle root."""
    shard = write_shard(records)
    return blobs.put(shard.data), shard.root


def store_schema(blobs: BlobStore, schema: Schema) -> str:
    """Store ``schema`` as canonical JSON; return its CID (the same schema, the same CID)."""
    return blobs.put(canonical.dumps(schema.model_dump(mode="json")))


def load_schema(blobs: BlobStore, cid: str) -> Schema:
    """The schema stored as ``cid``."""
    try:
        return Schema.model_validate(canonical.loads(blobs.get(cid)))
    except ValueError as exc:
        raise IntegrityError(f"{cid} is not a dataset schema: {exc}") from None


def contribute(contributor: Identity, blobs: BlobStore, dataset: str, schema: Schema,
               records: Records, *, license_: str = "CC-BY-4.0") -> tuple[str, Entry]:
    """Sign ``records`` in as a batch for ``dataset``; return the batch CID and entry.

    Every record is attributed to ``contributor``. The batch is checked against
    ``schema`` first, so a malformed batch never reaches the ledger.

    Raises:
        SchemaError: if the records break the schema (nothing is stored).
    """
    records = records.signed_by(contributor.did)
    validate(schema, records)
    cid, root = store_records(blobs, records)
    entry = Entry.create(contributor, Contribute(dataset=dataset, batch_cid=cid,
                                                 records=len(records), root=root.hex(),
                                                 license=license_,
                                                 schema_cid=store_schema(blobs, schema)))
    return cid, entry


def publish(publisher: Identity, blobs: BlobStore, name: str, version: int, schema: Schema,
            parts: list[tuple[Records, str | None]], license_: str, *,
            base: Manifest | None = None, parents: list[str] | None = None,
            derivation: Derivation | None = None, contributions: list[str] | None = None,
            synthetic_budget: float | None = None) -> tuple[str, Manifest, Entry]:
    """Build, store and sign version ``version`` of ``name``.

    Args:
        parts: new records, each with the CID of the batch they were admitted from
            (or ``None``), stored as one shard each.
        base: the previous version of ``name``; its shards come first, unchanged.
        parents: versions this one derives from (``base`` is added when given).
        contributions: contributed batches whose admission this version completes.
    """
    shards = list(base.shards) if base is not None else []
    leaves = list(base.leaves) if base is not None else []
    shares: Counter[str] = Counter(base.shares if base is not None else {})
    for records, batch in parts:
        if not len(records):
            continue
        validate(schema, records)
        cid, root = store_records(blobs, records)
        shards.append(ShardRef(cid=cid, records=len(records), root=root.hex(), batch=batch))
        leaves.extend(h.hex() for h in records.leaf_hashes())
        shares.update(records.contributor)
    if not leaves:
        raise SchemaError(f"{name}@{version} would hold no records")
    lineage = list(parents or [])
    if base is not None and base.ref not in lineage:
        lineage.insert(0, base.ref)
    root = merkle.root([bytes.fromhex(h) for h in leaves]).hex()
    deriv = derivation or Derivation()
    manifest = Manifest(name=name, version=version, schema=schema, license=license_,
                        shards=shards, leaves=leaves, root=root, shares=dict(shares),
                        parents=lineage, derivation=deriv, synthetic_budget=synthetic_budget)
    cid = blobs.put(manifest.to_bytes())
    entry = Entry.create(publisher, DatasetPublish(
        name=name, version=version, manifest_cid=cid, root=root, records=len(leaves),
        contributions=contributions or [], parents=lineage, shares=dict(shares),
        reports=deriv.reports, op=deriv.op))
    return cid, manifest, entry


def load_manifest(blobs: BlobStore, cid: str) -> Manifest:
    """The manifest stored as ``cid`` (the blob store checks its hash)."""
    try:
        return Manifest.model_validate(canonical.loads(blobs.get(cid)))
    except ValueError as exc:
        raise IntegrityError(f"{cid} is not a dataset manifest: {exc}") from None


def load_records(blobs: BlobStore, manifest_cid: str) -> tuple[Records, Manifest]:
    """All records of a dataset version, checked against its manifest's root.

    Raises:
        IntegrityError: if any shard or the manifest's leaf list does not match.
    """
    manifest = load_manifest(blobs, manifest_cid)
    parts = [read_shard(blobs.get(ref.cid), bytes.fromhex(ref.root)) for ref in manifest.shards]
    records = Records.concat(parts)
    leaves = records.leaf_hashes()
    if [h.hex() for h in leaves] != manifest.leaves or merkle.root(leaves).hex() != manifest.root:
        raise IntegrityError(f"dataset {manifest.ref} does not match its root")
    return records, manifest


def load_arrays(blobs: BlobStore, manifest_cid: str) -> tuple[np.ndarray, np.ndarray, Manifest]:
    """Features and labels of a dataset version of numeric records (image or tabular).

    Raises:
        IntegrityError: if the records do not match the manifest's root.
        SchemaError: for a text dataset (it has no feature vectors).
    """
    records, manifest = load_records(blobs, manifest_cid)
    if records.x is None:
        raise SchemaError(f"{manifest.ref} holds text records, not feature vectors")
    return records.x, records.y, manifest


def record_proof(manifest: Manifest, index: int) -> list[bytes]:
    """Inclusion proof of record ``index`` against the manifest's (and ledger's) root."""
    return merkle.inclusion_proof([bytes.fromhex(h) for h in manifest.leaves], index)


def version_consistency(old: Manifest, new: Manifest) -> list[bytes]:
    """RFC 9162 consistency proof that ``new``'s records extend ``old``'s.

    Raises:
        IntegrityError: if ``new`` does not begin with ``old``'s records.
    """
    if new.leaves[:len(old.leaves)] != old.leaves:
        raise IntegrityError(f"{new.ref} does not extend {old.ref}")
    return merkle.consistency_proof([bytes.fromhex(h) for h in new.leaves], len(old.leaves))
