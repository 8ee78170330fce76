"""Subtree inclusion and consistency proofs of Merkle Tree Certificates, as pure functions.

draft-davidben-tls-merkle-tree-certs (now draft-ietf-plants-merkle-tree-certs)
extends the RFC 9162 trees of :mod:`plexnet.ledger.merkle` with *subtrees*: a
subtree ``[start, end)`` is valid iff ``0 <= start < end`` and ``start`` is a
multiple of ``BIT_CEIL(end - start)``, the smallest power of two >= ``end - start``.
Such a range has the shape of an RFC 9162 tree of ``end - start`` leaves, so its
hash is ``MTH(D[start:end])``. Two proofs are defined over it:

* a *subtree inclusion proof* shows that a leaf is entry ``index`` of the subtree
  with a given hash: it is the RFC 9162 inclusion proof of ``index - start`` in
  the tree of ``end - start`` leaves;
* a *subtree consistency proof* (draft appendix B) shows that a subtree hash is
  that of ``[start, end)`` in the tree of ``size`` leaves with a given root. With
  ``start == 0`` it is exactly the RFC 9162 consistency proof from ``end`` to ``size``.

Verification is stricter than a naive port (the Go reference compares a root of any
length, and a hash function accepts any bytes): every hash that is hashed or checked
is exactly 32 bytes, proofs must be lists or tuples of exactly the expected length,
and indices are ints in ``[0, 2**64)`` (RFC 9162 sizes are uint64). Bad input of any
kind raises :class:`ProofError`, never another exception. Two trivial cases follow
transparency-dev/merkle, whose vectors fix them: with ``start == 0`` and
``end == size`` the proof is empty and the two hashes are compared as given; an
empty range ``[start, start)`` with ``start <= size`` is accepted with an empty proof
iff its hash is ``MTH({})``, whatever the root (it is contained in every tree).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from plexnet.ledger.errors import ProofError
from plexnet.ledger.merkle import (
    EMPTY_ROOT,
    check_hash,
    inclusion_proof,
    node_hash,
    verify_inclusion,
)
from plexnet.ledger.merkle import (
    root as _mth,
)

__all__ = [
    "is_valid_subtree",
    "subtree_consistency_proof",
    "subtree_inclusion_proof",
    "verify_subtree_consistency",
    "verify_subtree_inclusion",
]

_MAX_INDEX: Final = (1 << 64) - 1


def is_valid_subtree(start: int, end: int) -> bool:
    """Whether ``[start, end)`` is non-empty and ``start`` a multiple of BIT_CEIL(end - start)."""
    if not 0 <= start < end:
        return False
    # BIT_CEIL(n) is 1 << bit_length(n - 1); n == 1 gives 1, which divides everything.
    return start % (1 << (end - start - 1).bit_length()) == 0


def _check_index(value: object, what: str) -> int:
    # bool is an int subclass; True as a leaf index is a caller bug, not a 1.
    if type(value) is not int or not 0 <= value <= _MAX_INDEX:
        raise ProofError(f"{what} must be an int in [0, 2**64), got {value!r}")
    return value


def _check_proof(proof: object) -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise ProofError(f"proof must be a list of hashes, got {type(proof).__name__}")
    for i, h in enumerate(proof):
        check_hash(h, f"proof[{i}]")
    return list(proof)


def _check_subtree(start: object, end: object, size: object) -> tuple[int, int, int]:
    s, e, n = _check_index(start, "start"), _check_index(end, "end"), _check_index(size, "size")
    if not is_valid_subtree(s, e):
        raise ProofError(f"[{s}, {e}) is not a valid subtree")
    if e > n:
        raise ProofError(f"subtree [{s}, {e}) ends past the tree size {n}")
    return s, e, n


def _consistency_ranges(start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form SUBTREE_PROOF(start, end, D[size]), deepest first."""
    out: list[tuple[int, int]] = []
    lo, hi, known = 0, size, True
    while (lo, hi) != (start, end):
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        if end <= mid:
            out.append((mid, hi))
            hi = mid
        elif start >= mid:
            out.append((lo, mid))
            lo = mid
        else:
            # Straddling mid forces start == lo (validity); what remains to prove
            # is [mid, end), whose hash the verifier does not know, hence known=False.
            out.append((lo, mid))
            lo = start = mid
            known = False
    if not known:
        out.append((lo, hi))
    out.reverse()
    return out


def subtree_inclusion_proof(leaf_hashes: Sequence[bytes], index: int, start: int,
                            end: int) -> list[bytes]:
    """Subtree inclusion proof of leaf ``index`` in the subtree ``[start, end)``.

    Args:
        leaf_hashes: the leaf hashes of the tree the subtree belongs to.
        index: the leaf to prove, with ``start <= index < end``.
        start: first leaf of the subtree.
        end: one past the last leaf of the subtree, at most ``len(leaf_hashes)``.

    Returns:
        The proof hashes, from the leaf upwards.

    Raises:
        ProofError: if the subtree is invalid or does not contain ``index``.
    """
    s, e, _ = _check_subtree(start, end, len(leaf_hashes))
    i = _check_index(index, "index")
    if not s <= i < e:
        raise ProofError(f"leaf index {i} is outside the subtree [{s}, {e})")
    return inclusion_proof(leaf_hashes[s:e], i - s)


