"""The ``train.supervised`` task kind: train an MLP classifier on a dataset version.

Runs on a provider's node. Input: one dataset manifest CID. Output: the model
artifact (safetensors) in the blob store. Deterministic on CPU for a given seed
(fixed torch seed, a single intra-op thread, a seeded shuffle), so a verifier
can re-run it and compare output CIDs.

Parameters (all optional): ``hidden`` (list of widths, default [128]), ``epochs``
(30), ``batch_size`` (64), ``lr`` (1e-3), ``weight_decay`` (1e-4), ``val_fraction``
(0.15), ``seed`` (0), and ``dp`` (off): a :class:`~plexnet.models.privacy.DPSpec`
such as ``{"noise_multiplier": 1.1, "max_grad_norm": 1.0, "delta": 1e-5}`` or
``{"target_epsilon": 4}`` trains with DP-SGD (Opacus, Poisson batches of expected
size ``batch_size``; see ``privacy.py``). ``dp`` is not in :data:`DEFAULTS`: the
gang version of this task kind (``distributed.py``) cannot train privately yet, and
refusing the name there is safer than ignoring it. Without ``dp`` the training is
exactly what it was before the option existed (same batches, same bytes).

Metrics: ``params`` (N), ``samples`` (D, training samples seen over all epochs),
``flops_estimate`` (6·N·D, the usual training-cost rule), ``train_accuracy``,
``val_accuracy``, ``final_loss``; with ``dp`` also ``dp_epsilon``, ``dp_delta``,
``dp_noise_multiplier``, ``dp_max_grad_norm``, ``dp_accountant``, ``dp_noise`` and
``dp_sample_rate``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from plexnet.compute.task import TaskContext, TaskKind, TaskResult, register
from plexnet.data.dataset import load_arrays
from plexnet.models.errors import ModelError
from plexnet.models.mlp import MLP, predict, save_mlp
from plexnet.models.privacy import DPSpec, dp_metrics, dp_spec, make_private, quiet

__all__ = [
    "DEFAULTS",
    "SupervisedTraining",
    "new_model",
    "new_optimizer",
    "split_indices",
    "train_mlp",
    "training_params",
]

DEFAULTS: dict[str, Any] = {"hidden": [128], "epochs": 30, "batch_size": 64, "lr": 1e-3,
                             "weight_decay": 1e-4, "val_fraction": 0.15, "seed": 0}


def training_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over the defaults; unknown names are refused."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ModelError(f"unknown training parameters: {sorted(unknown)}")
    return {**DEFAULTS, **params}


def split_indices(rng: np.random.Generator, n: int,
                  p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(validation, training) record indices: the first draw from the recipe's seeded rng."""
    order = rng.permutation(n)
    n_val = round(n * float(p["val_fraction"]))
    val, train = order[:n_val], order[n_val:]
    if len(train) == 0:
        raise ModelError("no training records left after the validation split")
    return val, train


def new_model(x_train: np.ndarray, n_classes: int, p: dict[str, Any]) -> MLP:
    """A fresh MLP (seeded by the caller) that standardises with ``x_train``'s statistics."""
    model = MLP(x_train.shape[1], [int(h) for h in p["hidden"]], n_classes)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    model.get_buffer("mean").copy_(torch.as_tensor(mean, dtype=torch.float32))
    scale = np.where(std > 1e-6, std, 1.0)
    model.get_buffer("scale").copy_(torch.as_tensor(scale, dtype=torch.float32))
    return model


def new_optimizer(model: MLP, p: dict[str, Any]) -> torch.optim.Adam:
    return torch.optim.Adam(model.parameters(), lr=float(p["lr"]),
                            weight_decay=float(p["weight_decay"]))


def _train_private(model: MLP, opt: torch.optim.Adam, xt: torch.Tensor, yt: torch.Tensor,
                   p: dict[str, Any], spec: DPSpec) -> tuple[int, float, dict[str, Any]]:
    """DP-SGD epochs over (xt, yt); return the samples seen, the last loss and the
    privacy metrics. Trains ``model`` in place."""
    from torch.utils.data import DataLoader, TensorDataset

    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(xt, yt), batch_size=int(p["batch_size"]))
    epochs = int(p["epochs"])
    samples, last = 0, float("nan")
    with quiet():
        private, dp_opt, batches, accountant = make_private(model, opt, loader, spec,
                                                            epochs=epochs, seed=int(p["seed"]))
        private.train()
        for _ in range(epochs):
            for xb, yb in batches:
                # A Poisson batch may be empty; it still takes its (pure-noise) step,
                # which the accountant counts, but has no loss to report.
                dp_opt.zero_grad()
                loss = loss_fn(private(xb), yb)
                loss.backward()
                dp_opt.step()
                samples += len(yb)
                if len(yb):
                    last = float(loss.item())
        private._close()  # drop Opacus' hooks and per-sample gradients from model
        return samples, last, dp_metrics(spec, dp_opt, accountant, 1 / len(loader))


def train_mlp(x: np.ndarray, y: np.ndarray, n_classes: int,
              params: dict[str, Any]) -> tuple[MLP, dict[str, Any]]:
    """Train an MLP on (x, y); return it and its metrics. Pure apart from CPU time
    (and, with ``dp={"noise": "secret", ...}``, the operating system's randomness).

    Raises:
        ModelError: for unknown parameters or a bad ``dp`` spec.
    """
    spec = dp_spec(params.get("dp"))
    p = training_params({k: v for k, v in params.items() if k != "dp"})
    torch.manual_seed(int(p["seed"]))
    torch.set_num_threads(1)  # determinism: one reduction order
    rng = np.random.default_rng(int(p["seed"]))
    val, train = split_indices(rng, len(y), p)
    n_val = len(val)
    model = new_model(x[train], n_classes, p)
    opt = new_optimizer(model, p)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.as_tensor(x[train], dtype=torch.float32)
    yt = torch.as_tensor(y[train], dtype=torch.long)
    batch = int(p["batch_size"])
    samples = 0
    privacy: dict[str, Any] = {}
    if spec is not None:
        samples, last_loss, privacy = _train_private(model, opt, xt, yt, p, spec)
    else:
        model.train()
        for _ in range(int(p["epochs"])):
            perm = torch.as_tensor(rng.permutation(len(train)))
            for start in range(0, len(train), batch):
                idx = perm[start : start + batch]
                opt.zero_grad()
                loss = loss_fn(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                samples += len(idx)
        last_loss = float(loss.item())
    model.eval()
    n_params = model.num_parameters()
    metrics = {
        "params": n_params,
        "samples": samples,
        "flops_estimate": 6 * n_params * samples,
        "train_accuracy": round(float((predict(model, x[train]) == y[train]).mean()), 4),
        "val_accuracy": (round(float((predict(model, x[val]) == y[val]).mean()), 4)
                         if n_val else None),
        "final_loss": round(last_loss, 5) if last_loss == last_loss else None,  # NaN: none
        **privacy,
    }
    return model, metrics


@register("train.supervised")
class SupervisedTraining(TaskKind):
    """Train an MLP classifier on the dataset version named by the single input."""

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        if len(inputs) != 1:
            raise ModelError("train.supervised takes exactly one input: a dataset manifest CID")
        x, y, manifest = load_arrays(ctx.blobs, inputs[0])
        model, metrics = train_mlp(x, y, len(manifest.schema_.labels), params)
        cid = ctx.blobs.put(save_mlp(model))
        return TaskResult(outputs={"model": cid},
                          metrics={**metrics, "dataset": f"{manifest.name}@{manifest.version}"})
