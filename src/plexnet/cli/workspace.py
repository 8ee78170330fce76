"""The CLI's view of one plexnet home: settings, keys, blobs and the ledger, opened lazily.

Every command gets a :class:`Workspace` from the global options and asks it for
what it needs, so ``plexnet blob put`` never touches the database and
``plexnet --help`` imports nothing heavy.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from plexnet.core.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.core.identity import Identity
    from plexnet.core.keystore import Keystore
    from plexnet.ledger import Ledger

__all__ = ["OPERATOR", "Workspace"]

OPERATOR = "operator"  # keystore name of the ledger operator's identity


class Workspace:
    """Lazily opened resources of one home directory."""

    def __init__(self, overrides: dict[str, Any] | None = None,
                 settings: Settings | None = None) -> None:
        self.settings = settings or load_settings(overrides or {})

    @functools.cached_property
    def keystore(self) -> Keystore:
        from plexnet.core.keystore import Keystore

        passphrase = self.settings.key_passphrase
        return Keystore(self.settings.keystore, passphrase.encode() if passphrase else None)

    @functools.cached_property
    def blobs(self) -> LocalBlobStore:
        from plexnet.core.blobstore import LocalBlobStore

        return LocalBlobStore(self.settings.blob_root)

    @functools.cached_property
    def engine(self) -> Engine:
        from plexnet.core.database import connect

        return connect(self.settings.database_url)

    def operator(self) -> Identity | None:
        """The operator's identity if this home holds it (embedded mode), else None."""
        return self.keystore.load(OPERATOR) if self.keystore.has(OPERATOR) else None

    @functools.cached_property
    def ledger(self) -> Ledger:
        """The ledger, able to append when this home holds the operator key."""
        from plexnet.ledger import Ledger

        return Ledger.open(self.engine, self.operator())

    def has_ledger(self) -> bool:
        from plexnet.ledger import NotFound

        try:
            self.ledger  # noqa: B018 - opening is the check
        except NotFound:
            return False
        return True

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
