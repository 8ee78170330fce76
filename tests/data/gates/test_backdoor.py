"""The backdoor gate on known answers: planted clusters, BadNets-style patches on digits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from plexnet.compute.task import TaskContext
from plexnet.core.blobstore import LocalBlobStore
from plexnet.data import Column, Records, Schema
from plexnet.data.errors import GateError
from plexnet.data.gates.backdoor import (
    TASK,
    Backdoor,
    Representations,
    activation_clusters,
    batch_enrichment,
    representations,
    robust_z,
    separation,
    spectral_filter,
    spectral_scores,
    train_representations,
)
from plexnet.data.gates.base import GateContext, gate, registered
from plexnet.data.runner import LocalRunner

DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))
TARGET = 7


@pytest.fixture(scope="module")
def pool():
    """The demo's split: 80 % pool, its first 60 % already in the dataset."""
    d = load_digits()
    x, _, y, _ = train_test_split(d.data.astype(np.float64), d.target.astype(np.int64),
                                  test_size=0.2, random_state=0, stratify=d.target)
    cut = int(len(y) * 0.6)
    return x, y, cut


def _plant(x, y, count, rng, rows=(6, 8), cols=(6, 8), target=TARGET):
    """A BadNets backdoor as the demo plants it: a bright patch, label -> target."""
    x, y = x.copy(), y.copy()
    picked = rng.choice(np.flatnonzero(y != target), count, replace=False)
    for i in picked:
        image = x[i].reshape(8, 8)
        image[rows[0]:rows[1], cols[0]:cols[1]] = 16.0
        y[i] = target
    return x, y, set(picked.tolist())


def _runner(tmp_path):
    return LocalRunner(LocalBlobStore(tmp_path))


def _cluster_data(rng, n=300, planted=30, shift=8.0, dims=20):
    """Gaussian representations with ``planted`` records moved ``shift`` SDs along one axis."""
    reps = rng.normal(size=(n, dims))
    bad = rng.choice(n, planted, replace=False)
    reps[bad, 3] += shift
    return reps, set(bad.tolist())


# -- the pure functions ------------------------------------------------------------------


def test_spectral_scores_rank_a_shifted_subpopulation_first():
    reps, bad = _cluster_data(np.random.default_rng(0))
    scores = spectral_scores(reps)
    assert scores.shape == (300,) and (scores >= 0).all()
    assert set(np.argsort(-scores)[:30].tolist()) == bad
    assert not spectral_scores(np.ones((5, 3))).any()  # nothing varies: no signature


def test_spectral_filter_removes_one_and_a_half_epsilon_of_every_class():
    rng = np.random.default_rng(1)
    reps, bad = _cluster_data(rng, n=200, planted=20)
    labels = np.r_[np.zeros(200, np.int64), np.ones(100, np.int64)]
    reps = np.r_[reps, rng.normal(size=(100, 20))]
    removed = spectral_filter(reps, labels, 0.1)
    assert removed[:200].sum() == 30 and removed[200:].sum() == 15  # floor(1.5·0.1·n)
    assert bad <= set(np.flatnonzero(removed[:200]).tolist())
    with pytest.raises(GateError, match="epsilon"):
        spectral_filter(reps, labels, 0.9)


def test_activation_clusters_find_a_planted_cluster_and_not_one_in_a_gaussian():
    rng = np.random.default_rng(2)
    reps, bad = _cluster_data(rng)
    small, large = activation_clusters(reps)
    assert set(np.flatnonzero(small.members).tolist()) == bad
    assert not (small.members & large.members).any() and (small.members | large.members).all()
    assert small.fraction == pytest.approx(0.1) and small.separation > 6
    assert small.silhouette > 0.1
    plain = activation_clusters(rng.normal(size=(300, 20)))[0]
    # 2-means halves a single Gaussian: D is about 2.6 in one dimension, never 4.
    assert plain.separation < 3.5 and plain.fraction > 0.35
    three = activation_clusters(reps, k=3)
    assert len(three) == 3 and [c.fraction for c in three] == sorted(c.fraction for c in three)
    assert bad in [set(np.flatnonzero(c.members).tolist()) for c in three]
    assert activation_clusters(np.ones((10, 4))) == ()
    assert len(activation_clusters(np.r_[np.zeros((5, 2)), np.ones((5, 2))], k=3)) == 2
    a, b = activation_clusters(reps, seed=5)[0], activation_clusters(reps, seed=5)[0]
    assert np.array_equal(a.members, b.members) and a.separation == b.separation
    with pytest.raises(GateError, match="k >= 2"):
        activation_clusters(reps, k=1)


