"""Encrypted inference (TenSEAL CKKS) matches plaintext; the server can never decrypt."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tenseal as ts
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from plexnet.models import ModelError
from plexnet.models.encrypted import (
    CKKSParams,
    CKKSServer,
    EncryptedBatch,
    KeyOwner,
    PolyModel,
    train_logistic,
    train_square_mlp,
)


def _split(loader):
    d = loader()
    return train_test_split(d.data, d.target, test_size=0.3, random_state=0, stratify=d.target)


@pytest.fixture(scope="module")
def cancer():
    xtr, xte, ytr, yte = _split(load_breast_cancer)
    model = train_logistic(xtr, ytr)
    owner = KeyOwner.for_model(model)
    return model, owner, CKKSServer(owner.public_context()), xte, yte


@pytest.fixture(scope="module")
def digits():
    xtr, xte, ytr, yte = _split(load_digits)
    model = train_square_mlp(xtr, ytr, 10)
    owner = KeyOwner.for_model(model)
    return model, owner, CKKSServer(owner.public_context()), xte, yte


def _close(enc: np.ndarray, plain: np.ndarray) -> None:
    # 1e-3 relative to the output's scale; measured 3e-7 (LR) and 5e-5 (MLP).
    assert enc.shape == plain.shape
    np.testing.assert_allclose(enc, plain, rtol=1e-3, atol=1e-3 * np.abs(plain).max())


def test_logistic_regression_encrypted_matches_plaintext(cancer):
    model, owner, server, x, y = cancer
    plain = model.forward(x)
    assert ((plain[:, 0] > 0) == y).mean() >= 0.94  # measured 0.965
    enc = owner.decrypt(server.evaluate(model, owner.encrypt(x)))  # all 171 in one batch
    _close(enc, plain)
    assert ((enc[:, 0] > 0) == (plain[:, 0] > 0)).mean() >= 0.995


def test_square_mlp_encrypted_matches_plaintext(digits):
    model, owner, server, x, y = digits
    assert model.depth == 3 and owner.params.depth == 3
    plain = model.forward(x)
    assert (plain.argmax(1) == y).mean() >= 0.94  # measured 0.970
    enc = owner.decrypt(server.evaluate(model, owner.encrypt(x)))  # 540 samples, 64 cts
    _close(enc, plain)
    assert (enc.argmax(1) == plain.argmax(1)).mean() >= 0.995


def test_a_known_polynomial_on_known_inputs():
    # (2x + 3y - 1)² · 0.5 + 4, slot by slot.
    model = PolyModel(((np.array([[2.0, 3.0]]), np.array([-1.0])),
                       (np.array([[0.5]]), np.array([4.0]))))
    x = np.array([[0.0, 0.0], [1.0, 1.0], [-2.0, 0.5], [3.0, -1.0]])
    owner = KeyOwner.for_model(model)
    out = owner.decrypt(CKKSServer(owner.public_context()).evaluate(model, owner.encrypt(x)))
    np.testing.assert_allclose(out[:, 0], [4.5, 12.0, 10.125, 6.0], atol=1e-3)


def test_the_server_holds_no_secret_key_and_cannot_decrypt(cancer):
    model, owner, server, x, _ = cancer
    public = ts.context_from(owner.public_context())
    assert not public.has_secret_key() and not public.is_private()
    assert not server.can_decrypt()
    result = server.evaluate(model, owner.encrypt(x[:4]))
    with pytest.raises(ValueError, match="secret"):
        server.load(result.ciphertexts[0]).decrypt()
    # A context with its secret key is refused by the server outright.
    private = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 60])
    private.generate_relin_keys()
    with pytest.raises(ModelError, match="secret key"):
        CKKSServer(private.serialize(save_secret_key=True))
    with pytest.raises(ModelError, match="not a TenSEAL context"):
        CKKSServer(b"not a context")


def test_wrong_feature_count_is_refused(cancer):
    model, owner, server, x, _ = cancer
    with pytest.raises(ModelError, match="30 features"):
        server.evaluate(model, owner.encrypt(x[:3, :29]))


def test_a_batch_from_another_context_is_refused(cancer):
    model, owner, server, x, _ = cancer
    other = KeyOwner(owner.params)
    assert other.context_id != owner.context_id
    with pytest.raises(ModelError, match="another context"):
        server.evaluate(model, other.encrypt(x[:2]))
    with pytest.raises(ModelError, match="another context"):
        other.decrypt(server.evaluate(model, owner.encrypt(x[:2])))
    # Ciphertexts of other parameters relabelled with this context's id: parsing fails.
    small = KeyOwner(CKKSParams(4096, (40, 20, 40), 20)).encrypt(x[:2])
    forged = EncryptedBatch(owner.context_id, 2, small.ciphertexts)
    with pytest.raises(ModelError, match="not a ciphertext"):
        server.evaluate(model, forged)


def test_too_many_samples_and_bad_values_are_refused(cancer):
    model, owner, server, x, _ = cancer
    with pytest.raises(ModelError, match="4096 slots"):
        owner.encrypt(np.zeros((4097, 30)))
    with pytest.raises(ModelError, match="finite"):
        owner.encrypt(np.full((2, 30), np.nan))
    with pytest.raises(ModelError, match="samples, features"):
        owner.encrypt(np.zeros(30))
    good = owner.encrypt(x[:2])
    with pytest.raises(ModelError, match="claims 5000 samples"):
        server.evaluate(model, replace(good, n_samples=5000))
    with pytest.raises(ModelError, match="version"):
        server.evaluate(model, replace(good, version=99))


def test_a_context_too_shallow_for_the_model_is_refused(digits):
    model, _, _, x, _ = digits
    shallow = KeyOwner(CKKSParams.for_depth(1))
    with pytest.raises(ModelError, match="too shallow"):
        CKKSServer(shallow.public_context()).evaluate(model, shallow.encrypt(x[:2]))


def test_params_and_models_are_validated():
    assert [CKKSParams.for_depth(d).depth for d in (1, 2, 3, 5)] == [1, 2, 3, 5]
    assert sum(CKKSParams.for_depth(3).coeff_mod_bit_sizes) <= 218  # 128-bit security at 8192
    with pytest.raises(ModelError, match="depth 9"):
        CKKSParams.for_depth(9)
    with pytest.raises(ModelError, match="invalid CKKS parameters"):
        KeyOwner(CKKSParams(8192, (60, 40, 40, 40, 60), 40))  # 240 bits > 218
    with pytest.raises(ModelError, match="all zero"):
        PolyModel(((np.zeros((1, 3)), np.zeros(1)),))
    with pytest.raises(ModelError, match="takes 4 inputs"):
        PolyModel(((np.ones((2, 3)), np.zeros(2)), (np.ones((1, 4)), np.zeros(1))))
    with pytest.raises(ModelError, match="at least one"):
        PolyModel(())
