"""Dataset schemas, and the structural check every batch passes before any gate.

A schema says what one record is:

* ``image`` — an array of ``shape`` (``[H, W]`` or ``[H, W, C]``) with values in
  ``value_range``, stored flattened row-major;
* ``tabular`` — named ``columns``, each a number or a string;
* ``text`` — one string of at most ``max_text_chars`` characters;

and the label space (``labels``: label index ``i`` means ``labels[i]``). A batch
that breaks its schema (wrong shape, NaN or infinite values, a label outside the
label space, an oversized record, a missing column) is refused whole with a
:class:`SchemaError` naming the first bad record: nothing of it is admitted.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from plexnet.data.errors import SchemaError
from plexnet.data.records import Records

__all__ = ["Column", "Schema", "validate"]


class Column(BaseModel):
    """One column of a table: numeric features go to ``x``, strings to ``strings``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=128)]
    type: Literal["number", "string"] = "number"


class Schema(BaseModel):
    """What one record of a dataset is; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    kind: Literal["image", "tabular", "text"]
    labels: Annotated[list[str], Field(min_length=1, max_length=100_000)]
    shape: list[Annotated[int, Field(ge=1)]] = []
    columns: list[Column] = []
    value_range: tuple[float, float] | None = None
    max_text_chars: Annotated[int, Field(ge=1)] = 10_000
    max_record_bytes: Annotated[int, Field(ge=64)] = 1 << 20
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Schema:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("label names must be distinct")
        if self.kind == "image" and len(self.shape) not in (2, 3):
            raise ValueError("an image schema needs a shape [H, W] or [H, W, C]")
        if self.kind != "image" and self.shape:
            raise ValueError("only image schemas have a shape")
        if self.kind == "tabular" and not self.columns:
            raise ValueError("a tabular schema needs columns")
        if self.kind != "tabular" and self.columns:
            raise ValueError("only tabular schemas have columns")
        if len({c.name for c in self.columns}) != len(self.columns):
            raise ValueError("column names must be distinct")
        if self.value_range is not None and not self.value_range[0] < self.value_range[1]:
            raise ValueError("value_range must be (low, high) with low < high")
        return self

    @property
    def features(self) -> int:
        """Length of a record's numeric feature vector ``x`` (0 for text)."""
        if self.kind == "image":
            return math.prod(self.shape)
        return sum(c.type == "number" for c in self.columns)

    @property
    def numeric_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.type == "number"]

    @property
    def string_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.type == "string"]


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate(schema: Schema, records: Records) -> None:
    """Check ``records`` against ``schema`` (see the module docstring).

    Raises:
        SchemaError: naming the first problem and the record it is in.
    """
    n = len(records)
    if n == 0:
        raise SchemaError("a batch holds at least one record")
    bad = (records.y < 0) | (records.y >= len(schema.labels))
    if bad.any():
        i = _first(bad)
        raise SchemaError(f"record {i}: label {int(records.y[i])} is outside the label space "
                          f"0..{len(schema.labels) - 1} ({', '.join(schema.labels[:5])}"
                          f"{', …' if len(schema.labels) > 5 else ''})")
    if schema.kind == "text":
        if records.text is None or records.x is not None or records.strings:
            raise SchemaError("a text dataset's records are strings only")
        for i, text in enumerate(records.text):
            if not isinstance(text, str) or not text.strip():
                raise SchemaError(f"record {i}: text is empty")
            if len(text) > schema.max_text_chars:
                raise SchemaError(f"record {i}: {len(text)} characters; the schema allows "
                                  f"{schema.max_text_chars}")
    else:
        x = records.x
        if x is None or records.text is not None:
            raise SchemaError(f"a {schema.kind} dataset's records are feature vectors")
        if x.shape[1] != schema.features:
            want = "x".join(map(str, schema.shape)) if schema.kind == "image" else \
                f"{schema.features} numeric columns"
            raise SchemaError(f"records have {x.shape[1]} features; the schema wants {want} "
                              f"({schema.features})")
        finite = np.isfinite(x).all(axis=1)
        if not finite.all():
            raise SchemaError(f"record {_first(~finite)}: NaN or infinite feature values")
        if schema.value_range is not None:
            low, high = schema.value_range
            out = ((x < low) | (x > high)).any(axis=1)
            if out.any():
                i = _first(out)
                raise SchemaError(f"record {i}: values outside the schema's range "
                                  f"[{low:g}, {high:g}] (min {x[i].min():g}, max "
                                  f"{x[i].max():g})")
        wanted = set(schema.string_columns)
        if set(records.strings) != wanted:
            raise SchemaError(f"string columns {sorted(records.strings)}; the schema wants "
                              f"{sorted(wanted)}")
        for name, column in records.strings.items():
            for i, value in enumerate(column):
                if not isinstance(value, str):
                    raise SchemaError(f"record {i}: column {name!r} holds {value!r}, "
                                      "not a string")
    if records.annotations is not None:
        notes = records.annotations
        bad = (notes < -1) | (notes >= len(schema.labels))
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise SchemaError(f"record {i}: an annotation is outside the label space")
    sizes = [len(b) for b in records.record_json()]
    big = np.asarray(sizes) > schema.max_record_bytes
    if big.any():
        i = _first(big)
        raise SchemaError(f"record {i} is {sizes[i]} bytes; the schema allows "
                          f"{schema.max_record_bytes}")
