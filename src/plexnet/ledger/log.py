"""The ledger: an append-only RFC 9162 log of signed entries, with projections.

:class:`Ledger` appends batches of signed entries atomically: within one
database transaction it locks the log, checks and applies every entry to the
projections, stores the leaves and the interior nodes they complete, and signs
a new tree head. Either all of that commits or none of it does, so there is no
moment at which an entry exists without its projection, or a tree head without
its entries.

Reading needs no key; appending needs the operator's identity (it signs heads).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from plexnet.core.database import WRITE, is_sqlite
from plexnet.core.identity import Identity
from plexnet.ledger import merkle
from plexnet.ledger.entry import Entry, apply_entry
from plexnet.ledger.errors import EntryRejected, LedgerError, NotFound
from plexnet.ledger.kinds.identity import Genesis
from plexnet.ledger.schema import (
    PROJECTIONS,
    entries,
    key_column,
    log_meta,
    log_state,
    metadata,
    node_key,
    nodes,
    tree_heads,
)
from plexnet.ledger.state import DatabaseState
from plexnet.ledger.tree import load_frontier, range_hashes
from plexnet.ledger.treehead import ConsistencyProof, InclusionProof, SignedTreeHead

__all__ = ["Ledger", "StoredEntry"]

_SCHEMA_VERSION = "1"
_PAGE = 5_000


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the log holds it: its leaf index, leaf hash and exact bytes."""

    seq: int
    leaf_hash: bytes
    data: bytes

    @property
    def entry(self) -> Entry:
        return Entry.parse(self.data)


