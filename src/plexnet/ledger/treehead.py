"""Signed tree heads (STH) and the proofs the log hands out, as wire models.

A tree head commits the operator to the log's first ``size`` entries::

    {"log_id": "...", "root": "<hex sha-256>", "sig": "...", "signer": "did:key:...",
     "size": 42, "time_ms": 1764331200000, "v": 1}

signed under the domain ``tree-head``. Anyone holding two heads can ask for a
consistency proof between them and check it offline; anyone holding an entry
can check its inclusion proof against a head. Both proofs carry hex hashes.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from plexnet.core.errors import CoreError
from plexnet.core.identity import Identity, verify_json
from plexnet.ledger import merkle
from plexnet.ledger.errors import ProofError

__all__ = ["STH_DOMAIN", "ConsistencyProof", "InclusionProof", "SignedTreeHead"]

STH_DOMAIN: Final = "tree-head"
HexHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SignedTreeHead(BaseModel):
    model_config = _FROZEN

    v: Literal[1] = 1
    log_id: str
    size: Annotated[int, Field(ge=0)]
    root: HexHash
    time_ms: int
    signer: str
    sig: str

    @classmethod
    def create(cls, operator: Identity, log_id: str, size: int, root: bytes,
               time_ms: int) -> SignedTreeHead:
        unsigned = {"v": 1, "log_id": log_id, "size": size, "root": root.hex(),
                    "time_ms": time_ms, "signer": operator.did}
        return cls(**unsigned, sig=operator.sign_json(STH_DOMAIN, unsigned))

    def verify(self, operator_did: str | None = None) -> None:
        """Check the signature (and, if given, that the operator signed it).

        Raises:
            ProofError: if the head is not validly signed by the expected operator.
        """
        if operator_did is not None and self.signer != operator_did:
            raise ProofError(f"tree head signed by {self.signer}, not the operator")
        try:
            verify_json(self.signer, STH_DOMAIN, self.model_dump(exclude={"sig"}), self.sig)
        except CoreError as exc:
            raise ProofError(f"tree head of size {self.size}: {exc}") from None


class InclusionProof(BaseModel):
    """Leaf ``seq`` is in the tree of ``tree_size`` whose root is ``root``."""

    model_config = _FROZEN

    seq: int
    tree_size: int
    leaf_hash: HexHash
    path: list[HexHash]
    root: HexHash

    def verify(self) -> None:
        merkle.verify_inclusion(bytes.fromhex(self.leaf_hash), self.seq, self.tree_size,
                                [bytes.fromhex(h) for h in self.path], bytes.fromhex(self.root))


class ConsistencyProof(BaseModel):
    """The tree of ``new_size`` extends the tree of ``old_size``."""

    model_config = _FROZEN

    old_size: int
    new_size: int
    old_root: HexHash
    new_root: HexHash
    path: list[HexHash]

    def verify(self) -> None:
        merkle.verify_consistency(self.old_size, self.new_size, bytes.fromhex(self.old_root),
                                  bytes.fromhex(self.new_root),
                                  [bytes.fromhex(h) for h in self.path])



