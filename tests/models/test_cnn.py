"""The CNN recipe on digits: it learns, loads by arch, exports to ONNX, serves and teaches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from plexnet.compute.task import TaskContext, load_task
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.identity import Identity
from plexnet.data import Column, Records, Schema, publish
from plexnet.models import ArtifactError, ModelError
from plexnet.models.batch import decode_predictions
from plexnet.models.cnn import CNN, load_cnn, save_cnn
from plexnet.models.compress import check_onnx, export_onnx, onnx_predict, onnx_session
from plexnet.models.flops import flops_report, measure_flops
from plexnet.models.mlp import MLP, load_classifier, load_mlp, predict, save_artifact, save_mlp
from plexnet.models.serving import create_app
from plexnet.models.supervised import train_classifier

SHAPE = [8, 8]


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    test, train = order[:400], order[400:]  # the test records are never trained on
    return d.data[train], d.target[train], d.data[test], d.target[test]


@pytest.fixture(scope="module")
def trained(digits):
    x, y, _, _ = digits
    return train_classifier(x, y, 10, {"arch": "cnn", "epochs": 10, "seed": 0}, shape=SHAPE)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A blob store with digits published as an 8x8 image dataset and as a table."""
    d = load_digits()
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    owner = Identity.generate("owner")
    labels = [str(i) for i in range(10)]
    records = Records.make(d.target, x=d.data, contributor=owner.did)
    images = Schema(kind="image", shape=SHAPE, labels=labels)
    image_cid, _, _ = publish(owner, blobs, "digits", 1, images, [(records, None)],
                              "BSD-3-Clause")
    table = Schema(kind="tabular", labels=labels,
                   columns=[Column(name=f"p{i}") for i in range(64)])
    table_cid, _, _ = publish(owner, blobs, "digits-table", 1, table, [(records, None)],
                              "BSD-3-Clause")
    return blobs, image_cid, table_cid


def _acc(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model, x) == y).mean())


def test_cnn_learns_digits_far_above_the_majority_class(trained, digits):
    _, y, xt, yt = digits
    model, metrics = trained
    majority = np.bincount(y).max() / len(y)  # about 0.10
    assert metrics["val_accuracy"] > 0.93 > majority + 0.8
    assert _acc(model, xt, yt) > 0.93  # records never trained on
    assert metrics["params"] == model.num_parameters() == (
        (1 * 9 + 1) * 16 + (16 * 9 + 1) * 32 + (32 * 2 * 2 + 1) * 128 + (128 + 1) * 10)
    assert metrics["flops_estimate"] == 6 * metrics["params"] * metrics["samples"]
    assert model.config == {"arch": "cnn", "in": 64, "shape": [8, 8], "channels": [16, 32],
                            "hidden": 128, "out": 10}


def test_cnn_training_is_deterministic(digits):
    x, y, _, _ = digits
    params = {"arch": "cnn", "channels": [4, 8], "hidden": [16], "epochs": 2, "seed": 7}
    a, _ = train_classifier(x, y, 10, params, shape=SHAPE)
    b, _ = train_classifier(x, y, 10, params, shape=SHAPE)
    c, _ = train_classifier(x, y, 10, {**params, "seed": 8}, shape=SHAPE)
    assert save_cnn(a) == save_cnn(b) != save_cnn(c)


def test_load_classifier_rebuilds_either_architecture(trained, digits):
    _, _, xt, _ = digits
    cnn = trained[0]
    data = save_cnn(cnn)
    again = load_classifier(data)
    assert isinstance(again, CNN) and again.config == cnn.config
    assert np.array_equal(predict(again, xt), predict(cnn, xt))
    assert save_cnn(load_cnn(data)) == data
    mlp = MLP(64, [8], 10)
    assert isinstance(load_classifier(save_mlp(mlp)), MLP)
    with pytest.raises(ArtifactError, match="unknown architecture"):
        load_mlp(data)  # load_mlp stays MLP-only
    with pytest.raises(ArtifactError, match="not a CNN artifact"):
        load_cnn(save_mlp(mlp))


def test_bad_classifier_artifacts_are_refused():
    with pytest.raises(ArtifactError, match="unknown architecture 'autoencoder'"):
        load_classifier(save_artifact(nn.Linear(2, 2), {"arch": "autoencoder"}))
    small = CNN(16, [4, 4], [2], 4, 3)
    with pytest.raises(ArtifactError, match="not a plexnet CNN artifact"):  # 4x4 holds 16, not 64
        load_classifier(save_artifact(small, {**small.config, "in": 64}))
    with pytest.raises(ArtifactError, match="do not fit"):  # the weights of other widths
        load_classifier(save_artifact(small, {**small.config, "channels": [3]}))
    with pytest.raises(ArtifactError):
        load_classifier(b"garbage")


@pytest.mark.parametrize(("params", "shape", "words"), [
    ({"arch": "rnn"}, SHAPE, "unknown arch"),
    ({"arch": "cnn"}, None, "needs the images' shape"),
    ({"arch": "cnn"}, [8, 7], "holds 56 values"),
    ({"arch": "cnn"}, [8, 8, 3], "single-channel"),
    ({"arch": "cnn"}, [64], "single-channel"),
    ({"arch": "cnn", "hidden": [64, 32]}, SHAPE, "one dense layer"),
    ({"arch": "cnn", "channels": []}, SHAPE, "at least one convolution"),
    ({"arch": "cnn", "channels": [16, 0]}, SHAPE, "positive widths"),
    ({"channels": [16]}, SHAPE, "give arch 'cnn'"),
])
def test_bad_architectures_are_refused(digits, params, shape, words):
    x, y, _, _ = digits
    with pytest.raises(ModelError, match=words):
        train_classifier(x[:50], y[:50], 10, {"epochs": 1, **params}, shape=shape)


