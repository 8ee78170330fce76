"""data — open datasets built from signed contributions, each record with its provenance.

Modules:
    errors (errors.py)     — DataError, SchemaError, IntegrityError, GateError, ...
    records (records.py)   — Records (column-wise records), Provenance; leaf and content hashes
    schema (schema.py)     — Schema (image, tabular, text; label space), validate()
    shard (shard.py)       — records as reproducible Parquet shards with a Merkle root
    dataset (dataset.py)   — contribute(), publish(), Manifest, load_records(), record_proof()
    runner (runner.py)     — UnitRunner, LocalRunner: heavy gate work as task units, in process
    network (network.py)   — JobRunner: the same units as paid, verified jobs on the network
    admission (admission.py) — judge() a batch with the gates; admit() batches into a new version
    ingest (ingest.py)     — load_source(): sklearn sets, image folders, CSV/Parquet, JSON lines
    export (export.py)     — to_numpy(), to_torch(), to_pandas(), write_table()
    curation (curation.py) — el2n_scores(), margin_scores(), select(): keep the most useful share
    augment (augment.py)   — augment() images with provenance; apply(), verify_augmented()
    watermark (watermark.py) — the public synthetic-data watermark: embed(), detect()
    synthesis (synthesis.py) — GaussianCopula and ConditionalVAE generators; fidelity()
    privacy (privacy.py)   — deidentify(): drop identifiers, generalise, k-anonymity
    derive (derive.py)     — derive() a curated/de-identified dataset; feedback_records()
    proof (proof.py)       — RecordProof: a record is in N@v, and N@v is on the ledger, offline
    lineage (lineage.py)   — dataset_lineage() from the ledger, draw_lineage() as PNG
    gates/                 — admission gates (plug-ins): duplicates, labels, backdoors, ...
"""

from plexnet.data.dataset import (
    Derivation,
    Manifest,
    ShardRef,
    contribute,
    load_arrays,
    load_manifest,
    load_records,
    load_schema,
    parse_ref,
    publish,
    record_proof,
    version_consistency,
)
from plexnet.data.errors import (
    AdmissionError,
    DataError,
    GateError,
    IngestError,
    IntegrityError,
    SchemaError,
    UnknownGate,
)
from plexnet.data.records import Provenance, Records
from plexnet.data.schema import Column, Schema, validate

__all__ = [
    "AdmissionError",
    "Column",
    "DataError",
    "Derivation",
    "GateError",
    "IngestError",
    "IntegrityError",
    "Manifest",
    "Provenance",
    "Records",
    "Schema",
    "SchemaError",
    "ShardRef",
    "UnknownGate",
    "contribute",
    "load_arrays",
    "load_manifest",
    "load_records",
    "load_schema",
    "parse_ref",
    "publish",
    "record_proof",
    "validate",
    "version_consistency",
]
