"""Identities: ed25519 key pairs named by ``did:key``, and signed canonical JSON.

A participant is its key. ``did:key:z6Mk...`` is the multibase (base58btc) of the
multicodec ``ed25519-pub`` (0xed) followed by the 32-byte public key, so anyone can
verify a signature from the DID alone, with no registry lookup.

Signed documents are canonical JSON (RFC 8785) prefixed with a *domain* tag, so a
signature made for one purpose (a ledger entry) can never be replayed as another
(a tree head)::

    message = b"plexnet/" + domain + b"\\x00" + canonical_json(value)
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass, field
from typing import Any, Final

import nacl.bindings as _sodium
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import BadSignatureError

from plexnet.core import canonical
from plexnet.core.errors import InvalidCID, InvalidDID, SignatureError
from plexnet.core.multiformats import b58decode, b58encode

__all__ = [
    "Identity",
    "b64decode",
    "b64encode",
    "did_from_public_key",
    "public_key_from_did",
    "signing_message",
    "verify_json",
    "verify_signature",
    "verify_signed_bytes",
]

_DID_PREFIX: Final = "did:key:z"
_ED25519_PUB: Final = b"\xed\x01"  # varint(0xed), the multicodec ed25519-pub
_KEY_BYTES: Final = 32
_SIG_BYTES: Final = 64


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid ed25519 signature of ``message`` by ``public_key``.

    Never raises on malformed input: a key or signature of the wrong length, a key
    that is not a curve point or has small order, or a non-canonical ``S`` all
    verify as False. Verification is libsodium's (via PyNaCl): it agrees with every
    Wycheproof case, as OpenSSL's does, and is about twice as fast here, which is
    what bounds the ledger's append rate. Every verifier in plexnet is this one.
    """
    if len(public_key) != _KEY_BYTES or len(signature) != _SIG_BYTES:
        return False
    try:
        _sodium.crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def did_from_public_key(public_key: bytes) -> str:
    """The ``did:key`` that names an ed25519 public key."""
    if len(public_key) != _KEY_BYTES:
        raise InvalidDID(f"an ed25519 public key has 32 bytes, not {len(public_key)}")
    return _DID_PREFIX + b58encode(_ED25519_PUB + public_key)


@functools.lru_cache(maxsize=8192)  # a ledger sees the same few signers again and again
def public_key_from_did(did: str) -> bytes:
    """The 32-byte ed25519 public key named by ``did``.

    Raises:
        InvalidDID: if ``did`` is not an ed25519 ``did:key``.
    """
    if not isinstance(did, str) or not did.startswith(_DID_PREFIX):
        raise InvalidDID(f"{did!r} is not a did:key (expected 'did:key:z6Mk...')")
    try:
        raw = b58decode(did[len(_DID_PREFIX) :])
    except InvalidCID as exc:
        raise InvalidDID(f"{did!r}: {exc}") from None
    if raw[:2] != _ED25519_PUB:
        raise InvalidDID(f"{did!r} is not an ed25519 key (multicodec 0xed)")
    key = raw[2:]
    if len(key) != _KEY_BYTES:
        raise InvalidDID(f"{did!r} holds {len(key)} key bytes, not 32")
    if b58encode(raw) != did[len(_DID_PREFIX) :]:
        raise InvalidDID(f"{did!r} is not in canonical base58btc form")
    return key


def signing_message(domain: str, value: Any) -> bytes:
    """The exact bytes signed for ``value`` under ``domain``."""
    return _domain_prefix(domain) + canonical.dumps(value)


def _domain_prefix(domain: str) -> bytes:
    return b"plexnet/" + domain.encode("ascii") + b"\x00"


def b64encode(data: bytes) -> str:
    """URL-safe base64 without padding (signatures on the wire)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Inverse of :func:`b64encode`; strict about alphabet and padding bits."""
    if not isinstance(text, str):
        raise SignatureError("signature must be base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SignatureError(f"{text[:20]!r}... is not base64url") from None
    if b64encode(data) != text:
        raise SignatureError("signature is not in canonical base64url form")
    return data


def verify_json(did: str, domain: str, value: Any, signature: str) -> None:
    """Check that ``signature`` (base64url) signs ``value`` under ``domain`` by ``did``.

    Raises:
        InvalidDID: if ``did`` is malformed.
        SignatureError: if the signature is malformed or does not verify.
    """
    verify_signed_bytes(did, domain, canonical.dumps(value), signature)


def verify_signed_bytes(did: str, domain: str, payload: bytes, signature: str) -> None:
    """Like :func:`verify_json` for a value already in canonical bytes (``payload``)."""
    key = public_key_from_did(did)
    sig = b64decode(signature)
    if not verify_signature(key, _domain_prefix(domain) + payload, sig):
        raise SignatureError(f"signature by {did} does not verify ({domain})")


@dataclass(frozen=True)
class Identity:
    """An ed25519 key pair. ``name`` is a local label; ``did`` is its public name."""

    name: str
    _key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, name: str) -> Identity:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Identity:
        """Rebuild from the 32-byte private seed (RFC 8032 secret key)."""
        if len(seed) != _KEY_BYTES:
            raise SignatureError("an ed25519 seed has 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._key

    @property
    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def did(self) -> str:
        return did_from_public_key(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def sign_json(self, domain: str, value: Any) -> str:
        """Sign canonical ``value`` under ``domain``; return base64url."""
        return self.sign_bytes(domain, canonical.dumps(value))

    def sign_bytes(self, domain: str, payload: bytes) -> str:
        """Sign ``payload`` (already canonical JSON) under ``domain``; return base64url."""
        return b64encode(self.sign(_domain_prefix(domain) + payload))
