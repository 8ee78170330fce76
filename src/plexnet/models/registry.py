"""The model registry: models on the ledger with lineage back to their data and compute."""

from __future__ import annotations

from typing import Any

from plexnet.core.identity import Identity
from plexnet.ledger import Entry
from plexnet.ledger.kinds.models import Lineage, ModelRegister

__all__ = ["register_model"]


def register_model(publisher: Identity, model_id: str, artifact_cid: str, *,
                   dataset: str | None = None, dataset_root: str | None = None,
                   job_id: str | None = None, parents: list[str] | None = None,
                   metrics: dict[str, Any] | None = None) -> Entry:
    """A signed ``model.register`` entry; the ledger checks the lineage when it is appended."""
    lineage = Lineage(dataset=dataset, dataset_root=dataset_root, job_id=job_id,
                      parents=parents or [])
    return Entry.create(publisher, ModelRegister(model_id=model_id, artifact_cid=artifact_cid,
                                                 lineage=lineage, metrics=metrics or {}))
