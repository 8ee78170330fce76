"""Derived datasets and feedback: new data made from old, with where it came from on record.

* :func:`derive` publishes a derived dataset — a curated subset, a de-identified
  copy — as version 1 of a new name whose parent is the version it was cut from;
  the derivation (``curate``, ``deidentify``, …) and its parameters are in the
  manifest and on the ledger, and the records keep their contributors, so the
  shares of the derived version still pay the people whose records it holds.
* :func:`feedback_records` turns a model's predictions and users' corrections into
  records tagged ``feedback`` (naming the model, its prediction and, when the input
  is itself a record, its leaf hash), to be contributed and admitted like any
  other batch — the gates judge corrections too.

Augmented and synthetic records (``augment.py``, ``synthesis.py``) are contributed
and admitted the same way; the ``synthetic_budget`` gate caps their share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from plexnet.core.blobstore import BlobStore
from plexnet.core.identity import Identity
from plexnet.data.dataset import Derivation, Manifest, publish
from plexnet.data.errors import SchemaError
from plexnet.data.records import Provenance, Records
from plexnet.ledger import Entry

__all__ = ["derive", "feedback_records"]


def derive(publisher: Identity, blobs: BlobStore, source: Manifest, name: str,
           records: Records, op: str, params: dict[str, Any], *,
           schema: Any = None) -> tuple[str, Manifest, Entry]:
    """Publish ``records`` (made from ``source`` by ``op`` with ``params``) as ``name@1``.

    Args:
        schema: the derived records' schema, when ``op`` changed it (de-identification
            drops columns); ``source``'s otherwise.
    """
    if name == source.name:
        raise SchemaError(f"a derived dataset needs a name of its own, not {name!r}")
    return publish(publisher, blobs, name, 1, schema or source.schema_, [(records, None)],
                   source.license, parents=[source.ref],
                   derivation=Derivation(op=op, params=params))  # type: ignore[arg-type]


def feedback_records(predicted: Sequence[int] | np.ndarray, corrected: Sequence[int] | np.ndarray,
                     model: str, *, x: np.ndarray | None = None,
                     text: Sequence[str] | None = None,
                     inputs: Sequence[str | None] | None = None) -> Records:
    """Records of users' verdicts on ``model``'s predictions: each keeps the user's label
    (``corrected``) and records what the model said (``predicted``).

    Args:
        inputs: leaf hashes (hex) of the input records, where the inputs were records.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    corrected = np.asarray(corrected, dtype=np.int64)
    if predicted.shape != corrected.shape or predicted.ndim != 1:
        raise SchemaError(f"predictions {predicted.shape} and corrections {corrected.shape} "
                          "must be matching (n,) arrays")
    parents = list(inputs) if inputs is not None else [None] * len(predicted)
    if len(parents) != len(predicted):
        raise SchemaError(f"{len(parents)} inputs for {len(predicted)} predictions")
    prov = [Provenance(tag="feedback", model=model, predicted=int(p), parent=parent)
            for p, parent in zip(predicted.tolist(), parents, strict=True)]
    return Records.make(corrected, x=x, text=text, provenance=prov)
