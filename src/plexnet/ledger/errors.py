"""Errors of the ledger layer.

::

    PlexnetError                      (core/errors.py)
    └── LedgerError
        ├── ProofError                a Merkle proof is malformed or does not verify
        ├── EntryRejected             an entry is invalid: bad signature, unknown signer,
        │                             replay, not allowed, insufficient funds, ...
        ├── NotFound                  no such entry, tree head, account or record
        └── VerificationFailed        `ledger verify` found a mismatch (names the row)
"""

from __future__ import annotations

from plexnet.core.errors import PlexnetError

__all__ = ["EntryRejected", "LedgerError", "NotFound", "ProofError", "VerificationFailed"]


class LedgerError(PlexnetError):
    """An error in the ledger layer."""


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""


class EntryRejected(LedgerError):
    """The log refused an entry; the message says why."""


class NotFound(LedgerError):
    """The requested entry, tree head, account or record does not exist."""


class VerificationFailed(LedgerError):
    """A full replay found a mismatch; ``problems`` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:3])
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        super().__init__(f"ledger verification failed: {shown}{more}")
