"""Admission: signed batches in, gates run, each record accepted, flagged or rejected.

The dataset's "personality", as Trillian calls the policy in front of a log::

    data.contribute (signed by the contributor)
      → the signature and the batch's Merkle root are checked
      → the schema is checked (a malformed batch is refused whole)
      → every gate judges the batch against the dataset so far
      → each record: accepted, flagged (held for review) or rejected, with reasons
      → a gate report, signed by the curator, goes to the blob store
      → data.admit (report CID and counts) for every batch, then
        dataset.publish of the next version with the accepted records

:func:`judge` is pure: records and gates in, verdicts out. :func:`admit` reads
the batches, runs :func:`judge` on each (each batch also sees the records accepted
from the batches before it), writes the shards and reports to the blob store and
returns the ledger entries to append — one atomic ``ledger.append`` then commits
all of it, or none. A record is rejected if any gate rejects it, flagged if any
gate flags it and none rejects it, accepted otherwise; flagged records stay out of
the version unless the policy admits them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

from plexnet.compute.reputation import Reputation
from plexnet.core import canonical
from plexnet.core.blobstore import BlobStore
from plexnet.core.identity import Identity, verify_json
from plexnet.data.dataset import Derivation, Manifest, load_records, publish, store_schema
from plexnet.data.errors import AdmissionError, GateError
from plexnet.data.gates.base import Finding, Gate, GateContext, GateResult, gate, registered
from plexnet.data.records import Records
from plexnet.data.runner import LocalRunner, UnitRunner
from plexnet.data.schema import Schema, validate
from plexnet.data.shard import read_shard
from plexnet.ledger import Entry, EntryRejected
from plexnet.ledger.kinds.datasets import Contribute, DataAdmit

__all__ = [
    "DEFAULT_GATES",
    "REPORT_DOMAIN",
    "Admission",
    "BatchVerdict",
    "Policy",
    "admit",
    "contributor_reputation",
    "default_policy",
    "jsonable",
    "judge",
    "verify_report",
]

Decision = Literal["accepted", "flagged", "rejected"]
REPORT_DOMAIN: Final = "gate-report"  # signing domain of gate reports

# Cheap, certain gates first: a duplicate is rejected before a model is trained on it.
DEFAULT_GATES: Final = (
    "licence", "pii", "schema_values", "provenance", "exact_duplicates", "near_duplicates",
    "synthetic", "synthetic_budget", "annotator_consensus", "outliers", "label_issues",
    "backdoor",
)


@dataclass(frozen=True)
class Policy:
    """Which gates run, in order, and whether flagged records are admitted."""

    gates: tuple[Gate, ...]
    admit_flagged: bool = False


def default_policy(schema: Schema, *, skip: Sequence[str] = (),
                   params: dict[str, dict[str, Any]] | None = None) -> Policy:
    """Every registered default gate that applies to ``schema``'s kind.

    Args:
        skip: gate names to leave out.
        params: thresholds per gate name, overriding the defaults.
    """
    import plexnet.data.gates  # noqa: F401  (registers the gates plexnet ships)

    chosen = []
    for name in DEFAULT_GATES:
        if name in skip or name not in registered():
            continue
        g = gate(name, **(params or {}).get(name, {}))
        if g.applies_to(schema):
            chosen.append(g)
    return Policy(tuple(chosen))


@dataclass(frozen=True)
class BatchVerdict:
    """What admission decided about one batch."""

    batch_cid: str
    contributor: str
    records: Records
    decisions: tuple[Decision, ...]
    reasons: dict[int, tuple[tuple[str, Finding], ...]]
    gates: tuple[Gate, ...]           # the gates that ran, in order
    results: tuple[GateResult, ...]   # their results, in the same order
    seconds: tuple[float, ...] = ()   # how long each gate took, in the same order

    def counts(self) -> dict[str, int]:
        return {d: self.decisions.count(d) for d in ("accepted", "flagged", "rejected")}

    def kept(self, admit_flagged: bool = False) -> Records:
        keep = ("accepted", "flagged") if admit_flagged else ("accepted",)
        return self.records.subset([i for i, d in enumerate(self.decisions) if d in keep])


def judge(batch: Records, ctx: GateContext, policy: Policy, *, batch_cid: str = "",
          contributor: str = "") -> BatchVerdict:
    """Run every gate of ``policy`` that applies on ``batch``; combine the verdicts.

    Raises:
        GateError: if a gate cannot run, or reports a record outside the batch.
    """
    ran = [g for g in policy.gates if g.applies_to(ctx.schema)]
    results, seconds = [], []
    reasons: dict[int, list[tuple[str, Finding]]] = {}
    for g in ran:
        started = time.perf_counter()
        result = g.check(batch, ctx)
        seconds.append(time.perf_counter() - started)
        for finding in result.findings:
            if not 0 <= finding.index < len(batch):
                raise GateError(f"gate {g.name} reported record {finding.index} of a batch of "
                                f"{len(batch)}")
            reasons.setdefault(finding.index, []).append((g.name, finding))
        results.append(result)
    decisions: list[Decision] = []
    for i in range(len(batch)):
        actions = {f.action for _, f in reasons.get(i, [])}
        decisions.append("rejected" if "reject" in actions else
                         "flagged" if "flag" in actions else "accepted")
    return BatchVerdict(batch_cid, contributor, batch, tuple(decisions),
                        {i: tuple(r) for i, r in reasons.items()}, tuple(ran), tuple(results),
                        tuple(seconds))


@dataclass(frozen=True)
class Admission:
    """The outcome of one admission run, ready to append.

    ``entries`` — one ``data.admit`` per batch, then the ``dataset.publish`` of the
    new version (absent when nothing was accepted) — must go to the ledger in one
    ``append`` so that all of it is committed or none.
    """

    verdicts: tuple[BatchVerdict, ...]
    report_cids: tuple[str, ...]
    reports: tuple[dict[str, Any], ...]
    entries: tuple[Entry, ...]
    manifest_cid: str | None = None
    manifest: Manifest | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        total = {"accepted": 0, "flagged": 0, "rejected": 0}
        for v in self.verdicts:
            for k, n in v.counts().items():
                total[k] += n
        return total


def jsonable(value: Any) -> Any:
    """Gate stats as JSON: numpy values unwrapped, non-finite floats as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def _report(verdict: BatchVerdict, policy: Policy, curator: Identity, dataset: str,
            base: str | None) -> dict[str, Any]:
    leaves = verdict.records.leaf_hashes()
    objections = [{
        "i": i, "leaf": leaves[i].hex(), "decision": verdict.decisions[i],
        "reasons": [jsonable({"gate": name, "action": f.action, "reason": f.reason,
                               "score": f.score, "related": f.related})
                    for name, f in verdict.reasons[i]],
    } for i in sorted(verdict.reasons)]
    body = {
        "v": 1, "dataset": dataset, "base": base, "batch": verdict.batch_cid,
        "contributor": verdict.contributor, "curator": curator.did,
        "admit_flagged": policy.admit_flagged, "counts": verdict.counts(),
        "gates": [{"gate": g.name, "params": jsonable(g.params()),
                   "stats": jsonable(r.stats), "findings": len(r.findings),
                   "seconds": round(t, 3)}
                  for g, r, t in zip(verdict.gates, verdict.results, verdict.seconds,
                                     strict=True)],
        "records": objections, "time_ms": int(time.time() * 1000),
    }
    return body | {"sig": curator.sign_json(REPORT_DOMAIN, body)}


