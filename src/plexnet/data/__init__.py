"""data — open datasets built from signed contributions, each record with its provenance.

Modules:
    errors (errors.py)   — DataError, SchemaError, IntegrityError
    shard (shard.py)     — records as Parquet shards; record leaf hashes and Merkle roots
    dataset (dataset.py) — contribute(), publish() (manifests), load_arrays(), record_proof()
"""

from plexnet.data.dataset import (
    Manifest,
    Schema,
    ShardRef,
    contribute,
    load_arrays,
    load_manifest,
    publish,
    record_proof,
)
from plexnet.data.errors import DataError, IntegrityError, SchemaError

__all__ = [
    "DataError",
    "IntegrityError",
    "Manifest",
    "Schema",
    "SchemaError",
    "ShardRef",
    "contribute",
    "load_arrays",
    "load_manifest",
    "publish",
    "record_proof",
]
