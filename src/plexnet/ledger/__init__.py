"""ledger — the verifiable log every layer writes to, and the state projected from it.

Modules:
    merkle (merkle.py)     — RFC 9162 §2.1: leaf/node hashes, roots, proofs, verifiers (pure)
    subtree (subtree.py)   — subtree inclusion/consistency proofs (Merkle Tree Certificates)
    errors (errors.py)     — LedgerError, ProofError, EntryRejected, NotFound, VerificationFailed
    entry (entry.py)       — Entry (signed, versioned envelope), Body plug-ins, register
    kinds/                 — the spine's entry kinds: identity, credits, jobs, datasets, models
    schema (schema.py)     — SQLAlchemy tables: the log, the tree, tree heads, projections
    state (state.py)       — DatabaseState (in-transaction) and MemoryState (replay) views
    tree (tree.py)         — the stored tree: O(log n) node reads for proofs and frontier
    treehead (treehead.py) — SignedTreeHead, InclusionProof, ConsistencyProof wire models
    log (log.py)           — Ledger: atomic batched append, heads, proofs, projections
    verify (verify.py)     — verify_ledger: full replay of signatures, hashes, heads, tables
"""

from plexnet.ledger import kinds as kinds
from plexnet.ledger.entry import Body, Entry, register
from plexnet.ledger.errors import (
    EntryRejected,
    LedgerError,
    NotFound,
    ProofError,
    VerificationFailed,
)
from plexnet.ledger.log import Ledger, StoredEntry
from plexnet.ledger.treehead import ConsistencyProof, InclusionProof, SignedTreeHead
from plexnet.ledger.verify import VerifyReport, verify_ledger

__all__ = [
    "Body",
    "ConsistencyProof",
    "Entry",
    "EntryRejected",
    "InclusionProof",
    "Ledger",
    "LedgerError",
    "NotFound",
    "ProofError",
    "SignedTreeHead",
    "StoredEntry",
    "VerificationFailed",
    "VerifyReport",
    "kinds",
    "register",
    "verify_ledger",
]
