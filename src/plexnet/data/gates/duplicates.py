"""Exact duplicates: the same content twice, whoever sent it and under whatever label.

A record's content id (``Records.content_ids``: SHA-256 of its features, string
columns or text, without label, contributor or provenance) is compared with every
record already in the dataset and every earlier record of the batch. A repeat is
rejected, naming the original; when the two labels differ the reason says so, since
a relabelled copy is also a label conflict. Cost: one hash per record, one set.
"""

from __future__ import annotations

from dataclasses import dataclass

from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.data.records import Records

__all__ = ["ExactDuplicates"]


@register("exact_duplicates")
@dataclass(frozen=True)
class ExactDuplicates(Gate):
    """Reject records whose content already is in the dataset or earlier in the batch."""

    action: Action = "reject"  # a copy adds nothing but weight on one record

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        first: dict[bytes, tuple[str, int]] = {}
        if ctx.existing is not None:
            for i, cid in enumerate(ctx.existing.content_ids()):
                first.setdefault(cid, ("dataset", i))
        labels = {"dataset": None if ctx.existing is None else ctx.existing.y, "batch": batch.y}
        findings = []
        for i, cid in enumerate(batch.content_ids()):
            seen = first.get(cid)
            if seen is None:
                first[cid] = ("batch", i)
                continue
            where, j = seen
            other = int(labels[where][j])  # type: ignore[index]
            mine = int(batch.y[i])
            reason = f"exact copy of {where} record {j}" + (
                f" under another label ({ctx.schema.labels[other]} there, "
                f"{ctx.schema.labels[mine]} here)" if other != mine else "")
            findings.append(Finding(i, self.action, reason, 1.0, f"{where}:{j}"))
        return GateResult(self.name, tuple(findings), {"duplicates": len(findings)})
