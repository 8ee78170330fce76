"""Record proofs that verify offline: this record is in dataset N@v, and N@v is on the ledger.

A :class:`RecordProof` chains two RFC 9162 inclusion proofs:

1. the record's leaf (its canonical bytes: content, label, contributor and
   provenance) is leaf ``index`` of the dataset version's Merkle tree, whose root is
   ``root``;
2. the ``dataset.publish`` entry that put ``root`` on the ledger — signed by the
   publisher — is leaf ``seq`` of the ledger, under a tree head signed by the
   operator.

:func:`check_record_proof` needs nothing but the proof (and, to pin the log, the
operator's DID): no ledger, no blob store, no network.
"""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from plexnet.core import canonical
from plexnet.data.dataset import Manifest
from plexnet.data.errors import IntegrityError
from plexnet.ledger import Entry, EntryRejected, Ledger, NotFound, ProofError, merkle
from plexnet.ledger.kinds.datasets import DatasetPublish
from plexnet.ledger.treehead import InclusionProof, SignedTreeHead

__all__ = ["RecordProof", "check_record_proof", "prove_record"]

HexHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class RecordProof(BaseModel):
    """A record's proof of membership in a published dataset version (see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    dataset: str
    index: Annotated[int, Field(ge=0)]
    record: str                       # the record's leaf bytes (canonical JSON text)
    records: Annotated[int, Field(ge=1)]
    path: list[HexHash]
    root: HexHash
    publish_entry: str                # the dataset.publish entry's bytes, base64
    entry_proof: InclusionProof
    head: SignedTreeHead


def prove_record(ledger: Ledger, manifest: Manifest, index: int,
                 record_bytes: bytes) -> RecordProof:
    """The proof that record ``index`` of ``manifest`` (whose leaf bytes are
    ``record_bytes``) is in the version published on ``ledger``.

    Raises:
        NotFound: if the version is not on the ledger or ``index`` is out of range.
        IntegrityError: if the record or the manifest does not match the ledger.
    """
    if not 0 <= index < len(manifest.leaves):
        raise NotFound(f"{manifest.ref} has records 0..{len(manifest.leaves) - 1}, not {index}")
    if merkle.leaf_hash(record_bytes).hex() != manifest.leaves[index]:
        raise IntegrityError(f"record {index} does not match {manifest.ref}'s leaf")
    row = ledger.row("datasets", manifest.ref)
    if row is None:
        raise NotFound(f"{manifest.ref} is not published on this ledger")
    if row["root"] != manifest.root:
        raise IntegrityError(f"{manifest.ref}: the manifest's root is not the ledger's")
    head = ledger.head()
    stored = ledger.get(int(row["published_seq"]))
    path = merkle.inclusion_proof([bytes.fromhex(h) for h in manifest.leaves], index)
    return RecordProof(
        dataset=manifest.ref, index=index, record=record_bytes.decode("utf-8"),
        records=len(manifest.leaves), path=[h.hex() for h in path], root=manifest.root,
        publish_entry=base64.b64encode(stored.data).decode("ascii"),
        entry_proof=ledger.inclusion_proof(stored.seq, head.size), head=head)


def check_record_proof(proof: RecordProof, operator_did: str | None = None) -> dict[str, str]:
    """Check every link of ``proof``; return what it proves (dataset, contributor, ...).

    Raises:
        ProofError: naming the first link that does not hold.
    """
    leaf = merkle.leaf_hash(proof.record.encode("utf-8"))
    merkle.verify_inclusion(leaf, proof.index, proof.records,
                            [bytes.fromhex(h) for h in proof.path], bytes.fromhex(proof.root))
    data = base64.b64decode(proof.publish_entry)
    try:
        entry = Entry.from_bytes(data)
        body = entry.verify()
    except (EntryRejected, ValueError) as exc:
        raise ProofError(f"the publish entry does not verify: {exc}") from None
    if not isinstance(body, DatasetPublish):
        raise ProofError(f"the entry is a {entry.kind}, not a dataset.publish")
    if f"{body.name}@{body.version}" != proof.dataset or body.root != proof.root or \
            body.records != proof.records:
        raise ProofError(f"the publish entry is for {body.name}@{body.version} with root "
                         f"{body.root[:16]}…, not this proof's dataset and root")
    if proof.entry_proof.leaf_hash != merkle.leaf_hash(data).hex():
        raise ProofError("the ledger inclusion proof is for another entry")
    proof.entry_proof.verify()
    if (proof.entry_proof.root, proof.entry_proof.tree_size) != (proof.head.root,
                                                                 proof.head.size):
        raise ProofError("the ledger inclusion proof does not end at the signed tree head")
    proof.head.verify(operator_did)
    record = canonical.loads(proof.record)
    return {"dataset": proof.dataset, "index": str(proof.index), "contributor": record["by"],
            "provenance": record["prov"]["tag"], "publisher": entry.signer,
            "ledger_entry": str(proof.entry_proof.seq), "tree_size": str(proof.head.size)}
