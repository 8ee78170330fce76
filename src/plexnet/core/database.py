"""Database engines: SQLite (one file, WAL) by default, PostgreSQL by URL.

``connect(url)`` returns a SQLAlchemy 2 engine tuned for a log that one writer
appends to and many read:

* SQLite: WAL journal (readers never block the writer), ``synchronous=FULL``
  (a committed entry survives power loss: the ledger signs tree heads over
  committed entries, so losing one after signing would be equivocation),
  foreign keys on, a busy timeout. The driver's own transaction handling is
  switched off and ``BEGIN`` is emitted here, so that a connection opened with
  ``write=True`` takes the write lock up front (``BEGIN IMMEDIATE``) instead of
  failing half-way with "database is locked".
* PostgreSQL (``postgresql+psycopg://...``): ``READ COMMITTED``; writers
  serialize on a row lock that the ledger takes (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from plexnet.core.errors import ConfigError

__all__ = ["WRITE", "connect", "is_sqlite"]

# Execution option that marks a connection as a writer (see module docstring).
WRITE: Final = "plexnet_write"
_BUSY_TIMEOUT_MS: Final = 30_000
_CACHE_KIB: Final = 65_536


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def connect(url: str, *, synchronous: str = "FULL", echo: bool = False) -> Engine:
    """Create an engine for ``url``.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:////path/ledger.db`` or
            ``postgresql+psycopg://user:pw@host/db``.
        synchronous: SQLite's ``PRAGMA synchronous`` (``FULL`` or ``NORMAL``);
            ignored for PostgreSQL.
        echo: log SQL statements.

    Raises:
        ConfigError: for a malformed or unsupported URL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, synchronous, echo)
    if backend == "postgresql":
        try:
            return create_engine(url, echo=echo, isolation_level="READ COMMITTED",
                                 pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"PostgreSQL needs a driver: pip install 'plexnet[postgres]' ({exc})"
            ) from None
    raise ConfigError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_engine(url: str, database: str | None, synchronous: str, echo: bool) -> Engine:
    if synchronous not in ("FULL", "NORMAL", "EXTRA", "OFF"):
        raise ConfigError(f"invalid SQLite synchronous mode {synchronous!r}")
    memory = not database or database == ":memory:"
    if not memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {"echo": echo}
    if memory:
        # One shared connection, or every checkout would see a new empty database.
        kwargs["connect_args"] = {"check_same_thread": False}
        from sqlalchemy.pool import StaticPool

        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see below)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # The (signer, nonce) index takes inserts at random positions; once it
        # outgrows SQLite's default 2 MB page cache every batch misses. 64 MB
        # keeps a few million entries' index pages hot.
        cur.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
