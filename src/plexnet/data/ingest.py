"""Ingest: turn a source (a bundled set, an image folder, a table, JSON lines) into records.

Every loader returns ``(Schema, Records)`` that pass :func:`plexnet.data.schema.validate`,
and every failure is an :class:`~plexnet.data.errors.IngestError` naming the file, line
or record and what to do about it. Records carry ``Provenance(tag=...)`` ("human"
unless told otherwise, e.g. "device" for sensor data) and no contributor: the
contributor is set when the batch is signed.

* :func:`load_sklearn` — scikit-learn's bundled sets (digits, iris, wine, breast_cancer);
* :func:`load_image_folder` — PNG/JPEG files, labelled by subfolder or by a ``file,label`` CSV;
* :func:`load_table` — CSV or Parquet; one label column, numeric and string feature columns;
* :func:`load_jsonl` — one JSON object per line, with a text and a label field;
* :func:`load_source` — picks one of the above from ``sklearn:<name>``, a folder, or a suffix.

Tables and JSON lines written by :mod:`plexnet.data.export` read back as the same
records: a ``provenance`` column (field) holds each record's provenance as JSON and is
restored; a ``contributor`` column is ignored, since signing sets it anew.
"""

from __future__ import annotations

import csv
import inspect
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from plexnet.data.errors import IngestError, SchemaError
from plexnet.data.records import Provenance, Records
from plexnet.data.schema import Column, Schema, validate

__all__ = ["CONTRIBUTOR_COLUMN", "IMAGE_SUFFIXES", "PROVENANCE_COLUMN", "SKLEARN_SETS",
           "load_image_folder", "load_jsonl", "load_sklearn", "load_source", "load_table"]

SKLEARN_SETS = ("breast_cancer", "digits", "iris", "wine")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
PROVENANCE_COLUMN = "provenance"
CONTRIBUTOR_COLUMN = "contributor"
# Cells that mean "no value" in a numeric CSV column (a string column keeps them verbatim).
_MISSING = frozenset({"", "na", "nan", "n/a", "null", "none"})
_TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})


def _provenance(tag: str) -> Provenance:
    try:
        return Provenance(tag=tag)
    except ValidationError:
        raise IngestError(f"tag {tag!r} cannot be given to ingested records; use 'human', "
                          "'device' or 'synthetic'") from None


def _checked(schema: Schema, records: Records, source: str) -> tuple[Schema, Records]:
    try:
        validate(schema, records)
    except SchemaError as exc:
        raise IngestError(f"{source}: {exc}") from None
    return schema, records


def _sanitise(names: Iterable[str]) -> list[str]:
    """Column names as lower-case identifiers ("sepal length (cm)" → "sepal_length_cm")."""
    out: list[str] = []
    for raw in names:
        name = re.sub(r"[^0-9a-z]+", "_", raw.lower()).strip("_") or "column"
        base, i = name, 2
        while name in out:
            name, i = f"{base}_{i}", i + 1
        out.append(name)
    return out


