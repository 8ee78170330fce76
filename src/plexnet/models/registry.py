"""The model registry: models on the ledger with a model card and lineage back to their
data and compute (see ``plexnet.ledger.kinds.models`` for what the ledger checks)."""

from __future__ import annotations

import contextlib
from typing import Any

from plexnet.core.blobstore import BlobStore
from plexnet.core.errors import PlexnetError
from plexnet.core.identity import Identity
from plexnet.data.dataset import Manifest, load_manifest
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds.models import TIERS, Lineage, ModelCard, ModelRegister
from plexnet.models.errors import ArtifactError, ModelError
from plexnet.models.mlp import read_artifact

__all__ = ["card_for", "input_manifests", "register_from_job", "register_model"]


def card_for(artifact: bytes, *, tier: str | None = None,
             artifacts: dict[str, str] | None = None) -> ModelCard:
    """The card of the model in ``artifact`` (safetensors bytes): its architecture as
    the artifact declares it and N counted from its tensors (buffers such as the
    standardisation statistics excluded: they are not trained).

    Raises:
        ArtifactError: if the bytes are not a plexnet model artifact.
    """
    tensors, config = read_artifact(artifact)
    n = sum(t.numel() for name, t in tensors.items() if name.rsplit(".", 1)[-1] not in
            _BUFFERS)
    try:
        return ModelCard(architecture=config, params=n, tier=tier, artifacts=artifacts or {})
    except ValueError as exc:
        raise ArtifactError(f"bad model card: {exc}") from None


_BUFFERS = frozenset({"mean", "scale"})


def register_model(publisher: Identity, model_id: str, artifact_cid: str, *,
                   dataset: str | None = None, dataset_root: str | None = None,
                   job_id: str | None = None, parents: list[str] | None = None,
                   metrics: dict[str, Any] | None = None,
                   card: ModelCard | None = None) -> Entry:
    """A signed ``model.register`` entry; the ledger checks the lineage when it is appended."""
    lineage = Lineage(dataset=dataset, dataset_root=dataset_root, job_id=job_id,
                      parents=parents or [])
    return Entry.create(publisher, ModelRegister(model_id=model_id, artifact_cid=artifact_cid,
                                                 lineage=lineage, metrics=metrics or {},
                                                 card=card or ModelCard()))


def register_from_job(ledger: Ledger, blobs: BlobStore, publisher: Identity, model_id: str,
                      job_id: str, *, tier: str | None = None, parents: list[str] | None = None,
                      metrics: dict[str, Any] | None = None,
                      artifacts: dict[str, str] | None = None) -> Entry:
    """A signed ``model.register`` entry for the model that job ``job_id`` trained, its
    lineage read from the ledger rather than declared:

    * the artifact — the first output of unit 0's accepted result that is a plexnet
      model artifact;
    * the dataset — the job's input that is a dataset manifest (its ``name@version``
      and root);
    * the parents — unless given, every registered model whose artifact is among the
      job's inputs (a fine-tuned model's starting point, a distilled student's teacher);
    * the tier — unless given, the most specialised parent's (a fine-tune stays in its
      parent's tier unless it says it specialises), L0 with no parent;
    * the metrics — the accepted receipt's, with ``metrics`` over them.

    Raises:
        NotFound: if the job is not on the ledger.
        ModelError: if it has no accepted result yet, no output is a model artifact,
            or a given tier or parent is not a tier or not registered.
    """
    from plexnet.core import canonical
    from plexnet.ledger import NotFound

    job = ledger.row("jobs", job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r} on the ledger (plexnet job list)")
    if job["status"] not in ("verified", "settled") or job["results"] is None:
        raise ModelError(f"job {job_id!r} is {job['status']} with no verified result: "
                         "register a model once its job is verified")
    accepted = ledger.row("attempts", canonical.loads(job["results"])[0])
    receipt = ledger.get(int(accepted["receipt_seq"])).entry.body
    found = next(((cid, data) for cid in receipt["outputs"]
                  if (data := _model_bytes(blobs, cid)) is not None), None)
    if found is None:
        raise ModelError(f"no output of job {job_id!r} is a model artifact (task "
                         f"{job['task']})")
    artifact, data = found
    inputs = canonical.loads(job["spec"]).get("inputs", [])
    if parents is None:
        by_cid = {r["artifact_cid"]: r["model_id"] for r in ledger.rows("models")}
        parents = [by_cid[cid] for cid in inputs if cid in by_cid]
    cards = {}
    for parent in parents:
        row = ledger.row("models", parent)
        if row is None:
            raise ModelError(f"parent model {parent!r} is not registered (plexnet model list)")
        cards[parent] = canonical.loads(row["card"])
    if tier is None:
        tiers = [c.get("tier") for c in cards.values()]
        tier = max((t for t in tiers if t), key=TIERS.index, default="L0")
    if tier not in TIERS:
        raise ModelError(f"unknown tier {tier!r}; give one of {list(TIERS)}")
    dataset = next(iter(input_manifests(blobs, inputs)), None)
    return register_model(
        publisher, model_id, artifact, dataset=dataset.ref if dataset else None,
        dataset_root=dataset.root if dataset else None, job_id=job_id, parents=parents,
        metrics={**receipt.get("metrics", {}), **(metrics or {})},
        card=card_for(data, tier=tier, artifacts=artifacts))


def _model_bytes(blobs: BlobStore, cid: str) -> bytes | None:
    """The blob's bytes if it is a plexnet model artifact, else ``None``."""
    try:
        data = blobs.get(cid)
        read_artifact(data)
    except PlexnetError:  # ArtifactError among them; a missing blob too
        return None
    return data


def input_manifests(blobs: BlobStore, inputs: list[str]) -> list[Manifest]:
    """The dataset manifests among a job's ``inputs`` (CIDs), in order; inputs that are
    not manifests (model artifacts) or not in ``blobs`` are left out."""
    found = []
    for cid in inputs:
        with contextlib.suppress(PlexnetError):
            found.append(load_manifest(blobs, cid))
    return found