def verify_report(report: dict[str, Any]) -> None:
    """Check a gate report's signature by its curator.

    Raises:
        SignatureError: if it does not verify.
    """
    body = {k: v for k, v in report.items() if k != "sig"}
    verify_json(report["curator"], REPORT_DOMAIN, body, report["sig"])


def _read_batch(blobs: BlobStore, entry: Entry, dataset: str,
                schema_cid: str | None) -> Records:
    try:
        body = entry.verify()
    except EntryRejected as exc:
        raise AdmissionError(f"batch refused: {exc}") from None
    if not isinstance(body, Contribute):
        raise AdmissionError(f"entry {entry.kind} is not a data contribution")
    if body.dataset != dataset:
        raise AdmissionError(f"batch {body.batch_cid} was contributed to {body.dataset!r}, "
                             f"not {dataset!r}")
    if schema_cid is not None and body.schema_cid not in (None, schema_cid):
        raise AdmissionError(f"batch {body.batch_cid} follows schema {body.schema_cid}; "
                             f"{dataset!r} uses {schema_cid}")
    records = read_shard(blobs.get(body.batch_cid), bytes.fromhex(body.root))
    if len(records) != body.records or set(records.contributor) != {entry.signer}:
        raise AdmissionError(f"batch {body.batch_cid} does not hold {body.records} records "
                             f"signed by {entry.signer}")
    return records


