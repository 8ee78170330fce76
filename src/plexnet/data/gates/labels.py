"""Label issues: confident learning on out-of-fold probabilities, and the gate that uses it.

Three parts, each usable alone:

* :func:`find_label_issues` — confident learning (Northcutt, Jiang & Chuang, "Confident
  Learning: Estimating Uncertainty in Dataset Labels", JAIR 70, 2021), written from the
  paper: per-class thresholds ``t_j`` (the mean probability of class ``j`` over the
  examples labelled ``j``), the confident joint ``C[i][j]`` (examples labelled ``i``
  whose probability of ``j`` reaches ``t_j``; the largest such ``j`` when several do),
  calibrated to the label counts and normalised into the joint ``Q`` of given and true
  labels, then pruned. Not cleanlab's code (AGPL-3.0): nothing of it is imported or copied.
* the ``gate.out_of_fold`` task kind and :func:`out_of_fold_probabilities` — unit ``u``
  of ``k`` trains a classifier on every stratified fold but ``u`` and predicts fold
  ``u``, so no example is judged by a model that saw its label. Inputs: two ``.npy``
  blobs, features ``(n, d)`` float64 and labels ``(n,)`` int64. Outputs per unit: the
  fold's probabilities ``(n_fold, k)`` float64 and its record indices ``(n_fold,)``
  int64, both ``.npy`` (never pickled).
* the ``label_issues`` gate — runs both over the dataset plus the batch and flags the
  batch's records whose label looks wrong, naming the label the model suggests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plexnet.compute.task import TaskContext, TaskKind, TaskResult
from plexnet.compute.task import register as register_task
from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.data.runner import LocalRunner, get_array, put_array

if TYPE_CHECKING:
    from plexnet.data.records import Records
    from plexnet.data.runner import UnitRunner

__all__ = ["FILTERS", "ROW_SUM_TOLERANCE", "TASK", "FilterBy", "LabelIssues", "OutOfFold",
           "confident_joint", "estimate_joint", "find_label_issues",
           "out_of_fold_probabilities", "stratified_folds"]

FilterBy = Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"]
FILTERS: Final = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")
ROW_SUM_TOLERANCE: Final = 1e-3  # |sum_j p_j - 1|: loose enough for float32 softmax outputs
TASK: Final = "gate.out_of_fold"


# -- confident learning -----------------------------------------------------------------


def _checked(labels: Any, pred_probs: Any) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(labels), np.asarray(pred_probs)
    if y.ndim != 1:
        raise GateError(f"labels must have shape (n,), got {y.shape}")
    if p.ndim != 2 or len(p) != len(y):
        raise GateError(f"pred_probs must have shape ({len(y)}, k), got {p.shape}")
    if len(y) == 0:
        raise GateError("no examples: labels and pred_probs are empty")
    if p.shape[1] < 2:
        raise GateError(f"pred_probs needs at least 2 classes, got {p.shape[1]}")
    if y.dtype.kind not in "iu":
        raise GateError(f"labels must be integers, got dtype {y.dtype}")
    if p.dtype.kind not in "iuf":
        raise GateError(f"pred_probs must be numbers, got dtype {p.dtype}")
    p = p.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1))
    if len(bad):
        raise GateError(f"pred_probs row {bad[0]} holds NaN or infinite values")
    bad = np.flatnonzero(((p < -ROW_SUM_TOLERANCE) | (p > 1 + ROW_SUM_TOLERANCE)).any(axis=1))
    if len(bad):
        raise GateError(f"pred_probs row {bad[0]} has values outside [0, 1]: pass "
                        "probabilities (a softmax), not logits")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    if len(bad):
        raise GateError(f"pred_probs row {bad[0]} sums to {sums[bad[0]]:.6g}, not 1 "
                        f"(tolerance {ROW_SUM_TOLERANCE:g}): normalise each row")
    k = p.shape[1]
    bad = np.flatnonzero((y < 0) | (y >= k))
    if len(bad):
        raise GateError(f"label {y[bad[0]]} of example {bad[0]} is outside 0..{k - 1}")
    return y.astype(np.int64), p


def _confident(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each example, whether it counts in the confident joint and its column there."""
    k = p.shape[1]
    counts = np.bincount(y, minlength=k)
    sums = np.bincount(y, weights=p[np.arange(len(y)), y], minlength=k)
    # A class nobody labelled has no threshold: nothing can be confidently in it.
    thresholds = np.full(k, np.inf)
    thresholds[counts > 0] = sums[counts > 0] / counts[counts > 0]
    above = p >= thresholds  # (n, k)
    column = np.where(above, p, -1.0).argmax(axis=1)
    return above.any(axis=1), column


