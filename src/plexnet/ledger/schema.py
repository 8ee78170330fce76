"""The ledger's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

The log itself:

* ``log_meta``     — key/value facts fixed at genesis (log id, operator DID, version).
* ``log_state``    — one row (``id = 1``): current size. Writers lock it, so appends
  are serialized on every backend.
* ``entries``      — one row per leaf: ``seq`` (leaf index), ``leaf_hash``, the exact
  canonical ``data`` the leaf hashes, and denormalized ``kind``/``signer``/
  ``nonce``/``time_ms`` for queries; ``(signer, nonce)`` is unique (replays).
* ``nodes``        — every complete interior node of the tree, keyed by
  ``node_key(level, index)``; leaves (level 0) are ``entries.leaf_hash``. Proofs
  read O(log n) of these rows instead of rehashing the leaves.
* ``tree_heads``   — signed tree heads, one per committed append.

Projections (``PROJECTIONS``) are derived state, rebuilt by ``ledger verify``.
JSON-valued columns hold canonical JSON text so that rows compare byte for byte.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "LOG_TABLES",
    "PROJECTIONS",
    "accounts",
    "attempts",
    "contributions",
    "contributors",
    "dataset_names",
    "datasets",
    "entries",
    "escrows",
    "identities",
    "jobs",
    "key_column",
    "log_meta",
    "log_state",
    "metadata",
    "models",
    "node_key",
    "node_position",
    "nodes",
    "providers",
    "tree_heads",
]

metadata = MetaData()
_DID: Final = 64  # did:key of ed25519 is 56 characters

log_meta = Table(
    "log_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

log_state = Table(
    "log_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
)

entries = Table(
    "entries", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("signer", String(_DID), nullable=False),
    Column("nonce", String(32), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("signer", "nonce", name="uq_entries_signer_nonce"),
    Index("ix_entries_kind", "kind"),
)

nodes = Table(
    "nodes", metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

tree_heads = Table(
    "tree_heads", metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("signer", String(_DID), nullable=False),
    Column("sig", String(128), nullable=False),
    Column("v", Integer, nullable=False),
)

identities = Table(
    "identities", metadata,
    Column("did", String(_DID), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("roles", Text, nullable=False),
    Column("registered_seq", BigInteger, nullable=False),
)

accounts = Table(
    "accounts", metadata,
    # A DID, or "escrow:<id>" for credits held in escrow: every credit is in
    # exactly one account, so the balances always sum to what was minted.
    Column("account", String(200), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

escrows = Table(
    "escrows", metadata,
    Column("escrow_id", String(128), primary_key=True),
    Column("payer", String(_DID), nullable=False),
    Column("arbiter", String(_DID), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

providers = Table(
    "providers", metadata,
    Column("did", String(_DID), primary_key=True),
    Column("profile", Text, nullable=False),
    Column("status", String(16), nullable=False),
    # Reputation: attempts verification checked and found right / wrong.
    Column("verified_ok", BigInteger, nullable=False),
    Column("verified_bad", BigInteger, nullable=False),
    Column("registered_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

jobs = Table(
    "jobs", metadata,
    Column("job_id", String(128), primary_key=True),
    Column("requester", String(_DID), nullable=False),
    Column("task", String(64), nullable=False),
    Column("spec", Text, nullable=False),
    Column("escrow_id", String(128), nullable=False),
    Column("units", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("results", Text, nullable=True),  # JSON list: the accepted attempt of each unit
    Column("created_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

attempts = Table(
    "attempts", metadata,
    Column("key", String(160), primary_key=True),  # "<job_id>/<unit>/<attempt>"
    Column("job_id", String(128), nullable=False),
    Column("unit", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("provider", String(_DID), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("price_micro", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),      # assigned | done | lost
    Column("verdict", String(16), nullable=True),      # ok | accepted | bad
    Column("outputs", Text, nullable=True),
    Column("receipt_seq", BigInteger, nullable=True),
    Column("paid_seq", BigInteger, nullable=True),
    Column("updated_seq", BigInteger, nullable=False),
    Index("ix_attempts_job", "job_id"),
)

contributions = Table(
    "contributions", metadata,
    Column("batch_cid", String(128), primary_key=True),
    Column("dataset", String(128), nullable=False),
    Column("contributor", String(_DID), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("license", String(64), nullable=False),
    Column("schema_cid", String(128), nullable=True),   # the schema the records follow
    Column("status", String(16), nullable=False),       # pending | admitted
    Column("accepted", BigInteger, nullable=True),      # admission counts, once admitted
    Column("flagged", BigInteger, nullable=True),
    Column("rejected", BigInteger, nullable=True),
    Column("report_cid", String(128), nullable=True),   # the signed gate report
    Column("admitted_by", String(_DID), nullable=True),
    Column("included_in", String(200), nullable=True),  # dataset ref, once published
    Column("contributed_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Index("ix_contributions_dataset", "dataset"),
)

contributors = Table(
    "contributors", metadata,
    # A contributor's admission history, the basis of their reputation.
    Column("did", String(_DID), primary_key=True),
    Column("batches", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("flagged", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

datasets = Table(
    "datasets", metadata,
    Column("ref", String(200), primary_key=True),  # "<name>@<version>"
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("publisher", String(_DID), nullable=False),
    Column("manifest_cid", String(128), nullable=False),
    Column("root", String(64), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("contributors", Text, nullable=False),  # JSON: DID -> records in this version
    Column("parents", Text, nullable=False),       # JSON list of dataset refs
    Column("op", String(16), nullable=False),      # how the version was derived
    Column("published_seq", BigInteger, nullable=False),
)

dataset_names = Table(
    "dataset_names", metadata,
    Column("name", String(128), primary_key=True),
    Column("publisher", String(_DID), nullable=False),
    Column("latest", Integer, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

models = Table(
    "models", metadata,
    Column("model_id", String(128), primary_key=True),
    Column("publisher", String(_DID), nullable=False),
    Column("artifact_cid", String(128), nullable=False),
    Column("lineage", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("card", Text, nullable=False),       # architecture, N, tier, other formats
    Column("receipts", Text, nullable=False),   # seqs of the receipts listing the artifact
    Column("registered_seq", BigInteger, nullable=False),
)

LOG_TABLES: Final = (log_meta, log_state, entries, nodes, tree_heads)
PROJECTIONS: Final[dict[str, Table]] = {
    t.name: t
    for t in (identities, accounts, escrows, providers, jobs, attempts, contributions,
              contributors, datasets, dataset_names, models)
}

_LEVEL_SHIFT: Final = 56  # index < 2**56 leaves; level < 128 keeps the key a positive int64


def node_key(level: int, index: int) -> int:
    """Primary key of the interior node covering leaves ``[index·2^level, (index+1)·2^level)``."""
    return (level << _LEVEL_SHIFT) | index


def node_position(key: int) -> tuple[int, int]:
    """Inverse of :func:`node_key`: ``(level, index)``."""
    return key >> _LEVEL_SHIFT, key & ((1 << _LEVEL_SHIFT) - 1)


def key_column(table: Table) -> str:
    """Name of a projection table's single primary-key column."""
    (column,) = table.primary_key.columns
    return column.name
