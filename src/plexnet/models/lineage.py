"""Model lineage, read from the ledger: parent models, the dataset version, the job —
drawn (:func:`model_lineage`) and checked end to end (:func:`verify_model`).

:func:`model_lineage` walks the ``models`` projection from one model back through
its parent models; for every model that names a dataset version it adds that
version's own lineage (``plexnet.data.lineage.dataset_lineage``: earlier versions,
derivations, contributors), and for every model that names a job, the job. The
result is the same :class:`~plexnet.data.lineage.Lineage` the data layer draws, so
:func:`~plexnet.data.lineage.draw_lineage` renders it as a PNG: contributors →
dataset versions → model ← job, and parent → child for fine-tuned models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from plexnet.core import canonical
from plexnet.core.blobstore import BlobStore
from plexnet.data.lineage import Lineage, LineageEdge, LineageNode, dataset_lineage
from plexnet.ledger import Entry, Ledger, NotFound, merkle

__all__ = ["Check", "model_lineage", "verify_model"]


def model_lineage(ledger: Ledger, model_id: str) -> Lineage:
    """The lineage of ``model_id``.

    Raises:
        NotFound: if ``model_id`` is not registered on the ledger.
    """
    names = {r["did"]: r["name"] for r in ledger.rows("identities")}
    nodes: dict[str, LineageNode] = {}
    edges: list[LineageEdge] = []
    todo = [model_id]
    while todo:
        key = todo.pop()
        if f"model:{key}" in nodes:
            continue
        row = ledger.row("models", key)
        if row is None:
            raise NotFound(f"no model {key!r} on the ledger (plexnet model list)")
        lineage = canonical.loads(row["lineage"])
        metrics = canonical.loads(row["metrics"])
        nodes[f"model:{key}"] = LineageNode(f"model:{key}", "model", key, {
            "artifact_cid": row["artifact_cid"], "metrics": metrics,
            "publisher": names.get(row["publisher"], row["publisher"]),
            "caption": " ".join(filter(None, (canonical.loads(row["card"]).get("tier"),
                                               f"{row['artifact_cid'][:14]}…")))})
        for parent in lineage.get("parents", []):
            edges.append(LineageEdge(f"model:{parent}", f"model:{key}", "parent"))
            todo.append(parent)
        if lineage.get("dataset"):
            data = dataset_lineage(ledger, lineage["dataset"])
            for node in data.nodes:
                nodes.setdefault(node.key, node)
            edges.extend(e for e in data.edges if e not in edges)
            edges.append(LineageEdge(lineage["dataset"], f"model:{key}", "trained on"))
        if lineage.get("job_id"):
            job = ledger.row("jobs", lineage["job_id"])
            status = "?" if job is None else job["status"]
            nodes.setdefault(f"job:{lineage['job_id']}", LineageNode(
                f"job:{lineage['job_id']}", "job", lineage["job_id"],
                {"status": status, "caption": status}))
            edges.append(LineageEdge(f"job:{lineage['job_id']}", f"model:{key}", "trained by"))
    return Lineage(f"model:{model_id}", tuple(sorted(nodes.values(), key=lambda n: n.key)),
                   tuple(edges))


@dataclass(frozen=True)
class Check:
    """One thing :func:`verify_model` checked: which model, what, whether it held, how."""

    model_id: str
    check: str
    ok: bool
    detail: str


def verify_model(ledger: Ledger, blobs: BlobStore, model_id: str, *,
                 probes: int = 256, seed: int = 0) -> list[Check]:
    """Check ``model_id`` and every parent model back to the first, from the ledger and
    the blob store alone; see ``plexnet.ledger.kinds.models`` for what registration
    already checked. Per model:

    * ``entry`` — the ``model.register`` entry's signature, its leaf hash, and its
      inclusion proof against the operator's signed tree head;
    * ``artifact`` — the artifact's bytes match its CID, and carry the card's
      architecture and N;
    * ``receipts`` — each receipt the ledger derived is signed by the provider of its
      attempt and lists the artifact;
    * ``dataset`` — the training set's published root is the lineage's root;
    * ``inputs`` — the job that trained it was submitted with the lineage's data and
      parents as inputs: a dataset manifest whose root is the lineage's root, and
      each parent model's artifact (a fine-tuned model's starting point, a distilled
      student's teacher), so a lineage cannot name a parent the job never read;
    * ``format:NAME`` — each other format (ONNX, int8) answers ``probes`` inputs drawn
      around the model's own standardisation statistics like the artifact does:
      logits within 1e-4 for a lossless format, the same class on at least 95% of
      the probes for a quantised one (``int8`` in its name).

    Returns the checks in order; nothing raises for a failed check.

    Raises:
        NotFound: if ``model_id`` (or a parent) is not registered.
    """
    checks: list[Check] = []
    head = ledger.head()
    head.verify(ledger.operator_did)
    todo, seen = [model_id], set()
    while todo:
        key = todo.pop(0)
        if key in seen:
            continue
        seen.add(key)
        row = ledger.row("models", key)
        if row is None:
            raise NotFound(f"no model {key!r} on the ledger (plexnet model list)")
        lineage, card = canonical.loads(row["lineage"]), canonical.loads(row["card"])
        checks.append(_check(key, "entry", _entry, ledger, head, row))
        checks.append(_check(key, "artifact", _artifact, blobs, row, card))
        if lineage.get("job_id"):
            checks.append(_check(key, "receipts", _receipts, ledger, row, lineage))
            checks.append(_check(key, "inputs", _inputs, ledger, blobs, lineage))
        if lineage.get("dataset"):
            checks.append(_check(key, "dataset", _dataset, ledger, lineage))
        for name, cid in sorted(card.get("artifacts", {}).items()):
            checks.append(_check(key, f"format:{name}", _format, blobs, row["artifact_cid"],
                                 name, cid, probes, seed))
        todo.extend(lineage.get("parents", []))
    return checks


def _check(model_id: str, what: str, run: Callable[..., str], *args: Any) -> Check:
    try:
        return Check(model_id, what, True, run(*args))
    except Exception as exc:  # every failure is a finding, never a crash
        return Check(model_id, what, False, str(exc).splitlines()[0][:300] or repr(exc))


def _entry(ledger: Ledger, head: Any, row: dict[str, Any]) -> str:
    stored = ledger.get(int(row["registered_seq"]))
    entry = Entry.from_bytes(stored.data)  # signature and body
    if merkle.leaf_hash(stored.data) != stored.leaf_hash:
        raise ValueError("the stored leaf hash is not the hash of the entry's bytes")
    body = entry.body
    if (entry.kind, body["model_id"], body["artifact_cid"], entry.signer) != (
            "model.register", row["model_id"], row["artifact_cid"], row["publisher"]):
        raise ValueError("the registry row does not say what the signed entry says")
    proof = ledger.inclusion_proof(stored.seq, head.size)
    proof.verify()
    if proof.root != head.root or proof.leaf_hash != stored.leaf_hash.hex():
        raise ValueError("the inclusion proof does not lead to the signed tree head")
    return (f"entry {stored.seq} signed by its publisher, in the signed tree of size "
            f"{head.size} ({len(proof.path)} hashes)")


def _artifact(blobs: BlobStore, row: dict[str, Any], card: dict[str, Any]) -> str:
    from plexnet.models.registry import card_for

    data = blobs.get(row["artifact_cid"])  # checks the bytes against the CID
    if not card.get("architecture"):
        return f"{len(data):,} bytes match the CID (the card declares no architecture)"
    found = card_for(data)
    if found.architecture != card["architecture"]:
        raise ValueError(f"the artifact's architecture {found.architecture} is not the "
                         f"card's {card['architecture']}")
    if card.get("params") is not None and found.params != card["params"]:
        raise ValueError(f"the artifact has {found.params:,} parameters, the card says "
                         f"{card['params']:,}")
    return (f"{len(data):,} bytes match the CID; {found.architecture.get('arch')} with "
            f"{found.params:,} parameters, as the card says")


def _receipts(ledger: Ledger, row: dict[str, Any], lineage: dict[str, Any]) -> str:
    seqs = canonical.loads(row["receipts"])
    if not seqs:
        raise ValueError(f"no receipt of job {lineage['job_id']} attests the artifact")
    providers = []
    for seq in seqs:
        entry = Entry.from_bytes(ledger.get(int(seq)).data)
        body = entry.body
        attempt = ledger.row("attempts", f"{body['job_id']}/{body['unit']}/{body['attempt']}")
        if (entry.kind != "job.receipt" or body["job_id"] != lineage["job_id"]
                or attempt is None or attempt["provider"] != entry.signer
                or row["artifact_cid"] not in body["outputs"]):
            raise ValueError(f"entry {seq} is not a receipt of {lineage['job_id']} by its "
                             "attempt's provider listing the artifact")
        providers.append(entry.signer)
    names = {r["did"]: r["name"] for r in ledger.rows("identities")}
    return (f"{len(seqs)} signed receipt(s) of job {lineage['job_id']} list the artifact "
            f"({', '.join(names.get(p, p) for p in providers)})")


def _inputs(ledger: Ledger, blobs: BlobStore, lineage: dict[str, Any]) -> str:
    job = ledger.row("jobs", lineage["job_id"])
    if job is None:
        raise ValueError(f"job {lineage['job_id']} was never submitted")
    inputs = canonical.loads(job["spec"]).get("inputs", [])
    read = []
    for parent in lineage.get("parents", []):
        cid = (ledger.row("models", parent) or {}).get("artifact_cid")
        if cid not in inputs:
            raise ValueError(f"job {lineage['job_id']} did not read parent {parent}'s artifact")
        read.append(parent)
    root = lineage.get("dataset_root")
    if root is not None:
        from plexnet.models.registry import input_manifests

        roots = {m.root for m in input_manifests(blobs, inputs)}
        if root not in roots:
            raise ValueError(f"no input of job {lineage['job_id']} is a manifest with "
                             f"{lineage.get('dataset') or 'the dataset'}'s root")
        read.insert(0, f"{lineage.get('dataset') or 'a dataset'} (root {root[:16]}…)")
    return f"job {lineage['job_id']} read {', '.join(read) or 'no declared input'}"


def _dataset(ledger: Ledger, lineage: dict[str, Any]) -> str:
    ds = ledger.row("datasets", lineage["dataset"])
    if ds is None:
        raise ValueError(f"dataset {lineage['dataset']} is not published")
    if lineage.get("dataset_root") not in (None, ds["root"]):
        raise ValueError(f"the lineage's root is not {lineage['dataset']}'s published root")
    return f"{lineage['dataset']}: {ds['records']:,} records, root {ds['root'][:16]}…"


def _format(blobs: BlobStore, artifact: str, name: str, cid: str, probes: int,
            seed: int) -> str:
    from plexnet.models.mlp import read_artifact
    from plexnet.models.serving import load_model

    reference, other = load_model(blobs, artifact), load_model(blobs, cid)
    if (other.n_in, other.n_out) != (reference.n_in, reference.n_out):
        raise ValueError(f"{name} maps {other.n_in} → {other.n_out}, the artifact "
                         f"{reference.n_in} → {reference.n_out}")
    tensors, _ = read_artifact(blobs.get(artifact))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((probes, reference.n_in)).astype(np.float32)
    mean = tensors["mean"].numpy() if "mean" in tensors else 0.0
    scale = tensors["scale"].numpy() if "scale" in tensors else 1.0
    x = (mean + scale * z).astype(np.float32)
    want, got = reference.run(x), other.run(x)
    agree = float((want.argmax(axis=1) == got.argmax(axis=1)).mean())
    if "int8" in name:
        if agree < 0.95:
            raise ValueError(f"{name} gives the artifact's class on {agree:.1%} of "
                             f"{probes} probes (< 95%)")
        return f"same class on {agree:.1%} of {probes} probes ({other.runtime})"
    diff = float(np.abs(want - got).max())
    if diff > 1e-4:
        raise ValueError(f"{name}'s logits differ from the artifact's by up to {diff:.2g}")
    return f"logits within {diff:.1g} of the artifact's on {probes} probes ({other.runtime})"
