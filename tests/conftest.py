"""Shared fixtures: real SQLite files and a real local PostgreSQL server.

PostgreSQL: if ``PLEXNET_TEST_POSTGRES_URL`` is set, tests use that server.
Otherwise, running as root on a machine with the Debian ``postgresql`` package,
the fixture starts the local cluster (``pg_ctlcluster 15 main start``) and creates
a role and a database for the session. Without either, PostgreSQL tests skip with
the reason, unless ``PLEXNET_REQUIRE_POSTGRES=1`` (as CI sets), which fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_PG_ROLE = "plexnet"
_PG_PASSWORD = "plexnet"


def _psql(sql: str) -> None:
    subprocess.run(["su", "postgres", "-c", f'psql -v ON_ERROR_STOP=1 -qc "{sql}"'],
                   check=True, capture_output=True, text=True)


def _start_local_postgres() -> str:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        raise RuntimeError("no PostgreSQL: set PLEXNET_TEST_POSTGRES_URL or run as root "
                           "with the postgresql package installed")
    status = subprocess.run(["pg_ctlcluster", "15", "main", "status"], capture_output=True)
    if status.returncode != 0:
        subprocess.run(["pg_ctlcluster", "15", "main", "start"], check=True,
                       capture_output=True)
    exists = subprocess.run(
        ["su", "postgres", "-c",
         f"psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='{_PG_ROLE}'\""],
        check=True, capture_output=True, text=True).stdout.strip()
    if exists != "1":
        _psql(f"CREATE ROLE {_PG_ROLE} LOGIN PASSWORD '{_PG_PASSWORD}' CREATEDB")
    return f"postgresql+psycopg://{_PG_ROLE}:{_PG_PASSWORD}@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of a PostgreSQL server whose role may create databases."""
    url = os.environ.get("PLEXNET_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        return _start_local_postgres()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        if os.environ.get("PLEXNET_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but could not be started: {detail}")
        pytest.skip(f"PostgreSQL unavailable: {detail}")


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"plexnet_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: a real SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))
