"""Private inference on encrypted inputs (TenSEAL, CKKS): keys stay with the data owner.

Two parties. The **data owner** (:class:`KeyOwner`) makes a CKKS context, keeps
its secret key, encrypts a batch of samples, hands the server the *public* part of
the context (:meth:`KeyOwner.public_context`: public and relinearisation keys, no
secret key, no Galois keys) and decrypts what comes back. The **server**
(:class:`CKKSServer`) only ever holds that public context and ciphertext bytes; it
evaluates a :class:`PolyModel` (plaintext weights are fine on the server) and cannot
decrypt anything: TenSEAL refuses to decrypt under a context without a secret key.

**Models.** A :class:`PolyModel` is a chain of affine layers with the square
activation ``x ↦ x²`` between them (CryptoNets, Gilad-Bachrach et al., 2016): a
polynomial, so the encrypted and plaintext models compute the same function and
differ only by CKKS noise. Logistic regression is one affine layer (the server
returns the score, the owner applies the sigmoid or argmax after decrypting); the
MLP is ``64 -> 16 -> x² -> 10``. Feature standardisation is folded into the first
layer (``W / s`` and ``b - W (m / s)``), so the owner encrypts raw features. Both
are trained here in plaintext with the same activation (:func:`train_logistic`,
:func:`train_square_mlp`).

**Packing: feature-major.** Ciphertext ``j`` holds feature ``j`` of every sample
in the batch, one sample per slot (up to ``poly_modulus_degree / 2`` = 4096
samples). An affine layer is then ``out_k = Σ_j W[k, j] · ct_j + b_k``:
ciphertext-by-scalar products and additions only, the same slot-wise arithmetic
for all samples at once, and **no rotations**. So the server needs no Galois keys
(the public context is 1.1 MB at depth 1 and 2.5 MB at depth 3; with Galois keys
it is 18.6 MB at depth 1), the cost of a batch does not depend on how many
samples it holds, and the cost per sample falls as ``1 / batch``. The
alternative layouts (one sample per ciphertext with a rotate-and-sum dot
product: 40 ms per sample for breast cancer's 30 features, measured side by side
in the benchmark; or several samples side by side in one ciphertext) pay
``log2(features)`` rotations per output and per ciphertext; feature-major pays
``features`` cheap scalar products per output for the whole batch. Its one cost
is latency for a lone sample: a batch of one costs as much as a full batch, so an
owner with few samples should batch them over time. The measured numbers are in
``bench/results/models_encrypted.json``.

**Parameters** (:meth:`CKKSParams.for_depth`). A model with ``L`` affine layers
has multiplicative depth ``2L - 1`` (each layer's scalar products and each square
use one level). At ``poly_modulus_degree`` 8192 SEAL allows 218 bits of
coefficient modulus for 128-bit security, so: depth 1 ``[60, 40, 60]``, scale
``2^40``; depth 2 ``[60, 40, 40, 60]``; depth 3 ``[50, 35, 35, 35, 50]``, scale
``2^35`` (``[60, 40, 40, 40, 60]`` would need 240 bits). The first prime minus the
scale is the integer headroom of a decrypted value (``2^20`` and ``2^15``); the
measured error of the outputs, relative to their largest magnitude, is 3e-7
(logistic regression) and 5e-5 (the MLP), far below the 1e-3 tolerance the tests
use. Deeper models use degree 16384 (438 bits, 40-bit levels), at about four times the cost of a
scalar product (5.6 vs 1.4 ms, measured) and twice the slots.

**What is and is not checked.** Every batch carries the SHA-256 of the public
context it was encrypted under; the server refuses a batch from another context,
and the owner refuses results from another context. This catches mix-ups, not an
adversary: a ciphertext under other keys with the same parameters decrypts to
noise, which CKKS cannot detect. Inputs must be finite and of the model's feature
count, and a batch may hold at most the slot count.

TenSEAL and torch are imported lazily.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from plexnet.models.errors import ModelError

if TYPE_CHECKING:
    import tenseal as ts

__all__ = ["WIRE_VERSION", "CKKSParams", "CKKSServer", "EncryptedBatch", "KeyOwner",
           "PolyModel", "train_logistic", "train_square_mlp"]

WIRE_VERSION = 1


@dataclass(frozen=True)
class CKKSParams:
    """CKKS encryption parameters; see the module docstring for why these values."""

    poly_modulus_degree: int = 8192
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 40, 60)
    scale_bits: int = 40

    @property
    def slots(self) -> int:
        """How many samples one ciphertext holds."""
        return self.poly_modulus_degree // 2

    @property
    def depth(self) -> int:
        """Multiplicative levels available (the primes between the first and the special one)."""
        return len(self.coeff_mod_bit_sizes) - 2

    @classmethod
    def for_depth(cls, depth: int) -> CKKSParams:
        """The cheapest parameters (128-bit security) that evaluate ``depth`` levels.

        Raises:
            ModelError: if ``depth`` is below 1 or above 7 (degree 16384's 438 bits).
        """
        if depth == 1:
            return cls(8192, (60, 40, 60), 40)
        if depth == 2:
            return cls(8192, (60, 40, 40, 60), 40)
        if depth == 3:
            return cls(8192, (50, 35, 35, 35, 50), 35)
        if 4 <= depth <= 7:
            return cls(16384, (60, *([40] * depth), 60), 40)
        raise ModelError(f"no CKKS parameters for depth {depth}: use 1 to 7 "
                         "(at most 4 affine layers with square activations)")


@dataclass(frozen=True)
class PolyModel:
    """Affine layers ``(W (out, in), b (out,))`` with ``x²`` between them: (B, in) -> (B, out)."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ModelError("a PolyModel needs at least one affine layer")
        width = None
        for i, (w, b) in enumerate(self.layers):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ModelError(f"layer {i}: weight must be (out, in) and bias (out,), "
                                 f"got {w.shape} and {b.shape}")
            if width is not None and w.shape[1] != width:
                raise ModelError(f"layer {i} takes {w.shape[1]} inputs, the previous gives {width}")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ModelError(f"layer {i} has non-finite weights")
            if (~w.any(axis=1)).any():
                # A unit that is Σ 0·ct_j would be a "transparent" ciphertext, which SEAL rejects.
                raise ModelError(f"layer {i} has a unit whose weights are all zero")
            width = w.shape[0]

    @property
    def n_in(self) -> int:
        return int(self.layers[0][0].shape[1])

    @property
    def n_out(self) -> int:
        return int(self.layers[-1][0].shape[0])

    @property
    def depth(self) -> int:
        """Multiplicative depth: one level per affine layer, one per square."""
        return 2 * len(self.layers) - 1

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Plaintext reference, float64: (B, in) -> (B, out)."""
        h = np.asarray(x, dtype=np.float64)
        for i, (w, b) in enumerate(self.layers):
            if i:
                h = h * h
            h = h @ w.T + b
        return h


@dataclass(frozen=True)
class EncryptedBatch:
    """Ciphertexts as bytes, feature-major: ``ciphertexts[j]`` holds column ``j`` of a batch.

    ``context_id`` is the SHA-256 (hex) of the public context they were made under.
    """

    context_id: str
    n_samples: int
    ciphertexts: tuple[bytes, ...]
    version: int = WIRE_VERSION

    @property
    def n_columns(self) -> int:
        return len(self.ciphertexts)

    @property
    def nbytes(self) -> int:
        return sum(len(c) for c in self.ciphertexts)


def _context_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()


def _check_version(batch: EncryptedBatch) -> None:
    if batch.version != WIRE_VERSION:
        raise ModelError(f"encrypted batch version {batch.version} is not {WIRE_VERSION}; "
                         "upgrade the older party")


@dataclass
class KeyOwner:
    """The data owner: holds the secret key; encrypts inputs and decrypts results."""

    params: CKKSParams = field(default_factory=CKKSParams)

    def __post_init__(self) -> None:
        import tenseal as ts

        p = self.params
        try:
            ctx = ts.context(ts.SCHEME_TYPE.CKKS, p.poly_modulus_degree,
                             coeff_mod_bit_sizes=list(p.coeff_mod_bit_sizes))
        except ValueError as e:
            raise ModelError(f"invalid CKKS parameters {p}: {e}; use CKKSParams.for_depth()") \
                from e
        ctx.global_scale = 2.0 ** p.scale_bits
        self._ctx = ctx
        public = ctx.copy()
        public.make_context_public()  # drops the secret key
        self._public = public.serialize(save_public_key=True, save_secret_key=False,
                                        save_galois_keys=False, save_relin_keys=True)
        self.context_id = _context_id(self._public)

    @classmethod
    def for_model(cls, model: PolyModel) -> KeyOwner:
        """An owner whose context has exactly the depth ``model`` needs."""
        return cls(CKKSParams.for_depth(model.depth))

    def public_context(self) -> bytes:
        """What the server gets: public and relinearisation keys, no secret key."""
        return self._public

    def encrypt(self, x: np.ndarray) -> EncryptedBatch:
        """Encrypt (B, d) raw features as d ciphertexts of B slots each.

        Raises:
            ModelError: if ``x`` is not a finite 2-D array or B exceeds the slot count.
        """
        import tenseal as ts

        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ModelError(f"encrypt takes a non-empty (samples, features) array, got {x.shape}")
        if x.shape[0] > self.params.slots:
            raise ModelError(f"{x.shape[0]} samples do not fit in {self.params.slots} slots; "
                             f"split the input into batches of at most {self.params.slots}")
        if not np.isfinite(x).all():
            raise ModelError("inputs must be finite (found NaN or infinity)")
        cts = tuple(ts.ckks_vector(self._ctx, col).serialize() for col in x.T)
        return EncryptedBatch(self.context_id, int(x.shape[0]), cts)

    def decrypt(self, batch: EncryptedBatch) -> np.ndarray:
        """Decrypt a server's result: (B, outputs) float64.

        Raises:
            ModelError: if the batch was not made under this owner's context or is malformed.
        """
        import tenseal as ts

        _check_version(batch)
        if batch.context_id != self.context_id:
            raise ModelError("this result was computed under another context; "
                             "decrypt it with the KeyOwner that encrypted its inputs")
        try:
            cols = [ts.ckks_vector_from(self._ctx, c).decrypt() for c in batch.ciphertexts]
        except (ValueError, RuntimeError, TypeError) as e:
            raise ModelError(f"cannot decrypt the result: {e}") from e
        return np.array([c[:batch.n_samples] for c in cols], dtype=np.float64).T


class CKKSServer:
    """The evaluator: a public context (no secret key) and plaintext model weights."""

    def __init__(self, public_context: bytes) -> None:
        """Load the owner's public context.

        Raises:
            ModelError: if the bytes are not a TenSEAL context, or hold a secret key
                (the owner must send :meth:`KeyOwner.public_context`, not its own).
        """
        import tenseal as ts

        try:
            ctx = ts.context_from(public_context)
        except (ValueError, RuntimeError, TypeError) as e:
            raise ModelError(f"not a TenSEAL context: {e}") from e
        if ctx.is_private():
            raise ModelError("the context holds a secret key; the owner must send "
                             "KeyOwner.public_context(), never its private context")
        if not ctx.has_relin_keys():
            raise ModelError("the context has no relinearisation keys, which x² needs")
        self._ctx = ctx
        self.context_id = _context_id(public_context)

    def can_decrypt(self) -> bool:
        """Whether this server could decrypt (always False: it has no secret key)."""
        return self._ctx.has_secret_key()

    def load(self, ciphertext: bytes) -> ts.CKKSVector:
        """Deserialise one ciphertext under the public context.

        Raises:
            ModelError: if the bytes are not a ciphertext for this context's parameters.
        """
        import tenseal as ts

        try:
            return ts.ckks_vector_from(self._ctx, ciphertext)
        except (ValueError, RuntimeError, TypeError) as e:
            raise ModelError(f"not a ciphertext for this context: {e}") from e

    def evaluate(self, model: PolyModel, batch: EncryptedBatch) -> EncryptedBatch:
        """Evaluate ``model`` slot-wise on an encrypted feature-major batch.

        Raises:
            ModelError: if the batch comes from another context, has the wrong number of
                features, or the context is too shallow for the model.
        """
        _check_version(batch)
        if batch.context_id != self.context_id:
            raise ModelError("the batch was encrypted under another context than this "
                             "server's; send the public context of the key owner that made it")
        if batch.n_columns != model.n_in:
            raise ModelError(f"the model takes {model.n_in} features, the batch has "
                             f"{batch.n_columns} ciphertexts (one per feature)")
        h = [self.load(c) for c in batch.ciphertexts]
        sizes = {v.size() for v in h}
        if len(sizes) != 1 or not 1 <= batch.n_samples <= min(sizes):
            raise ModelError(f"the batch claims {batch.n_samples} samples but its ciphertexts "
                             f"encode {sorted(sizes)} values; re-encrypt it with KeyOwner.encrypt")
        try:
            for i, (w, b) in enumerate(model.layers):
                if i:
                    h = [v.square() for v in h]
                h = [_affine_row(h, w[k], float(b[k])) for k in range(w.shape[0])]
        except ValueError as e:
            # SEAL: "scale out of bounds" / "end of modulus switching chain reached".
            raise ModelError(f"the context is too shallow for this model (depth {model.depth}): "
                             f"{e}; make the KeyOwner with KeyOwner.for_model(model)") from e
        return EncryptedBatch(self.context_id, batch.n_samples, tuple(v.serialize() for v in h))


def _affine_row(h: list[Any], w: np.ndarray, b: float) -> Any:
    """Σ_j w_j · h_j + b over ciphertexts; zero weights are skipped (they add nothing)."""
    acc = None
    for v, wj in zip(h, w, strict=True):
        if wj != 0.0:
            term = v * float(wj)
            acc = term if acc is None else acc.add_(term)
    assert acc is not None  # PolyModel rejects all-zero rows
    return acc + b


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)  # constant features (digits' corners): scale 1


def _train(x: np.ndarray, y: np.ndarray, sizes: list[int], *, epochs: int, lr: float,
           weight_decay: float, seed: int) -> PolyModel:
    """Full-batch Adam on cross-entropy (softmax over ``sizes[-1]`` > 1, else logistic)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    mean, scale = _standardise(x)
    xt = torch.tensor((x - mean) / scale, dtype=torch.float64)
    linears = [torch.nn.Linear(a, b, dtype=torch.float64) for a, b in pairwise(sizes)]
    params = [p for lin in linears for p in lin.parameters()]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    binary = sizes[-1] == 1
    yt = torch.tensor(y, dtype=torch.float64 if binary else torch.long)
    for _ in range(epochs):
        h = xt
        for i, lin in enumerate(linears):
            h = lin(h * h if i else h)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(h[:, 0], yt) if binary
                else torch.nn.functional.cross_entropy(h, yt))
        opt.zero_grad()
        loss.backward()
        opt.step()
    layers = [(lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy())
              for lin in linears]
    w0, b0 = layers[0]
    layers[0] = (w0 / scale, b0 - w0 @ (mean / scale))  # fold standardisation into layer 0
    return PolyModel(tuple(layers))


