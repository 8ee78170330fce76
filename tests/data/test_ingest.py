"""Ingest: bundled sets, image folders, tables, JSON lines; bad inputs as IngestError."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from plexnet.data import IngestError, Provenance
from plexnet.data.ingest import (
    load_image_folder,
    load_jsonl,
    load_sklearn,
    load_source,
    load_table,
)


def _png(path, value, size=(6, 4), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0]) if mode == "L" else (size[1], size[0], 3), value, np.uint8)
    arr[0, 0] = 255 - value  # not constant, so the pixels are checked, not just their mean
    Image.fromarray(arr).save(path)
    return arr


# -- scikit-learn ---------------------------------------------------------------------


def test_digits_is_an_8x8_image_set_with_digit_labels():
    from sklearn.datasets import load_digits

    schema, records = load_sklearn("digits")
    assert schema.kind == "image" and schema.shape == [8, 8]
    assert schema.value_range == (0.0, 16.0)
    assert schema.labels == [str(i) for i in range(10)]
    digits = load_digits()
    assert np.array_equal(records.x, digits.data) and np.array_equal(records.y, digits.target)
    assert set(records.contributor) == {""} and records.provenance[0] == Provenance(tag="human")


@pytest.mark.parametrize(("name", "n", "labels", "first"), [
    ("iris", 150, ["setosa", "versicolor", "virginica"], "sepal_length_cm"),
    ("wine", 178, ["class_0", "class_1", "class_2"], "alcohol"),
    ("breast_cancer", 569, ["malignant", "benign"], "mean_radius"),
])
def test_tabular_sets_get_sanitised_columns_and_target_names(name, n, labels, first):
    schema, records = load_sklearn(name, tag="device")
    assert schema.kind == "tabular" and len(records) == n and schema.labels == labels
    assert schema.columns[0].name == first
    assert all(c.name.replace("_", "").isalnum() for c in schema.columns)
    assert records.provenance[0].tag == "device"


def test_unknown_sklearn_set_and_bad_tag():
    with pytest.raises(IngestError, match="choose one of"):
        load_sklearn("mnist")
    with pytest.raises(IngestError, match="tag 'augmented'"):
        load_sklearn("iris", tag="augmented")


# -- image folders --------------------------------------------------------------------


def test_image_folder_labels_from_subfolders_resized_and_grey(tmp_path):
    for label, value in (("cat", 10), ("dog", 200)):
        for i in range(3):
            _png(tmp_path / label / f"{i}.png", value + i, size=(12, 8), mode="RGB")
    (tmp_path / "README.txt").write_text("not an image; skipped")
    schema, records = load_image_folder(tmp_path, shape=(4, 6), mode="L")
    assert schema.kind == "image" and schema.shape == [4, 6] and schema.labels == ["cat", "dog"]
    assert schema.value_range == (0.0, 255.0)
    assert records.x.shape == (6, 24) and records.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert records.x.min() >= 0 and records.x.max() <= 255


def test_image_folder_keeps_rgb_and_native_size(tmp_path):
    arr = _png(tmp_path / "a" / "x.png", 40, size=(5, 3), mode="RGB")
    _png(tmp_path / "b" / "y.jpg", 90, size=(5, 3), mode="RGB")
    schema, records = load_image_folder(tmp_path, mode="RGB")
    assert schema.shape == [3, 5, 3]
    assert np.array_equal(records.x[0], arr.reshape(-1).astype(float))  # PNG is lossless


def test_image_folder_labels_from_csv(tmp_path):
    for i, v in enumerate((5, 50, 100)):
        _png(tmp_path / f"img{i}.png", v)
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label\nimg0.png,b\nimg1.png,a\nimg2.png,b\n")
    schema, records = load_image_folder(tmp_path, labels_csv=csv)
    assert schema.labels == ["a", "b"] and records.y.tolist() == [1, 0, 1]
    csv.write_text("file,label\nimg0.png,b\nimg1.png,a\n")
    with pytest.raises(IngestError, match=r"img2\.png has no label"):
        load_image_folder(tmp_path, labels_csv=csv)
    csv.write_text("file,label\nimg0.png,b\nimg1.png,a\nimg2.png,b\nimg9.png,a\n")
    with pytest.raises(IngestError, match=r"labels\.csv:5: no image 'img9\.png'"):
        load_image_folder(tmp_path, labels_csv=csv)
    csv.write_text("name,class\n")
    with pytest.raises(IngestError, match="header 'file,label'"):
        load_image_folder(tmp_path, labels_csv=csv)


def test_truncated_png_is_named(tmp_path):
    _png(tmp_path / "ok" / "a.png", 20, size=(32, 32))
    good = tmp_path / "ok" / "b.png"
    _png(good, 30, size=(32, 32))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"b\.png is corrupt or truncated"):
        load_image_folder(tmp_path)


def test_text_file_renamed_png_is_named(tmp_path):
    _png(tmp_path / "ok" / "a.png", 20)
    (tmp_path / "ok" / "notes.png").write_text("this is not an image")
    with pytest.raises(IngestError, match=r"notes\.png is not a PNG or JPEG"):
        load_image_folder(tmp_path)


def test_empty_or_flat_or_missing_folder(tmp_path):
    with pytest.raises(IngestError, match=r"holds no \.png"):
        load_image_folder(tmp_path)
    with pytest.raises(IngestError, match="not a folder"):
        load_image_folder(tmp_path / "missing")
    _png(tmp_path / "loose.png", 3)
    with pytest.raises(IngestError, match="not in a label folder"):
        load_image_folder(tmp_path)
    with pytest.raises(IngestError, match="mode must be"):
        load_image_folder(tmp_path, mode="CMYK")


# -- tables ---------------------------------------------------------------------------


def test_csv_numeric_and_string_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("age,city,score,label\n34,Oslo,0.1,yes\n51,NA,2.5,no\n29,Lima,1e3,yes\n")
    schema, records = load_table(path, label="label")
    assert [(c.name, c.type) for c in schema.columns] == [
        ("age", "number"), ("city", "string"), ("score", "number")]
    assert schema.labels == ["no", "yes"] and records.y.tolist() == [1, 0, 1]
    assert records.x.tolist() == [[34, 0.1], [51, 2.5], [29, 1000]]
    assert records.strings["city"] == ("Oslo", "NA", "Lima")  # a string column keeps "NA"


def test_numeric_labels_sort_as_numbers_and_kinds_keep_zip_codes(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("zip,v,label\n02139,1,10\n10001,2,2\n02139,3,1\n")
    schema, records = load_table(path, label="label", kinds={"zip": "string"})
    assert schema.labels == ["1", "2", "10"] and records.y.tolist() == [2, 1, 0]
    assert records.strings["zip"] == ("02139", "10001", "02139")
    with pytest.raises(IngestError, match="does not have"):
        load_table(path, label="label", kinds={"postcode": "string"})
    schema, _ = load_table(path, label="label", labels=["10", "2", "1"])
    assert schema.labels == ["10", "2", "1"]
    with pytest.raises(IngestError, match=r"t\.csv:3 \(row 1\): label '2' is not one of"):
        load_table(path, label="label", labels=["1", "10"])


def test_nan_in_numeric_column_names_row_and_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,x\n3,,y\n5,6,x\n")
    with pytest.raises(IngestError, match=r"t\.csv:3 \(row 1\): column 'b' is empty; .*fill="):
        load_table(path, label="label")
    _, records = load_table(path, label="label", fill={"b": -1.0})
    assert records.x[:, 1].tolist() == [2, -1, 6]
    path.write_text("a,label\n1,x\ninf,y\n")
    with pytest.raises(IngestError, match="infinite"):
        load_table(path, label="label")
    path.write_text("a,label\n1,x\nabc,y\n")
    with pytest.raises(IngestError, match=r"row 1\): column 'a' holds 'abc', not a number"):
        load_table(path, label="label", kinds={"a": "number"})


def test_table_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(IngestError, match="no label column 'label'; its columns are a, b"):
        load_table(path, label="label")
    path.write_text("a,label\n1,x\n2\n")
    with pytest.raises(IngestError, match=r"t\.csv:3: 1 fields; the header has 2"):
        load_table(path, label="label")
    path.write_text("a,label\n1,x\n2,\n")
    with pytest.raises(IngestError, match="the label 'label' is empty"):
        load_table(path, label="label")
    path.write_text("a,label\n")
    with pytest.raises(IngestError, match="no rows"):
        load_table(path, label="label")
    path.write_text("label\nx\n")
    with pytest.raises(IngestError, match="no feature columns"):
        load_table(path, label="label")
    path.write_bytes(b"a,label\n\xff\xfe,x\n")
    with pytest.raises(IngestError, match="UTF-8"):
        load_table(path, label="label")
    with pytest.raises(IngestError, match="does not exist"):
        load_table(tmp_path / "none.csv", label="label")
    with pytest.raises(IngestError, match=r"\.csv or \.parquet"):
        load_table(tmp_path / "t.xlsx", label="label")


def test_parquet_table_with_nulls(tmp_path):
    path = tmp_path / "t.parquet"
    frame = pd.DataFrame({"h": [1.5, 2.0, None], "name": ["a", None, "c"], "label": [0, 1, 1]})
    frame.to_parquet(path)
    with pytest.raises(IngestError, match=r"row 2: column 'h' is empty"):
        load_table(path, label="label")
    schema, records = load_table(path, label="label", fill=0.0)
    assert schema.labels == ["0", "1"] and records.x[:, 0].tolist() == [1.5, 2.0, 0.0]
    assert records.strings["name"] == ("a", "", "c")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(IngestError, match=r"cannot read .* as Parquet"):
        load_table(tmp_path / "bad.parquet", label="label")


def test_provenance_column_is_restored_and_contributor_ignored(tmp_path):
    path = tmp_path / "t.csv"
    prov = json.dumps({"tag": "synthetic", "generator": "gen-1"}).replace('"', '""')
    path.write_text(f'a,label,contributor,provenance\n1,x,did:key:z6Mk,"{prov}"\n2,y,,\n')
    schema, records = load_table(path, label="label", tag="device")
    assert [c.name for c in schema.columns] == ["a"]
    assert records.provenance == (Provenance(tag="synthetic", generator="gen-1"),
                                  Provenance(tag="device"))
    assert records.contributor == ("", "")
    path.write_text('a,label,provenance\n1,x,"{""tag"": ""alien""}"\n')
    with pytest.raises(IngestError, match=r"t\.csv:2 \(row 0\): provenance is not valid"):
        load_table(path, label="label")


# -- JSON lines -----------------------------------------------------------------------


def test_jsonl_text_records(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"text": "great film", "label": "pos"}, {"text": "dull", "label": "neg"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    schema, records = load_jsonl(path)
    assert schema.kind == "text" and schema.labels == ["neg", "pos"]
    assert records.text == ("great film", "dull") and records.y.tolist() == [1, 0]
    path.write_text('{"body": "hi there", "stars": 5}\n')
    schema, records = load_jsonl(path, text_field="body", label_field="stars")
    assert schema.labels == ["5"]


@pytest.mark.parametrize(("content", "match"), [
    ('{"text": "a", "label": 1}\n{"text": "b", label: 2}\n', r"t\.jsonl:2: not valid JSON"),
    ('{"text": "a", "label": 1}\n\n[1, 2]\n', r"t\.jsonl:3: expected a JSON object"),
    ('{"label": 1}\n', r"t\.jsonl:1: field 'text' must be a non-empty string"),
    ('{"text": "   ", "label": 1}\n', "non-empty string"),
    ('{"text": "a"}\n', r"t\.jsonl:1: field 'label' must be"),
    ('{"text": "a", "label": true}\n', "field 'label' must be"),
    ("\n\n", "holds no records"),
])
def test_jsonl_errors_name_the_line(tmp_path, content, match):
    path = tmp_path / "t.jsonl"
    path.write_text(content)
    with pytest.raises(IngestError, match=match):
        load_jsonl(path)


def test_jsonl_oversized_text_and_bad_bytes(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"text": "x" * 50, "label": "a"}) + "\n")
    with pytest.raises(IngestError, match="over max_text_chars=20"):
        load_jsonl(path, max_text_chars=20)
    path.write_bytes(b'{"text": "\xff", "label": "a"}\n')
    with pytest.raises(IngestError, match=r"t\.jsonl:1: not UTF-8"):
        load_jsonl(path)


# -- dispatch -------------------------------------------------------------------------


def test_load_source_dispatches_by_form(tmp_path):
    schema, _ = load_source("sklearn:iris")
    assert schema.kind == "tabular"
    (tmp_path / "t.csv").write_text("a,label\n1,x\n")
    assert load_source(tmp_path / "t.csv", label="label")[0].kind == "tabular"
    (tmp_path / "t.jsonl").write_text('{"text": "hello world", "label": "a"}\n')
    assert load_source(str(tmp_path / "t.jsonl"))[0].kind == "text"
    _png(tmp_path / "imgs" / "a" / "0.png", 9)
    assert load_source(tmp_path / "imgs", shape=(2, 2))[0].shape == [2, 2]


def test_load_source_errors(tmp_path):
    with pytest.raises(IngestError, match="needs label="):
        load_source(tmp_path / "t.csv")
    with pytest.raises(IngestError, match="takes no option colour"):
        load_source("sklearn:digits", colour="red")
    with pytest.raises(IngestError, match="does not exist"):
        load_source(tmp_path / "nothing.bin")
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(IngestError, match="cannot tell how to read"):
        load_source(tmp_path / "x.bin")