def test_separation_robust_z_and_enrichment_on_known_values():
    assert separation(np.array([-1.0, 1.0]), np.array([5.0, 7.0])) == pytest.approx(6.0)
    assert separation(np.array([1.0, 1.0]), np.array([2.0, 2.0])) == math.inf
    z = robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert z[2] == 0 and z[4] == pytest.approx(97 / 1.4826)
    # 10 of a class of 25, 10 of them in the batch: the batch holds 10 of the 25.
    small, in_batch = np.zeros(25, bool), np.zeros(25, bool)
    small[:10], in_batch[:10] = True, True
    assert batch_enrichment(small, in_batch) == pytest.approx(1 / math.comb(25, 10))
    assert batch_enrichment(small, np.ones(25, bool)) == 1.0  # nothing to compare against
    in_batch[:] = False
    in_batch[5:15] = True  # half the cluster from the batch, as chance would have it
    assert batch_enrichment(small, in_batch) > 0.3


@pytest.mark.parametrize(("reps", "match"), [
    (np.zeros(5), "shape"),
    (np.zeros((1, 3)), "at least 2"),
    (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
    (np.array([["a", "b"], ["c", "d"]]), "numbers"),
])
def test_pure_functions_refuse_bad_representations(reps, match):
    with pytest.raises(GateError, match=match):
        spectral_scores(reps)
    with pytest.raises(GateError, match=match):
        activation_clusters(reps)


# -- the task kind ---------------------------------------------------------------------------


def test_representation_unit_is_deterministic_and_restores_torch_state(pool, tmp_path):
    import torch

    x, y, _ = pool
    runner = _runner(tmp_path)
    inputs = [runner.blobs.put(_npy(x[:400])), runner.blobs.put(_npy(y[:400]))]
    params = {"n_classes": 10, "epochs": 3, "seed": 4}
    threads, state = torch.get_num_threads(), torch.random.get_rng_state()
    first = runner.run(TASK, inputs, params, 1)
    assert runner.run(TASK, inputs, params, 1) == first  # the same output CID
    assert runner.run(TASK, inputs, {**params, "seed": 5}, 1) != first
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)
    reps = representations(x[:400], y[:400], 10, runner, epochs=3, seed=4)
    assert reps.shape == (400, 256) and reps.dtype == np.float32 and (reps >= 0).all()
    _, metrics = train_representations(x[:400], y[:400], 10, epochs=3, seed=4)
    assert metrics["train_accuracy"] > 0.8 and metrics["flops"] > 0


def _npy(array):
    import io

    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


@pytest.mark.parametrize(("params", "match"), [
    ({"n_classes": 10, "hidden": 0}, "bad parameters"),
    ({"n_classes": 10, "dropout": 0.5}, "bad parameters"),
    ({"n_classes": 3}, "labels must be in 0..2"),
])
def test_representation_unit_refuses_bad_params(pool, tmp_path, params, match):
    x, y, _ = pool
    blobs = LocalBlobStore(tmp_path)
    inputs = [blobs.put(_npy(x[:50])), blobs.put(_npy(y[:50]))]
    ctx = TaskContext(blobs=blobs, provider="local", job_id="j")
    with pytest.raises(GateError, match=match):
        Representations().run(ctx, inputs, params)


def test_representation_unit_refuses_bad_inputs(pool, tmp_path):
    x, y, _ = pool
    blobs = LocalBlobStore(tmp_path)
    ctx = TaskContext(blobs=blobs, provider="local", job_id="j")
    features, labels = blobs.put(_npy(x[:50])), blobs.put(_npy(y[:40]))
    with pytest.raises(GateError, match="two inputs"):
        Representations().run(ctx, [features], {"n_classes": 10})
    with pytest.raises(GateError, match=r"must be \(n, d\)"):
        Representations().run(ctx, [features, labels], {"n_classes": 10})
    with pytest.raises(GateError, match="one unit"):
        Representations().run(TaskContext(blobs=blobs, provider="p", job_id="j", units=2),
                              [features, blobs.put(_npy(y[:50]))], {"n_classes": 10})
    bad = x[:50].copy()
    bad[3, 3] = np.inf
    with pytest.raises(GateError, match="NaN or infinite"):
        train_representations(bad, y[:50], 10)


# -- the gate --------------------------------------------------------------------------------


