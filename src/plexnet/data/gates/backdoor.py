"""Backdoors and poisoning: spectral signatures and activation clustering, and the gate.

A BadNets-style backdoor is a small set of records that carry a trigger (a bright patch
in a corner, say) and a label flipped to the attacker's target class. A model trained
on them learns "trigger -> target"; inside the target class the poisoned records then
form their own subpopulation of the model's penultimate-layer activations, far from the
class's clean records. Three parts, each usable alone:

* :func:`spectral_scores` — Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks"
  (NeurIPS 2018): centre one class's representations, take the top right singular vector,
  score each record by its squared projection on it; :func:`spectral_filter` is the
  paper's rule (per class, remove the top ``1.5·ε`` share). Written from the paper.
* :func:`activation_clusters` — Chen et al., "Detecting Backdoor Attacks on Deep Neural
  Networks by Activation Clustering" (2018): reduce one class's activations to 10
  dimensions and split them with k-means (the paper's k is 2); a much smaller, well
  separated cluster is suspect. PCA (an SVD) stands in for the paper's ICA: it is
  deterministic, which replicas and re-runs of admission need, and found the same
  clusters here (whitening the components, as ICA does, sent clean classes' D up to 47
  in trials).
* the ``gate.representations`` task kind and :func:`representations` — train a one-hidden-
  layer MLP (ReLU) on the candidates and return every record's hidden activations
  ``(n, hidden)``. Inputs: two ``.npy`` blobs, features ``(n, d)`` float64 and labels
  ``(n,)`` int64. Output: the activations ``(n, hidden)`` float32 ``.npy``. Bit-for-bit
  deterministic on CPU for a seed (one thread, seeded init and shuffles, deterministic
  kernels), so replicas on different providers agree on the output CID. One hidden
  layer, not two: with a second layer of 64 the poisoned 7s' spectral AUC fell from
  0.98-1.0 to 0.66-0.82 (the deeper layer has already folded them into the class); a
  small CNN did no better and trained 3-5x slower.
* the ``backdoor`` gate — runs both on the dataset plus the batch and flags the batch's
  records in a class's suspect cluster.

Why a per-class test before flagging anything: clean classes have sub-styles too (two
ways to write a 9 or a 1 in scikit-learn's digits), and 2-means always splits; Tran's
rule removes ``1.5·ε`` of *every* class, clean ones included (FPR 0.23 on digits at
ε = 0.17), and Chen's relative size alone flags 5-10 % of clean records. So a cluster is
called poisoned only when it (a) holds at most ``max_cluster_fraction`` of its class,
(b) is separated from the rest of the class by ``min_separation`` or more (Ashman's D:
the gap between the two means along the line joining them, in pooled standard
deviations), and (c) either comes from this batch far more than the batch's share of
the class would explain (a one-sided hypergeometric test, p at most
``max_enrichment_p``) or, for the 2-means split only, is separated by
``strong_separation`` or more — the only evidence there is when the dataset is new and
the batch is all of it. When 2-means finds nothing, 3-means gets a second look, with
the enrichment test only: a clean sub-style can take the other side of a 2-means split
together with the poison (a bottom-row bar on 1s, a single pixel on 7s), and 3-means
then isolates the poison, while in clean classes it splits off handfuls of outliers at
D up to 13, which is why separation alone may not speak there.

Measured on digits (1,437 candidates: 862 existing, 575 in the batch; the MLP of 256
units, 20 epochs; 5 seeds, ``python bench/data_backdoor.py``): clean classes' small
2-means clusters reach D 6.4 at most (the 9s and 1s, whose sub-styles are real), most
lie at 3-4; among clean clusters small and separated enough to be suspects (2- and
3-means) the smallest enrichment p was 0.006 (0.0005 counting clusters of any
separation), because a clean batch is a random share of each class. 29 poisoned records
(5 % of the batch) give p below 2e-8 and D 5-20 (2x2 corner patches at full brightness:
6.9-20), the cluster holding the poisoned records and next to nothing else (precision
0.97-1.0). Hence D >= 4 with p <= 1e-4 (a sixtieth of the smallest clean p; over ten classes
and four clusters each, at most 4e-3 of clean batches would see a finding by chance), or
D >= 8 alone (1.6 above the largest clean D). With an existing dataset every attack
tried was caught (recall 0.97-1.0, FPR <= 0.002); on a new dataset only separations
above 8 are caught (the 2x2 patches bottom-right and top-left and a 3x3 one bottom-left,
D 8.8-16; not the 2x2 top-right at D 6.3-8.0, a single pixel or a half-bright patch).
Below about 10 poisoned records from a batch holding 40 % of the class the enrichment
test cannot reach 1e-4 (0.4^10 = 1e-4). Not caught at all: clean-label attacks, whose
poisoned records keep their true label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plexnet.compute.task import TaskContext, TaskKind, TaskResult
from plexnet.compute.task import register as register_task
from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.data.records import Records
from plexnet.data.runner import LocalRunner, get_array, put_array

if TYPE_CHECKING:
    from plexnet.data.runner import UnitRunner

__all__ = ["TASK", "Backdoor", "Cluster", "Representations", "activation_clusters",
           "batch_enrichment", "representations", "robust_z", "separation",
           "spectral_filter", "spectral_scores", "train_representations"]

TASK: Final = "gate.representations"
_MAD_TO_SD: Final = 1.4826  # MAD of a normal distribution times this is its SD


# -- spectral signatures and activation clustering ------------------------------------------


def _reps(reps: Any, what: str = "reps") -> np.ndarray:
    r = np.asarray(reps)
    if r.ndim != 2:
        raise GateError(f"{what} must have shape (n, h), got {r.shape}")
    if len(r) < 2 or r.shape[1] < 1:
        raise GateError(f"{what} needs at least 2 records of 1 or more values, got {r.shape}")
    if r.dtype.kind not in "iuf":
        raise GateError(f"{what} must be numbers, got dtype {r.dtype}")
    r = r.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(r).all(axis=1))
    if len(bad):
        raise GateError(f"{what} row {bad[0]} holds NaN or infinite values")
    return r


def spectral_scores(reps: np.ndarray) -> np.ndarray:
    """Spectral-signature scores ``(n,)`` of one class's representations ``(n, h)``.

    The representations are centred on their mean; each record's score is its squared
    projection on the top right singular vector (Tran et al., 2018). Poisoned records,
    which share a direction the clean ones lack, score highest. All zeros when the
    representations do not vary.

    Raises:
        GateError: unless ``reps`` is a finite ``(n, h)`` array with ``n >= 2``.
    """
    r = _reps(reps)
    centred = r - r.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    if s[0] <= 1e-12 * max(1.0, float(np.abs(r).max())):
        return np.zeros(len(r))
    return (centred @ vt[0]) ** 2  # type: ignore[no-any-return]


def spectral_filter(reps: np.ndarray, labels: np.ndarray, epsilon: float) -> np.ndarray:
    """Tran et al.'s rule: in every class, the ``1.5·epsilon`` share with the highest
    spectral score. A boolean mask ``(n,)``; True marks a record to remove.

    ``epsilon`` is the poisoned share the defender assumes (the paper's upper bound).
    Every class loses that share, poisoned or not: see the module docstring for the
    per-class test the gate adds.

    Raises:
        GateError: for mismatched shapes or an ``epsilon`` outside [0, 1/1.5].
    """
    r = _reps(reps)
    y = np.asarray(labels)
    if y.shape != (len(r),) or y.dtype.kind not in "iu":
        raise GateError(f"labels must be integers of shape ({len(r)},), got {y.shape} {y.dtype}")
    if not 0 <= epsilon <= 1 / 1.5:
        raise GateError(f"epsilon must be in [0, {1 / 1.5:.3f}], got {epsilon}")
    removed = np.zeros(len(r), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        count = min(math.floor(1.5 * epsilon * len(members)), len(members))
        if count and len(members) >= 2:
            order = np.argsort(-spectral_scores(r[members]), kind="stable")
            removed[members[order[:count]]] = True
    return removed


def robust_z(scores: np.ndarray) -> np.ndarray:
    """``(scores - median) / (1.4826·MAD)``: how far each score lies out in standard
    deviations of the bulk, which the outliers themselves barely move. A zero MAD (most
    scores equal) falls back to the mean absolute deviation, then to 1."""
    s = np.asarray(scores, dtype=np.float64)
    mid = np.median(s)
    spread = _MAD_TO_SD * np.median(np.abs(s - mid))
    if spread <= 0:
        spread = float(np.mean(np.abs(s - mid))) or 1.0
    return (s - mid) / spread  # type: ignore[no-any-return]


def separation(a: np.ndarray, b: np.ndarray) -> float:
    """Ashman's D of two 1-D samples: ``|mean_a - mean_b| / sqrt((var_a + var_b) / 2)``.
    Above 2 two Gaussians are cleanly apart; infinite for two distinct constants."""
    gap = abs(float(np.mean(a)) - float(np.mean(b)))
    pooled = math.sqrt((float(np.var(a)) + float(np.var(b))) / 2)
    if pooled <= 1e-12 * max(1.0, gap):
        return math.inf if gap > 0 else 0.0
    return gap / pooled


@dataclass(frozen=True)
class Cluster:
    """One cluster of a k-means split of one class's activations.

    ``members`` marks its records ``(n,)``; ``fraction`` is its share of the class;
    ``separation`` is Ashman's D between it and the rest of the class along the line
    joining their means (in pooled standard deviations); ``silhouette`` is the mean
    silhouette of its members (Chen et al.'s other cue), in [-1, 1].
    """

    members: np.ndarray
    fraction: float
    separation: float
    silhouette: float


def activation_clusters(reps: np.ndarray, *, k: int = 2, dims: int = 10,
                        seed: int = 0) -> tuple[Cluster, ...]:
    """Split one class's representations ``(n, h)`` into ``k`` clusters (Chen et al., 2018).

    The centred representations are projected on their top ``dims`` principal axes
    (an SVD), then clustered by k-means (k-means++, 10 restarts, seeded, one thread:
    deterministic). Returns the clusters smallest first; with ``k = 2`` the first is
    the paper's suspect. Empty when the representations do not vary; fewer than ``k``
    clusters when there are fewer than ``k`` distinct records.

    Raises:
        GateError: unless ``reps`` is a finite ``(n, h)`` array with ``n >= 2``, or if
            ``dims < 1`` or ``k < 2``.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_samples
    from threadpoolctl import threadpool_limits

    if dims < 1 or k < 2:
        raise GateError(f"need dims >= 1 and k >= 2, got dims={dims} and k={k}")
    r = _reps(reps)
    centred = r - r.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    if s[0] <= 1e-12 * max(1.0, float(np.abs(r).max())):
        return ()
    keep = int(np.count_nonzero(s > 1e-9 * s[0]))  # axes that carry any variance
    z = centred @ vt[:min(dims, keep)].T  # (n, dims)
    distinct = len(np.unique(z, axis=0))
    if distinct < 2:
        return ()
    with threadpool_limits(1):
        labels = KMeans(n_clusters=min(k, distinct), n_init=10, random_state=seed).fit(z).labels_
        silhouettes = silhouette_samples(z, labels) if distinct > 2 else np.zeros(len(z))
    out = []
    for j in np.unique(labels):
        inside = labels == j
        if inside.all():
            continue
        axis = z[inside].mean(axis=0) - z[~inside].mean(axis=0)
        along = z @ axis  # unnormalised: D does not depend on the axis's length
        out.append(Cluster(inside, float(inside.mean()), separation(along[inside],
                                                                    along[~inside]),
                           float(silhouettes[inside].mean())))
    return tuple(sorted(out, key=lambda c: c.fraction))


def batch_enrichment(small: np.ndarray, in_batch: np.ndarray) -> float:
    """One-sided hypergeometric p-value that the cluster ``small`` holds at least as many
    batch records as it does, were the batch a random share of the class.

    ``small`` and ``in_batch`` are boolean masks over one class's records. 1.0 when the
    class is all batch or all existing records (nothing to compare against).
    """
    from scipy.stats import hypergeom

    small, in_batch = np.asarray(small, dtype=bool), np.asarray(in_batch, dtype=bool)
    if small.shape != in_batch.shape:
        raise GateError(f"masks differ in shape: {small.shape} and {in_batch.shape}")
    total, batch = len(small), int(in_batch.sum())
    drawn, hits = int(small.sum()), int((small & in_batch).sum())
    if batch in (0, total) or drawn == 0:
        return 1.0
    return float(hypergeom.sf(hits - 1, total, batch, drawn))


# -- the representation model (a task kind) -----------------------------------------------


class _Params(BaseModel):
    """What a ``gate.representations`` job may set (validated: params cross the wire)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_classes: int = Field(ge=2)
    hidden: int = Field(default=256, ge=2, le=4096)  # width of the penultimate layer
    epochs: int = Field(default=20, ge=1, le=1000)
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=1e-3, gt=0)  # Adam step size
    weight_decay: float = Field(default=1e-3, ge=0)  # Adam's L2 term
    seed: int = 0



def _checked_xy(x: Any, y: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    features, labels = np.asarray(x), np.asarray(y)
    if features.ndim != 2 or labels.shape != (len(features),):
        raise GateError(f"features must be (n, d) and labels (n,), got {features.shape} and "
                        f"{labels.shape}")
    if len(labels) < 2:
        raise GateError(f"need at least 2 records to train on, got {len(labels)}")
    if features.dtype.kind not in "iuf" or labels.dtype.kind not in "iu":
        raise GateError(f"features must be numbers and labels integers, got {features.dtype} "
                        f"and {labels.dtype}")
    if not np.isfinite(features).all():
        raise GateError("features hold NaN or infinite values")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise GateError(f"labels must be in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    return features.astype(np.float64), labels.astype(np.int64)


def _train_flops(n: int, d: int, hidden: int, n_classes: int, epochs: int) -> float:
    """6·N·D to train (N parameters, D samples seen) plus 2·N per record to extract."""
    params = (d + 1) * hidden + (hidden + 1) * n_classes
    return 6.0 * params * n * epochs + 2.0 * params * n


def train_representations(x: np.ndarray, y: np.ndarray, n_classes: int, *, hidden: int = 256,
                          epochs: int = 20, batch_size: int = 64, lr: float = 1e-3,
                          weight_decay: float = 1e-3,
                          seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Train a ``d -> hidden (ReLU) -> n_classes`` MLP on standardised ``x`` and return the
    hidden activations of every record ``(n, hidden)`` float32, with metrics.

    Deterministic bit for bit on CPU for a seed: the weights are drawn from a forked,
    seeded torch generator, batches come from a seeded numpy shuffle, and training runs
    on one thread with deterministic kernels. The caller's torch RNG, thread count and
    determinism setting are restored afterwards.

    Raises:
        GateError: for mismatched shapes, non-finite features or labels outside
            ``0..n_classes-1``.
    """
    import torch
    from torch import nn

    try:
        spec = _Params(n_classes=n_classes, hidden=hidden, epochs=epochs, batch_size=batch_size,
                       lr=lr, weight_decay=weight_decay, seed=seed)
    except ValidationError as exc:
        raise GateError(f"{TASK}: bad parameters: {exc}") from None
    features, labels = _checked_xy(x, y, n_classes)
    mean, std = features.mean(axis=0), features.std(axis=0)
    # A constant column (a pixel no digit inks) stays as it is rather than dividing by 0.
    scaled = (features - mean) / np.where(std > 1e-6, std, 1.0)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)  # one reduction order: the same bits on every provider
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            body = nn.Sequential(nn.Linear(features.shape[1], spec.hidden), nn.ReLU())
            head = nn.Linear(spec.hidden, n_classes)
        params = list(body.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
        xt = torch.as_tensor(scaled, dtype=torch.float32)  # (n, d)
        yt = torch.as_tensor(labels)
        rng = np.random.default_rng(spec.seed)
        loss = torch.zeros(())
        for _ in range(spec.epochs):
            order = torch.as_tensor(rng.permutation(len(labels)))
            for start in range(0, len(labels), spec.batch_size):
                pick = order[start:start + spec.batch_size]
                opt.zero_grad()
                loss = nn.functional.cross_entropy(head(body(xt[pick])), yt[pick])
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
        with torch.no_grad():
            reps = body(xt)  # (n, hidden)
            accuracy = float((head(reps).argmax(dim=1) == yt).double().mean())
        out = reps.numpy().astype("<f4")
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    n_params = sum(p.numel() for p in params)
    metrics = {"records": len(labels), "params": n_params, "samples": spec.epochs * len(labels),
               "train_accuracy": round(accuracy, 4), "final_loss": round(float(loss.detach()), 5),
               "flops": _train_flops(len(labels), features.shape[1], spec.hidden, n_classes,
                                     spec.epochs)}
    return out, metrics


@register_task(TASK)
class Representations(TaskKind):
    """Train the MLP on every record and return its hidden activations.

    Inputs ``[features CID, labels CID]`` (``.npy``); params: ``n_classes``, ``hidden``,
    ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``seed``. One unit. Output
    ``representations`` (``(n, hidden)`` float32 ``.npy``); metrics ``records``,
    ``params``, ``samples``, ``train_accuracy``, ``final_loss``, ``flops``.
    """

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        try:
            spec = _Params(**params)
        except ValidationError as exc:
            raise GateError(f"{TASK}: bad parameters: {exc}") from None
        if len(inputs) != 2:
            raise GateError(f"{TASK} takes two inputs: a features CID and a labels CID")
        if ctx.units != 1:
            raise GateError(f"{TASK} runs as one unit, got {ctx.units}")
        x, y = get_array(ctx.blobs, inputs[0]), get_array(ctx.blobs, inputs[1])
        reps, metrics = train_representations(x, y, **spec.model_dump())
        return TaskResult(outputs={"representations": put_array(ctx.blobs, reps)}, metrics=metrics)


def representations(x: np.ndarray, y: np.ndarray, n_classes: int, runner: UnitRunner, *,
                    hidden: int = 256, epochs: int = 20, seed: int = 0) -> np.ndarray:
    """Hidden activations ``(n, hidden)`` float32 of the MLP trained on ``(x, y)``, as one
    ``gate.representations`` unit run by ``runner`` (through ``runner.blobs``).

    Raises:
        GateError: for mismatched shapes, non-finite features or labels outside
            ``0..n_classes-1``.
    """
    features, labels = _checked_xy(x, y, n_classes)
    try:
        params = _Params(n_classes=n_classes, hidden=hidden, epochs=epochs,
                         seed=seed).model_dump()
    except ValidationError as exc:
        raise GateError(f"{TASK}: bad parameters: {exc}") from None
    inputs = [put_array(runner.blobs, features.astype("<f8")),
              put_array(runner.blobs, labels.astype("<i8"))]
    flops = _train_flops(len(labels), features.shape[1], hidden, n_classes, epochs)
    (cids,) = runner.run(TASK, inputs, params, 1, flops=flops)
    reps = get_array(runner.blobs, cids[0])
    if reps.shape != (len(labels), hidden):
        raise GateError(f"{TASK}: expected representations ({len(labels)}, {hidden}), got "
                        f"{reps.shape}")
    return reps


# -- the gate -------------------------------------------------------------------------------


def _name(label: int, names: list[str]) -> str:
    name = names[label] if label < len(names) else str(label)
    return str(label) if name == str(label) else f"{label} ({name!r})"


def _rounded(value: float, digits: int = 3) -> float | str:
    return round(value, digits) if math.isfinite(value) else "inf"


@register("backdoor")
@dataclass(frozen=True)
class Backdoor(Gate):
    """Flags batch records in a class's separate, batch-borne cluster of activations.

    See the module docstring for the method and for how each threshold was measured.
    A finding's ``score`` is the record's spectral-signature score as a robust z within
    its class (:func:`robust_z` of :func:`spectral_scores`): how far out it lies.
    """

    kinds = frozenset({"image", "tabular"})

    hidden: int = 256  # MLP width; 128-512 split digits' poisoned 7s alike, 256 trains in <1 s
    epochs: int = 20  # the MLP fits the trigger by then (train accuracy 1.0 on digits)
    dims: int = 10  # principal axes before k-means, as in Chen et al.
    max_clusters: int = 3  # 2-means first; 3-means when a clean sub-style hides the poison
    min_records: int = 100  # a judgement call: the smallest set measured is wine (178, clean)
    min_class_records: int = 30  # k-means on fewer splits noise; wine's 48-71 gave no finding
    # Dataset records the model trains on with the batch (a seeded sample beyond this):
    # 100,000 digits in 10 batches took 260 s of training uncapped; the demo's 862 and the
    # benchmark's datasets are far below it, so their numbers are unchanged.
    max_existing: int = 10_000
    max_cluster_fraction: float = 0.35  # share of the class: a poisoned cluster is the minority
    min_separation: float = 4.0  # Ashman's D: clean digit classes mostly 3-4, poison >= 5
    strong_separation: float = 8.0  # D alone (2-means): clean max 6.4, new-dataset patches 8.8+
    max_enrichment_p: float = 1e-4  # hypergeometric p per cluster: clean min 0.006, poison <2e-8
    action: Action = "flag"  # a suspicious cluster may be a new writing style: a reviewer's call

    def _validate(self) -> None:
        if not 0 < self.max_cluster_fraction <= 0.5:
            raise GateError(f"backdoor: max_cluster_fraction must be in (0, 0.5], got "
                            f"{self.max_cluster_fraction}")
        if not 0 <= self.min_separation <= self.strong_separation:
            raise GateError("backdoor: need 0 <= min_separation <= strong_separation, got "
                            f"{self.min_separation} and {self.strong_separation}")
        if not 0 <= self.max_enrichment_p <= 1:
            raise GateError(f"backdoor: max_enrichment_p must be in [0, 1], got "
                            f"{self.max_enrichment_p}")
        if self.max_existing < 1:
            raise GateError(f"backdoor: max_existing must be at least 1, got "
                            f"{self.max_existing}")
        if self.max_clusters < 2 or self.dims < 1:
            raise GateError("backdoor: max_clusters must be at least 2 and dims at least 1")
        if self.min_class_records < 4 or self.min_records < 2:
            raise GateError("backdoor: min_class_records must be at least 4 and min_records 2")

    def _suspects(self, reps: np.ndarray, in_batch: np.ndarray,
                  seed: int) -> tuple[int, list[tuple[Cluster, float]], dict[str, Any]]:
        """The clusters of one class that look poisoned, the k that found them, and the
        2-means split's figures (reported for every class)."""
        first: dict[str, Any] = {}
        for k in range(2, self.max_clusters + 1):
            clusters = activation_clusters(reps, k=k, dims=self.dims, seed=seed)
            suspects = []
            for cluster in clusters:
                if (cluster.fraction > self.max_cluster_fraction
                        or cluster.separation < self.min_separation):
                    continue
                p = batch_enrichment(cluster.members, in_batch)
                # Separation alone speaks only for Chen et al.'s own 2-means split: with
                # more clusters a handful of outliers split off at D > 10 in clean digits.
                if p <= self.max_enrichment_p or (k == 2 and
                                                  cluster.separation >= self.strong_separation):
                    suspects.append((cluster, p))
            if k == 2 and clusters:
                small = clusters[0]
                first = {"fraction": round(small.fraction, 4),
                         "separation": _rounded(small.separation),
                         "silhouette": round(small.silhouette, 4),
                         "enrichment_p": float(f"{batch_enrichment(small.members, in_batch):.3g}")}
            if suspects:
                return k, suspects, first
        return 0, [], first

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        self._validate()
        everything, start = ctx.candidates(batch), ctx.offset()
        if ctx.existing is not None and len(ctx.existing) > self.max_existing:
            # A seeded sample of the dataset stands in for all of it: the model need not
            # see every clean record, and the enrichment test only needs each class's
            # share from the batch against a clean background.
            keep = np.sort(np.random.default_rng(ctx.seed).choice(
                len(ctx.existing), self.max_existing, replace=False))
            everything = Records.concat([ctx.existing.subset(keep), batch])
            start = self.max_existing
        if everything.x is None:
            return GateResult(self.name, (), {"skipped": "records have no features x"})
        present = np.unique(everything.y)
        if len(everything) < self.min_records or len(present) < 2:
            return GateResult(self.name, (), {
                "skipped": f"{len(everything)} records of {len(present)} classes; need "
                           f"{self.min_records} of 2 or more", "records": len(everything)})
        runner = ctx.runner if ctx.runner is not None else (
            LocalRunner(ctx.blobs) if ctx.blobs is not None else None)
        if runner is None:
            raise GateError("backdoor needs a runner or a blob store in the gate context")
        names = list(ctx.schema.labels)
        reps = representations(everything.x, everything.y, len(names), runner,
                               hidden=self.hidden, epochs=self.epochs,
                               seed=ctx.seed).astype(np.float64)
        in_batch = np.arange(len(everything)) >= start
        findings: list[Finding] = []
        classes: dict[str, dict[str, Any]] = {}
        for c in present.tolist():
            members = np.flatnonzero(everything.y == c)
            stat: dict[str, Any] = {"records": len(members),
                                    "batch_records": int(in_batch[members].sum())}
            classes[str(c)] = stat
            if len(members) < self.min_class_records:
                stat["skipped"] = f"fewer than {self.min_class_records} records"
                continue
            k, suspects, first = self._suspects(reps[members], in_batch[members], ctx.seed)
            z = robust_z(spectral_scores(reps[members]))  # (n_c,), the class's own scale
            stat.update(first)
            stat.update({"spectral_max_z": round(float(z.max()), 2), "poisoned": bool(suspects),
                         "flagged": 0})
            if not suspects:
                continue
            union = np.zeros(len(members), dtype=bool)
            for cluster, _ in suspects:
                union |= cluster.members
            top = np.argsort(-z, kind="stable")[:int(union.sum())]
            stat.update({
                "k": k, "clusters": [{
                    "records": int(cl.members.sum()),
                    "batch_records": int((cl.members & in_batch[members]).sum()),
                    "fraction": round(cl.fraction, 4), "separation": _rounded(cl.separation),
                    "silhouette": round(cl.silhouette, 4), "enrichment_p": float(f"{p:.3g}")}
                    for cl, p in suspects],
                # Do the two methods agree? The suspects' share of the top spectral scores.
                "spectral_agreement": round(float(union[top].mean()), 4)})
            for cluster, p in suspects:
                size, inside = int(cluster.members.sum()), cluster.members & in_batch[members]
                why = (f"{int(inside.sum())} of its {size} records from this batch, p={p:.2g}"
                       if p <= self.max_enrichment_p else
                       f"separated beyond {self.strong_separation:g} SD")
                for j in np.flatnonzero(inside).tolist():
                    findings.append(Finding(
                        index=int(members[j]) - start, action=self.action,
                        score=round(float(z[j]), 3),
                        reason=f"possible backdoor: label {_name(c, names)} has a separate "
                               f"cluster of activations ({size} records, "
                               f"{cluster.fraction:.0%} of the class, "
                               f"{cluster.separation:.1f} SD from the rest; {why}) and this "
                               f"record is in it; check it for a trigger pattern and a wrong "
                               f"label"))
                    stat["flagged"] += 1
        findings.sort(key=lambda f: f.index)
        stats = {"records": len(everything), "hidden": self.hidden, "epochs": self.epochs,
                 "poisoned_classes": sorted(int(c) for c, s in classes.items()
                                            if s.get("poisoned")),
                 "flagged": len(findings), "classes": classes}
        return GateResult(self.name, tuple(findings), stats)
