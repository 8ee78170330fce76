"""The MLP recipe: deterministic training, safetensors artifacts, bad artifacts refused."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from plexnet.models import ArtifactError, ModelError
from plexnet.models.mlp import MLP, load_classifier, load_mlp, predict, save_mlp
from plexnet.models.supervised import train_classifier, train_mlp


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data[:600], d.target[:600]


def test_training_learns_and_is_deterministic(digits):
    x, y = digits
    params = {"epochs": 8, "seed": 3}
    m1, metrics = train_mlp(x, y, 10, params)
    m2, _ = train_mlp(x, y, 10, params)
    assert save_mlp(m1) == save_mlp(m2)  # same seed, same bytes, same CID
    assert metrics["val_accuracy"] > 0.85
    assert metrics["flops_estimate"] == 6 * metrics["params"] * metrics["samples"]


def test_artifact_round_trip(digits):
    x, y = digits
    model, _ = train_mlp(x, y, 10, {"epochs": 2})
    again = load_mlp(save_mlp(model))
    assert np.array_equal(predict(model, x), predict(again, x))
    assert again.config == {"arch": "mlp", "in": 64, "hidden": [128], "out": 10}


def test_load_classifier_rebuilds_an_mlp(digits):
    x, y = digits
    model, _ = train_classifier(x, y, 10, {"epochs": 2, "arch": "mlp"})
    again = load_classifier(save_mlp(model))
    assert isinstance(again, MLP) and again.config == model.config
    assert np.array_equal(predict(model, x), predict(again, x))
    assert train_mlp is train_classifier  # the old name, for existing callers


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x08" + b"\x00" * 7 + b"{}"])
def test_garbage_artifacts_are_refused(data):
    with pytest.raises(ArtifactError):
        load_mlp(data)
    with pytest.raises(ArtifactError):
        load_classifier(data)


def test_weights_that_do_not_fit_are_refused():
    small = save_mlp(MLP(4, [8], 2))
    header_len = int.from_bytes(small[:8], "little")
    header = small[8:8 + header_len]
    assert b'\\"in\\":4' in header  # the architecture, as JSON inside the metadata string
    header = header.replace(b'\\"in\\":4', b'\\"in\\":5')
    with pytest.raises(ArtifactError):
        load_mlp(len(header).to_bytes(8, "little") + header + small[8 + header_len:])


def test_unknown_parameters_are_refused(digits):
    with pytest.raises(ModelError, match="unknown training parameters"):
        train_mlp(*digits, 10, {"epochz": 3})
    with pytest.raises(ModelError, match="unknown arch"):
        train_mlp(*digits, 10, {"arch": "transformer"})