class Ledger:
    """A verifiable log over a SQLAlchemy engine. Create with :meth:`create` or :meth:`open`."""

    def __init__(self, engine: Engine, meta: dict[str, str],
                 operator: Identity | None = None) -> None:
        self.engine = engine
        self.log_id = meta["log_id"]
        self.operator_did = meta["operator"]
        if operator is not None and operator.did != self.operator_did:
            raise LedgerError(
                f"identity {operator.name!r} is not this ledger's operator ({self.operator_did})"
            )
        self._operator = operator
        self._frontier: merkle.Frontier | None = None

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def create(cls, engine: Engine, operator: Identity, log_id: str | None = None) -> Ledger:
        """Create the tables and the genesis entry of a new log."""
        metadata.create_all(engine)
        log_id = log_id or f"plexnet-{os.urandom(8).hex()}"
        with _writer(engine) as conn:
            if conn.execute(select(func.count()).select_from(log_meta)).scalar_one():
                raise LedgerError("this database already holds a ledger; open it instead")
            conn.execute(log_meta.insert(), [
                {"key": "log_id", "value": log_id},
                {"key": "operator", "value": operator.did},
                {"key": "schema_version", "value": _SCHEMA_VERSION},
            ])
            conn.execute(log_state.insert(), [{"id": 1, "size": 0}])
        ledger = cls(engine, {"log_id": log_id, "operator": operator.did}, operator)
        ledger.append([Entry.create(operator, Genesis(log_id=log_id, operator=operator.did))])
        return ledger

    @classmethod
    def open(cls, engine: Engine, operator: Identity | None = None) -> Ledger:
        """Open an existing log.

        Raises:
            NotFound: if the database holds no ledger.
        """
        try:
            with engine.connect() as conn:
                meta = dict(conn.execute(select(log_meta.c.key, log_meta.c.value)).all())
        except (OperationalError, ProgrammingError):
            meta = {}
        if "log_id" not in meta:
            raise NotFound("no ledger in this database; create one with `plexnet ledger init`")
        if meta.get("schema_version") != _SCHEMA_VERSION:
            raise LedgerError(f"ledger schema {meta.get('schema_version')} is not supported")
        return cls(engine, meta, operator)

    # ------------------------------------------------------------------ append

    def append(self, batch: Sequence[Entry]) -> list[int]:
        """Append ``batch`` atomically; return the sequence numbers given to its entries.

        Raises:
            EntryRejected: if any entry is invalid (nothing is appended then).
            LedgerError: if this handle has no operator key to sign the tree head.
        """
        if self._operator is None:
            raise LedgerError("appending needs the operator's key to sign the tree head")
        if not batch:
            return []
        nonces = {(e.signer, e.nonce) for e in batch}
        if len(nonces) != len(batch):
            raise EntryRejected("the batch holds the same entry (signer, nonce) twice")
        with _writer(self.engine) as conn:
            size = self._lock(conn)
            frontier = self._frontier_at(conn, size)
            state = DatabaseState(conn, self.operator_did)
            leaf_rows: list[dict[str, Any]] = []
            node_rows: list[dict[str, Any]] = []
            for offset, entry in enumerate(batch):
                seq = size + offset
                try:
                    apply_entry(entry, seq, state)
                except EntryRejected as exc:
                    where = f"entry {offset + 1} of {len(batch)}: " if len(batch) > 1 else ""
                    raise EntryRejected(f"{where}{exc}") from None
                data = entry.to_bytes()
                leaf = merkle.leaf_hash(data)
                leaf_rows.append({
                    "seq": seq, "leaf_hash": leaf, "kind": entry.kind, "signer": entry.signer,
                    "nonce": entry.nonce, "time_ms": entry.time_ms, "data": data,
                })
                node_rows.extend({"key": node_key(level, index), "hash": h}
                                 for level, index, h in frontier.append(leaf))
            state.flush()
            try:
                conn.execute(entries.insert(), leaf_rows)
            except IntegrityError:
                raise EntryRejected(self._replay_message(batch)) from None
            if node_rows:
                conn.execute(nodes.insert(), node_rows)
            new_size = size + len(batch)
            conn.execute(update(log_state).where(log_state.c.id == 1).values(size=new_size))
            last_time = conn.execute(
                select(tree_heads.c.time_ms).where(tree_heads.c.size == size)
            ).scalar()
            now = max(time.time_ns() // 1_000_000, last_time or 0)
            sth = SignedTreeHead.create(self._operator, self.log_id, new_size, frontier.root(), now)
            conn.execute(tree_heads.insert(), [{
                "size": new_size, "root": frontier.root(), "time_ms": sth.time_ms,
                "signer": sth.signer, "sig": sth.sig, "v": sth.v,
            }])
        self._frontier = frontier
        return list(range(size, size + len(batch)))

    def append_one(self, entry: Entry) -> int:
        return self.append([entry])[0]

    def _lock(self, conn: Connection) -> int:
        # SQLite: BEGIN IMMEDIATE already holds the write lock. PostgreSQL: the row lock
        # serializes writers for the rest of the transaction.
        query = select(log_state.c.size).where(log_state.c.id == 1)
        if not is_sqlite(self.engine):
            query = query.with_for_update()
        return int(conn.execute(query).scalar_one())

    def _frontier_at(self, conn: Connection, size: int) -> merkle.Frontier:
        cached = self._frontier
        if cached is not None and cached.size == size:
            return merkle.Frontier(size, cached.hashes)  # a copy: the batch may fail
        return load_frontier(conn, size)

    def _replay_message(self, batch: Sequence[Entry]) -> str:
        with self.engine.connect() as conn:
            for entry in batch:
                seq = conn.execute(select(entries.c.seq).where(
                    entries.c.signer == entry.signer, entries.c.nonce == entry.nonce)).scalar()
                if seq is not None:
                    return (f"replayed {entry.kind} entry: the log already holds it as "
                            f"entry {seq} (same signer and nonce)")
        return "the batch conflicts with entries appended concurrently; retry"

    # ------------------------------------------------------------------- read

    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(log_state.c.size)).scalar_one())

    def head(self) -> SignedTreeHead:
        """The latest signed tree head."""
        with self.engine.connect() as conn:
            row = conn.execute(select(tree_heads).order_by(tree_heads.c.size.desc()).limit(1)
                               ).mappings().first()
        if row is None:
            raise NotFound("the ledger has no tree head yet")
        return _sth(row, self.log_id)

    def tree_head(self, size: int) -> SignedTreeHead:
        """The signed tree head issued at exactly ``size`` entries."""
        with self.engine.connect() as conn:
            row = conn.execute(select(tree_heads).where(tree_heads.c.size == size)
                               ).mappings().first()
        if row is None:
            raise NotFound(f"no tree head was issued at size {size}")
        return _sth(row, self.log_id)

    def tree_heads(self) -> list[SignedTreeHead]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tree_heads).order_by(tree_heads.c.size)).mappings().all()
        return [_sth(r, self.log_id) for r in rows]

    def get(self, seq: int) -> StoredEntry:
        with self.engine.connect() as conn:
            row = conn.execute(select(entries.c.seq, entries.c.leaf_hash, entries.c.data)
                               .where(entries.c.seq == seq)).first()
        if row is None:
            raise NotFound(f"no entry {seq} (the log has {self.size()})")
        return StoredEntry(int(row.seq), bytes(row.leaf_hash), bytes(row.data))

    def scan(self, start: int = 0, stop: int | None = None,
             kind: str | None = None) -> Iterator[StoredEntry]:
        """Entries in order from ``start`` (inclusive) to ``stop`` (exclusive), page by page."""
        pos = start
        while stop is None or pos < stop:
            query = (select(entries.c.seq, entries.c.leaf_hash, entries.c.data)
                     .where(entries.c.seq >= pos).order_by(entries.c.seq).limit(_PAGE))
            if stop is not None:
                query = query.where(entries.c.seq < stop)
            if kind is not None:
                query = query.where(entries.c.kind == kind)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            for row in rows:
                yield StoredEntry(int(row.seq), bytes(row.leaf_hash), bytes(row.data))
            pos = int(rows[-1].seq) + 1

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        """Proof that entry ``seq`` is in the tree of ``tree_size`` (default: the latest)."""
        with self.engine.connect() as conn:
            size = int(conn.execute(select(log_state.c.size)).scalar_one())
            tree_size = size if tree_size is None else tree_size
            if not 0 <= seq < tree_size <= size:
                raise NotFound(f"no entry {seq} in a tree of size {tree_size} "
                               f"(the log has {size} entries)")
            ranges = merkle.inclusion_ranges(seq, tree_size)
            hashes = range_hashes(conn, [*ranges, (seq, seq + 1), (0, tree_size)])
        *path, leaf, root = hashes
        return InclusionProof(seq=seq, tree_size=tree_size, leaf_hash=leaf.hex(),
                              path=[h.hex() for h in path], root=root.hex())

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Proof that the tree of ``new_size`` (default: the latest) extends ``old_size``."""
        with self.engine.connect() as conn:
            size = int(conn.execute(select(log_state.c.size)).scalar_one())
            new_size = size if new_size is None else new_size
            if not 0 < old_size <= new_size <= size:
                raise NotFound(f"no consistency proof from size {old_size} to {new_size} "
                               f"(sizes must satisfy 0 < old <= new <= {size})")
            ranges = merkle.consistency_ranges(old_size, new_size)
            hashes = range_hashes(conn, [*ranges, (0, old_size), (0, new_size)])
        *path, old_root, new_root = hashes
        return ConsistencyProof(old_size=old_size, new_size=new_size, old_root=old_root.hex(),
                                new_root=new_root.hex(), path=[h.hex() for h in path])

    def row(self, table: str, key: str) -> dict[str, Any] | None:
        """One projection row by primary key."""
        t = _projection(table)
        with self.engine.connect() as conn:
            found = conn.execute(select(t).where(t.c[key_column(t)] == key)).mappings().first()
        return dict(found) if found is not None else None

    def rows(self, table: str) -> list[dict[str, Any]]:
        """All rows of a projection table, ordered by primary key."""
        t = _projection(table)
        with self.engine.connect() as conn:
            found = conn.execute(select(t).order_by(t.c[key_column(t)])).mappings().all()
        return [dict(r) for r in found]

    def balance(self, account: str) -> int:
        """Micro-credits held by ``account`` (0 if it never held any)."""
        found = self.row("accounts", account)
        return int(found["balance"]) if found else 0


def _projection(table: str) -> Any:
    try:
        return PROJECTIONS[table]
    except KeyError:
        raise NotFound(f"no projection {table!r}; known: {', '.join(PROJECTIONS)}") from None


def _sth(row: Any, log_id: str) -> SignedTreeHead:
    return SignedTreeHead(v=row["v"], log_id=log_id, size=row["size"],
                          root=bytes(row["root"]).hex(),
                          time_ms=row["time_ms"], signer=row["signer"], sig=row["sig"])


class _writer:
    """``with _writer(engine) as conn``: one write transaction (SQLite: BEGIN IMMEDIATE)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> Connection:
        self._conn = self._engine.connect().execution_options(**{WRITE: True})
        self._tx = self._conn.begin()
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._tx.commit()
            else:
                self._tx.rollback()
        finally:
            self._conn.close()
