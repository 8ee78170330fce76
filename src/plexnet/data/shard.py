"""Record shards: records as one Parquet file, with the Merkle root over their leaves.

Columns (no pickle anywhere): ``y`` (int64); ``x`` (list of float64) for image
and tabular records; ``t`` (string) for text; ``s.<name>`` for each string column
of a table; ``by`` (the contributor's DID); ``prov`` (the provenance as canonical
JSON); and, when a batch carries several annotators' labels, ``a.<annotator>``
(int64, ``-1`` where that annotator gave none) for each annotator, in order. Writer options are
fixed, so the same records always give the same bytes and hence the same CID.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from plexnet.core import canonical
from plexnet.core.errors import CanonicalJSONError
from plexnet.data.errors import IntegrityError
from plexnet.data.records import Provenance, Records

__all__ = ["Shard", "read_shard", "write_shard"]

@dataclass(frozen=True)
class Shard:
    """A shard's bytes (Parquet), record count and Merkle root over its record leaves."""

    data: bytes
    records: int
    root: bytes


def write_shard(records: Records) -> Shard:
    """``records`` as a Parquet shard."""
    columns: dict[str, pa.Array] = {"y": pa.array(records.y, type=pa.int64())}
    if records.x is not None:
        columns["x"] = pa.FixedSizeListArray.from_arrays(
            pa.array(records.x.reshape(-1), type=pa.float64()), records.x.shape[1]
        ).cast(pa.list_(pa.float64()))
    if records.text is not None:
        columns["t"] = pa.array(records.text, type=pa.string())
    for name in sorted(records.strings):
        columns[f"s.{name}"] = pa.array(records.strings[name], type=pa.string())
    columns["by"] = pa.array(records.contributor, type=pa.string())
    columns["prov"] = pa.array([canonical.dumps(p.as_json()).decode() for p in
                                records.provenance], type=pa.string())
    if records.annotations is not None:
        for j, annotator in enumerate(records.annotators):
            columns[f"a.{annotator}"] = pa.array(records.annotations[:, j], type=pa.int64())
    table = pa.table(columns)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=False,
                   store_schema=False)
    return Shard(sink.getvalue(), len(records), records.root())


def read_shard(data: bytes, expected_root: bytes | None = None) -> Records:
    """Records of a shard; with ``expected_root``, check them against it.

    Raises:
        IntegrityError: if the bytes are not a shard, or the records do not hash to
            ``expected_root``.
    """
    try:
        # One thread: a shard is small, and Arrow's pool threads can abort the process
        # at exit ("terminate called without an active exception", apache/arrow#34314).
        table = pq.read_table(io.BytesIO(data), use_threads=False)
        names = set(table.column_names)
        y = np.asarray(table.column("y").to_numpy(), dtype=np.int64)
        x = None
        if "x" in names:
            flat = table.column("x").combine_chunks()
            values = np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
            x = values.reshape(len(y), -1) if len(y) else values.reshape(0, 0)
        text = tuple(table.column("t").to_pylist()) if "t" in names else None
        strings = {name[2:]: tuple(table.column(name).to_pylist())
                   for name in sorted(names) if name.startswith("s.")}
        contributor = tuple(table.column("by").to_pylist())
        provenance = tuple(Provenance.model_validate(canonical.loads(p))
                           for p in table.column("prov").to_pylist())
        annotators = tuple(name[2:] for name in table.column_names if name.startswith("a."))
        annotations = np.stack([table.column(f"a.{a}").to_numpy() for a in annotators],
                               axis=1).astype(np.int64) if annotators else None
    except (pa.ArrowException, KeyError, ValueError, CanonicalJSONError) as exc:
        raise IntegrityError(f"not a readable record shard: {exc}") from None
    records = Records(y=y, x=x, text=text, strings=strings, contributor=contributor,
                      provenance=provenance, annotations=annotations, annotators=annotators)
    if expected_root is not None and records.root() != expected_root:
        raise IntegrityError("shard records do not match their Merkle root")
    return records
