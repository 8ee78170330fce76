"""Content identifiers: CIDv1 (raw codec, sha2-256, base32) for everything plexnet stores.

``cid_for(data)`` names bytes the way IPFS names raw blocks, so a plexnet blob can
be fetched from any IPFS node that holds the same bytes. ``parse`` reads any CID a
user may paste: CIDv0 (``Qm...``), and CIDv1 in base32 (``b...``) or base58btc
(``z...``), with any codec and multihash function.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from plexnet.core.errors import InvalidCID
from plexnet.core.multiformats import (
    BASE32_PREFIX,
    b32encode,
    b58decode,
    b58encode,
    multibase_decode,
    multihash_decode,
    multihash_encode,
    varint_decode,
    varint_encode,
)

__all__ = ["CID", "DAG_PB", "RAW", "SHA2_256", "cid_for", "parse"]

RAW: Final = 0x55
DAG_PB: Final = 0x70
SHA2_256: Final = 0x12
_V0_LENGTH: Final = 46  # "Qm" + base58 of the 34-byte sha2-256 multihash


@dataclass(frozen=True, slots=True)
class CID:
    """A parsed content identifier.

    Attributes:
        version: 0 or 1.
        codec: multicodec code of the content (0x55 raw, 0x70 dag-pb, ...).
        hash_code: multihash function code (0x12 sha2-256, ...).
        digest: the (possibly truncated) hash digest.
    """

    version: int
    codec: int
    hash_code: int
    digest: bytes

    @property
    def multihash(self) -> bytes:
        return multihash_encode(self.hash_code, self.digest)

    def to_bytes(self) -> bytes:
        """Binary form: the bare multihash for v0, ``version||codec||multihash`` for v1."""
        if self.version == 0:
            return self.multihash
        return varint_encode(1) + varint_encode(self.codec) + self.multihash

    def encode(self) -> str:
        """Canonical text: base58btc ``Qm...`` for v0, base32 ``b...`` for v1."""
        if self.version == 0:
            return b58encode(self.multihash)
        return BASE32_PREFIX + b32encode(self.to_bytes())

    def to_v1(self) -> CID:
        return CID(1, self.codec, self.hash_code, self.digest)

    def __str__(self) -> str:
        return self.encode()


def cid_for(data: bytes) -> str:
    """CIDv1 (raw codec, sha2-256) of ``data``, as base32 text."""
    return CID(1, RAW, SHA2_256, hashlib.sha256(data).digest()).encode()


def parse(text: str) -> CID:
    """Parse a CID in text form.

    Raises:
        InvalidCID: on anything malformed, with the reason.
    """
    if not isinstance(text, str):
        raise InvalidCID(f"a CID is text, not {type(text).__name__}")
    if not text:
        raise InvalidCID("empty CID")
    if len(text) == _V0_LENGTH and text.startswith("Qm"):
        return _parse_v0(b58decode(text))
    data = multibase_decode(text)
    if not data:
        raise InvalidCID(f"{text!r} decodes to nothing")
    if data[0] == SHA2_256:
        raise InvalidCID("a CIDv0 must be base58btc without a multibase prefix ('Qm...')")
    version, offset = varint_decode(data)
    if version != 1:
        raise InvalidCID(f"unsupported CID version {version}")
    codec, offset = varint_decode(data, offset)
    hash_code, digest, offset = multihash_decode(data, offset)
    if offset != len(data):
        raise InvalidCID(f"{len(data) - offset} trailing bytes after the multihash")
    return CID(1, codec, hash_code, digest)


def _parse_v0(data: bytes) -> CID:
    hash_code, digest, offset = multihash_decode(data)
    if hash_code != SHA2_256 or len(digest) != 32 or offset != len(data):
        raise InvalidCID("a CIDv0 must be a 32-byte sha2-256 multihash")
    return CID(0, DAG_PB, hash_code, digest)
