"""outliers on data with a known answer: clean digits pass, planted junk is flagged."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from threadpoolctl import threadpool_limits

import plexnet.data.gates.outliers  # noqa: F401 - registers the gate
from plexnet.data import Column, Records, Schema
from plexnet.data.errors import GateError
from plexnet.data.gates.base import GateContext, gate
from plexnet.data.gates.outliers import Outliers, knn_distance

DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(d.data))
    return d.data[order].astype(float), d.target[order].astype(np.int64)


def _junk(x, rng, count=20):
    return {"noise": rng.integers(0, 17, (count, 64)).astype(float),
            "zeros": np.zeros((count, 64)),
            "wrong_scale": np.round(x[:count] / 16, 3)}  # 0-1 values inside a 0-16 range


def test_knn_distance_on_a_line():
    ref = np.arange(10, dtype=float)[:, None]
    assert knn_distance(np.array([[0.0], [4.5]]), ref, 1).tolist() == [0.0, 0.5]
    assert knn_distance(np.array([[4.5]]), ref, 3).tolist() == [1.5]
    # leaving each reference point out of its own neighbours
    assert knn_distance(ref[:3], ref, 1, exclude=np.arange(3)).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(GateError, match="too few"):
        knn_distance(ref, ref[:2], 3)


def test_clean_digits_pass_and_corrupted_records_are_flagged(digits):
    x, y = digits
    rng = np.random.default_rng(1)
    junk = _junk(x[1500:], rng)
    parts = [x[1200:], *junk.values()]
    batch = Records.make(np.zeros(sum(map(len, parts)), np.int64), x=np.concatenate(parts))
    ctx = GateContext(schema=DIGITS, existing=Records.make(y[:1200], x=x[:1200]))
    result = gate("outliers").check(batch, ctx)
    flagged = result.indices()
    clean = len(x) - 1200
    assert len(flagged & set(range(clean))) <= 0.01 * clean  # <= 1 % of clean digits
    start = clean
    for name, part in junk.items():
        caught = len(flagged & set(range(start, start + len(part))))
        assert caught == len(part), name
        start += len(part)
    assert all(f.action == "flag" and "far from the data" in f.reason for f in result.findings)
    assert result.stats["reference"] == "dataset"


def test_a_new_dataset_is_judged_against_itself_junk_and_all(digits):
    x, _ = digits
    rng = np.random.default_rng(2)
    junk = np.concatenate([part[:5] for part in _junk(x, rng).values()])  # 5 identical zeros
    batch = Records.make(np.zeros(len(x) + len(junk), np.int64), x=np.r_[x, junk])
    result = Outliers().check(batch, GateContext(schema=DIGITS))
    flagged = result.indices()
    assert result.stats["reference"] == "dataset+batch" and result.stats["k"] >= 36
    assert len(flagged & set(range(len(x)))) <= 0.01 * len(x)
    assert len(flagged & set(range(len(x), len(batch)))) >= 14  # of 15 (measured 15)


def test_subsampled_reference_is_deterministic_for_a_seed(digits):
    x, y = digits
    batch = Records.make(y[1200:1400], x=np.r_[x[1200:1390], np.zeros((10, 64))])
    ctx = GateContext(schema=DIGITS, existing=Records.make(y[:1200], x=x[:1200]), seed=7)
    small = Outliers(max_reference=400)
    first, second = small.check(batch, ctx), small.check(batch, ctx)
    assert first.findings == second.findings and first.stats == second.stats
    assert first.stats["reference_records"] == 400
    assert set(range(190, 200)) <= first.indices()


def test_tables_are_scaled_per_column():
    data = load_breast_cancer()
    x, y = data.data, data.target
    schema = Schema(kind="tabular", labels=["malignant", "benign"],
                    columns=[Column(name=f"f{i}") for i in range(x.shape[1])])
    broken = x[400:410].copy()
    broken[:, 3] *= 1000  # one column in the wrong unit
    batch = Records.make(y[400:], x=np.r_[x[410:], broken])
    result = Outliers().check(batch, GateContext(schema=schema, existing=Records.make(
        y[:400], x=x[:400])))
    flagged = result.indices()
    assert set(range(len(batch) - 10, len(batch))) <= flagged
    assert len(flagged) <= 10 + 0.05 * (len(batch) - 10)


def test_text_without_embeddings_is_skipped():
    schema = Schema(kind="text", labels=["a"])
    result = Outliers().check(Records.make([0, 0], text=["a", "b"]), GateContext(schema=schema))
    assert not result.findings and "skipped" in result.stats


@pytest.mark.parametrize("params", [{"k": 0}, {"z": 0}, {"max_reference": 5}, {"share": 1.0},
                                    {"quantile": 0.99}])
def test_bad_thresholds_are_refused(params):
    with pytest.raises(GateError, match="outliers"):
        gate("outliers", **params)
