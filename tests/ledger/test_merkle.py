"""RFC 9162 Merkle functions: every transparency-dev vector, the reference tree, round trips."""

import base64
import json
from pathlib import Path

import pytest

from plexnet.ledger import ProofError, merkle

VECTORS = Path(__file__).parent / "vectors" / "transparency-dev"
TESTDATA = VECTORS / "testdata"


def _b64(value):
    return base64.b64decode(value) if value is not None else b""


def _cases(folder):
    files = sorted((TESTDATA / folder).rglob("*.json"))
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(TESTDATA)))
            for f in files]


INCLUSION = _cases("inclusion")
CONSISTENCY = _cases("consistency")


def test_vector_counts():
    assert len(INCLUSION) == 98 and len(CONSISTENCY) == 98


@pytest.mark.parametrize("v", INCLUSION)
def test_inclusion_vectors(v):
    proof = [_b64(p) for p in v["proof"] or []]
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("v", CONSISTENCY)
def test_consistency_vectors(v):
    proof = [_b64(p) for p in v["proof"] or []]
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


REFERENCE = json.loads((VECTORS / "rfc6962_reference_tree.json").read_text())
LEAVES = [bytes.fromhex(h) for h in REFERENCE["leaf_hashes_hex"]]


def test_reference_tree_leaf_hashes_and_roots():
    inputs = [bytes.fromhex(h) for h in REFERENCE["leaf_inputs_hex"]]
    assert [merkle.leaf_hash(d) for d in inputs] == LEAVES
    for size, want in REFERENCE["root_by_size_hex"].items():
        assert merkle.root(LEAVES[: int(size)]).hex() == want
    assert merkle.root([]) == merkle.EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


# A literal transcription of RFC 9162 §2.1.1-2.1.4, recursion and all: the
# reference the fast functions are held to.
def _mth(d):
    if not d:
        return merkle.EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m, d):
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


SIZES = [*list(range(1, 40)), 63, 64, 65, 100, 127, 128, 129]


@pytest.mark.parametrize("n", SIZES)
def test_proofs_match_the_rfc_definitions_and_verify(n):
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    root = merkle.root(leaves)
    assert root == _mth(leaves)
    for i in range(n):
        proof = merkle.inclusion_proof(leaves, i)
        assert proof == _path(i, leaves)
        merkle.verify_inclusion(leaves[i], i, n, proof, root)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[(i + 1) % n] if n > 1 else b"\0" * 32, i, n, proof,
                                    root)
    for m in range(1, n + 1):
        proof = merkle.consistency_proof(leaves, m)
        assert proof == (_subproof(m, leaves, True) if m < n else [])
        merkle.verify_consistency(m, n, merkle.root(leaves[:m]), root, proof)
        if m < n:
            bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
            with pytest.raises(ProofError):
                merkle.verify_consistency(m, n, merkle.root(leaves[:m]), root, bad)


def test_frontier_grows_like_the_tree_and_emits_every_interior_node():
    frontier = merkle.Frontier()
    made = []
    leaves = []
    for i in range(300):
        leaves.append(merkle.leaf_hash(bytes([i % 256, i // 256])))
        made += frontier.append(leaves[-1])
        assert frontier.root() == merkle.root(leaves)
    # every complete interior node, each exactly once
    expected = {(lvl, idx) for lvl in range(1, 9) for idx in range(300 >> lvl)}
    assert {(lvl, idx) for lvl, idx, _ in made} == expected
    for lvl, idx, h in made:
        assert h == merkle.root(leaves[idx << lvl:(idx + 1) << lvl])
    rebuilt = merkle.Frontier(300, frontier.hashes)
    assert rebuilt.root() == frontier.root()


def test_perfect_subtrees_refuses_unaligned_ranges():
    assert merkle.perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    with pytest.raises(ValueError):
        merkle.perfect_subtrees(1, 5)


@pytest.mark.parametrize("bad", [b"", b"\0" * 31, b"\0" * 33, "ab" * 16])
def test_hashes_must_be_32_bytes(bad):
    leaves = LEAVES[:5]
    proof = merkle.inclusion_proof(leaves, 2)
    root = merkle.root(leaves)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(bad, 2, 5, proof, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaves[2], 2, 5, [bad, *proof[1:]], root)


def test_proof_generation_rejects_bad_indices():
    with pytest.raises(ProofError):
        merkle.inclusion_proof(LEAVES, 8)
    with pytest.raises(ProofError):
        merkle.consistency_proof(LEAVES, 9)
    assert merkle.consistency_proof(LEAVES, 0) == [] == merkle.consistency_proof(LEAVES, 8)
