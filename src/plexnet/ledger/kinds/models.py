"""Model entry kinds: a model is registered with lineage the ledger can check.

``model.register`` is signed by the publisher and names the artifact's CID, its
metrics, and its lineage: the dataset version it was trained on (whose Merkle
root must match the published one), the job that trained it (which must be
completed or settled, and whose receipt must list the artifact among its
outputs), and any parent models (which must be registered).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from plexnet.core import canonical
from plexnet.ledger.entry import Body, Cid, Entry, Hash, State, register
from plexnet.ledger.kinds.identity import Ref, json_text, require, require_row

__all__ = ["Lineage", "ModelRegister"]


class Lineage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    dataset: Ref | None = None
    dataset_root: Hash | None = None
    job_id: Ref | None = None
    parents: Annotated[list[Ref], Field(max_length=64)] = []


@register("model.register")
class ModelRegister(Body):
    model_id: Ref
    artifact_cid: Cid
    lineage: Lineage
    metrics: dict[str, Any] = Field(default_factory=dict)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(state.get("models", self.model_id) is None,
                f"model {self.model_id!r} is already registered")
        lineage = self.lineage
        if lineage.dataset is not None:
            ds = require_row(state, "datasets", lineage.dataset, "dataset version")
            require(lineage.dataset_root in (None, ds["root"]),
                    f"dataset root does not match the published root of {lineage.dataset}")
        if lineage.job_id is not None:
            job = require_row(state, "jobs", lineage.job_id, "job")
            require(job["status"] in ("verified", "settled"),
                    f"job {lineage.job_id!r} is {job['status']}, not verified")
            outputs = {cid for key in canonical.loads(job["results"])
                       for cid in canonical.loads(require_row(state, "attempts", key,
                                                              "attempt")["outputs"])}
            require(self.artifact_cid in outputs,
                    f"no verified result of job {lineage.job_id!r} lists {self.artifact_cid}")
        for parent in lineage.parents:
            require_row(state, "models", parent, "parent model")
        state.put("models", self.model_id, {
            "model_id": self.model_id, "publisher": entry.signer,
            "artifact_cid": self.artifact_cid, "lineage": json_text(lineage.model_dump()),
            "metrics": json_text(self.metrics), "registered_seq": seq,
        })
