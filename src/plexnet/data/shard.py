"""Record shards: a contributor's records as one Parquet file, with a Merkle root.

A record is a feature vector and a label. Its canonical bytes are the RFC 8785
JSON ``{"x": [...], "y": label}``, and its leaf hash is the RFC 9162 leaf hash of
those bytes, so a record can be proven to be in a shard, and a shard's records in
a dataset version, with the ledger's own Merkle code. Parquet (no pickle) holds
the columns ``x`` (list of float64) and ``y`` (int64).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from plexnet.core import canonical
from plexnet.data.errors import IntegrityError, SchemaError
from plexnet.ledger import merkle

__all__ = ["Shard", "read_shard", "record_leaf_hashes", "write_shard"]


@dataclass(frozen=True)
class Shard:
    """A shard's bytes (Parquet), record count and Merkle root over its record leaves."""

    data: bytes
    records: int
    root: bytes


def record_leaf_hashes(x: np.ndarray, y: np.ndarray) -> list[bytes]:
    """RFC 9162 leaf hash of each record's canonical JSON."""
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise SchemaError(f"expected x of shape (n, d) and y of shape (n,), got {x.shape} "
                          f"and {y.shape}")
    rows = x.astype(np.float64).tolist()
    labels = y.astype(np.int64).tolist()
    return [merkle.leaf_hash(canonical.dumps({"x": r, "y": label}))
            for r, label in zip(rows, labels, strict=True)]


def write_shard(x: np.ndarray, y: np.ndarray) -> Shard:
    """Records (x: (n, d) features, y: (n,) integer labels) as a Parquet shard."""
    leaves = record_leaf_hashes(x, y)
    table = pa.table({
        "x": pa.array(x.astype(np.float64).tolist(), type=pa.list_(pa.float64())),
        "y": pa.array(y.astype(np.int64), type=pa.int64()),
    })
    sink = io.BytesIO()
    # Fixed writer options keep the bytes, hence the CID, reproducible.
    pq.write_table(table, sink, compression="zstd", write_statistics=False,
                   store_schema=False)
    return Shard(sink.getvalue(), len(y), merkle.root(leaves))


def read_shard(data: bytes, expected_root: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Records of a shard; with ``expected_root``, check them against it.

    Raises:
        IntegrityError: if the records do not hash to ``expected_root``.
    """
    table = pq.read_table(io.BytesIO(data))
    x = np.array(table.column("x").to_pylist(), dtype=np.float64)
    y = np.asarray(table.column("y").to_numpy(), dtype=np.int64)
    if expected_root is not None and merkle.root(record_leaf_hashes(x, y)) != expected_root:
        raise IntegrityError("shard records do not match their Merkle root")
    return x, y
