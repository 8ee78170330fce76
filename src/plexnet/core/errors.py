"""Errors of the core layer, and the root of every plexnet error.

Every error plexnet raises on purpose derives from :class:`PlexnetError`, so a
caller (the CLI above all) can catch one type and print one readable line. Each
layer adds its own ``errors.py`` under this root::

    PlexnetError
    ├── CoreError                     (this module)
    │   ├── ConfigError               bad setting, file or flag
    │   ├── CanonicalJSONError        not RFC 8785 canonical, NaN, duplicate key, ...
    │   ├── InvalidCID                malformed CID or multihash
    │   ├── InvalidDID                malformed or unsupported did:key
    │   ├── SignatureError            missing, malformed or forged signature
    │   ├── KeystoreError             unknown, duplicate or unreadable identity
    │   └── BlobError
    │       ├── BlobNotFound          no blob with that CID in the store
    │       ├── BlobCorrupted         stored bytes no longer hash to their CID
    │       └── UnsafePath            a name or path that would leave the store root
    ├── LedgerError                   (ledger/errors.py)
    ├── ComputeError                  (compute/errors.py)
    ├── DataError                     (data/errors.py)
    └── ModelError                    (models/errors.py)

Messages say what went wrong and, where there is one, what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BlobCorrupted",
    "BlobError",
    "BlobNotFound",
    "CanonicalJSONError",
    "ConfigError",
    "CoreError",
    "InvalidCID",
    "InvalidDID",
    "KeystoreError",
    "PlexnetError",
    "SignatureError",
    "UnsafePath",
]


class PlexnetError(Exception):
    """Root of every error plexnet raises on purpose."""


class CoreError(PlexnetError):
    """An error in the core layer (identity, encoding, blobs, config)."""


class ConfigError(CoreError):
    """A setting, config file or flag is invalid."""


class CanonicalJSONError(CoreError):
    """A value cannot be, or a text is not, canonical JSON (RFC 8785)."""


class InvalidCID(CoreError):
    """A CID or multihash is malformed or unsupported."""


class InvalidDID(CoreError):
    """A DID is malformed or not a supported did:key."""


class SignatureError(CoreError):
    """A signature is missing, malformed, or does not verify."""


class KeystoreError(CoreError):
    """An identity is unknown, already exists, or cannot be read."""


class BlobError(CoreError):
    """A blob store operation failed."""


class BlobNotFound(BlobError):
    """No blob with the requested CID is in the store."""


class BlobCorrupted(BlobError):
    """The stored bytes no longer hash to the CID they are stored under."""


class UnsafePath(BlobError):
    """A name or path would read or write outside the store root."""
