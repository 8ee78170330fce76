"""core — what every layer stands on: identity, encodings, content addressing, storage.

Modules:
    errors (errors.py)       — PlexnetError, the root of every plexnet error, and core's own
    canonical (canonical.py) — RFC 8785 canonical JSON: dumps, strict loads
    multiformats (multiformats.py) — varint, multibase (base32, base58btc), multihash
    cid (cid.py)             — CID, cid_for (CIDv1 raw sha2-256 base32), parse (v0 and v1)
    identity (identity.py)   — Identity (ed25519), did:key, verify_signature, signed JSON
    keystore (keystore.py)   — Keystore: identities on disk, 0600 PEM files
    blobstore (blobstore.py) — BlobStore interface, LocalBlobStore (fsync + rename, fan-out)
    config (config.py)       — Settings from defaults, config file, PLEXNET_* and flags
    database (database.py)   — connect(): SQLAlchemy engines for SQLite (WAL) and PostgreSQL
    plugins (plugins.py)     — Registry: named plug-in classes and their @register decorator
"""

from plexnet.core.blobstore import BlobStore, LocalBlobStore
from plexnet.core.cid import CID, cid_for, parse
from plexnet.core.config import Settings, load_settings
from plexnet.core.errors import PlexnetError
from plexnet.core.identity import Identity, verify_signature
from plexnet.core.keystore import Keystore

__all__ = [
    "CID",
    "BlobStore",
    "Identity",
    "Keystore",
    "LocalBlobStore",
    "PlexnetError",
    "Settings",
    "cid_for",
    "load_settings",
    "parse",
    "verify_signature",
]
