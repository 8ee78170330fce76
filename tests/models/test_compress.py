"""Edge formats on digits: ONNX equals torch, int8 keeps accuracy, bad bytes are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from plexnet.models import ArtifactError, ModelError
from plexnet.models.compress import (
    check_onnx,
    export_onnx,
    onnx_predict,
    onnx_session,
    quantize_dynamic_int8,
    quantize_onnx_int8,
)
from plexnet.models.mlp import predict
from plexnet.models.supervised import train_mlp


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    test, train = order[:400], order[400:]
    return d.data[train], d.target[train], d.data[test], d.target[test]


@pytest.fixture(scope="module")
def model(digits):
    x, y, _, _ = digits
    trained, _ = train_mlp(x, y, 10, {"hidden": [128, 64], "epochs": 15, "seed": 0})
    return trained


@pytest.fixture(scope="module")
def onnx_bytes(model):
    return export_onnx(model, torch.zeros(1, 64))


def _logits(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=torch.float32)).numpy()


def test_onnx_outputs_equal_torch(model, onnx_bytes, digits, tmp_path):
    _, _, xt, _ = digits
    session = onnx_session(onnx_bytes)
    for n in (1, 7, 400):  # the batch dimension is dynamic
        got = onnx_predict(session, xt[:n])
        assert got.shape == (n, 10)
        np.testing.assert_allclose(got, _logits(model, xt[:n]), rtol=0, atol=1e-5)
    assert check_onnx(model, onnx_bytes, xt, atol=1e-5, rtol=0) <= 1e-5
    written = export_onnx(model, torch.zeros(3, 64), tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == written


def test_onnx_check_catches_a_different_model(model, onnx_bytes, digits):
    _, _, xt, _ = digits
    other = type(model)(64, [128, 64], 10)
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.net[0].weight[0, 20] += 0.5  # one weight changed (pixel 0 is always blank)
    with pytest.raises(ArtifactError, match="differ from torch"):
        check_onnx(other, onnx_bytes, xt)


@pytest.mark.parametrize("corrupt", [b"", b"not onnx at all", "truncated", "flipped"])
def test_corrupted_onnx_bytes_are_refused(model, onnx_bytes, digits, corrupt):
    if corrupt == "truncated":
        corrupt = onnx_bytes[: len(onnx_bytes) // 2]
    elif corrupt == "flipped":
        corrupt = bytes([onnx_bytes[0] ^ 0xFF]) + onnx_bytes[1:64] + b"\xff" * 64
    with pytest.raises(ArtifactError):
        onnx_session(corrupt)
    with pytest.raises(ArtifactError):
        check_onnx(model, corrupt, digits[2][:4])
    with pytest.raises(ArtifactError):
        quantize_onnx_int8(corrupt)


def test_onnx_on_the_wrong_width_is_refused(model, onnx_bytes):
    with pytest.raises(ModelError, match="do not fit"):
        check_onnx(model, onnx_bytes, np.zeros((2, 32)))


def test_torch_int8_keeps_accuracy_and_shrinks(model, digits):
    _, _, xt, yt = digits
    q = quantize_dynamic_int8(model)
    fp32 = float((predict(model, xt) == yt).mean())
    int8 = float((predict(q, xt) == yt).mean())
    assert fp32 > 0.95
    assert abs(fp32 - int8) <= 0.01
    assert isinstance(model.net[0], torch.nn.Linear)  # the original is untouched
    assert not isinstance(q.net[0], torch.nn.Linear)  # the copy's layers are quantized
    with pytest.raises(ModelError, match="cannot export"):
        export_onnx(q, torch.zeros(1, 64))


def test_onnx_int8_keeps_accuracy_and_shrinks(model, onnx_bytes, digits):
    _, _, xt, yt = digits
    q = quantize_onnx_int8(onnx_bytes)
    assert len(q) < 0.4 * len(onnx_bytes)  # int8 weights: about a quarter
    fp32 = float((onnx_predict(onnx_session(onnx_bytes), xt).argmax(1) == yt).mean())
    int8 = float((onnx_predict(onnx_session(q), xt).argmax(1) == yt).mean())
    assert abs(fp32 - int8) <= 0.01


def test_export_needs_a_batch_of_features(model):
    with pytest.raises(ModelError, match="batch, features"):
        export_onnx(model, torch.zeros(64))
