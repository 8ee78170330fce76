"""Content-addressed blob store: bytes in, CID out; CID in, verified bytes out.

:class:`BlobStore` is the interface every backend implements (local filesystem
now; S3-compatible or IPFS behind the same five methods later) and that one
shared contract test suite checks. Blobs are keyed by their sha2-256 multihash,
as IPFS keys its blockstore, so any CID of the same digest (v0, v1, base32 or
base58) finds the same bytes; names are always written in CIDv1 raw base32.

:class:`LocalBlobStore` lays blobs out as ``<root>/<2 chars>/<cid>`` (the two
characters before the last, as IPFS flatfs does, so directories fill evenly).
Writes go to a temporary file in the root, are fsynced, then renamed into place,
so a reader never sees a half-written blob. File names are derived from parsed
CIDs, never from user text, and every path is checked to resolve inside the
root, so nothing outside it can be read or written through the store.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

from plexnet.core.cid import CID, RAW, SHA2_256, parse
from plexnet.core.errors import BlobCorrupted, BlobNotFound, InvalidCID, UnsafePath

__all__ = ["BlobStore", "LocalBlobStore", "VerifyingReader", "normalize"]

_CHUNK: Final = 1 << 20


def normalize(cid: str | CID) -> CID:
    """The CIDv1 raw form the store files a blob under.

    Raises:
        InvalidCID: if ``cid`` is malformed or not a full sha2-256 digest.
    """
    parsed = parse(cid) if isinstance(cid, str) else cid
    if parsed.hash_code != SHA2_256 or len(parsed.digest) != 32:
        raise InvalidCID(f"{cid}: the blob store holds sha2-256 content only")
    return CID(1, RAW, SHA2_256, parsed.digest)


class VerifyingReader(io.RawIOBase):
    """Streams a blob and checks its digest once the last byte has been read.

    Raises :class:`BlobCorrupted` from the ``read`` that reaches the end if the
    bytes do not hash to the expected digest, so a consumer can never finish
    reading a corrupted artifact without noticing.
    """

    def __init__(self, raw: BinaryIO, cid: CID) -> None:
        super().__init__()
        self._raw = raw
        self._cid = cid
        self._hash = hashlib.sha256()
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self._hash.update(buffer[:n])
        elif not self._done:
            self._done = True
            if self._hash.digest() != self._cid.digest:
                raise BlobCorrupted(f"blob {self._cid} is corrupted: its bytes no longer match")
        return int(n or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


class BlobStore(ABC):
    """What every blob backend provides. Subclasses document their durability."""

    @abstractmethod
    def put(self, data: bytes | BinaryIO) -> str:
        """Store bytes or a binary stream; return its CIDv1 (idempotent)."""

    @abstractmethod
    def open(self, cid: str) -> BinaryIO:
        """A binary stream of the blob that raises ``BlobCorrupted`` at EOF on mismatch."""

    @abstractmethod
    def has(self, cid: str) -> bool:
        """Whether the blob is present (does not verify it)."""

    @abstractmethod
    def size(self, cid: str) -> int:
        """Stored size in bytes."""

    @abstractmethod
    def cids(self) -> Iterator[str]:
        """Every stored CID, in no particular order."""

    def get(self, cid: str) -> bytes:
        """The blob's bytes, verified against ``cid``."""
        with self.open(cid) as stream:
            return stream.read()


class LocalBlobStore(BlobStore):
    """Blobs in a local directory; durable once ``put`` returns (fsync + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()

    def path_for(self, cid: str | CID) -> Path:
        """Where a blob lives; raises ``UnsafePath`` if that would leave the root."""
        name = normalize(cid).encode()
        path = self._real_root / name[-3:-1] / name
        # The name is base32 text we generated, but a fan-out directory could have
        # been replaced by a symlink pointing elsewhere: resolve and check.
        resolved = path.resolve()
        if not resolved.is_relative_to(self._real_root):
            raise UnsafePath(f"{cid}: path {resolved} is outside the store root {self.root}")
        return path

    def put(self, data: bytes | BinaryIO) -> str:
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self._real_root, prefix=".incoming-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    digest.update(data)
                    out.write(data)
                else:
                    while chunk := data.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            cid = CID(1, RAW, SHA2_256, digest.digest())
            final = self.path_for(cid)
            if final.exists() and self._intact(final, cid):
                return cid.encode()
            final.parent.mkdir(exist_ok=True)
            tmp.replace(final)
            _fsync_dir(final.parent)
            return cid.encode()
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, cid: str) -> BinaryIO:
        parsed = normalize(cid)
        path = self.path_for(parsed)
        try:
            raw = path.open("rb")
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {cid} in {self.root}") from None
        return io.BufferedReader(VerifyingReader(raw, parsed))

    def has(self, cid: str) -> bool:
        return self.path_for(cid).is_file()

    def size(self, cid: str) -> int:
        try:
            return self.path_for(cid).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {cid} in {self.root}") from None

    def cids(self) -> Iterator[str]:
        for sub in sorted(self._real_root.iterdir()):
            if sub.is_dir() and not sub.is_symlink():
                for path in sorted(sub.iterdir()):
                    if not path.name.startswith("."):
                        yield path.name

    def _intact(self, path: Path, cid: CID) -> bool:
        """Whether an existing blob file still matches (re-put heals a corrupted one)."""
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return digest.digest() == cid.digest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
