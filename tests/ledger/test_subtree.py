"""Subtree inclusion and consistency proofs: transparency-dev vectors, round trips, bad input."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from plexnet.ledger.errors import ProofError
from plexnet.ledger.merkle import EMPTY_ROOT, leaf_hash, root
from plexnet.ledger.subtree import (
    is_valid_subtree,
    subtree_consistency_proof,
    subtree_inclusion_proof,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

_IN_REPO = Path(__file__).parent / "vectors" / "transparency-dev" / "testdata"
_SHARED = Path("/work/shared/testdata/merkle_rfc6962/transparency-dev_merkle/testdata")


def _vector_root() -> Path:
    """The transparency-dev ``testdata`` folder, preferring the copy in the repository."""
    return _IN_REPO if _IN_REPO.is_dir() else _SHARED


def _vector_files() -> list[str]:
    base = _vector_root()
    return sorted(
        p.relative_to(base).as_posix()
        for folder in ("subtreeinclusion", "subtreeconsistency")
        for p in (base / folder).rglob("*.json")
    )


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(value: list[str] | None) -> list[bytes]:
    # JSON null is a nil Go slice, which the Go verifier reads as an empty proof.
    return [_b64(p) for p in value or []]


def _check_vector(rel: str) -> None:
    v: dict[str, Any] = json.loads((_vector_root() / rel).read_text())
    if rel.startswith("subtreeinclusion/"):
        verify_subtree_inclusion(_b64(v["leafHash"]), v["leafIdx"], v["start"], v["end"],
                                 _proof(v["proof"]), _b64(v["root"]))
    else:
        verify_subtree_consistency(v["start"], v["end"], v["size"], _b64(v["root1"]),
                                   _b64(v["root2"]), _proof(v["proof"]))


VECTORS = _vector_files()


def test_vectors_found() -> None:
    assert len(VECTORS) == 322, _vector_root()


@pytest.mark.parametrize("rel", VECTORS, ids=VECTORS)
def test_vector(rel: str) -> None:
    want_err = json.loads((_vector_root() / rel).read_text())["wantErr"]
    if want_err:
        with pytest.raises(ProofError):
            _check_vector(rel)
    else:
        _check_vector(rel)


# --- round trips -----------------------------------------------------------------

MAX_SIZE = 40
LEAVES = [leaf_hash(bytes([i])) for i in range(MAX_SIZE + 1)]


def _subtrees(size: int) -> list[tuple[int, int]]:
    return [(s, e) for e in range(1, size + 1) for s in range(e) if is_valid_subtree(s, e)]


def _flipped(proof: list[bytes]) -> list[list[bytes]]:
    """Every proof with one bit of one element flipped (a low and a high bit per element)."""
    out = []
    for i, h in enumerate(proof):
        for byte, bit in ((0, 0x01), (31, 0x80)):
            bad = bytearray(h)
            bad[byte] ^= bit
            out.append([*proof[:i], bytes(bad), *proof[i + 1:]])
    return out


def _fails(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except ProofError:
        return True
    return False


def test_is_valid_subtree() -> None:
    assert is_valid_subtree(0, 1) and is_valid_subtree(0, 13) and is_valid_subtree(8, 13)
    assert is_valid_subtree(4, 8) and is_valid_subtree(7, 8) and is_valid_subtree(16, 32)
    for s, e in [(0, 0), (3, 3), (5, 4), (1, 3), (2, 5), (2, 6), (4, 9), (1, 15), (-1, 0)]:
        assert not is_valid_subtree(s, e), (s, e)
    assert not is_valid_subtree(1, 9223372036854775810)


def test_draft_example_proof() -> None:
    # The [8, 13) in 14 example: MTH(12:13), MTH(13:14), MTH(8:12), MTH(0:8).
    leaves = LEAVES[:14]
    want = [root(leaves[12:13]), root(leaves[13:14]), root(leaves[8:12]), root(leaves[0:8])]
    assert subtree_consistency_proof(leaves, 8, 13) == want


@pytest.mark.parametrize("end", range(1, MAX_SIZE + 1))
def test_inclusion_round_trip(end: int) -> None:
    leaves = LEAVES[:end]
    for s, e in [(s, e) for s, e in _subtrees(end) if e == end]:
        sub_root = root(leaves[s:e])
        for i in range(s, e):
            proof = subtree_inclusion_proof(leaves, i, s, e)
            verify_subtree_inclusion(leaves[i], i, s, e, proof, sub_root)
            for bad in _flipped(proof):
                assert _fails(verify_subtree_inclusion, leaves[i], i, s, e, bad, sub_root)
            for j in {s, i - 1, i + 1, e - 1} - {i}:
                assert _fails(verify_subtree_inclusion, leaves[i], j, s, e, proof, sub_root)
            assert _fails(verify_subtree_inclusion, LEAVES[MAX_SIZE], i, s, e, proof, sub_root)


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_consistency_round_trip(size: int) -> None:
    leaves = LEAVES[:size]
    tree_root = root(leaves)
    for s, e in _subtrees(size):
        sub = root(leaves[s:e])
        proof = subtree_consistency_proof(leaves, s, e)
        verify_subtree_consistency(s, e, size, sub, tree_root, proof)
        for bad in _flipped(proof):
            assert _fails(verify_subtree_consistency, s, e, size, sub, tree_root, bad)
        assert _fails(verify_subtree_consistency, s, e, size, sub, tree_root, [*proof, sub])
        for bad_sub in _flipped([sub]):
            assert _fails(verify_subtree_consistency, s, e, size, bad_sub[0], tree_root, proof)
        if sub != tree_root:
            assert _fails(verify_subtree_consistency, s, e, size, sub, sub, proof)
        if proof:
            assert _fails(verify_subtree_consistency, s, e, size, sub, tree_root, proof[:-1])
        # Hashes do not bind the size (a signed tree head does), so a wrong size is
        # checked against that size's own root: only its genuine proof may pass.
        for other in {size - 1, size + 1} - {0}:
            if other < e:
                continue
            other_leaves = LEAVES[:other]
            genuine = subtree_consistency_proof(other_leaves, s, e)
            passed = not _fails(verify_subtree_consistency, s, e, other, sub,
                                root(other_leaves), proof)
            assert passed == (proof == genuine), (s, e, size, other)
        # A neighbouring subtree with its own hash must not pass with this proof.
        for s2, e2 in [(s, e + 1), (s, e - 1), (s + 1, e), (s - 1, e)]:
            if (s2, e2) != (s, e) and is_valid_subtree(s2, e2) and e2 <= size:
                sub2 = root(leaves[s2:e2])
                assert _fails(verify_subtree_consistency, s2, e2, size, sub2, tree_root, proof)


@pytest.mark.parametrize("end", range(1, 17))
def test_prefix_subtree_is_rfc9162_consistency(end: int) -> None:
    # The draft: SUBTREE_PROOF(0, end, D[n]) = PROOF(end, D[n]).
    from plexnet.ledger.merkle import consistency_proof

    for size in range(end, end + 9):
        leaves = LEAVES[:size]
        assert subtree_consistency_proof(leaves, 0, end) == consistency_proof(leaves, end)


def test_empty_range() -> None:
    verify_subtree_consistency(3, 3, 5, EMPTY_ROOT, root(LEAVES[:5]), [])
    for args in [(3, 3, 5, root(LEAVES[:1]), EMPTY_ROOT, []),
                 (3, 3, 5, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
                 (6, 6, 5, EMPTY_ROOT, EMPTY_ROOT, [])]:
        with pytest.raises(ProofError):
            verify_subtree_consistency(*args)
    with pytest.raises(ProofError):
        subtree_consistency_proof(LEAVES[:5], 3, 3)


# --- bad input ----------------------------------------------------------------------

H = LEAVES[0]
HUGE = 9223372036854775810
INCLUSION_OK = {"leaf_hash": H, "index": 0, "start": 0, "end": 1, "proof": [], "root": H}
CONSISTENCY_OK = {"start": 0, "end": 1, "size": 2, "subtree_hash": LEAVES[0],
                  "root": root(LEAVES[:2]), "proof": [LEAVES[1]]}
INT = r"must be an int in \[0, 2\*\*64\)"
LEN = "must be a 32-byte hash"


def test_good_baselines() -> None:
    verify_subtree_inclusion(**INCLUSION_OK)  # type: ignore[arg-type]
    verify_subtree_consistency(**CONSISTENCY_OK)  # type: ignore[arg-type]


# (id, changed arguments, the message the refusal must carry)
BAD_INCLUSION: list[tuple[str, dict[str, Any], str]] = [
    ("huge-index", {"index": HUGE, "end": HUGE + 1}, "shorter than the path"),
    ("huge-end", {"end": HUGE}, "shorter than the path"),
    ("huge-unaligned", {"start": 1, "index": 1, "end": HUGE}, "not a valid subtree"),
    ("2**64-end", {"end": 2**64}, INT),
    ("negative-index", {"index": -1}, INT),
    ("negative-start", {"start": -1}, INT),
    ("bool-index", {"index": False}, INT),
    ("float-end", {"end": 1.0}, INT),
    ("str-start", {"start": "0"}, INT),
    ("index-before-start", {"index": 1, "start": 2, "end": 4}, "outside the subtree"),
    ("index-at-end", {"index": 1}, "outside the subtree"),
    ("empty-subtree", {"end": 0}, "not a valid subtree"),
    ("none-proof", {"proof": None}, "must be a list"),
    ("bytes-proof", {"proof": H}, "must be a list"),
    ("short-element", {"end": 2, "proof": [H[:31]]}, LEN),
    ("long-element", {"end": 2, "proof": [H + b"\0"]}, LEN),
    ("none-element", {"end": 2, "proof": [None]}, LEN),
    ("short-leaf-and-root", {"leaf_hash": H[:31], "root": H[:31]}, LEN),
    ("empty-leaf", {"leaf_hash": b""}, LEN),
    ("str-leaf", {"leaf_hash": H.hex()}, LEN),
    ("none-root", {"root": None}, LEN),
    ("long-root", {"root": H + b"\0"}, LEN),
    ("extra-element", {"proof": [H]}, "longer than the path"),
]


@pytest.mark.parametrize(("change", "match"), [c[1:] for c in BAD_INCLUSION],
                         ids=[c[0] for c in BAD_INCLUSION])
def test_bad_inclusion_input(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ProofError, match=match):
        verify_subtree_inclusion(**{**INCLUSION_OK, **change})


BAD_CONSISTENCY: list[tuple[str, dict[str, Any], str]] = [
    ("huge-size", {"size": HUGE}, "shorter than the path"),
    ("huge-unaligned", {"start": 1, "end": HUGE, "size": HUGE}, "not a valid subtree"),
    ("2**64-size", {"size": 2**64}, INT),
    ("negative-start", {"start": -1}, INT),
    ("bool-end", {"end": True}, INT),
    ("float-size", {"size": 2.0}, INT),
    ("none-proof", {"proof": None}, "must be a list"),
    ("str-proof", {"proof": "x"}, "must be a list"),
    ("short-element", {"proof": [LEAVES[1][:31]]}, LEN),
    ("long-element", {"proof": [LEAVES[1] + b"\0"]}, LEN),
    ("none-element", {"proof": [None]}, LEN),
    ("short-subtree-hash", {"subtree_hash": LEAVES[0][:31]}, LEN),
    ("long-root", {"root": root(LEAVES[:2]) + b"\0"}, LEN),
    ("none-subtree-hash", {"subtree_hash": None}, "must be bytes"),
    ("none-root", {"root": None}, "must be bytes"),
    ("whole-tree-none-hashes", {"size": 1, "subtree_hash": None, "root": None, "proof": []},
     "must be bytes"),
    ("empty-range-none-root", {"start": 1, "end": 1, "subtree_hash": EMPTY_ROOT,
                               "root": None, "proof": []}, "must be bytes"),
    ("end-past-size", {"end": 3}, "ends past the tree size"),
    ("invalid-subtree", {"start": 1, "end": 3, "size": 4}, "not a valid subtree"),
    ("empty-proof", {"proof": []}, "shorter than the path"),
    ("extra-element", {"proof": [LEAVES[1], LEAVES[1]]}, "longer than the path"),
]


@pytest.mark.parametrize(("change", "match"), [c[1:] for c in BAD_CONSISTENCY],
                         ids=[c[0] for c in BAD_CONSISTENCY])
def test_bad_consistency_input(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ProofError, match=match):
        verify_subtree_consistency(**{**CONSISTENCY_OK, **change})


def test_uint64_bound() -> None:
    # Leaf 2**64 - 2 is the last one a uint64-sized tree can hold; past it, even a
    # self-consistent proof is refused.
    top = 2**64 - 1
    verify_subtree_inclusion(H, top - 1, top - 1, top, [], H)
    with pytest.raises(ProofError, match=r"2\*\*64"):
        verify_subtree_inclusion(H, top, top, top + 1, [], H)
    with pytest.raises(ProofError, match=r"2\*\*64"):
        verify_subtree_consistency(0, 1, top + 1, H, H, [H])


@pytest.mark.parametrize(("index", "start", "end"),
                         [(0, 0, 0), (1, 1, 3), (2, 0, 2), (0, 0, 9), (HUGE, 0, HUGE + 1),
                          (-1, 0, 1), (True, 0, 2)])
def test_bad_generator_input(index: int, start: int, end: int) -> None:
    with pytest.raises(ProofError):
        subtree_inclusion_proof(LEAVES[:8], index, start, end)
    if not (is_valid_subtree(start, end) and end <= 8) or type(start) is not int:
        with pytest.raises(ProofError):
            subtree_consistency_proof(LEAVES[:8], start, end)
