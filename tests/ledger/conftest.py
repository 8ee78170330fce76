"""Ledger fixtures: a cast of identities and a fresh ledger on each backend."""

from __future__ import annotations

import pytest

from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.ledger import Ledger
from tests.ledger.story import Cast


@pytest.fixture
def cast() -> Cast:
    return Cast(*(Identity.generate(n) for n in ("operator", "alice", "bob", "carol")))


@pytest.fixture
def ledger(database_url: str, cast: Cast) -> Ledger:
    engine = connect(database_url)
    yield Ledger.create(engine, cast.operator, log_id="test-log")
    engine.dispose()
