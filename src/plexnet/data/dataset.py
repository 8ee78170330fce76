"""Datasets: signed contributions of records, and content-addressed versioned manifests.

A contributor writes their records as a shard (Parquet, in the blob store) and
signs a ``data.contribute`` entry naming the shard's CID, record count and Merkle
root. A publisher cuts version N of a dataset: a manifest (canonical JSON, in the
blob store) listing the shards, each record's leaf hash, and the Merkle root over
all of them, signed onto the ledger with ``dataset.publish``. Anyone holding the
manifest can check every record against the root on the ledger, and a
contributor can prove one record is in version N with an inclusion proof.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from plexnet.core import canonical
from plexnet.core.blobstore import BlobStore
from plexnet.core.identity import Identity
from plexnet.data.errors import IntegrityError, SchemaError
from plexnet.data.shard import read_shard, record_leaf_hashes, write_shard
from plexnet.ledger import Entry, merkle
from plexnet.ledger.kinds.datasets import Contribute, DatasetPublish

__all__ = [
    "Manifest",
    "Schema",
    "ShardRef",
    "contribute",
    "load_arrays",
    "load_manifest",
    "publish",
    "record_proof",
]

Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    features: Annotated[int, Field(ge=1)]
    shape: list[int] = []
    labels: list[int]
    description: str = ""


class ShardRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cid: str
    records: int
    root: Hex
    contributor: str
    provenance: Literal["human", "device", "augmented", "synthetic", "feedback"] = "human"


class Manifest(BaseModel):
    """Version ``version`` of dataset ``name``: its shards and one leaf hash per record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    name: str
    version: int
    schema_: Schema = Field(alias="schema")
    license: str
    shards: list[ShardRef]
    leaves: list[Hex]
    root: Hex
    parents: list[str] = []

    def to_bytes(self) -> bytes:
        return canonical.dumps(self.model_dump(mode="json", by_alias=True))


def _check_schema(schema: Schema, x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 2 or x.shape[1] != schema.features:
        raise SchemaError(f"records have shape {x.shape}; the schema wants (n, {schema.features})")
    unknown = sorted(set(np.unique(y).tolist()) - set(schema.labels))
    if unknown:
        raise SchemaError(f"labels {unknown} are outside the label space {schema.labels}")
    if not np.all(np.isfinite(x)):
        raise SchemaError("records hold NaN or infinite features")


def contribute(contributor: Identity, blobs: BlobStore, dataset: str, schema: Schema,
               x: np.ndarray, y: np.ndarray) -> tuple[ShardRef, Entry]:
    """Store ``contributor``'s records as a shard; return its reference and signed entry."""
    _check_schema(schema, x, y)
    shard = write_shard(x, y)
    cid = blobs.put(shard.data)
    ref = ShardRef(cid=cid, records=shard.records, root=shard.root.hex(),
                   contributor=contributor.did)
    entry = Entry.create(contributor, Contribute(dataset=dataset, batch_cid=cid,
                                                 records=shard.records, root=shard.root.hex()))
    return ref, entry


def publish(publisher: Identity, blobs: BlobStore, name: str, version: int, schema: Schema,
            shards: list[ShardRef], license_: str,
            parents: list[str] | None = None) -> tuple[str, Manifest, Entry]:
    """Build, store and sign version ``version`` of ``name`` from contributed shards."""
    leaves: list[str] = []
    for ref in shards:
        x, y = read_shard(blobs.get(ref.cid), bytes.fromhex(ref.root))
        _check_schema(schema, x, y)
        leaves.extend(h.hex() for h in record_leaf_hashes(x, y))
    root = merkle.root([bytes.fromhex(h) for h in leaves]).hex()
    manifest = Manifest(name=name, version=version, schema=schema, license=license_,
                        shards=shards, leaves=leaves, root=root, parents=parents or [])
    cid = blobs.put(manifest.to_bytes())
    entry = Entry.create(publisher, DatasetPublish(
        name=name, version=version, manifest_cid=cid, root=root, records=len(leaves),
        contributions=[s.cid for s in shards]))
    return cid, manifest, entry


def load_manifest(blobs: BlobStore, cid: str) -> Manifest:
    return Manifest.model_validate(canonical.loads(blobs.get(cid)))


def load_arrays(blobs: BlobStore, manifest_cid: str) -> tuple[np.ndarray, np.ndarray, Manifest]:
    """All records of a dataset version, checked against its manifest's root.

    Raises:
        IntegrityError: if any shard or the manifest's leaf list does not match.
    """
    manifest = load_manifest(blobs, manifest_cid)
    xs, ys = [], []
    for ref in manifest.shards:
        x, y = read_shard(blobs.get(ref.cid), bytes.fromhex(ref.root))
        xs.append(x)
        ys.append(y)
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    leaves = record_leaf_hashes(x_all, y_all)
    if [h.hex() for h in leaves] != manifest.leaves or merkle.root(leaves).hex() != manifest.root:
        raise IntegrityError(f"dataset {manifest.name}@{manifest.version} does not match its root")
    return x_all, y_all, manifest


def record_proof(manifest: Manifest, index: int) -> list[bytes]:
    """Inclusion proof of record ``index`` against the manifest's (and ledger's) root."""
    return merkle.inclusion_proof([bytes.fromhex(h) for h in manifest.leaves], index)