def admit(curator: Identity, blobs: BlobStore, dataset: str, batches: Sequence[Entry], *,
          schema: Schema, license_: str, policy: Policy, base: str | None = None,
          runner: UnitRunner | None = None, seed: int = 0,
          synthetic_budget: float | None = None) -> Admission:
    """Judge ``batches`` (signed ``data.contribute`` entries) for ``dataset``.

    Args:
        curator: who signs the reports and the new version (the dataset's publisher).
        base: manifest CID of the version the batches extend (``None``: a new dataset,
            version 1).
        schema, license_: the dataset's (for a new dataset; a base's must agree).
        runner: runs heavy gate work (default: in this process).
        synthetic_budget: the most synthetic records the dataset may hold, as a share
            of its records (``None``: keep the base version's, or no cap for a new
            dataset); the ``synthetic_budget`` gate enforces it and the new version
            records it.

    Raises:
        AdmissionError: a batch is unsigned, forged, for another dataset, or does not
            hold what its entry claims.
        IntegrityError: a batch's or the base's stored records do not match their root.
        SchemaError: a batch breaks the schema (nothing of any batch is admitted).
    """
    started = time.perf_counter()
    existing, manifest = (None, None) if base is None else load_records(blobs, base)
    if manifest is not None and (manifest.schema_ != schema or manifest.license != license_):
        raise AdmissionError(f"{manifest.ref} has another schema or licence than the one given")
    if synthetic_budget is None and manifest is not None:
        synthetic_budget = manifest.synthetic_budget
    read = []
    schema_cid = store_schema(blobs, schema)
    for entry in batches:
        records = _read_batch(blobs, entry, dataset, schema_cid)
        validate(schema, records)
        read.append((entry, records))
    timings = {"read_s": time.perf_counter() - started}
    runner = runner or LocalRunner(blobs)
    verdicts, reports, report_cids, admits = [], [], [], []
    parts: list[tuple[Records, str | None]] = []
    seen = [existing] if existing is not None else []  # what each next batch is judged against
    for entry, records in read:
        body = entry.typed_body()
        assert isinstance(body, Contribute)
        ctx = GateContext(schema=schema, existing=Records.concat(seen) if seen else None,
                          blobs=blobs, runner=runner,
                          batch_license=body.license, dataset_license=license_,
                          synthetic_budget=synthetic_budget, seed=seed)
        verdict = judge(records, ctx, policy, batch_cid=body.batch_cid,
                        contributor=entry.signer)
        report = _report(verdict, policy, curator, dataset,
                         None if manifest is None else manifest.ref)
        report_cid = blobs.put(canonical.dumps(report))
        counts = verdict.counts()
        admits.append(Entry.create(curator, DataAdmit(batch_cid=body.batch_cid,
                                                      report_cid=report_cid, **counts)))
        verdicts.append(verdict)
        reports.append(report)
        report_cids.append(report_cid)
        kept = verdict.kept(policy.admit_flagged)
        parts.append((kept, body.batch_cid))
        if len(kept):
            seen.append(kept)
    timings["gates_s"] = time.perf_counter() - started - timings["read_s"]
    entries = list(admits)
    manifest_cid = new_manifest = None
    if any(len(p) for p, _ in parts):
        version = 1 if manifest is None else manifest.version + 1
        manifest_cid, new_manifest, publish_entry = publish(
            curator, blobs, dataset, version, schema, parts, license_, base=manifest,
            derivation=Derivation(op="admit", params={"gates": [g.name for g in policy.gates],
                                                      "admit_flagged": policy.admit_flagged},
                                  reports=report_cids),
            contributions=[cid for p, cid in parts if cid is not None and len(p)],
            synthetic_budget=synthetic_budget)
        entries.append(publish_entry)
    timings["total_s"] = time.perf_counter() - started
    return Admission(tuple(verdicts), tuple(report_cids), tuple(reports), tuple(entries),
                     manifest_cid, new_manifest, timings)


def contributor_reputation(row: dict[str, Any] | None) -> Reputation:
    """A contributor's Beta reputation from their ``contributors`` row: accepted
    records count for them, rejected ones against; flagged ones are undecided."""
    if row is None:
        return Reputation()
    return Reputation().observe(verified=int(row["accepted"]), failed=int(row["rejected"]))
