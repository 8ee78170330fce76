"""RFC 9162 §2.1 Merkle trees: hashes, proofs and their verification, as pure functions.

Hashing (SHA-256 with domain separation, so a leaf can never pass for a node)::

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH({})         = SHA-256()                        (the empty tree)
    MTH(D[n])       = node_hash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of 2 < n

Proof *structure* is computed separately from proof *hashes*: ``inclusion_ranges``
and ``consistency_ranges`` say which leaf ranges ``[start, end)`` a proof is made
of (RFC 9162 §2.1.3.1 and §2.1.4.1). The list functions here hash those ranges
from the leaf list; the stored log (``ledger.tree``) hashes the same ranges from
nodes it keeps on disk, in O(log n) reads. Every range that occurs is "aligned":
it splits into perfect subtrees by :func:`perfect_subtrees`.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and is stricter than a naive
port: every hash must be exactly 32 bytes, proofs must have exactly the expected
length, and a consistency proof from the empty tree is rejected as meaningless
(any tree extends it), as transparency-dev/merkle does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from plexnet.ledger.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "check_hash",
    "consistency_proof",
    "consistency_ranges",
    "fold_subtrees",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256 of 0x00 then the entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256 of 0x01, left, right."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash over ``leaf_hashes`` (the empty tree hashes to SHA-256 of nothing)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _range_hash(leaf_hashes, 0, len(leaf_hashes))


def _range_hash(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) for an aligned range."""
    frontier = Frontier()
    for h in leaves[start:end]:
        frontier.append(h)
    return frontier.root()


class Frontier:
    """The right edge of a growing tree: its perfect subtrees, largest first.

    Appending a leaf merges equal-sized subtrees into their parent, exactly the
    interior nodes a stored log must write; the root is their right-to-left fold.
    A log of ``n`` leaves has at most ``log2(n) + 1`` frontier subtrees.
    """

    __slots__ = ("hashes", "levels", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        self.size = size
        self.levels = [level for level, _ in perfect_subtrees(0, size)]
        self.hashes = list(hashes)
        if len(self.hashes) != len(self.levels):
            raise ValueError(f"a tree of size {size} has {len(self.levels)} frontier subtrees")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the interior nodes it completed as (level, index, hash)."""
        index = self.size
        self.size += 1
        level, value = 0, leaf
        made = []
        while self.levels and self.levels[-1] == level:
            self.levels.pop()
            value = node_hash(self.hashes.pop(), value)
            level += 1
            index >>= 1
            made.append((level, index, value))
        self.levels.append(level)
        self.hashes.append(value)
        return made

    def root(self) -> bytes:
        return fold_subtrees(self.hashes) if self.hashes else EMPTY_ROOT


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Split the aligned range ``[start, end)`` into perfect subtrees, largest first.

    Returns ``(level, index)`` pairs: the subtree of ``2**level`` leaves starting at
    leaf ``index * 2**level``. Folding their hashes right to left
    (:func:`fold_subtrees`) gives MTH of the range.
    """
    out = []
    while start < end:
        level = (end - start).bit_length() - 1
        # Aligned ranges start on a multiple of their largest power of two; other
        # starts would give a different (non-RFC) tree shape, so refuse them.
        if start % (1 << level):
            raise ValueError(f"range [{start}, {end}) is not aligned")
        out.append((level, start >> level))
        start += 1 << level
    return out


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree hashes (largest first) into the hash of their range."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the inclusion proof of ``index`` in a tree of ``size``.

    Ordered from the leaf upwards (RFC 9162 PATH).
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    out: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the consistency proof from ``old_size`` to ``new_size``.

    RFC 9162 PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty when the sizes are
    equal or ``old_size`` is 0.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[tuple[int, int]] = []
    m, start, end, complete = old_size, 0, new_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append((start, end))
            break
        k = _split(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            m -= k
            start += k
            complete = False
    out.reverse()
    return out


def _hash_ranges(leaf_hashes: Sequence[bytes], ranges: list[tuple[int, int]]) -> list[bytes]:
    return [_range_hash(leaf_hashes, s, e) for s, e in ranges]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof (audit path) for leaf ``index`` in the tree over ``leaf_hashes``."""
    return _hash_ranges(leaf_hashes, inclusion_ranges(index, len(leaf_hashes)))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Consistency proof between the tree of the first ``old_size`` leaves and all of them."""
    return _hash_ranges(leaf_hashes, consistency_ranges(old_size, len(leaf_hashes)))


def check_hash(value: bytes, what: str) -> None:
    """Raise ProofError unless ``value`` is a 32-byte hash."""
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash, got {length}")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        check_hash(h, f"proof[{i}]")


def root_from_inclusion(leaf_hash: bytes, index: int, tree_size: int,
                        proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2 steps 1-5).

    Raises:
        ProofError: for a malformed proof (wrong length, bad index, bad hash size).
    """
    check_hash(leaf_hash, "leaf hash")
    _check_proof(proof)
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int,
                     proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    Raises:
        ProofError: on any failure.
    """
    check_hash(root, "root")
    if root_from_inclusion(leaf_hash, index, tree_size, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    Raises:
        ProofError: on any failure, including any ``old_size`` of 0 (meaningless:
            every tree extends the empty one).
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} exceeds new size {new_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if old_size == new_size:
        # Equal sizes prove nothing beyond root equality; like transparency-dev,
        # the roots are compared as given.
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if old_root != new_root:
            raise ProofError("sizes are equal but the roots differ")
        return
    check_hash(old_root, "old root")
    check_hash(new_root, "new root")
    _check_proof(proof)
    if not proof:
        raise ProofError("consistency proof is empty")

    path = list(proof)
    # If old_size is a power of two, the old root itself starts the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")


