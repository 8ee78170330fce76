"""Records: what a dataset is made of, each with its contributor and provenance.

A :class:`Records` value holds ``n`` records of one dataset kind, column-wise:

* ``y`` — label index per record, into the schema's label space, ``(n,)`` int64;
* ``x`` — numeric features, ``(n, d)`` float64: an image flattened row-major
  (``H·W`` or ``H·W·C`` values), or the numeric columns of a table; ``None`` for text;
* ``text`` — one string per record, for text datasets;
* ``strings`` — the string columns of a table (name → one value per record);
* ``contributor`` — the DID that signed each record in;
* ``provenance`` — where each record came from (:class:`Provenance`);
* ``annotations`` — optional labels from several annotators, ``(n, m)`` int64
  with ``-1`` where annotator ``j`` gave no label (``annotators`` names them).

A record's *leaf* is the RFC 8785 JSON ``{"by", "prov", "s", "t", "x", "y"}``
(absent parts omitted), hashed as an RFC 9162 leaf: a record's inclusion proof
therefore proves its content, label, contributor and provenance together. The
*content id* hashes the content alone (``x``, ``s``, ``t``: no label, no
contributor), so the same image sent twice, under any label by anyone, is
recognised. Annotations are evidence about a label, not part of the record: they
live in the shard but not in the leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from plexnet.core import canonical
from plexnet.data.errors import SchemaError
from plexnet.ledger import merkle

__all__ = ["Provenance", "ProvenanceTag", "Records"]

ProvenanceTag = Literal["human", "device", "augmented", "synthetic", "feedback"]
_HEX64 = r"^[0-9a-f]{64}$"


class Provenance(BaseModel):
    """Where one record came from.

    * ``human`` / ``device``: collected by a person or a sensor;
    * ``augmented``: made from record ``parent`` (its leaf hash) by ``transform``
      with ``params``;
    * ``synthetic``: made by ``generator`` (the CID of the generator's artifact or
      spec; a synthetic record without one is flagged at admission);
    * ``feedback``: a user's correction of ``model``'s prediction ``predicted`` for
      input ``parent`` (a leaf hash, when the input is itself a record).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tag: ProvenanceTag = "human"
    parent: str | None = Field(default=None, pattern=_HEX64)
    transform: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    generator: str | None = Field(default=None, max_length=128)
    model: str | None = Field(default=None, max_length=128)
    predicted: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Provenance:
        if self.tag == "augmented" and (self.parent is None or self.transform is None):
            raise ValueError("an augmented record names its parent and transform")
        if self.tag not in ("augmented", "feedback") and (self.parent or self.transform):
            raise ValueError(f"a {self.tag} record has no parent or transform")
        if self.tag != "synthetic" and self.generator is not None:
            raise ValueError("only synthetic records name a generator")
        if self.tag == "feedback" and self.model is None:
            raise ValueError("a feedback record names the model it corrects")
        return self

    def as_json(self) -> dict[str, Any]:
        """The provenance as it appears in a record's leaf (defaults left out)."""
        return self.model_dump(mode="json", exclude_defaults=True) | {"tag": self.tag}


_HUMAN = Provenance()


def _json_numbers(x: np.ndarray) -> list[list[Any]]:
    """Rows of ``x`` as JSON numbers: integral values as ints (the same canonical
    text as the float, and the encoder's fast path), the rest as floats."""
    integral = np.isfinite(x) & (np.floor(x) == x) & (np.abs(x) <= canonical.MAX_SAFE_INTEGER)
    if integral.all():
        return x.astype(np.int64).tolist()  # type: ignore[no-any-return]
    rows: list[list[Any]] = x.tolist()
    for i, j in zip(*np.nonzero(integral), strict=True):
        rows[i][j] = int(x[i, j])
    return rows