def load_sklearn(name: str, *, tag: str = "human") -> tuple[Schema, Records]:
    """One of scikit-learn's bundled data sets (no download).

    ``digits`` is an image set (8x8, values 0..16, labels "0".."9"); ``iris``, ``wine``
    and ``breast_cancer`` are tables whose columns are the sanitised feature names
    and whose labels are the target names.

    Raises:
        IngestError: for a name not in :data:`SKLEARN_SETS`.
    """
    if name not in SKLEARN_SETS:
        raise IngestError(f"no bundled scikit-learn set {name!r}; choose one of "
                          f"{', '.join(SKLEARN_SETS)}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    prov = _provenance(tag)
    if name == "digits":
        schema = Schema(kind="image", labels=[str(i) for i in range(10)], shape=[8, 8],
                        value_range=(0.0, 16.0), description="scikit-learn digits")
        records = Records.make(bunch.target, x=bunch.images.reshape(len(bunch.target), -1),
                               provenance=prov)
    else:
        columns = [Column(name=c) for c in _sanitise(bunch.feature_names)]
        schema = Schema(kind="tabular", labels=[str(t) for t in bunch.target_names],
                        columns=columns, description=f"scikit-learn {name}")
        records = Records.make(bunch.target, x=bunch.data, provenance=prov)
    return _checked(schema, records, f"sklearn:{name}")


def _read_labels_csv(path: Path) -> dict[str, tuple[str, int]]:
    """``file → (label, line)`` from a CSV with a ``file,label`` header."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader, [])]
            if header[:2] != ["file", "label"]:
                raise IngestError(f"{path}:1: the labels CSV must start with the header "
                                  f"'file,label', not {','.join(header)!r}")
            out: dict[str, tuple[str, int]] = {}
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) < 2 or not row[0].strip() or not row[1].strip():
                    raise IngestError(f"{path}:{reader.line_num}: expected 'file,label', "
                                      f"got {','.join(row)!r}")
                file, label = row[0].strip(), row[1].strip()
                if file in out:
                    raise IngestError(f"{path}:{reader.line_num}: {file!r} is labelled twice "
                                      f"(first on line {out[file][1]})")
                out[file] = (label, reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(f"cannot read labels CSV {path}: {exc}") from None
    return out


def _read_image(file: Path, mode: str, shape: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.load()
            out = img.convert(mode)
            if shape is not None and out.size != (shape[1], shape[0]):
                out = out.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
            return np.asarray(out, dtype=np.float64)
    except UnidentifiedImageError:
        raise IngestError(f"{file} is not a PNG or JPEG image; remove it or replace it with "
                          "a valid image") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise IngestError(f"{file} is corrupt or truncated ({exc}); re-export it or "
                          "remove it") from None


def load_image_folder(path: str | Path, *, shape: Sequence[int] | None = None,
                      mode: Literal["L", "RGB"] = "L", labels_csv: str | Path | None = None,
                      labels: Sequence[str] | None = None,
                      tag: str = "human") -> tuple[Schema, Records]:
    """Images under ``path``, one record each, in sorted path order.

    Labels come from the subfolder each image is in (``path/<label>/img.png``; the
    sorted folder names are the label space) or, with ``labels_csv``, from a CSV with
    a ``file,label`` header whose files are relative to ``path``. Files whose suffix
    is not .png/.jpg/.jpeg, and hidden files, are skipped.

    Args:
        path: the folder.
        shape: ``(H, W)`` to resize every image to (bilinear); default the size of
            the first image.
        mode: ``"L"`` (grey, schema shape ``[H, W]``) or ``"RGB"`` (``[H, W, 3]``).
        labels_csv: a ``file,label`` CSV instead of label subfolders.
        labels: the label space, in order (default: the sorted label names found).
        tag: provenance tag of the records.

    Raises:
        IngestError: for a missing or empty folder, an image outside a label folder,
            an unlabelled image, or a file that is not a readable image (named).
    """
    root = Path(path)
    if not root.is_dir():
        raise IngestError(f"{root} is not a folder of images")
    if mode not in ("L", "RGB"):
        raise IngestError(f"mode must be 'L' (grey) or 'RGB', not {mode!r}")
    if shape is not None and (len(shape) != 2 or min(shape) < 1):
        raise IngestError(f"shape must be (height, width) in pixels, not {tuple(shape)}")
    prov = _provenance(tag)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in
                   IMAGE_SUFFIXES and not any(part.startswith(".") for part in
                                              p.relative_to(root).parts))
    if not files:
        raise IngestError(f"{root} holds no .png or .jpg images")
    names: list[str] = []
    if labels_csv is not None:
        table = _read_labels_csv(Path(labels_csv))
        for file in files:
            rel = file.relative_to(root).as_posix()
            if rel not in table:
                raise IngestError(f"{file} has no label in {labels_csv}; add a line "
                                  f"'{rel},<label>' or remove the image")
            names.append(table[rel][0])
        listed = {file.relative_to(root).as_posix() for file in files}
        for rel, (_, line) in table.items():
            if rel not in listed:
                raise IngestError(f"{labels_csv}:{line}: no image {rel!r} under {root}")
    else:
        for file in files:
            parts = file.relative_to(root).parts
            if len(parts) != 2:
                raise IngestError(f"{file} is not in a label folder; put each image in "
                                  f"{root}/<label>/ or pass labels_csv")
            names.append(parts[0])
    size = None if shape is None else (int(shape[0]), int(shape[1]))
    images = []
    for file in files:
        image = _read_image(file, mode, size)
        size = size or image.shape[:2]
        images.append(image.reshape(-1))
    space, y = _label_space(names, labels, lambda i: str(files[i]))
    assert size is not None
    schema = Schema(kind="image", labels=space,
                    shape=[*size] if mode == "L" else [*size, 3], value_range=(0.0, 255.0))
    records = Records.make(y, x=np.stack(images), provenance=prov)
    return _checked(schema, records, str(root))


def _label_space(values: Sequence[str], labels: Sequence[str] | None, where: Callable[[int], str]
                 ) -> tuple[list[str], list[int]]:
    """The label space (``labels``, or the sorted distinct values — numerically when
    every value is a number) and each value's index in it."""
    if labels is None:
        distinct = set(values)
        try:
            space = sorted(distinct, key=float)
        except ValueError:
            space = sorted(distinct)
    else:
        space = [str(v) for v in labels]
    index = {name: i for i, name in enumerate(space)}
    for i, value in enumerate(values):
        if value not in index:
            raise IngestError(f"{where(i)}: label {value!r} is not one of {space[:10]}; "
                              "fix the label or extend labels=")
    return space, [index[v] for v in values]


def _read_csv(path: Path) -> tuple[list[str], dict[str, list[str]], list[int]]:
    """Header, cells per column (verbatim strings) and the file line of each row."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise IngestError(f"{path} is empty; a table needs a header line")
            header = [h.strip() for h in header]
            if len(set(header)) != len(header):
                raise IngestError(f"{path}:1: duplicate column names in the header")
            cells: dict[str, list[str]] = {h: [] for h in header}
            lines: list[int] = []
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise IngestError(f"{path}:{reader.line_num}: {len(row)} fields; the "
                                      f"header has {len(header)}")
                for name, cell in zip(header, row, strict=True):
                    cells[name].append(cell)
                lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(f"cannot read {path} as UTF-8 CSV: {exc}") from None
    return header, cells, lines


def _read_parquet(path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, use_threads=False)  # see shard.read_shard
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(f"cannot read {path} as Parquet: {exc}") from None
    cells: dict[str, list[Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(
                kind):
            cells[name] = [math.nan if v is None else float(v) for v in column.to_pylist()]
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            cells[name] = ["" if v is None else v for v in column.to_pylist()]
        else:
            try:
                cells[name] = ["" if v is None else v for v in column.cast(pa.string())
                               .to_pylist()]
            except pa.ArrowException:
                raise IngestError(f"{path}: column {name!r} has type {kind}; only numbers "
                                  "and strings can be ingested") from None
    return list(table.column_names), cells


def _as_numbers(cells: list[Any]) -> np.ndarray | None:
    """A column as float64 (missing cells NaN), or None when a cell is not a number."""
    if cells and not isinstance(cells[0], str):
        return np.asarray(cells, dtype=np.float64)
    values = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        text = cell.strip()
        if text.lower() in _MISSING:
            continue
        try:
            values[i] = float(text)
        except ValueError:
            return None
    return values


def _label_text(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def load_table(path: str | Path, *, label: str,
               kinds: Mapping[str, Literal["number", "string"]] | None = None,
               labels: Sequence[str] | None = None,
               fill: float | Mapping[str, float] | None = None,
               tag: str = "human") -> tuple[Schema, Records]:
    """A CSV or Parquet table, one record per row.

    The ``label`` column becomes the label space (``labels`` in that order, or its
    sorted distinct values as strings). A column whose every cell is a number (or
    empty) is numeric and goes to ``x``; any other is a string column. ``kinds``
    overrides that guess per column: ingest ZIP codes as ``"string"`` to keep their
    leading zeros. A ``provenance`` column is read back as each record's provenance,
    and a ``contributor`` column is ignored (see the module docstring).

    Args:
        path: a ``.csv`` (UTF-8, header line) or ``.parquet`` file.
        label: the label column.
        kinds: ``{column: "number" | "string"}``, overriding the guess.
        labels: the label space, in order (values outside it are an error).
        fill: the value for empty numeric cells (one for all, or per column);
            without it an empty numeric cell is an error.
        tag: provenance tag of the records.

    Raises:
        IngestError: for a missing label column, an empty numeric cell (named by
            row and column), a non-number in a column declared numeric, a label
            outside ``labels``, or an unreadable file.
    """
    source = Path(path)
    fmt = _TABLE_SUFFIXES.get(source.suffix.lower())
    if fmt is None:
        raise IngestError(f"{source}: a table is a .csv or .parquet file")
    if not source.is_file():
        raise IngestError(f"{source} does not exist")
    if fmt == "csv":
        header, cells, lines = _read_csv(source)
        def where(i: int) -> str:
            return f"{source}:{lines[i]} (row {i})"
    else:
        header, cells = _read_parquet(source)
        def where(i: int) -> str:
            return f"{source}: row {i}"
    if label not in cells:
        raise IngestError(f"{source} has no label column {label!r}; its columns are "
                          f"{', '.join(header)}")
    n = len(cells[label])
    if n == 0:
        raise IngestError(f"{source} has a header but no rows")
    names = [_label_text(v) for v in cells[label]]
    for i, name in enumerate(names):
        if not name or name.lower() == "nan":
            raise IngestError(f"{where(i)}: the label {label!r} is empty; label the row or "
                              "remove it")
    space, y = _label_space(names, labels, where)
    prov = [_provenance(tag)] * n
    if PROVENANCE_COLUMN in cells:
        prov = [_read_provenance(v, prov[i], where, i)
                for i, v in enumerate(cells[PROVENANCE_COLUMN])]
    kinds = dict(kinds or {})
    unknown = set(kinds) - set(header)
    if unknown:
        raise IngestError(f"kinds names columns {sorted(unknown)} that {source} does not have")
    columns, numbers, strings = [], [], {}
    for name in header:
        if name in (label, PROVENANCE_COLUMN, CONTRIBUTOR_COLUMN):
            continue
        if len(name) > 128:
            raise IngestError(f"{source}: column name {name[:40]!r}… is longer than 128 "
                              "characters; rename it")
        values = None if kinds.get(name) == "string" else _as_numbers(cells[name])
        if values is None and kinds.get(name) == "number":
            bad = next(i for i, c in enumerate(cells[name]) if _as_numbers([c]) is None)
            raise IngestError(f"{where(bad)}: column {name!r} holds {cells[name][bad]!r}, "
                              "not a number; fix it or declare the column a string")
        if values is None:
            columns.append(Column(name=name, type="string"))
            strings[name] = [c if isinstance(c, str) else _label_text(c) for c in cells[name]]
            continue
        missing = np.isnan(values)
        if missing.any():
            value = fill.get(name) if isinstance(fill, Mapping) else fill
            if value is None:
                raise IngestError(f"{where(int(np.flatnonzero(missing)[0]))}: column {name!r} "
                                  "is empty; fill it in, remove the row, or pass fill=")
            values[missing] = value
        if not np.isfinite(values).all():
            raise IngestError(f"{where(int(np.flatnonzero(~np.isfinite(values))[0]))}: "
                              f"column {name!r} is infinite; features must be finite")
        columns.append(Column(name=name))
        numbers.append(values)
    if not columns:
        raise IngestError(f"{source} has no feature columns besides the label {label!r}")
    x = np.stack(numbers, axis=1) if numbers else np.zeros((n, 0))
    schema = Schema(kind="tabular", labels=space, columns=columns)
    records = Records(y=np.asarray(y, dtype=np.int64), x=x,
                      strings={k: tuple(v) for k, v in strings.items()},
                      contributor=("",) * n, provenance=tuple(prov))
    return _checked(schema, records, str(source))


def _read_provenance(value: Any, default: Provenance, where: Callable[[int], str],
                     i: int) -> Provenance:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return default
    try:
        data = json.loads(value) if isinstance(value, str) else value
        return Provenance.model_validate(data)
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise IngestError(f"{where(i)}: provenance is not valid ({first}); fix it or remove "
                          "the provenance column") from None


def load_jsonl(path: str | Path, *, text_field: str = "text", label_field: str = "label",
               labels: Sequence[str] | None = None, max_text_chars: int = 10_000,
               tag: str = "human") -> tuple[Schema, Records]:
    """A text data set from JSON lines: one object per line, blank lines skipped.

    Args:
        path: the ``.jsonl`` file (UTF-8).
        text_field: the field holding the text.
        label_field: the field holding the label (a string or an integer).
        labels: the label space, in order (default: the sorted distinct labels).
        max_text_chars: the longest text accepted (the schema's limit).
        tag: provenance tag for records without a ``provenance`` field.

    Raises:
        IngestError: naming the line of a line that is not a JSON object, lacks a
            field, or holds an empty or oversized text.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read {source}: {exc}") from None
    default = _provenance(tag)

    def at(line: int) -> str:
        return f"{source}:{line}"

    texts, names, prov, lines = [], [], [], []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise IngestError(f"{where}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise IngestError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
                              ) from None
        if not isinstance(obj, dict):
            raise IngestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        text, label = obj.get(text_field), obj.get(label_field)
        if not isinstance(text, str) or not text.strip():
            raise IngestError(f"{where}: field {text_field!r} must be a non-empty string")
        if len(text) > max_text_chars:
            raise IngestError(f"{where}: the text has {len(text)} characters, over "
                              f"max_text_chars={max_text_chars}; split it or raise the limit")
        if isinstance(label, bool) or not isinstance(label, str | int) or str(label) == "":
            raise IngestError(f"{where}: field {label_field!r} must be a string or an "
                              "integer label")
        texts.append(text)
        names.append(str(label))
        prov.append(_read_provenance(obj.get(PROVENANCE_COLUMN), default, at, number))
        lines.append(number)
    if not texts:
        raise IngestError(f"{source} holds no records")
    space, y = _label_space(names, labels, lambda i: at(lines[i]))
    schema = Schema(kind="text", labels=space, max_text_chars=max_text_chars)
    return _checked(schema, Records.make(y, text=texts, provenance=prov), str(source))


def load_source(source: str | Path, **options: Any) -> tuple[Schema, Records]:
    """Load ``source`` with the loader its form names.

    ``sklearn:<name>`` → :func:`load_sklearn`; a folder → :func:`load_image_folder`;
    ``.csv``/``.parquet`` → :func:`load_table`; ``.jsonl``/``.ndjson`` →
    :func:`load_jsonl`. ``options`` go to that loader.

    Raises:
        IngestError: for an unknown form, or an option the loader does not take.
    """
    text = str(source)
    loader: Callable[..., tuple[Schema, Records]]
    if text.startswith("sklearn:"):
        loader, first = load_sklearn, text.removeprefix("sklearn:")
    else:
        path = Path(text)
        suffix = path.suffix.lower()
        if path.is_dir():
            loader = load_image_folder
        elif suffix in _TABLE_SUFFIXES:
            loader = load_table
        elif suffix in _JSONL_SUFFIXES:
            loader = load_jsonl
        elif not path.exists():
            raise IngestError(f"{text} does not exist (for a bundled set write sklearn:NAME, "
                              f"NAME one of {', '.join(SKLEARN_SETS)})")
        else:
            raise IngestError(f"cannot tell how to read {text}: use a folder of images, "
                              ".csv, .parquet, .jsonl or sklearn:NAME")
        first = text
    params = inspect.signature(loader).parameters
    takes = [p for p in params if p not in ("name", "path")]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise IngestError(f"{loader.__name__} takes no option {', '.join(unknown)}; it takes "
                          f"{', '.join(takes)}")
    needed = [p for p in takes if params[p].default is inspect.Parameter.empty
              and p not in options]
    if needed:
        raise IngestError(f"{loader.__name__} needs {', '.join(needed)}= (for a table: the "
                          "label column)")
    return loader(first, **options)