def test_an_hwc_shape_of_one_channel_is_an_image(digits):
    x, y, _, _ = digits
    model, _ = train_classifier(x[:80], y[:80], 10, {"arch": "cnn", "epochs": 1},
                                shape=[8, 8, 1])
    assert model.config["shape"] == [8, 8]


def test_onnx_export_equals_torch(trained, digits):
    _, _, xt, _ = digits
    model = trained[0]
    data = export_onnx(model, torch.zeros(1, 64))
    session = onnx_session(data)
    assert session.get_inputs()[0].shape[-1] == 64  # flat raw features, as for the MLP
    with torch.no_grad():
        want = model(torch.as_tensor(xt, dtype=torch.float32)).numpy()
    for n in (1, 7, 400):  # the batch dimension is dynamic
        np.testing.assert_allclose(onnx_predict(session, xt[:n]), want[:n], rtol=1e-5,
                                   atol=1e-5)
    assert check_onnx(model, data, xt) <= 1e-4


def test_the_task_kind_trains_a_cnn_on_an_image_dataset_only(store):
    blobs, images, table = store
    task = load_task("train.supervised", "plexnet.models.supervised")
    ctx = TaskContext(blobs=blobs, provider="p", job_id="j")
    params = {"arch": "cnn", "channels": [8], "hidden": [32], "epochs": 2, "seed": 1}
    r1 = task.run(ctx, [images], params)
    r2 = task.run(ctx, [images], params)
    assert r1.outputs == r2.outputs  # a replica reproduces the CID
    model = load_classifier(blobs.get(r1.outputs["model"]))
    assert model.config == {"arch": "cnn", "in": 64, "shape": [8, 8], "channels": [8],
                            "hidden": 32, "out": 10}
    assert r1.metrics["val_accuracy"] > 0.3 and "parent" not in r1.metrics  # 2 epochs: learning
    with pytest.raises(ModelError, match="holds tabular records"):
        task.run(ctx, [table], params)
    # infer.batch takes the CNN artifact as it takes an MLP's
    infer = load_task("infer.batch", "plexnet.models.batch")
    x = load_digits().data
    shards = [infer.run(TaskContext(blobs=blobs, provider="p", job_id="i", unit=u, units=2),
                        [r1.outputs["model"], images], {}) for u in range(2)]
    got = np.concatenate([decode_predictions(blobs.get(s.outputs["predictions"]))
                          for s in shards])
    assert np.array_equal(got, predict(model, x))


def test_the_server_serves_a_cnn_artifact(trained, digits, tmp_path):
    from fastapi.testclient import TestClient

    _, _, xt, _ = digits
    model = trained[0]
    blobs = LocalBlobStore(tmp_path / "blobs")
    cid = blobs.put(save_cnn(model))
    with TestClient(create_app(blobs)) as client:
        r = client.post(f"/v1/models/{cid}/predict", json={"inputs": xt[:30].tolist()})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == predict(model, xt[:30]).tolist()
        listed = client.get("/v1/models").json()
        assert listed == [{"cid": cid, "runtime": "torch", "inputs": 64, "outputs": 10}]
        bad = client.post(f"/v1/models/{cid}/predict", json={"inputs": [[0.0] * 63]})
        assert bad.status_code == 422 and "64 numbers" in bad.json()["detail"]


def test_a_cnn_teacher_distils_into_an_mlp_student(trained, store):
    blobs, images, _ = store
    teacher = trained[0]
    task = load_task("train.distill", "plexnet.models.distill")
    ctx = TaskContext(blobs=blobs, provider="p", job_id="d")
    r = task.run(ctx, [images, blobs.put(save_cnn(teacher))],
                 {"hidden": [32], "epochs": 10, "seed": 0})
    student = load_mlp(blobs.get(r.outputs["model"]))
    assert student.config == {"arch": "mlp", "in": 64, "hidden": [32], "out": 10}
    assert r.metrics["teacher_params"] == teacher.num_parameters()
    assert r.metrics["val_accuracy"] > 0.9


def test_flops_are_counted_for_the_cnn():
    torch.set_num_threads(1)
    model, batch = CNN(64, SHAPE, [16, 32], 128, 10), 32
    torch.manual_seed(0)
    x, y = torch.randn(batch, 64), torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters())

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    measured = measure_flops(step)
    # multiply-adds per sample: conv 1 -> 16 on 8x8, conv 16 -> 32 on 4x4, dense 128-128-10
    conv1, conv2, dense = 16 * 64 * 9, 32 * 16 * 16 * 9, 128 * 128 + 128 * 10
    # forward 2 per multiply-add, backward 4 (2 for the first layer: no input gradient)
    assert measured == batch * (2 * (conv1 + conv2 + dense) + 2 * conv1 + 4 * (conv2 + dense))
    report = flops_report(model.num_parameters(), 10 * batch, measured, batch)
    assert 4.3 < report["flops_ratio"] < 4.35  # each conv weight is used at every pixel
