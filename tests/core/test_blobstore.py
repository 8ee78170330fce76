"""The blob store contract, run against every backend (only the local one so far)."""

import io
import os

import pytest

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.cid import CID, DAG_PB, SHA2_256, cid_for, parse
from plexnet.core.errors import BlobCorrupted, BlobNotFound, InvalidCID, UnsafePath


@pytest.fixture(params=["local"])
def store(request, tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def test_put_get_round_trip(store):
    cid = store.put(b"hello")
    assert cid == cid_for(b"hello")
    assert store.has(cid) and store.get(cid) == b"hello" and store.size(cid) == 5
    assert store.put(b"hello") == cid  # idempotent
    assert list(store.cids()) == [cid]


def test_streams_in_and_out(store):
    data = os.urandom(3 * 1024 * 1024 + 17)
    cid = store.put(io.BytesIO(data))
    assert cid == cid_for(data)
    with store.open(cid) as stream:
        chunks = []
        while chunk := stream.read(65536):
            chunks.append(chunk)
    assert b"".join(chunks) == data


def test_any_cid_of_the_same_digest_finds_the_blob(store):
    cid = store.put(b"abc")
    digest = parse(cid).digest
    v0 = CID(0, DAG_PB, SHA2_256, digest).encode()
    assert store.get(v0) == b"abc"


def test_missing_blob(store):
    with pytest.raises(BlobNotFound):
        store.get(cid_for(b"never stored"))
    assert not store.has(cid_for(b"never stored"))


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "bafk/../../x", "", "."])
def test_names_cannot_escape(store, name):
    with pytest.raises(InvalidCID):
        store.get(name)


def test_non_sha256_cids_are_refused(store):
    from plexnet.core.multiformats import b32encode, multihash_digest, varint_encode

    sha1_cid = "b" + b32encode(varint_encode(1) + varint_encode(0x55)
                               + multihash_digest(b"x", "sha1"))
    with pytest.raises(InvalidCID, match="sha2-256"):
        store.get(sha1_cid)


def test_corruption_is_detected_on_read_and_healed_by_put(tmp_path):
    store = LocalBlobStore(tmp_path)
    cid = store.put(b"precious bytes")
    path = store.path_for(cid)
    path.write_bytes(b"precious bytez")
    with pytest.raises(BlobCorrupted):
        store.get(cid)
    with pytest.raises(BlobCorrupted), store.open(cid) as stream:
        stream.read()
    assert store.put(b"precious bytes") == cid
    assert store.get(cid) == b"precious bytes"


def test_symlinked_fanout_directory_cannot_lead_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    store = LocalBlobStore(tmp_path / "blobs")
    cid = cid_for(b"data")
    fan = store.path_for(cid).parent
    fan.symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath):
        store.put(b"data")
    with pytest.raises(UnsafePath):
        store.get(cid)
    assert list(outside.iterdir()) == []


def test_no_temporary_files_are_left_behind(tmp_path):
    store = LocalBlobStore(tmp_path)

    class Exploding(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise OSError("disk on fire")

    with pytest.raises(OSError):
        store.put(Exploding())
    assert [p.name for p in tmp_path.iterdir()] == []
