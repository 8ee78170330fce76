"""The model registry: models on the ledger with a model card and lineage back to their
data and compute (see ``plexnet.ledger.kinds.models`` for what the ledger checks)."""

from __future__ import annotations

from typing import Any

from plexnet.core.identity import Identity
from plexnet.ledger import Entry
from plexnet.ledger.kinds.models import Lineage, ModelCard, ModelRegister
from plexnet.models.errors import ArtifactError
from plexnet.models.mlp import read_artifact

__all__ = ["card_for", "register_model"]


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