def confident_joint(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """The confident joint ``C`` (k, k): ``C[i][j]`` counts examples labelled ``i``
    confidently in class ``j``. Rows are given labels, columns the estimated true ones.

    Raises:
        GateError: for malformed inputs (see :func:`find_label_issues`).
    """
    y, p = _checked(labels, pred_probs)
    counted, column = _confident(y, p)
    k = p.shape[1]
    joint = np.zeros((k, k), dtype=np.int64)
    np.add.at(joint, (y[counted], column[counted]), 1)
    return joint


def estimate_joint(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """The calibrated joint ``Q`` (k, k) of given (rows) and true (columns) labels, summing
    to 1; its off-diagonal mass ``1 - trace(Q)`` estimates the share of wrong labels.

    Each row of the confident joint is rescaled to its class's label count (the paper's
    calibration), so classes the model is shy about are not under-counted. A class
    with no confident example at all is taken to be clean.

    Raises:
        GateError: for malformed inputs (see :func:`find_label_issues`).
    """
    joint = confident_joint(labels, pred_probs).astype(np.float64)
    k = joint.shape[0]
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k).astype(np.float64)
    rows = joint.sum(axis=1)
    calibrated = np.diag(counts)
    seen = rows > 0
    calibrated[seen] = joint[seen] / rows[seen, None] * counts[seen, None]
    return calibrated / calibrated.sum()


def _top(index: np.ndarray, key: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` entries of ``index`` with the largest ``key`` (ties: lower index)."""
    order = np.argsort(-key, kind="stable")
    return index[order[:count]]


def find_label_issues(labels: np.ndarray, pred_probs: np.ndarray, *,
                      filter_by: FilterBy = "prune_by_noise_rate") -> np.ndarray:
    """Which labels are likely wrong, by confident learning.

    Args:
        labels: given labels, shape ``(n,)``, integers in ``0..k-1``.
        pred_probs: out-of-fold probabilities, shape ``(n, k)``, rows summing to 1
            (within :data:`ROW_SUM_TOLERANCE`).
        filter_by: how to prune (the paper's section 3.3):

            * ``prune_by_noise_rate`` (default): for each off-diagonal cell ``(i, j)``
              of the calibrated joint ``Q``, flag the ``round(n·Q[i][j])`` examples
              labelled ``i`` with the largest margin ``p_j - p_i``;
            * ``prune_by_class``: for each class ``i``, flag the
              ``round(n·sum_{j≠i} Q[i][j])`` examples labelled ``i`` with the lowest
              ``p_i``;
            * ``both``: flagged by both of the above;
            * ``confident_learning``: the off-diagonal of the confident joint itself.

    Returns:
        A boolean mask of shape ``(n,)``: True where the label is likely wrong.

    Raises:
        GateError: for mismatched shapes, labels outside ``0..k-1``, NaN or infinite
            probabilities, values outside [0, 1] or rows not summing to 1, or an
            unknown ``filter_by``.
    """
    if filter_by not in FILTERS:
        raise GateError(f"unknown filter_by {filter_by!r}; use one of {', '.join(FILTERS)}")
    y, p = _checked(labels, pred_probs)
    n, k = p.shape
    if filter_by == "confident_learning":
        counted, column = _confident(y, p)
        return counted & (column != y)  # type: ignore[no-any-return]
    joint = estimate_joint(y, p)
    by_noise = np.zeros(n, dtype=bool)
    by_class = np.zeros(n, dtype=bool)
    for i in range(k):
        members = np.flatnonzero(y == i)
        if not len(members):
            continue
        for j in range(k):
            count = min(round(n * joint[i, j]), len(members))
            if j != i and count:
                by_noise[_top(members, p[members, j] - p[members, i], count)] = True
        count = min(round(n * (joint[i].sum() - joint[i, i])), len(members))
        if count:
            by_class[_top(members, -p[members, i], count)] = True
    if filter_by == "prune_by_noise_rate":
        return by_noise
    if filter_by == "prune_by_class":
        return by_class
    return by_noise & by_class


# -- out-of-fold probabilities ------------------------------------------------------------


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number of each example: seeded, stratified (each class spread over the folds
    within one example), fold sizes within one of each other.

    Raises:
        GateError: unless ``2 <= folds <= n``.
    """
    y = np.asarray(labels)
    if not 2 <= folds <= len(y):
        raise GateError(f"folds must be between 2 and the {len(y)} examples, got {folds}")
    order = np.random.default_rng(seed).permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]  # classes in turn, shuffled inside
    fold = np.empty(len(y), dtype=np.int64)
    fold[order] = np.arange(len(y)) % folds  # deal each class round-robin
    return fold


class _Params(BaseModel):
    """What a ``gate.out_of_fold`` job may set (validated: params cross the wire)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_classes: int = Field(ge=2)
    folds: int = Field(default=5, ge=2)
    seed: int = 0
    c: float = Field(default=0.1, gt=0)  # inverse L2 strength of the logistic regression
    max_iter: int = Field(default=500, ge=1)  # lbfgs iterations; digits converges in ~100



def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 params: _Params) -> tuple[np.ndarray, int]:
    """Class probabilities (n_test, k) of a logistic regression on standardised features,
    and the lbfgs iterations it took."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    k = params.n_classes
    probs = np.zeros((len(x_test), k))
    present = np.unique(y_train)
    if len(present) == 1:  # nothing to learn: the only class seen
        probs[:, present[0]] = 1.0
        return probs, 0
    # One thread: the same floating-point order on every provider, so replicas agree.
    with threadpool_limits(1):
        scaler = StandardScaler().fit(x_train)
        model = LogisticRegression(C=params.c, max_iter=params.max_iter)
        model.fit(scaler.transform(x_train), y_train)
        probs[:, model.classes_] = model.predict_proba(scaler.transform(x_test))
    return probs, int(np.max(model.n_iter_))


@register_task(TASK)
class OutOfFold(TaskKind):
    """Unit ``u`` of ``folds``: train on every fold but ``u``, predict fold ``u``.

    Inputs ``[features CID, labels CID]`` (``.npy``); params: ``n_classes``, ``folds``
    (must equal the job's units), ``seed``, ``c``, ``max_iter``. Outputs
    ``probabilities`` and ``indices``; metrics ``train``, ``test``, ``flops``.
    """

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        try:
            spec = _Params(**params)
        except ValidationError as exc:
            raise GateError(f"{TASK}: bad parameters: {exc}") from None
        if len(inputs) != 2:
            raise GateError(f"{TASK} takes two inputs: a features CID and a labels CID")
        if ctx.units != spec.folds or not 0 <= ctx.unit < spec.folds:
            raise GateError(f"{TASK}: unit {ctx.unit} of {ctx.units} for {spec.folds} folds")
        x, y = get_array(ctx.blobs, inputs[0]), get_array(ctx.blobs, inputs[1])
        if x.ndim != 2 or y.shape != (len(x),) or y.dtype.kind not in "iu":
            raise GateError(f"{TASK}: features {x.shape} and labels {y.shape} do not match")
        fold = stratified_folds(y, spec.folds, spec.seed)
        test = np.flatnonzero(fold == ctx.unit)
        train = np.flatnonzero(fold != ctx.unit)
        probs, iters = _fit_predict(x[train], y[train], x[test], spec)
        outputs = {"probabilities": put_array(ctx.blobs, probs.astype("<f8")),
                   "indices": put_array(ctx.blobs, test.astype("<i8"))}
        # lbfgs: about 4·n·d·k FLOPs per iteration (logits forward, gradient back).
        flops = 4 * len(train) * x.shape[1] * spec.n_classes * max(iters, 1)
        return TaskResult(outputs=outputs,
                          metrics={"train": len(train), "test": len(test), "flops": flops})


def out_of_fold_probabilities(x: np.ndarray, y: np.ndarray, n_classes: int,
                              runner: UnitRunner, *, folds: int = 5, seed: int = 0,
                              c: float = 0.1, max_iter: int = 500) -> np.ndarray:
    """Out-of-fold class probabilities ``(n, n_classes)``, one ``gate.out_of_fold`` unit
    per fold, run by ``runner`` (inputs and outputs go through ``runner.blobs``).

    Deterministic for a seed. ``c`` and ``max_iter`` are the logistic regression's
    inverse L2 strength and iteration cap.

    Raises:
        GateError: for mismatched shapes, labels outside ``0..n_classes-1`` or a bad
            number of folds.
    """
    features = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y)
    if features.ndim != 2 or labels.shape != (len(features),):
        raise GateError(f"x must be (n, d) and y (n,), got {features.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu" or (len(labels) and not (
            labels.min() >= 0 and labels.max() < n_classes)):
        raise GateError(f"labels must be integers in 0..{n_classes - 1}")
    stratified_folds(labels, folds, seed)  # refuses a bad fold count before any work
    inputs = [put_array(runner.blobs, features.astype("<f8")),
              put_array(runner.blobs, labels.astype("<i8"))]
    params = {"n_classes": n_classes, "folds": folds, "seed": seed, "c": c, "max_iter": max_iter}
    flops = 4.0 * len(features) * features.shape[1] * n_classes * max_iter * (folds - 1)
    probs = np.full((len(features), n_classes), np.nan)
    for cids in runner.run(TASK, inputs, params, folds, flops=flops):
        fold_probs, index = get_array(runner.blobs, cids[0]), get_array(runner.blobs, cids[1])
        probs[index] = fold_probs
    if np.isnan(probs).any():
        raise GateError(f"{TASK}: the folds did not cover every example")
    return probs


# -- the gate -------------------------------------------------------------------------------


def _name(label: int, names: list[str]) -> str:
    name = names[label] if label < len(names) else str(label)
    return str(label) if name == str(label) else f"{label} ({name!r})"


@register("label_issues")
@dataclass(frozen=True)
class LabelIssues(Gate):
    """Flags batch records whose label an out-of-fold model confidently contradicts.

    The models are trained on the dataset and the batch together, so a small batch is
    judged with the whole dataset's help. Text records are judged only if they carry
    features ``x`` (embeddings); otherwise the gate is skipped.
    """

    kinds = frozenset({"image", "tabular", "text"})

    folds: int = 5  # cross-validation folds; 5 trains on 80% yet runs only 5 models
    min_records: int = 50  # below ~5 per class (digits) OOF models are too weak to judge
    filter_by: FilterBy = "prune_by_noise_rate"  # the paper's most accurate method
    c: float = 0.1  # inverse L2 strength: strong enough not to fit 20% noise (digits)
    max_iter: int = 500  # lbfgs iterations; digits converges in ~100
    action: Action = "flag"  # a suspected label is for a reviewer, not proof

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        if self.filter_by not in FILTERS:
            raise GateError(f"label_issues: unknown filter_by {self.filter_by!r}")
        everything = ctx.candidates(batch)
        if everything.x is None:
            return GateResult(self.name, (), {"skipped": "records have no features x"})
        if len(everything) < self.min_records or len(np.unique(everything.y)) < 2:
            return GateResult(self.name, (), {
                "skipped": f"{len(everything)} records of {len(np.unique(everything.y))} "
                           f"classes; need {self.min_records} of 2 or more",
                "records": len(everything)})
        runner = ctx.runner if ctx.runner is not None else (
            LocalRunner(ctx.blobs) if ctx.blobs is not None else None)
        if runner is None:
            raise GateError("label_issues needs a runner or a blob store in the gate context")
        names = list(ctx.schema.labels)
        folds = min(self.folds, len(everything))
        probs = out_of_fold_probabilities(everything.x, everything.y, len(names), runner,
                                          folds=folds, seed=ctx.seed, c=self.c,
                                          max_iter=self.max_iter)
        issues = find_label_issues(everything.y, probs, filter_by=self.filter_by)
        joint = estimate_joint(everything.y, probs)
        start = ctx.offset()
        findings = []
        for i in np.flatnonzero(issues[start:]).tolist():
            row, given = probs[start + i], int(batch.y[i])
            others = row.copy()
            others[given] = -1.0
            suggested = int(others.argmax())
            findings.append(Finding(
                index=i, action=self.action, score=float(row[given]),
                reason=f"label {_name(given, names)} looks wrong: the out-of-fold model gives "
                       f"{given} p={row[given]:.2f}, {suggested} p={row[suggested]:.2f}; "
                       f"suggested label {_name(suggested, names)}"))
        stats = {"records": len(everything), "folds": folds, "filter_by": self.filter_by,
                 "oof_accuracy": round(float((probs.argmax(1) == everything.y).mean()), 4),
                 "issues_found": len(findings), "issues_in_candidates": int(issues.sum()),
                 "estimated_noise_rate": round(float(1 - np.trace(joint)), 4)}
        return GateResult(self.name, tuple(findings), stats)