def train_logistic(x: np.ndarray, y: np.ndarray, *, epochs: int = 200, seed: int = 0) -> PolyModel:
    """Logistic regression on raw features (binary ``y``): one score per sample, ``> 0`` is 1.

    200 full-batch Adam steps at lr 0.01 with weight decay 1e-2 reach 0.965 test
    accuracy on breast cancer (70/30 stratified split, seed 0; scikit-learn's
    ``LogisticRegression`` on standardised features: 0.959). Larger learning rates or
    more steps overfit to 0.953.
    """
    return _train(x, np.asarray(y), [x.shape[1], 1], epochs=epochs, lr=0.01,
                  weight_decay=1e-2, seed=seed)


def train_square_mlp(x: np.ndarray, y: np.ndarray, n_classes: int, *, hidden: int = 16,
                     epochs: int = 300, seed: int = 0) -> PolyModel:
    """``in -> hidden -> x² -> n_classes`` on raw features; the argmax of the logits predicts.

    Square activations grow fast, so lr is a small 0.005 with weight decay 1e-2 to keep
    the logits (and the CKKS headroom they need) moderate: 300 full-batch Adam steps
    reach 0.961-0.970 test accuracy on digits over seeds 0-2 (lr 0.01, decay 1e-3:
    0.948-0.969).
    """
    return _train(x, np.asarray(y), [x.shape[1], hidden, n_classes], epochs=epochs, lr=0.005,
                  weight_decay=1e-2, seed=seed)
