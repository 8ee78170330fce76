"""Curation: score how much each record is worth, and keep the best share of a dataset.

Two scores, both per record and both computed without a held-out set:

* :func:`el2n_scores` — EL2N (Paul, Ganguli & Dziugaite, "Deep Learning on a Data
  Diet", NeurIPS 2021): ``‖softmax(f(x)) - onehot(y)‖₂`` of a small network a few
  epochs into training, averaged over seeded runs. **Higher = harder.** Early in
  training a network has learned the common patterns but not memorised the
  exceptions, so mislabelled and atypical records score high.
* :func:`margin_scores` — the confident-learning self-confidence margin
  ``p_given - max_{j≠given} p_j`` on out-of-fold probabilities. **Higher = easier**
  (and more likely correctly labelled); negative means the model prefers another label.

:func:`select` keeps a fraction by either score. Which end to keep depends on the data:

* ``prefer="easy"`` keeps the lowest-EL2N (highest-margin) records. With noisy
  labels this is the one to use: the hardest records are mostly the mislabelled ones,
  and dropping them is label cleaning.
* ``prefer="hard"`` keeps the highest-EL2N records, as Paul et al. do on clean data:
  easy records are redundant, and the hard ones carry the decision boundary. Sorscher
  et al. ("Beyond neural scaling laws", NeurIPS 2022) show this reverses when little
  data is kept: then easy records are worth more. ``bench/data_curation.py`` measures
  both ends against random subsets.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from plexnet.data.errors import DataError

__all__ = ["el2n_scores", "margin_scores", "select"]


def _xy(x: Any, y: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    features, labels = np.asarray(x, dtype=np.float64), np.asarray(y)
    if features.ndim != 2 or labels.shape != (len(features),) or not len(features):
        raise DataError(f"x must be (n, d) and y (n,) with n > 0, got {features.shape} "
                        f"and {labels.shape}")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n_classes:
        raise DataError(f"labels must be integers in 0..{n_classes - 1}")
    if not np.isfinite(features).all():
        raise DataError("features hold NaN or infinite values")
    return features, labels.astype(np.int64)


def el2n_scores(x: np.ndarray, y: np.ndarray, n_classes: int, *, seed: int = 0,
                epochs: int = 4, runs: int = 5, hidden: int = 64, lr: float = 1e-3,
                batch_size: int = 32) -> np.ndarray:
    """EL2N score of each record (higher = harder), shape ``(n,)``, in ``[0, √2]``.

    Trains ``runs`` one-hidden-layer networks (seeds ``seed``, ``seed + 1``, ...) on all
    records for ``epochs`` epochs of Adam with mini-batches of ``batch_size``, on
    standardised features, and averages each record's error norm at the end. Paul et al.
    score at about a tenth of full training; on digits a full run is ~40 epochs, hence 4.
    Deterministic for a seed; the caller's torch random state is left as it was.

    Raises:
        DataError: for mismatched shapes, labels outside ``0..n_classes-1``, non-finite
            features, or non-positive ``epochs``, ``runs``, ``hidden`` or ``batch_size``.
    """
    features, labels = _xy(x, y, n_classes)
    if min(epochs, runs, hidden, batch_size) < 1:
        raise DataError("epochs, runs, hidden and batch_size must be at least 1")
    import torch

    spread = features.std(axis=0)
    standard = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    inputs = torch.as_tensor(standard, dtype=torch.float32)
    targets = torch.as_tensor(labels)
    onehot = torch.nn.functional.one_hot(targets, n_classes).float()  # (n, k)
    total = np.zeros(len(labels))
    with torch.random.fork_rng(devices=[]):
        for run in range(runs):
            torch.manual_seed(seed + run)
            model = torch.nn.Sequential(torch.nn.Linear(inputs.shape[1], hidden),
                                        torch.nn.ReLU(), torch.nn.Linear(hidden, n_classes))
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            for _ in range(epochs):
                for batch in torch.randperm(len(labels)).split(batch_size):
                    optimizer.zero_grad()
                    loss = torch.nn.functional.cross_entropy(model(inputs[batch]),
                                                             targets[batch])
                    loss.backward()
                    optimizer.step()
            with torch.no_grad():
                error = torch.softmax(model(inputs), dim=1) - onehot
                total += torch.linalg.vector_norm(error, dim=1).double().numpy()
    return total / runs


def margin_scores(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Self-confidence margin ``p_given - max_{j≠given} p_j`` of each record (higher =
    easier), shape ``(n,)``, in ``[-1, 1]``. Use out-of-fold probabilities.

    Raises:
        DataError: for mismatched shapes, labels outside ``0..k-1`` or non-finite values.
    """
    probs = np.asarray(pred_probs, dtype=np.float64)
    y = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[1] < 2 or y.shape != (len(probs),):
        raise DataError(f"pred_probs must be (n, k >= 2) and labels (n,), got {probs.shape} "
                        f"and {y.shape}")
    if y.dtype.kind not in "iu" or (len(y) and (y.min() < 0 or y.max() >= probs.shape[1])):
        raise DataError(f"labels must be integers in 0..{probs.shape[1] - 1}")
    if not np.isfinite(probs).all():
        raise DataError("pred_probs hold NaN or infinite values")
    rows = np.arange(len(y))
    given = probs[rows, y]
    others = probs.copy()
    others[rows, y] = -np.inf
    return given - others.max(axis=1)  # type: ignore[no-any-return]


