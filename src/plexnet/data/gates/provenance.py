"""Provenance: an augmented record must be what it says it is.

A record tagged ``augmented`` claims to be ``transform(params)`` of the record whose
leaf hash is ``parent``. This gate checks the claim for image datasets with
:func:`plexnet.data.augment.verify_augmented`: the parent must be in the dataset
(or earlier in the batch, for a chain), carry the same label, and the transform
re-applied to it must give the child's pixels exactly. A child whose parent is not
there, or whose pixels the recorded transform does not reproduce, is rejected: its
provenance is false, and provenance is what the commons promises about every record.

Other kinds (tabular, text) have no registered transforms; there an ``augmented``
record is only checked for a parent in the dataset, and flagged when it has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.data.records import Records

__all__ = ["ProvenanceCheck"]


@register("provenance")
@dataclass(frozen=True)
class ProvenanceCheck(Gate):
    """Reject augmented records that their parent and transform do not reproduce."""

    atol: float = 0.0  # pixel tolerance; exact, since the same code gives the same bits
    action: Action = "reject"  # a false provenance claim is not a matter of review

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        children = [i for i, p in enumerate(batch.provenance) if p.tag == "augmented"]
        if not children:
            return GateResult(self.name, (), {"augmented": 0})
        pool = ctx.candidates(batch)
        start = ctx.offset()
        leaves = {leaf.hex(): i for i, leaf in enumerate(pool.leaf_hashes())}
        findings = []
        if ctx.schema.kind == "image":
            from plexnet.data.augment import verify_augmented

            ok = verify_augmented(batch.subset(children), pool, ctx.schema, atol=self.atol)
        else:
            ok = np.ones(len(children), dtype=bool)
        for k, i in enumerate(children):
            parent = leaves.get(batch.provenance[i].parent or "")
            if parent is None or parent >= start + i:
                reason = ("augmented from a record that is not in the dataset or earlier in "
                          "the batch")
            elif not ok[k]:
                prov = batch.provenance[i]
                reason = (f"{prov.transform}({prov.params}) of its parent does not give this "
                          "record (or the labels differ)")
            else:
                continue
            action = self.action if ctx.schema.kind == "image" else "flag"
            where = f"dataset:{parent}" if parent is not None and parent < start else (
                None if parent is None else f"batch:{parent - start}")
            findings.append(Finding(i, action, reason, None, where))
        return GateResult(self.name, tuple(findings),
                          {"augmented": len(children), "failed": len(findings)})
