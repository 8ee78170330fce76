"""The model layer's admission gate ``reconstruction``: an autoencoder's error as a data gate.

Known answer: against 1,200 clean digits, uniform-noise images must be flagged and
at most a few clean digits (bench: 0.8 %); with a given model the gate scores with it.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from plexnet.core.blobstore import LocalBlobStore
from plexnet.data import Records, Schema
from plexnet.data.errors import GateError
from plexnet.data.gates.base import GateContext, gate, registered
from plexnet.models.gates import Reconstruction
from plexnet.models.unsupervised import save_autoencoder, train_autoencoder

DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    x, y = d.data[order].astype(float), d.target[order]
    noise = np.random.default_rng(1).integers(0, 17, (20, 64)).astype(float)
    batch = Records.make(np.zeros(len(x) - 1200 + 20, np.int64), x=np.r_[x[1200:], noise])
    return Records.make(y[:1200], x=x[:1200]), batch


def _flags(result, n_clean: int) -> tuple[float, float]:
    flagged = np.zeros(n_clean + 20, bool)
    flagged[list(result.indices("flag"))] = True
    return float(flagged[:n_clean].mean()), float(flagged[n_clean:].mean())


def test_noise_is_flagged_and_clean_digits_mostly_are_not(digits):
    existing, batch = digits
    assert "reconstruction" in registered()
    result = gate("reconstruction").check(batch, GateContext(schema=DIGITS, existing=existing))
    clean, noise = _flags(result, len(batch) - 20)
    assert noise == 1.0 and clean <= 0.03, (clean, noise)
    assert result.stats["reference"] == "dataset" and result.stats["calibration_records"] == 180
    assert all(f.reason.startswith("unlike the data: reconstruction error") for f in
               result.findings)
    again = gate("reconstruction").check(batch, GateContext(schema=DIGITS, existing=existing))
    assert again == result  # deterministic for a seed: admission can be re-run


def test_a_given_model_scores_and_a_bad_one_is_refused(digits, tmp_path):
    existing, batch = digits
    blobs = LocalBlobStore(tmp_path)
    model, _ = train_autoencoder(existing.x, {"epochs": 20})
    cid = blobs.put(save_autoencoder(model))
    ctx = GateContext(schema=DIGITS, existing=existing, blobs=blobs)
    result = Reconstruction(model=cid).check(batch, ctx)
    assert result.stats["model"] == cid and result.stats["calibration_records"] == 1200
    assert _flags(result, len(batch) - 20)[1] == 1.0
    narrow = blobs.put(save_autoencoder(train_autoencoder(existing.x[:, :32],
                                                          {"epochs": 1})[0]))
    with pytest.raises(GateError, match="takes 32 features, the records have 64"):
        Reconstruction(model=narrow).check(batch, ctx)
    with pytest.raises(GateError, match="needs a blob store"):
        Reconstruction(model=cid).check(batch, GateContext(schema=DIGITS, existing=existing))
    with pytest.raises(GateError, match="z must be positive"):
        Reconstruction(z=0)


def test_too_few_records_are_not_judged():
    few = Records.make(np.zeros(50, np.int64), x=np.random.default_rng(0).random((50, 64)))
    result = Reconstruction().check(few, GateContext(schema=DIGITS))
    assert result.findings == () and "need 200" in result.stats["skipped"]
