"""Model entry kinds: a model is registered with a model card and lineage the ledger checks.

``model.register`` is signed by the publisher and names the artifact's CID, its
metrics, its **card** and its **lineage**:

* lineage — the dataset version it was trained on (whose Merkle root must match
  the published one), the job that trained it (which must be verified or settled,
  and a verified attempt's receipt must list the artifact among its outputs), and
  any parent models (which must be registered);
* card — the architecture (the artifact's own config, e.g. ``{"arch": "mlp", "in":
  64, "hidden": [128], "out": 10}``), N (parameters), the tier — ``L0`` general,
  ``L1`` industry, ``L2`` vertical, the article's three levels — and other artifact
  formats of the same model by CID (``{"onnx": ..., "onnx-int8": ...}``). A model's
  tier may not be more general than a parent's: fine-tuning specialises (L0 → L1 →
  L2), and a model distilled from an L1 teacher is at least L1.

The projection row keeps the card and, derived by the ledger rather than declared,
the ``receipts``: the sequence numbers of the signed receipts of the job's
verified attempts that list the artifact. What the ledger cannot check (it holds
no blobs) — that the artifact's bytes carry the declared architecture and N, and
that each other format computes the same function — ``plexnet model verify``
checks from the blob store (``plexnet.models.lineage.verify_model``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plexnet.core import canonical
from plexnet.ledger.entry import Body, Cid, Entry, Hash, State, register
from plexnet.ledger.kinds.identity import Ref, json_text, require, require_row

__all__ = ["TIERS", "Lineage", "ModelCard", "ModelRegister"]

Tier = Literal["L0", "L1", "L2"]
TIERS: tuple[str, ...] = ("L0", "L1", "L2")  # general, industry, vertical
Format = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]


class Lineage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    dataset: Ref | None = None
    dataset_root: Hash | None = None
    job_id: Ref | None = None
    parents: Annotated[list[Ref], Field(max_length=64)] = []


class ModelCard(BaseModel):
    """What a model is: architecture, size, tier, and its artifacts in other formats."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    architecture: dict[str, Any] = Field(default_factory=dict)
    params: Annotated[int, Field(ge=0, le=canonical.MAX_SAFE_INTEGER)] | None = None
    tier: Tier | None = None
    artifacts: Annotated[dict[Format, Cid], Field(max_length=8)] = Field(default_factory=dict)


@register("model.register")
class ModelRegister(Body):
    model_id: Ref
    artifact_cid: Cid
    lineage: Lineage
    metrics: dict[str, Any] = Field(default_factory=dict)
    card: ModelCard = Field(default_factory=ModelCard)

    def apply(self, entry: Entry, seq: int, state: State) -> None:
        require(state.get("models", self.model_id) is None,
                f"model {self.model_id!r} is already registered")
        lineage, card = self.lineage, self.card
        require(self.artifact_cid not in card.artifacts.values(),
                "the card's other formats must not repeat the artifact itself")
        if lineage.dataset is not None:
            ds = require_row(state, "datasets", lineage.dataset, "dataset version")
            require(lineage.dataset_root in (None, ds["root"]),
                    f"dataset root does not match the published root of {lineage.dataset}")
        receipts: list[int] = []
        if lineage.job_id is not None:
            job = require_row(state, "jobs", lineage.job_id, "job")
            require(job["status"] in ("verified", "settled"),
                    f"job {lineage.job_id!r} is {job['status']}, not verified")
            # a failed job is settled too (its escrow refunded), but has no results
            require(job["results"] is not None,
                    f"job {lineage.job_id!r} has no verified results (it failed)")
            results = canonical.loads(job["results"])
            listed = [key for key in results if self.artifact_cid in canonical.loads(
                require_row(state, "attempts", key, "attempt")["outputs"])]
            require(bool(listed),
                    f"no verified result of job {lineage.job_id!r} lists {self.artifact_cid}")
            receipts = _attesting_receipts(state, listed, self.artifact_cid)
        for parent in lineage.parents:
            row = require_row(state, "models", parent, "parent model")
            parent_tier = canonical.loads(row["card"]).get("tier")
            require(parent_tier is None or card.tier is None
                    or TIERS.index(card.tier) >= TIERS.index(parent_tier),
                    f"tier {card.tier} is more general than parent {parent!r}'s {parent_tier}: "
                    "fine-tuning specialises (L0 general → L1 industry → L2 vertical)")
        state.put("models", self.model_id, {
            "model_id": self.model_id, "publisher": entry.signer,
            "artifact_cid": self.artifact_cid, "lineage": json_text(lineage.model_dump()),
            "metrics": json_text(self.metrics), "card": json_text(card.model_dump()),
            "receipts": json_text(sorted(receipts)), "registered_seq": seq,
        })


def _attesting_receipts(state: State, results: list[str], artifact: str) -> list[int]:
    """Receipt seqs of every attempt of the units in ``results`` (``job/unit/attempt``
    keys) that produced ``artifact`` and counts: the unit's accepted result and the
    replicas judged to agree with it. Attempts of a unit are numbered from 0 without gaps."""
    seqs = []
    for key in results:
        job_unit = key.rsplit("/", 1)[0]
        n = 0
        while (row := state.get("attempts", f"{job_unit}/{n}")) is not None:
            good = f"{job_unit}/{n}" == key or row["verdict"] in ("ok", "accepted")
            if good and row["outputs"] is not None and artifact in canonical.loads(
                    row["outputs"]):
                seqs.append(int(row["receipt_seq"]))
            n += 1
    return seqs