def _quotas(counts: np.ndarray, keep: int) -> np.ndarray:
    """Per-class numbers to keep, proportional to ``counts`` and summing to ``keep``
    (largest remainders; ties to the lower class)."""
    exact = counts * keep / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:keep - quota.sum()]] += 1
    return quota


def select(scores: np.ndarray, fraction: float, *, prefer: Literal["easy", "hard"] = "easy",
           labels: np.ndarray | None = None, balanced: bool = True,
           higher: Literal["hard", "easy"] = "hard") -> np.ndarray:
    """Indices of the records to keep: the ``fraction`` most preferred, ascending.

    Args:
        scores: one score per record, ``(n,)``.
        fraction: share to keep, in ``(0, 1]``; ``round(fraction·n)`` records (at least 1).
        prefer: ``easy`` keeps the easiest records (use with noisy labels: it drops the
            mislabelled ones), ``hard`` the hardest (Paul et al.'s choice on clean data).
        labels: each record's label; with ``balanced``, every class keeps the same
            share (its quota of the total, by largest remainders), so pruning cannot
            wipe out a class whose records all look hard.
        balanced: keep classes in proportion when ``labels`` are given.
        higher: what a high score means: ``hard`` for :func:`el2n_scores`, ``easy`` for
            :func:`margin_scores`.

    Ties are broken by record index (the lower is kept), so the selection is
    deterministic.

    Raises:
        DataError: for a fraction outside ``(0, 1]``, non-finite scores, labels of
            another length, or an unknown ``prefer`` or ``higher``.
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
        raise DataError(f"scores must be a non-empty finite (n,) array, got {values.shape}")
    if not 0 < fraction <= 1:
        raise DataError(f"fraction must be in (0, 1], got {fraction}")
    if prefer not in ("easy", "hard") or higher not in ("easy", "hard"):
        raise DataError(f"prefer and higher must be 'easy' or 'hard', got {prefer!r}, "
                        f"{higher!r}")
    # Sort key: most preferred first.
    key = -values if prefer == higher else values
    keep = max(1, round(fraction * len(values)))
    if labels is None or not balanced:
        chosen = np.argsort(key, kind="stable")[:keep]
        return np.sort(chosen)
    y = np.asarray(labels)
    if y.shape != values.shape:
        raise DataError(f"labels must have shape {values.shape}, got {y.shape}")
    classes, group = np.unique(y, return_inverse=True)
    quota = _quotas(np.bincount(group), keep)
    chosen_parts = []
    for c in range(len(classes)):
        members = np.flatnonzero(group == c)
        chosen_parts.append(members[np.argsort(key[members], kind="stable")[:quota[c]]])
    return np.sort(np.concatenate(chosen_parts))
