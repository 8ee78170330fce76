"""Export: arrays, tensors, frames and files; ingest → export → ingest gives the same records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from plexnet.data import Column, Provenance, Records, Schema, SchemaError
from plexnet.data.export import (
    pixel_columns,
    to_numpy,
    to_pandas,
    to_torch,
    write_image_folder,
    write_table,
)
from plexnet.data.ingest import load_image_folder, load_jsonl, load_sklearn, load_table

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
SYNTH = Provenance(tag="synthetic", generator="bafkreigenerator")


def _people():
    schema = Schema(kind="tabular", labels=["flu", "healthy"],
                    columns=[Column(name="age"), Column(name="city", type="string"),
                             Column(name="temp_c")])
    records = Records.make([0, 1, 1], x=[[34, 38.25], [51, 36.6], [7, 0.1 + 0.2]],
                           strings={"city": ["Oslo", "NA", "São Paulo, BR"]},
                           provenance=[Provenance(), SYNTH, Provenance(tag="device")])
    return schema, records


def test_to_numpy_images_tables_and_text():
    schema, records = load_sklearn("digits")
    x, y = to_numpy(records)
    assert x.shape == (1797, 64) and y.dtype == np.int64
    x[0, 0] = 99  # a copy: the records are untouched
    assert records.x[0, 0] != 99
    assert to_numpy(records, schema=schema)[0].shape == (1797, 8, 8)
    text = Records.make([0, 1], text=["one two", "three"])
    with pytest.raises(SchemaError, match="pass embed="):
        to_numpy(text)
    x, y = to_numpy(text, embed=lambda ts: [[len(t), t.count(" ")] for t in ts])
    assert x.tolist() == [[7, 1], [5, 0]] and y.tolist() == [0, 1]
    with pytest.raises(SchemaError, match=r"shape \(3,\)"):
        to_numpy(text, embed=lambda ts: [1, 2, 3])


def test_to_torch_is_channels_first_for_images():
    import torch

    schema, records = load_sklearn("digits")
    data = to_torch(records.subset(range(10)), schema=schema)
    x, y = data.tensors
    assert x.shape == (10, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x[3, 0], torch.as_tensor(records.x[3].reshape(8, 8), dtype=torch.float32))
    assert to_torch(records.subset(range(10))).tensors[0].shape == (10, 64)
    rgb = Schema(kind="image", labels=["a"], shape=[2, 3, 3])
    pixels = np.arange(18.0).reshape(1, 2, 3, 3)
    x = to_torch(Records.make([0], x=pixels.reshape(1, -1)), schema=rgb).tensors[0]
    assert x.shape == (1, 3, 2, 3) and x[0, 2, 1, 0] == pixels[0, 1, 0, 2]


def test_to_pandas_layouts():
    schema, records = _people()
    frame = to_pandas(records.signed_by(DID), schema)
    assert list(frame.columns) == ["age", "city", "temp_c", "label", "contributor", "provenance"]
    assert frame["age"].dtype == np.int64 and frame["temp_c"].dtype == np.float64
    assert frame["label"].tolist() == ["flu", "healthy", "healthy"]
    assert frame["contributor"].tolist() == [DID] * 3
    assert json.loads(frame["provenance"][1]) == {"tag": "synthetic",
                                                  "generator": "bafkreigenerator"}
    digits, images = load_sklearn("digits")
    frame = to_pandas(images.subset([0, 1]), digits, meta=False)
    assert list(frame.columns) == [*pixel_columns(digits), "label"]
    assert pixel_columns(digits)[9] == "px_1_1"
    frame = to_pandas(images.subset([0, 1]), digits, pixels="array")
    assert list(frame.columns) == ["image", "label", "contributor", "provenance"]
    assert np.array_equal(frame["image"][1], images.x[1])
    clash = Schema(kind="tabular", labels=["a"], columns=[Column(name="label")])
    with pytest.raises(SchemaError, match="pass label= another name"):
        to_pandas(Records.make([0], x=[[1.0]]), clash)
    assert "target" in to_pandas(Records.make([0], x=[[1.0]]), clash, label="target")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_round_trip_gives_the_same_records(tmp_path, suffix):
    schema, records = _people()
    path = write_table(records.signed_by(DID), schema, tmp_path / f"people{suffix}")
    schema2, records2 = load_table(path, label="label", kinds={"city": "string"})
    assert schema2 == schema
    # Signing sets the contributor; everything else (content, label, provenance) is kept.
    assert records2.signed_by(DID).root() == records.signed_by(DID).root()
    assert records2.provenance == records.provenance


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits"])
def test_bundled_sets_round_trip_through_csv(tmp_path, name):
    schema, records = load_sklearn(name)
    path = write_table(records, schema, tmp_path / f"{name}.csv")
    again_schema, again = load_table(path, label="label", labels=schema.labels)
    assert again.root() == records.root()  # floats survive CSV exactly (shortest repr)
    if name != "digits":
        assert again_schema == schema.model_copy(update={"description": ""})


def test_image_folder_round_trip(tmp_path):
    schema, records = load_sklearn("digits")
    part = records.subset(range(40))
    write_image_folder(part, schema, tmp_path / "csv", layout="csv")
    schema2, again = load_image_folder(tmp_path / "csv", labels_csv=tmp_path / "csv" /
                                       "labels.csv", labels=schema.labels)
    assert schema2.shape == [8, 8] and again.root() == part.root()  # same order too
    write_image_folder(part, schema, tmp_path / "folders")
    _, again = load_image_folder(tmp_path / "folders", labels=schema.labels)
    assert sorted(again.leaf_hashes()) == sorted(part.leaf_hashes())  # grouped by label
    rgb = Schema(kind="image", labels=["r"], shape=[2, 2, 3])
    colour = Records.make([0, 0], x=np.random.default_rng(0).integers(0, 256, (2, 12)))
    write_image_folder(colour, rgb, tmp_path / "rgb")
    assert load_image_folder(tmp_path / "rgb", mode="RGB")[1].root() == colour.root()


def test_write_image_folder_refuses(tmp_path):
    schema = Schema(kind="image", labels=["a/b"], shape=[1, 2])
    with pytest.raises(SchemaError, match="cannot be a folder name"):
        write_image_folder(Records.make([0], x=[[1, 2]]), schema, tmp_path / "x")
    ok = Schema(kind="image", labels=["a"], shape=[1, 2])
    with pytest.raises(SchemaError, match=r"whole numbers 0\.\.255"):
        write_image_folder(Records.make([0], x=[[0.5, 2]]), ok, tmp_path / "x")
    write_image_folder(Records.make([0], x=[[1, 2]]), ok, tmp_path / "x")
    with pytest.raises(SchemaError, match="already holds files"):
        write_image_folder(Records.make([0], x=[[1, 2]]), ok, tmp_path / "x")


def test_text_round_trip_through_jsonl(tmp_path):
    schema = Schema(kind="text", labels=["neg", "pos"])
    records = Records.make([1, 0], text=["Grand film, «très» bon\nsecond line", "dull"],
                           provenance=[SYNTH, Provenance()])
    path = write_table(records.signed_by(DID), schema, tmp_path / "t.jsonl")
    schema2, again = load_jsonl(path)
    assert schema2 == schema and again.signed_by(DID).root() == records.signed_by(DID).root()
    frame = pd.read_json(path, lines=True)
    assert frame["contributor"].tolist() == [DID, DID]


def test_write_table_refuses_unknown_suffix_and_jsonl_tables(tmp_path):
    schema, records = _people()
    with pytest.raises(SchemaError, match=r"use \.csv, \.parquet or \.jsonl"):
        write_table(records, schema, tmp_path / "t.xlsx")
    with pytest.raises(SchemaError, match="JSON lines hold text records"):
        write_table(records, schema, tmp_path / "t.jsonl")
