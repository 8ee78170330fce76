"""Multihash vectors (multiformats/multihash) and the strictness of the base decoders."""

import csv
from pathlib import Path

import pytest

from plexnet.core import multiformats as mf
from plexnet.core.errors import InvalidCID

VECTORS = Path(__file__).parent / "vectors" / "multihash" / "tests" / "values" / "test_cases.csv"
ALGORITHMS = {"sha1": "sha1", "sha2-256": "sha2-256", "sha2-512": "sha2-512", "sha3": "sha3-512"}


def _cases():
    with VECTORS.open() as fh:
        return [pytest.param(r, id=f"{r['algorithm']}-{r['bits']}-{i}")
                for i, r in enumerate(csv.DictReader(fh))]


@pytest.mark.parametrize("row", _cases())
def test_multihash_vectors(row):
    data = row["input"].encode("ascii")
    got = mf.multihash_digest(data, ALGORITHMS[row["algorithm"]], int(row["bits"]))
    assert got.hex() == row["multihash"]
    code, digest, end = mf.multihash_decode(got)
    assert end == len(got) and mf.multihash_encode(code, digest) == got


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_round_trip(value):
    encoded = mf.varint_encode(value)
    assert mf.varint_decode(encoded) == (value, len(encoded))


@pytest.mark.parametrize("data", [b"\x80\x00", b"\x81\x80\x00", b"\x80", b"\xff" * 10])
def test_varint_rejects_non_minimal_truncated_and_overlong(data):
    with pytest.raises(InvalidCID):
        mf.varint_decode(data)


@pytest.mark.parametrize("data", [b"", b"\x00", b"hello world", bytes(range(256))])
def test_base32_and_base58_round_trip(data):
    assert mf.b32decode(mf.b32encode(data)) == data
    if data:
        assert mf.b58decode(mf.b58encode(data)) == data


@pytest.mark.parametrize("text", ["ABC", "a0", "a", "aab", "abc1"])
def test_base32_rejects_bad_text(text):
    with pytest.raises(InvalidCID):
        mf.b32decode(text)


def test_base32_rejects_nonzero_padding_bits():
    assert mf.b32encode(b"\x00") == "aa"
    with pytest.raises(InvalidCID, match="padding"):
        mf.b32decode("ab")


@pytest.mark.parametrize("text", ["0OIl", "abc+", ""])
def test_base58_rejects_bad_text(text):
    with pytest.raises(InvalidCID):
        mf.b58decode(text)


def test_multihash_rejects_unknown_algorithm_and_bad_lengths():
    with pytest.raises(InvalidCID):
        mf.multihash_digest(b"x", "md5")
    with pytest.raises(InvalidCID):
        mf.multihash_digest(b"x", "sha2-256", 12)
    with pytest.raises(InvalidCID, match="exceeds"):
        mf.multihash_decode(mf.varint_encode(0x12) + mf.varint_encode(33) + bytes(33))
    with pytest.raises(InvalidCID, match="declares"):
        mf.multihash_decode(mf.varint_encode(0x12) + mf.varint_encode(32) + bytes(31))
