"""Two views of the projection tables that entry kinds ``apply`` to.

* :class:`DatabaseState` — inside the append transaction: reads go through to the
  database once per row and are cached; writes are buffered and flushed with one
  ``executemany`` per table before commit. Entries of a batch see each other's
  effects, and nothing reaches the database unless the whole batch is accepted.
* :class:`MemoryState` — plain dicts, for ``ledger verify`` to replay the log from
  nothing and compare with what is stored.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, bindparam, select

from plexnet.ledger.schema import PROJECTIONS, key_column

__all__ = ["DatabaseState", "MemoryState"]

Row = dict[str, Any]


class MemoryState:
    """Projection tables as dicts: ``tables[name][key] = row``."""

    def __init__(self, operator: str) -> None:
        self.operator = operator
        self.tables: dict[str, dict[str, Row]] = {name: {} for name in PROJECTIONS}

    def get(self, table: str, key: str) -> Row | None:
        row = self.tables[table].get(key)
        return dict(row) if row is not None else None

    def put(self, table: str, key: str, row: Row) -> None:
        self.tables[table][key] = dict(row)


class DatabaseState:
    """A write-back view of the projection tables within one transaction."""

    def __init__(self, conn: Connection, operator: str) -> None:
        self.operator = operator
        self._conn = conn
        self._rows: dict[tuple[str, str], Row | None] = {}
        self._stored: set[tuple[str, str]] = set()
        self._dirty: set[tuple[str, str]] = set()

    def get(self, table: str, key: str) -> Row | None:
        ident = (table, key)
        if ident not in self._rows:
            t = PROJECTIONS[table]
            found = self._conn.execute(
                select(t).where(t.c[key_column(t)] == key)
            ).mappings().first()
            self._rows[ident] = dict(found) if found is not None else None
            if found is not None:
                self._stored.add(ident)
        row = self._rows[ident]
        return dict(row) if row is not None else None

    def put(self, table: str, key: str, row: Row) -> None:
        ident = (table, key)
        if ident not in self._rows:
            self.get(table, key)  # learn whether it is an insert or an update
        self._rows[ident] = dict(row)
        self._dirty.add(ident)

    def flush(self) -> None:
        """Write every changed row: one INSERT and one UPDATE ``executemany`` per table."""
        inserts: dict[str, list[Row]] = defaultdict(list)
        updates: dict[str, list[Row]] = defaultdict(list)
        for ident in sorted(self._dirty):
            table, key = ident
            row = self._rows[ident]
            assert row is not None
            if ident in self._stored:
                pk = key_column(PROJECTIONS[table])
                updates[table].append({"_key": key, **{c: v for c, v in row.items() if c != pk}})
            else:
                inserts[table].append(row)
                self._stored.add(ident)
        for table, rows in inserts.items():
            self._conn.execute(PROJECTIONS[table].insert(), rows)
        for table, rows in updates.items():
            t = PROJECTIONS[table]
            self._conn.execute(t.update().where(t.c[key_column(t)] == bindparam("_key")), rows)
        self._dirty.clear()
