"""`ledger verify` names any change to any column of any ledger row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import LargeBinary, String, Text, select, update

from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.ledger import Ledger, VerificationFailed, verify_ledger
from plexnet.ledger.schema import metadata
from tests.ledger.story import Cast, story

COLUMNS = [(t.name, c.name) for t in metadata.sorted_tables for c in t.columns]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One story ledger in a SQLite file, copied for every tampering case."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    engine = connect(f"sqlite:///{path}")
    cast = Cast(*(Identity.generate(n) for n in ("operator", "alice", "bob", "carol")))
    story(Ledger.create(engine, cast.operator, log_id="tamper"), cast)
    assert verify_ledger(engine).ok
    engine.dispose()
    return path


def _changed(value, column):
    if value is None:
        return 1 if not isinstance(column.type, String | Text) else "x"
    if isinstance(column.type, LargeBinary):
        data = bytearray(value)
        data[len(data) // 2] ^= 0x01
        return bytes(data)
    if isinstance(value, int):
        return value + (10**12 if column.primary_key else 1)  # keys must stay unique
    if isinstance(value, str) and column.primary_key:
        return value + "-renamed"
    if isinstance(value, str):
        # keep JSON text valid JSON, and DIDs/CIDs well-formed-looking, but different
        return value[:-2] + ("1" if value[-2] != "1" else "2") + value[-1] if len(value) > 2 \
            else value + "x"
    raise AssertionError(f"no mutation for {value!r}")


def tamper(engine, table_name: str, column_name: str) -> str:
    """Change one column of one row (the middle row); return a description."""
    table = metadata.tables[table_name]
    column = table.c[column_name]
    pk = list(table.primary_key.columns)
    with engine.begin() as conn:
        rows = conn.execute(select(table).order_by(*pk)).mappings().all()
        assert rows, f"the story left {table_name} empty"
        row = rows[len(rows) // 2]
        new = _changed(row[column_name], column)
        where = [c == row[c.name] for c in pk]
        conn.execute(update(table).where(*where).values({column_name: new}))
    return f"{table_name}.{column_name}"


@pytest.mark.parametrize(("table", "column"), COLUMNS, ids=[f"{t}.{c}" for t, c in COLUMNS])
def test_any_changed_column_is_named(template, tmp_path, table, column):
    path = tmp_path / "ledger.db"
    shutil.copy(template, path)
    engine = connect(f"sqlite:///{path}")
    tamper(engine, table, column)
    report = verify_ledger(engine)
    assert not report.ok, f"changing {table}.{column} went unnoticed"
    assert any(p.startswith(f"{table}:") for p in report.problems), report.problems
    with pytest.raises(VerificationFailed, match=table):
        verify_ledger(engine, raise_on_problem=True)
    engine.dispose()


def test_there_is_a_case_for_every_table():
    assert {t for t, _ in COLUMNS} == set(metadata.tables)
    assert len(COLUMNS) > 60


@pytest.mark.postgres
@pytest.mark.parametrize(("table", "column"), [("entries", "data"), ("accounts", "balance"),
                                               ("nodes", "hash"), ("tree_heads", "sig")])
def test_tampering_is_caught_on_postgres_too(postgres_url, table, column):
    engine = connect(postgres_url)
    cast = Cast(*(Identity.generate(n) for n in ("operator", "alice", "bob", "carol")))
    story(Ledger.create(engine, cast.operator), cast)
    assert verify_ledger(engine).ok
    tamper(engine, table, column)
    report = verify_ledger(engine)
    assert any(p.startswith(f"{table}:") for p in report.problems), report.problems
    engine.dispose()


def test_deleted_entry_is_named(template, tmp_path):
    path = tmp_path / "ledger.db"
    shutil.copy(template, path)
    engine = connect(f"sqlite:///{path}")
    from plexnet.ledger.schema import entries

    with engine.begin() as conn:
        conn.execute(entries.delete().where(entries.c.seq == 3))
    report = verify_ledger(engine)
    assert any("expected seq 3" in p for p in report.problems), report.problems
