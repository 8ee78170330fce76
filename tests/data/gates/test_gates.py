"""The shipped gates on data with a known answer: planted flips, copies, spammers, PII."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from plexnet.core.blobstore import LocalBlobStore
from plexnet.data import Column, Records, Schema
from plexnet.data.curation import margin_scores, select
from plexnet.data.errors import GateError, UnknownGate
from plexnet.data.gates import GateContext, gate, registered
from plexnet.data.gates.consensus import dawid_skene, majority_vote
from plexnet.data.gates.labels import find_label_issues, out_of_fold_probabilities
from plexnet.data.privacy import deidentify
from plexnet.data.runner import LocalRunner

DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(float), d.target.astype(np.int64)


def _flip(y, fraction, rng):
    flipped = rng.choice(len(y), int(fraction * len(y)), replace=False)
    noisy = y.copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, 10, len(flipped))) % 10
    return noisy, set(flipped.tolist())


def test_find_label_issues_on_synthetic_probabilities():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    probs = np.full((600, 3), 0.05)
    probs[np.arange(600), truth] = 0.9
    given = truth.copy()
    wrong = rng.choice(600, 60, replace=False)
    given[wrong] = (given[wrong] + 1) % 3
    found = find_label_issues(given, probs)
    assert set(np.flatnonzero(found)) == set(wrong.tolist())


@pytest.mark.parametrize(("labels", "probs", "match"), [
    (np.zeros(3, int), np.ones((2, 2)) / 2, "shape"),
    (np.array([0, 5]), np.ones((2, 2)) / 2, "0..1"),
    (np.array([0, 1]), np.array([[0.9, 0.9], [0.5, 0.5]]), "sum"),
    (np.array([0, 1]), np.array([[np.nan, 1.0], [0.5, 0.5]]), "NaN|finite"),
])
def test_find_label_issues_refuses_bad_input(labels, probs, match):
    with pytest.raises(GateError, match=match):
        find_label_issues(labels, probs)


def test_label_issue_gate_finds_planted_flips_with_out_of_fold_models(digits, tmp_path):
    x, y = digits
    noisy, flipped = _flip(y, 0.1, np.random.default_rng(1))
    cut = 1200
    ctx = GateContext(schema=DIGITS, existing=Records.make(noisy[:cut], x=x[:cut]),
                      runner=LocalRunner(LocalBlobStore(tmp_path)))
    batch = Records.make(noisy[cut:], x=x[cut:])
    result = gate("label_issues").check(batch, ctx)
    found = {f.index + cut for f in result.findings}
    truth = {i for i in flipped if i >= cut}
    precision = len(found & truth) / max(1, len(found))
    recall = len(found & truth) / len(truth)
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    assert all(f.action == "flag" and "looks wrong" in f.reason for f in result.findings)


def test_out_of_fold_probabilities_are_deterministic(digits, tmp_path):
    x, y = digits
    runner = LocalRunner(LocalBlobStore(tmp_path))
    a = out_of_fold_probabilities(x[:400], y[:400], 10, runner, folds=3, seed=4)
    b = out_of_fold_probabilities(x[:400], y[:400], 10, runner, folds=3, seed=4)
    assert a.shape == (400, 10) and np.array_equal(a, b)
    assert (a.argmax(1) == y[:400]).mean() > 0.9


def test_dawid_skene_beats_majority_vote_and_finds_the_spammers():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 4, 500)
    notes = np.empty((500, 5), dtype=np.int64)
    for a in range(5):
        good = rng.random(500) < (0.85 if a < 2 else 0.0)
        notes[:, a] = np.where(good, truth, rng.integers(0, 4, 500))
    ds = dawid_skene(notes, 4)
    assert (ds.labels == truth).mean() > (majority_vote(notes, 4) == truth).mean()
    assert set(np.argsort(ds.accuracy)[:3]) == {2, 3, 4}
    schema = Schema(kind="image", shape=[1, 1], labels=list("abcd"), value_range=(0, 1))
    batch = Records.make(truth, x=np.zeros((500, 1)), annotations=notes,
                         annotators=[f"a{i}" for i in range(5)])
    result = gate("annotator_consensus").check(batch, GateContext(schema=schema))
    assert result.findings and all(f.action == "flag" for f in result.findings)


def test_exact_duplicates_name_the_original_and_a_relabel(digits):
    x, y = digits
    existing = Records.make(y[:100], x=x[:100])
    batch = Records.make(np.r_[y[100:105], y[3], (y[4] + 1) % 10, y[100]],
                         x=np.r_[x[100:105], x[[3, 4, 100]]])
    result = gate("exact_duplicates").check(batch, GateContext(schema=DIGITS, existing=existing))
    assert [(f.index, f.related) for f in result.findings] == [
        (5, "dataset:3"), (6, "dataset:4"), (7, "batch:0")]
    assert "another label" in result.findings[1].reason


def test_licence_and_pii_gates():
    schema = Schema(kind="tabular", labels=["no", "yes"], columns=[
        Column(name="age"), Column(name="note", type="string")])
    batch = Records.make([0, 1, 0], x=[[30], [41], [52]], strings={"note": [
        "call me at alice.smith@gmail.com", "nothing to see", "card 4111 1111 1111 1111"]})
    ctx = GateContext(schema=schema, batch_license="CC-BY-NC-4.0", dataset_license="CC-BY-4.0")
    refused = gate("licence").check(batch, ctx)
    assert len(refused.findings) == 3 and all(f.action == "reject" for f in refused.findings)
    ok = gate("licence").check(batch, GateContext(schema=schema, batch_license="CC0-1.0",
                                                  dataset_license="CC-BY-4.0"))
    assert not ok.findings
    pii = gate("pii").check(batch, ctx)
    assert {f.index for f in pii.findings} == {0, 2}
    assert all("alice.smith@gmail.com" not in f.reason for f in pii.findings)


def test_deidentification_reaches_k_anonymity():
    rng = np.random.default_rng(5)
    n = 300
    schema = Schema(kind="tabular", labels=["healthy", "ill"], columns=[
        Column(name="age"), Column(name="name", type="string"),
        Column(name="email", type="string"), Column(name="zip", type="string")])
    records = Records.make(rng.integers(0, 2, n), x=rng.integers(18, 90, (n, 1)), strings={
        "name": [f"Person {i}" for i in range(n)],
        "email": [f"p{i}@example.org" for i in range(n)],
        "zip": [f"{rng.integers(10000, 10400)}" for _ in range(n)]})
    new_schema, out, report = deidentify(records, schema, generalize={
        "age": "band:10", "zip": "prefix:3"}, k=5)
    assert {"name", "email"} <= set(report.dropped)
    assert "name" not in [c.name for c in new_schema.columns]
    assert report.achieved_k >= 5 and len(out) == report.kept <= n


def test_curation_keeps_a_class_balanced_share(digits):
    _x, y = digits
    probs = np.eye(10)[y] * 0.8 + 0.02
    kept = select(margin_scores(y, probs), 0.3, labels=y)
    assert abs(len(kept) - 0.3 * len(y)) <= 10
    assert np.bincount(y[kept], minlength=10).min() > 0


def test_gates_are_registered_and_bad_names_or_thresholds_are_refused():
    assert {"exact_duplicates", "label_issues", "annotator_consensus", "licence", "pii",
            "schema_values"} <= set(registered())
    with pytest.raises(UnknownGate, match="registered:"):
        gate("no_such_gate")
    with pytest.raises(GateError, match="label_issues"):
        gate("label_issues", not_a_threshold=1)
