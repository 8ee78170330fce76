"""Errors of the data layer.

::

    PlexnetError                      (core/errors.py)
    └── DataError
        ├── SchemaError               records do not fit the dataset's schema
        └── IntegrityError            stored records do not match their Merkle root
"""

from __future__ import annotations

from plexnet.core.errors import PlexnetError

__all__ = ["DataError", "IntegrityError", "SchemaError"]


class DataError(PlexnetError):
    """An error in the data layer."""


class SchemaError(DataError):
    """Records do not fit the dataset's schema."""


class IntegrityError(DataError):
    """Stored records no longer match the Merkle root they were published under."""
