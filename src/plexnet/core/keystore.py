"""A keystore on disk: one PKCS#8 PEM file per identity, readable by its owner only.

Layout: ``<root>/<name>.pem`` (mode 0600) inside ``<root>`` (mode 0700). With a
passphrase the PEM is encrypted (the best scheme ``cryptography`` offers); without
one it is plain, which suits throwaway demo homes. Writes are atomic (temp file,
fsync, rename) and never overwrite an existing identity.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from plexnet.core.errors import KeystoreError
from plexnet.core.identity import Identity

__all__ = ["Keystore", "validate_name"]

_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def validate_name(name: str) -> str:
    """An identity name: 1-64 of ``a-z 0-9 _ . -``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise KeystoreError(
            f"invalid identity name {name!r}: use 1-64 of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


class Keystore:
    """Identities stored under ``root``; see the module docstring for the layout."""

    def __init__(self, root: Path, passphrase: bytes | None = None) -> None:
        self.root = Path(root)
        self._passphrase = passphrase or None

    def _path(self, name: str) -> Path:
        return self.root / f"{validate_name(name)}.pem"

    def create(self, name: str) -> Identity:
        """Generate and store a new identity called ``name``."""
        identity = Identity.generate(validate_name(name))
        self.add(identity)
        return identity

    def add(self, identity: Identity) -> None:
        """Store ``identity``; refuse if its name is taken."""
        path = self._path(identity.name)
        if path.exists():
            raise KeystoreError(f"identity {identity.name!r} already exists in {self.root}")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        encryption = (
            BestAvailableEncryption(self._passphrase) if self._passphrase else NoEncryption()
        )
        pem = identity.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".pem")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            # link() fails if the target exists, so two racing creators cannot
            # both win (rename would silently replace).
            os.link(tmp, path)
        except FileExistsError:
            raise KeystoreError(f"identity {identity.name!r} already exists") from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    def load(self, name: str) -> Identity:
        """Load the identity called ``name``."""
        path = self._path(name)
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise KeystoreError(
                f"no identity {name!r} in {self.root}; create it with `plexnet id new {name}`"
            ) from None
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeystoreError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            key = load_pem_private_key(pem, password=self._passphrase)
        except (ValueError, TypeError) as exc:
            raise KeystoreError(f"cannot read identity {name!r}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeystoreError(f"identity {name!r} is not an ed25519 key")
        return Identity(name, key)

    def remove(self, name: str) -> None:
        """Delete an identity's key file (irreversible: its DID can never sign again)."""
        self._path(name).unlink(missing_ok=True)

    def has(self, name: str) -> bool:
        return self._path(name).exists()

    def load_or_create(self, name: str) -> Identity:
        return self.load(name) if self.has(name) else self.create(name)

    def names(self) -> list[str]:
        """Names of all stored identities, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.pem") if _NAME.fullmatch(p.stem))