@dataclass(frozen=True, eq=False)
class Records:
    """``n`` records, column-wise; see the module docstring. Build with :meth:`make`."""

    y: np.ndarray
    x: np.ndarray | None = None
    text: tuple[str, ...] | None = None
    strings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    contributor: tuple[str, ...] = ()
    provenance: tuple[Provenance, ...] = ()
    annotations: np.ndarray | None = None
    annotators: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.y)
        if self.y.ndim != 1:
            raise SchemaError(f"labels must have shape (n,), got {self.y.shape}")
        if self.x is not None and (self.x.ndim != 2 or len(self.x) != n):
            raise SchemaError(f"features must have shape ({n}, d), got {self.x.shape}")
        if self.text is not None and len(self.text) != n:
            raise SchemaError(f"{len(self.text)} texts for {n} labels")
        for name, column in self.strings.items():
            if len(column) != n:
                raise SchemaError(f"column {name!r} has {len(column)} values for {n} labels")
        if len(self.contributor) != n or len(self.provenance) != n:
            raise SchemaError(f"{n} records need {n} contributors and provenances, got "
                              f"{len(self.contributor)} and {len(self.provenance)}")
        if self.annotations is not None and (
                self.annotations.ndim != 2 or len(self.annotations) != n
                or self.annotations.shape[1] != len(self.annotators)):
            raise SchemaError(f"annotations must have shape ({n}, {len(self.annotators)}), "
                              f"got {self.annotations.shape}")

    @classmethod
    def make(cls, y: Any, *, x: Any = None, text: Sequence[str] | None = None,
             strings: Mapping[str, Sequence[str]] | None = None,
             contributor: str | Sequence[str] = "",
             provenance: Provenance | Sequence[Provenance] = _HUMAN,
             annotations: Any = None, annotators: Sequence[str] = ()) -> Records:
        """Records from arrays and lists; one contributor or provenance applies to all."""
        labels = np.asarray(y)
        if labels.dtype.kind not in "iub":
            if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(
                    labels == np.round(labels)):
                labels = labels.astype(np.int64)
            else:
                raise SchemaError(f"labels must be integers, got dtype {labels.dtype}")
        labels = labels.astype(np.int64).reshape(-1) if labels.ndim == 0 else labels.astype(
            np.int64)
        n = len(labels)
        features = None
        if x is not None:
            arr = np.asarray(x)
            if arr.dtype.kind not in "iufb":
                raise SchemaError(f"features must be numbers, got dtype {arr.dtype}")
            features = arr.astype(np.float64).reshape(len(arr), -1) if arr.ndim >= 2 else \
                arr.astype(np.float64)
        by = (contributor,) * n if isinstance(contributor, str) else tuple(contributor)
        prov = (provenance,) * n if isinstance(provenance, Provenance) else tuple(provenance)
        notes = None if annotations is None else np.asarray(annotations, dtype=np.int64)
        return cls(y=labels, x=features, text=None if text is None else tuple(text),
                   strings={k: tuple(v) for k, v in (strings or {}).items()},
                   contributor=by, provenance=prov, annotations=notes,
                   annotators=tuple(annotators))

    def __len__(self) -> int:
        return len(self.y)

    def signed_by(self, did: str) -> Records:
        """The same records with every contributor set to ``did``."""
        return self._replace(contributor=(did,) * len(self))

    def subset(self, index: Iterable[int] | np.ndarray) -> Records:
        """The records at ``index`` (positions, or a boolean mask), in that order."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        pick = idx.tolist()
        return self._carry([self], lambda cached: tuple(cached[0][i] for i in pick), Records(
            y=self.y[idx], x=None if self.x is None else self.x[idx],
            text=None if self.text is None else tuple(self.text[i] for i in pick),
            strings={k: tuple(v[i] for i in pick) for k, v in self.strings.items()},
            contributor=tuple(self.contributor[i] for i in pick),
            provenance=tuple(self.provenance[i] for i in pick),
            annotations=None if self.annotations is None else self.annotations[idx],
            annotators=self.annotators))

    _CACHED = ("_content_ids", "_record_json")

    @staticmethod
    def _carry(sources: Sequence[Records], pick: Any, new: Records,
               names: Sequence[str] = _CACHED) -> Records:
        """``new`` with the hashes its ``sources`` already computed carried over
        (``pick`` maps the sources' cached tuples to the new one's), so that subsets and
        concatenations in admission do not hash the same records again."""
        for name in names:
            if all(name in source.__dict__ for source in sources):
                new.__dict__[name] = pick([source.__dict__[name] for source in sources])
        return new

    @staticmethod
    def concat(parts: Sequence[Records]) -> Records:
        """Records of several parts, in order. Parts must hold the same columns;
        annotations are kept only if every part has them, from the same annotators."""
        if not parts:
            raise SchemaError("nothing to concatenate")
        first = parts[0]
        if any((p.x is None) != (first.x is None) or (p.text is None) != (first.text is None)
               or set(p.strings) != set(first.strings) for p in parts):
            raise SchemaError("records of different kinds cannot be concatenated")
        notes = None
        if all(p.annotations is not None and p.annotators == first.annotators for p in parts):
            notes = np.concatenate([p.annotations for p in parts])  # type: ignore[misc]
        return Records._carry(parts, lambda cached: tuple(h for c in cached for h in c), Records(
            y=np.concatenate([p.y for p in parts]),
            x=None if first.x is None else np.concatenate([p.x for p in parts]),  # type: ignore[misc]
            text=None if first.text is None else tuple(t for p in parts for t in p.text),  # type: ignore[union-attr]
            strings={k: tuple(v for p in parts for v in p.strings[k]) for k in first.strings},
            contributor=tuple(c for p in parts for c in p.contributor),
            provenance=tuple(v for p in parts for v in p.provenance),
            annotations=notes, annotators=first.annotators if notes is not None else ()))

    def with_labels(self, y: np.ndarray) -> Records:
        """The same records under other labels (same shape)."""
        if y.shape != self.y.shape:
            raise SchemaError(f"labels must have shape {self.y.shape}, got {y.shape}")
        return self._replace(y=y.astype(np.int64))

    def _replace(self, **changes: Any) -> Records:
        fields = {name: getattr(self, name) for name in (
            "y", "x", "text", "strings", "contributor", "provenance", "annotations",
            "annotators")}
        return Records(**(fields | changes))

    # -- hashing ------------------------------------------------------------------

    def _contents(self) -> list[dict[str, Any]]:
        n = len(self)
        parts: list[dict[str, Any]] = [{} for _ in range(n)]
        if self.x is not None:
            for part, row in zip(parts, _json_numbers(self.x), strict=True):
                part["x"] = row
        if self.text is not None:
            for part, text in zip(parts, self.text, strict=True):
                part["t"] = text
        if self.strings:
            names = sorted(self.strings)
            for i, part in enumerate(parts):
                part["s"] = {k: self.strings[k][i] for k in names}
        return parts

    def record_json(self) -> tuple[bytes, ...]:
        """Each record's canonical leaf bytes (see the module docstring)."""
        return self._record_json

    @cached_property
    def _record_json(self) -> tuple[bytes, ...]:
        # Computed once per (immutable) value: validation, hashing and storage share it.
        out = []
        labels = self.y.tolist()
        for part, label, by, prov in zip(self._contents(), labels, self.contributor,
                                         self.provenance, strict=True):
            out.append(canonical.dumps(part | {"y": label, "by": by, "prov": prov.as_json()}))
        return tuple(out)

    def leaf_hashes(self) -> list[bytes]:
        """RFC 9162 leaf hash of each record's leaf bytes."""
        return [merkle.leaf_hash(data) for data in self.record_json()]

    def content_ids(self) -> list[bytes]:
        """SHA-256 of each record's content alone (features, strings, text)."""
        return list(self._content_ids)

    @cached_property
    def _content_ids(self) -> tuple[bytes, ...]:
        return tuple(hashlib.sha256(canonical.dumps(part)).digest() for part in self._contents())

    def root(self) -> bytes:
        """Merkle root over the records' leaf hashes."""
        return merkle.root(self.leaf_hashes())