def subtree_consistency_proof(leaf_hashes: Sequence[bytes], start: int, end: int) -> list[bytes]:
    """Proof that subtree ``[start, end)`` is part of the tree over all ``leaf_hashes``.

    Args:
        leaf_hashes: the leaf hashes of the whole tree.
        start: first leaf of the subtree.
        end: one past the last leaf of the subtree, at most ``len(leaf_hashes)``.

    Returns:
        The proof hashes, in the order the verifier consumes them.

    Raises:
        ProofError: if the subtree is invalid or extends past the tree.
    """
    s, e, n = _check_subtree(start, end, len(leaf_hashes))
    return [_mth(leaf_hashes[lo:hi]) for lo, hi in _consistency_ranges(s, e, n)]


def verify_subtree_inclusion(leaf_hash: bytes, index: int, start: int, end: int,
                             proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of subtree ``[start, end)`` with hash ``root``.

    Args:
        leaf_hash: the 32-byte leaf hash.
        index: the leaf's index in the whole tree.
        start: first leaf of the subtree.
        end: one past the last leaf of the subtree.
        proof: the subtree inclusion proof.
        root: the 32-byte subtree hash.

    Raises:
        ProofError: on any failure, including malformed input.
    """
    s, e = _check_index(start, "start"), _check_index(end, "end")
    i = _check_index(index, "index")
    if not is_valid_subtree(s, e):
        raise ProofError(f"[{s}, {e}) is not a valid subtree")
    if not s <= i < e:
        raise ProofError(f"leaf index {i} is outside the subtree [{s}, {e})")
    verify_inclusion(leaf_hash, i - s, e - s, _check_proof(proof), root)


def verify_subtree_consistency(start: int, end: int, size: int, subtree_hash: bytes,
                               root: bytes, proof: Sequence[bytes]) -> None:
    """Check that ``subtree_hash`` is MTH of ``[start, end)`` in the tree of ``size`` with ``root``.

    Follows draft-davidben-tls-merkle-tree-certs §4.4.3 (appendix B explains it).

    Args:
        start: first leaf of the subtree.
        end: one past the last leaf of the subtree.
        size: the tree size, at least ``end``.
        subtree_hash: the subtree hash (``MTH({})`` for an empty range).
        root: the root of the tree of ``size``.
        proof: the subtree consistency proof.

    Raises:
        ProofError: on any failure, including malformed input.
    """
    path = _check_proof(proof)
    if not (isinstance(subtree_hash, bytes | bytearray) and isinstance(root, bytes | bytearray)):
        raise ProofError("the subtree hash and the root must be bytes")
    s, e, n = _check_index(start, "start"), _check_index(end, "end"), _check_index(size, "size")
    if s == e and s <= n:
        if path or subtree_hash != EMPTY_ROOT:
            raise ProofError("an empty range needs the empty-tree hash and an empty proof")
        return
    s, e, n = _check_subtree(s, e, n)
    if s == 0 and e == n:
        if path:
            raise ProofError("the subtree is the whole tree but the proof is not empty")
        if subtree_hash != root:
            raise ProofError("the subtree is the whole tree but the hashes differ")
        return
    check_hash(subtree_hash, "subtree hash")
    check_hash(root, "root")
    # fn, sn, tn: paths to the subtree's first and last leaf and the tree's last
    # leaf; each proof hash moves all three up one level.
    fn, sn, tn = s, e - 1, n - 1
    if sn == tn:
        while fn != sn:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    else:
        # Skip the levels where the subtree's right edge is a node of the tree.
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if fn == sn:
        # The subtree is one node of the tree; its hash is not repeated in the proof.
        fr = sr = subtree_hash
    elif path:
        fr = sr = path.pop(0)
    else:
        raise ProofError("subtree consistency proof is empty")
    for p in path:
        if tn == 0:
            raise ProofError("subtree consistency proof is longer than the path")
        if sn & 1 or sn == tn:
            if fn < sn:
                fr = node_hash(p, fr)
            sr = node_hash(p, sr)
            # sn == tn != 0 here, so sn has a set bit and this ends.
            while not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = node_hash(sr, p)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofError("subtree consistency proof is shorter than the path")
    if fr != subtree_hash:
        raise ProofError(f"proof does not lead to the hash of subtree [{s}, {e})")
    if sr != root:
        raise ProofError(f"proof does not lead to the root of the tree of size {n}")
