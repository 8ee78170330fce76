"""The multiformats that CIDs and did:key are built from: varint, multibase, multihash.

Strict on input: a decoder rejects anything that a different encoder could not
have produced from the same value (non-minimal varints, non-zero padding bits in
base32, characters outside the alphabet), so that every name has exactly one
byte string behind it. All failures raise :class:`~plexnet.core.errors.InvalidCID`;
callers that decode DIDs re-raise as ``InvalidDID``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from plexnet.core.errors import InvalidCID

__all__ = [
    "BASE32_PREFIX",
    "BASE58BTC_PREFIX",
    "HASH_CODES",
    "b32decode",
    "b32encode",
    "b58decode",
    "b58encode",
    "multibase_decode",
    "multihash_decode",
    "multihash_digest",
    "multihash_encode",
    "varint_decode",
    "varint_encode",
]

BASE32_PREFIX: Final = "b"
BASE58BTC_PREFIX: Final = "z"

_B32_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz234567"
_B32_INDEX: Final = {c: i for i, c in enumerate(_B32_ALPHABET)}
_B58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58_ALPHABET)}

# A varint of more than 9 bytes cannot be a valid multiformats varint (the spec
# caps values at 2^63 - 1 so that they fit a signed 64-bit integer).
_VARINT_MAX_BYTES: Final = 9

# Multihash function codes (multicodec table) that hashlib can compute, with the
# full digest length in bytes. "sha3" in the multihash test vectors is sha3-512.
HASH_CODES: Final[dict[str, tuple[int, int]]] = {
    "identity": (0x00, 0),
    "sha1": (0x11, 20),
    "sha2-256": (0x12, 32),
    "sha2-512": (0x13, 64),
    "sha3-512": (0x14, 64),
    "sha3-384": (0x15, 48),
    "sha3-256": (0x16, 32),
    "sha3-224": (0x17, 28),
    "blake2b-512": (0xB240, 64),
    "blake2s-256": (0xB260, 32),
}
_HASHLIB: Final[dict[str, Callable[[bytes], bytes]]] = {
    "sha1": lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),
    "sha2-256": lambda b: hashlib.sha256(b).digest(),
    "sha2-512": lambda b: hashlib.sha512(b).digest(),
    "sha3-512": lambda b: hashlib.sha3_512(b).digest(),
    "sha3-384": lambda b: hashlib.sha3_384(b).digest(),
    "sha3-256": lambda b: hashlib.sha3_256(b).digest(),
    "sha3-224": lambda b: hashlib.sha3_224(b).digest(),
    "blake2b-512": lambda b: hashlib.blake2b(b).digest(),
    "blake2s-256": lambda b: hashlib.blake2s(b).digest(),
}
_DIGEST_SIZE_BY_CODE: Final = {code: size for code, size in HASH_CODES.values()}


def varint_encode(value: int) -> bytes:
    """Unsigned LEB128, as multiformats uses for codes and lengths."""
    if value < 0 or value >= 1 << 63:
        raise InvalidCID(f"varint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_decode(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Decode one minimal varint at ``offset``; return ``(value, next_offset)``."""
    value = 0
    for i in range(_VARINT_MAX_BYTES):
        pos = offset + i
        if pos >= len(data):
            raise InvalidCID("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise InvalidCID("non-minimal varint encoding")
            return value, pos + 1
    raise InvalidCID("varint longer than 9 bytes")


def b32encode(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding (multibase ``b``)."""
    bits = int.from_bytes(data, "big") if data else 0
    nbits = len(data) * 8
    pad = (-nbits) % 5
    bits <<= pad
    nchars = (nbits + pad) // 5
    return "".join(_B32_ALPHABET[(bits >> (5 * (nchars - 1 - i))) & 31] for i in range(nchars))


def b32decode(text: str) -> bytes:
    """Inverse of :func:`b32encode`; rejects bad characters, lengths and padding bits."""
    nchars = len(text)
    if nchars % 8 in (1, 3, 6):
        raise InvalidCID(f"impossible base32 length {nchars}")
    bits = 0
    for ch in text:
        idx = _B32_INDEX.get(ch)
        if idx is None:
            raise InvalidCID(f"character {ch!r} is not lower-case base32")
        bits = (bits << 5) | idx
    nbytes = nchars * 5 // 8
    spare = nchars * 5 - nbytes * 8
    if bits & ((1 << spare) - 1):
        raise InvalidCID("base32 text has non-zero padding bits")
    return (bits >> spare).to_bytes(nbytes, "big")


def b58encode(data: bytes) -> str:
    """Bitcoin base58 (multibase ``z`` without its prefix)."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`."""
    if not text:
        raise InvalidCID("empty base58 text")
    num = 0
    for ch in text:
        idx = _B58_INDEX.get(ch)
        if idx is None:
            raise InvalidCID(f"character {ch!r} is not base58btc")
        num = num * 58 + idx
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * zeros + body


def multibase_decode(text: str) -> bytes:
    """Decode multibase text in base32 lower (``b``) or base58btc (``z``)."""
    if not text:
        raise InvalidCID("empty multibase text")
    prefix, body = text[0], text[1:]
    if prefix == BASE32_PREFIX:
        return b32decode(body)
    if prefix == BASE58BTC_PREFIX:
        return b58decode(body)
    raise InvalidCID(
        f"unsupported multibase prefix {prefix!r}: use base32 ('b...') or base58btc ('z...')"
    )


def multihash_encode(code: int, digest: bytes) -> bytes:
    """``varint(code) || varint(len(digest)) || digest``."""
    return varint_encode(code) + varint_encode(len(digest)) + digest


def multihash_decode(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Decode a multihash at ``offset``; return ``(code, digest, next_offset)``.

    A known function's digest may be truncated (the multihash spec allows it) but
    never longer than the function produces.
    """
    code, offset = varint_decode(data, offset)
    length, offset = varint_decode(data, offset)
    digest = data[offset : offset + length]
    if len(digest) != length:
        raise InvalidCID(f"multihash declares {length} digest bytes but has {len(digest)}")
    full = _DIGEST_SIZE_BY_CODE.get(code)
    if full and length > full:
        raise InvalidCID(f"multihash digest of {length} bytes exceeds the function's {full}")
    return code, digest, offset + length


def multihash_digest(data: bytes, algorithm: str = "sha2-256", bits: int | None = None) -> bytes:
    """Hash ``data`` and return its multihash, truncated to ``bits`` if given."""
    try:
        code, size = HASH_CODES[algorithm]
        func = _HASHLIB[algorithm]
    except KeyError:
        known = ", ".join(sorted(_HASHLIB))
        raise InvalidCID(f"unsupported hash {algorithm!r}; known: {known}") from None
    digest = func(data)
    if bits is not None:
        if bits % 8 or not 0 < bits <= size * 8:
            raise InvalidCID(f"cannot truncate {algorithm} to {bits} bits")
        digest = digest[: bits // 8]
    return multihash_encode(code, digest)
