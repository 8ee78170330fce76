"""Unsupervised recipes: k-means and the autoencoder beat their trivial baselines, reproducibly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import roc_auc_score

from plexnet.compute.task import TaskContext, load_task
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.identity import Identity
from plexnet.data import publish
from plexnet.data.ingest import load_sklearn
from plexnet.models import ArtifactError, ModelError
from plexnet.models.mlp import MLP, save_mlp
from plexnet.models.unsupervised import (
    anomaly_scores,
    encode,
    kmeans,
    load_autoencoder,
    save_autoencoder,
    train_autoencoder,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    schema, records = load_sklearn("digits")
    owner = Identity.generate("owner")
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    cid, _, _ = publish(owner, blobs, "digits", 1, schema,
                        [(records.signed_by(owner.did), None)], "CC-BY-4.0")
    return TaskContext(blobs=blobs, provider="p1", job_id="j1"), cid, records


def _npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def test_kmeans_task_finds_the_digits_and_is_reproducible(world):
    ctx, cid, records = world
    task = load_task("train.kmeans", "plexnet.models.unsupervised")
    first = task.run(ctx, [cid], {})
    again = task.run(ctx, [cid], {})
    assert first.outputs == again.outputs and first.metrics == again.metrics  # same CIDs
    m = first.metrics
    assert m["k"] == 10 and m["dataset"] == "digits@1"  # k from the schema's labels
    # Measured: ARI 0.65 vs -0.001, inertia 1.17e6 vs 2.15e6, silhouette 0.19 vs -0.02.
    assert m["ari"] > 0.55 and abs(m["baseline_ari"]) < 0.02
    assert m["inertia"] < 0.6 * m["baseline_inertia"]
    assert m["silhouette"] > 0.15 > m["baseline_silhouette"]
    centroids = _npy(ctx.blobs.get(first.outputs["centroids"]))
    labels = _npy(ctx.blobs.get(first.outputs["assignments"]))
    assert centroids.shape == (10, 64) and labels.shape == (len(records),)
    assert np.allclose(centroids[3], records.x[labels == 3].mean(axis=0))  # Lloyd's fixed point
    assert m["params"] == 640 and m["samples"] == len(records) * m["iterations"]
    assert 0.33 < m["flops_ratio"] < 0.34  # a forward pass only: 2 of the rule's 6


def test_kmeans_recovers_separated_blobs_exactly():
    x, y = make_blobs(n_samples=300, centers=4, cluster_std=0.5, random_state=1)
    _, labels, m = kmeans(x, y, {"k": 4, "seed": 2})
    assert m["ari"] == 1.0 and m["silhouette"] > 0.7
    assert len(np.unique(labels)) == 4


def test_a_different_seed_can_start_elsewhere():
    x, y = make_blobs(n_samples=200, centers=6, cluster_std=2.5, random_state=0)
    a = kmeans(x, y, {"k": 6, "n_init": 1, "seed": 0})
    b = kmeans(x, y, {"k": 6, "n_init": 1, "seed": 0})
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    assert kmeans(x, None, {"k": 6})[2]["ari"] is None  # no labels, no ARI


def test_autoencoder_task_beats_the_mean_and_flags_noise(world):
    ctx, cid, records = world
    task = load_task("train.autoencoder", "plexnet.models.unsupervised")
    params = {"epochs": 30}
    first = task.run(ctx, [cid], params)
    again = task.run(ctx, [cid], params)
    assert first.outputs == again.outputs and first.metrics == again.metrics
    m = first.metrics
    # Measured (30 epochs): validation MSE 0.24 vs 0.89 for the per-feature mean.
    assert m["val_mse"] < 0.4 * m["baseline_mse"] and m["train_mse"] <= m["val_mse"]
    model = load_autoencoder(ctx.blobs.get(first.outputs["model"]))
    assert model.config == {"arch": "autoencoder", "in": 64, "hidden": [64], "bottleneck": 8}
    assert save_autoencoder(model) == ctx.blobs.get(first.outputs["model"])
    assert encode(model, records.x[:5]).shape == (5, 8)
    noise = np.random.default_rng(0).uniform(0, 16, size=(300, 64))
    real = records.x[:300]
    scores = np.concatenate([anomaly_scores(model, real), anomaly_scores(model, noise)])
    auroc = roc_auc_score(np.r_[np.zeros(300), np.ones(300)], scores)
    assert auroc > 0.95
    assert 0.8 < m["flops_ratio"] < 1.0


def test_autoencoder_seed_changes_the_bytes():
    x = make_blobs(n_samples=200, n_features=6, centers=3, random_state=0)[0]
    a, _ = train_autoencoder(x, {"epochs": 2, "hidden": [8], "bottleneck": 2, "seed": 1})
    b, _ = train_autoencoder(x, {"epochs": 2, "hidden": [8], "bottleneck": 2, "seed": 1})
    c, _ = train_autoencoder(x, {"epochs": 2, "hidden": [8], "bottleneck": 2, "seed": 2})
    assert save_autoencoder(a) == save_autoencoder(b) != save_autoencoder(c)


@pytest.mark.parametrize(("params", "match"), [
    ({"k": 0}, "k must be an integer >= 1"),
    ({"k": 2.5}, "k must be"),
    ({"k": 500}, "at least k=500"),
    ({"n_init": 0}, "n_init"),
    ({"max_iter": True}, "max_iter"),
    ({"clusters": 3}, "unknown k-means parameters"),
])
def test_bad_kmeans_params_are_refused(params, match):
    x = make_blobs(n_samples=100, random_state=0)[0]
    with pytest.raises(ModelError, match=match):
        kmeans(x, None, params)


@pytest.mark.parametrize(("params", "match"), [
    ({"bottleneck": 0}, "bottleneck"),
    ({"hidden": [8, -1]}, "hidden"),
    ({"hidden": 8}, "hidden"),
    ({"lr": -1e-3}, "lr must be a positive"),
    ({"weight_decay": -1}, "weight_decay"),
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"epochz": 3}, "unknown autoencoder parameters"),
])
def test_bad_autoencoder_params_are_refused(params, match):
    x = make_blobs(n_samples=100, random_state=0)[0]
    with pytest.raises(ModelError, match=match):
        train_autoencoder(x, params)


@pytest.mark.parametrize("data", [b"", b"garbage", save_mlp(MLP(4, [8], 2))])
def test_bad_artifacts_are_refused(data):
    with pytest.raises(ArtifactError):
        load_autoencoder(data)


def test_a_task_takes_one_input(world):
    ctx, cid, _ = world
    for kind in ("train.kmeans", "train.autoencoder"):
        with pytest.raises(ModelError, match="exactly one input"):
            load_task(kind, "plexnet.models.unsupervised").run(ctx, [cid, cid], {})