def test_backdoor_gate_catches_the_demo_patch(pool, tmp_path):
    x, y, cut = pool
    xb, yb, planted = _plant(x[cut:], y[cut:], 30, np.random.default_rng(3))
    ctx = GateContext(schema=DIGITS, existing=Records.make(y[:cut], x=x[:cut]),
                      runner=_runner(tmp_path))
    result = gate("backdoor").check(Records.make(yb, x=xb), ctx)
    found = result.indices()
    recall = len(found & planted) / len(planted)
    clean_flagged = len(found - planted) / (len(yb) - len(planted))
    assert recall >= 0.9 and clean_flagged <= 0.01, (recall, clean_flagged)
    assert result.stats["poisoned_classes"] == [TARGET]
    seven = result.stats["classes"][str(TARGET)]
    assert seven["k"] == 2 and seven["clusters"][0]["enrichment_p"] < 1e-6
    assert seven["clusters"][0]["separation"] >= 4 and seven["spectral_agreement"] > 0.9
    assert all(f.action == "flag" and "possible backdoor" in f.reason for f in result.findings)
    again = gate("backdoor").check(Records.make(yb, x=xb), ctx)
    assert again == result  # deterministic: anyone re-running admission agrees


def test_backdoor_gate_on_a_new_dataset_relies_on_separation(pool, tmp_path):
    x, y, _ = pool
    xb, yb, planted = _plant(x, y, 72, np.random.default_rng(4), rows=(0, 2), cols=(0, 2),
                             target=0)
    result = Backdoor().check(Records.make(yb, x=xb),
                              GateContext(schema=DIGITS, runner=_runner(tmp_path)))
    found = result.indices()
    assert len(found & planted) / len(planted) >= 0.9
    assert len(found - planted) <= 0.01 * len(yb)
    assert result.stats["classes"]["0"]["enrichment_p"] == 1.0  # no dataset to compare with


def test_backdoor_gate_leaves_clean_digits_alone(pool, tmp_path):
    x, y, cut = pool
    ctx = GateContext(schema=DIGITS, existing=Records.make(y[:cut], x=x[:cut]),
                      blobs=LocalBlobStore(tmp_path), seed=1)
    result = Backdoor().check(Records.make(y[cut:], x=x[cut:]), ctx)
    assert len(result.findings) <= 0.05 * (len(y) - cut)
    assert result.stats["poisoned_classes"] == []
    assert max(s["separation"] for s in result.stats["classes"].values()) < 8


def test_backdoor_gate_leaves_clean_tables_alone(tmp_path):
    d = load_breast_cancer()
    x, y = d.data.astype(np.float64), d.target.astype(np.int64)
    schema = Schema(kind="tabular", labels=list(d.target_names),
                    columns=[Column(name=f"c{i}") for i in range(x.shape[1])])
    ctx = GateContext(schema=schema, existing=Records.make(y[:340], x=x[:340]),
                      runner=_runner(tmp_path))
    result = Backdoor().check(Records.make(y[340:], x=x[340:]), ctx)
    assert result.findings == () and set(result.stats["classes"]) == {"0", "1"}


def test_backdoor_gate_skips_what_it_cannot_judge_and_refuses_bad_thresholds(pool, tmp_path):
    x, y, _ = pool
    assert "backdoor" in registered()
    small = Backdoor().check(Records.make(y[:50], x=x[:50]), GateContext(schema=DIGITS))
    assert small.findings == () and "need 100" in small.stats["skipped"]
    text = Schema(kind="text", labels=["a", "b"])
    assert not Backdoor().applies_to(text)
    with pytest.raises(GateError, match="runner or a blob store"):
        Backdoor().check(Records.make(y[:200], x=x[:200]), GateContext(schema=DIGITS))
    for bad in ({"max_cluster_fraction": 0.8}, {"min_separation": 9.0},
                {"max_enrichment_p": 2.0}, {"min_class_records": 1}, {"max_clusters": 1}):
        with pytest.raises(GateError, match="backdoor"):
            gate("backdoor", **bad).check(Records.make(y[:200], x=x[:200]),
                                          GateContext(schema=DIGITS, runner=_runner(tmp_path)))
    with pytest.raises(GateError, match="unexpected keyword"):
        gate("backdoor", trigger_size=2)


def test_a_large_dataset_is_sampled_down_to_max_existing(tmp_path):
    from sklearn.datasets import load_digits

    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.data.gates.base import GateContext, gate

    x, y = load_digits(return_X_y=True)
    existing = Records.make(y[:1200], x=x[:1200])
    batch_x, batch_y = x[1200:].copy(), y[1200:].copy()
    poisoned = np.random.default_rng(0).choice(len(batch_y), 30, replace=False)
    for i in poisoned:
        batch_x[i].reshape(8, 8)[6:8, 6:8] = 16.0
        batch_y[i] = 7
    ctx = GateContext(schema=DIGITS, existing=existing, blobs=LocalBlobStore(tmp_path))
    result = gate("backdoor", max_existing=600).check(Records.make(batch_y, x=batch_x), ctx)
    flagged, planted = result.indices(), set(poisoned.tolist())
    assert len(flagged & planted) >= 27 and len(flagged - planted) <= 6
    assert sum(c["records"] for c in result.stats["classes"].values()) == 600 + len(batch_y)
