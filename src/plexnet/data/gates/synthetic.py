"""Synthetic records: declared honestly, within the dataset's budget, and not smuggled in.

Two gates:

* ``synthetic`` — three checks on each batch record:

  a. a record declared ``human``, ``device``, ``feedback`` or ``augmented`` that carries
     the plexnet watermark (:mod:`plexnet.data.watermark`, p-value at most ``max_p``)
     is **rejected**: a plexnet generator made it. An augmented record whose parent
     (leaf hash) is a synthetic record of the dataset may carry its parent's mark.
  b. a record tagged ``synthetic`` without a generator CID (or with one that is not a
     CID) is **flagged**: nobody can tell what made it.
  c. the *undeclared-synthetic detector*, a classifier two-sample test: when the
     dataset already holds at least ``detector_min`` real (``human``/``device``) and
     ``detector_min`` declared synthetic records (the batch's declared synthetic ones
     count too), a gradient-boosted discriminator (scikit-learn's
     ``HistGradientBoostingClassifier``, one thread) learns real from synthetic in
     ``detector_folds`` folds, each fold a ``gate.synthetic_detector`` task unit run by
     ``ctx.runner`` (``.npy`` blobs in and out). Its out-of-fold scores give its AUROC
     and a threshold: the ``1 - detector_fpr`` quantile of the real records' scores.
     If the AUROC reaches ``detector_min_auroc``, batch records declared real that
     score above the threshold (the fold models' mean) are **flagged**.

  Features are the raw values plus, with ``precision_features``, the number of
  decimals each value needs (0-6, 7 for more): recorded data has a fixed precision,
  a generator's output often has not.

* ``synthetic_budget`` — the dataset's cap on its share of synthetic records (the
  gate's ``max_fraction`` if set, else ``ctx.synthetic_budget``). With ``s`` synthetic
  of ``n`` records already in the dataset and ``h`` non-synthetic records in the batch,
  the first ``a`` of the batch's synthetic records are kept, ``a`` the largest count
  with ``(s + a) / (n + h + a) <= budget``; the rest (the last ones) are **rejected**
  with the budget and the share they would have made. The share assumes the batch's
  other records are admitted.

Why these values (measured by ``bench/data_synthetic.py``; numbers in
``bench/results/data_synthetic.json``):

* ``max_p`` = :data:`~plexnet.data.watermark.MAX_P` (3e-5): see the watermark module.
  No real record of digits, breast_cancer or wine is rejected (0 of 2,544 under the
  public key; 0.0015-0.0019 % over 300 keys); every marked one is.
* ``detector_fpr`` = 1 %: the detector flags, it does not reject, so a reviewer sees
  about one real record in a hundred. On digits (a dataset of 1,200 real digits and
  400 declared VAE samples; a batch of the 597 other real digits and 300 unmarked VAE
  digits declared human) the out-of-fold AUROC is 0.99, 75 % of the unmarked VAE
  digits are flagged and 0.3 % of the real ones (medians of 3 seeds).
* ``detector_min_auroc`` = 0.9: below it the discriminator barely tells the two apart
  (the copula on breast_cancer and wine: 0.26-0.47 on raw values) and its flags would
  be mostly real records.
* ``detector_min`` = 50: five folds of 10 records a side; fewer makes the quantile
  threshold meaningless.

What the detector cannot do: a good tabular generator (a Gaussian copula on
breast_cancer or wine) is indistinguishable from real rows on their values (AUROC
below 0.5: the copula remembers its training rows, so a held-out real row has
synthetic neighbours made from it). The precision features catch its unrounded output
(AUROC 1.0), but not output rounded like the real values (0.62 breast_cancer, 0.29
wine). It catches image generators whose samples look different (the digits VAE,
0.996 unmarked), and it learns only the generators whose declared samples the dataset
already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plexnet.compute.task import TaskContext, TaskKind, TaskResult
from plexnet.compute.task import register as register_task
from plexnet.core.errors import InvalidCID
from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.data.gates.labels import stratified_folds
from plexnet.data.runner import LocalRunner, get_array, put_array
from plexnet.data.watermark import MAX_P, Watermark

if TYPE_CHECKING:
    from plexnet.data.records import Records
    from plexnet.data.runner import UnitRunner

__all__ = ["DETECTOR_TASK", "REAL_TAGS", "SyntheticBudget", "SyntheticDetector",
           "SyntheticGate", "allowed_synthetic", "decimals", "detector_scores"]

DETECTOR_TASK: Final = "gate.synthetic_detector"
REAL_TAGS: Final = frozenset({"human", "device"})  # what the detector learns as real
_DECLARED_REAL: Final = ("human", "device", "feedback", "augmented")
_MAX_DECIMALS: Final = 7  # "more than 6 decimals": a value no instrument records


def decimals(x: np.ndarray) -> np.ndarray:
    """Decimals each value needs, 0-6 (7: more), same shape as ``x``."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, float(_MAX_DECIMALS))
    for k in range(_MAX_DECIMALS - 1, -1, -1):
        scaled = x * 10.0**k
        # 1e-9 relative: room for the float error of scaling a parsed k-decimal number
        # (2.43 * 100 = 243.00000000000003), far less than one unit of the next decimal.
        exact = np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))
        out[exact] = k
    return out


# -- the detector's task kind -------------------------------------------------------------


class _Params(BaseModel):
    """What a ``gate.synthetic_detector`` job may set (validated: params cross the wire)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    folds: int = Field(default=5, ge=2)
    seed: int = 0
    precision_features: bool = True
    max_iter: int = Field(default=100, ge=1)  # boosting rounds (scikit-learn's default)



@register_task(DETECTOR_TASK)
class SyntheticDetector(TaskKind):
    """Unit ``u`` of ``folds``: train the discriminator on every fold but ``u``.

    Inputs ``[features CID (n, d) f8, is-synthetic CID (n,) i8, query CID (m, d) f8]``
    (``.npy``); params ``folds`` (the job's units), ``seed``, ``precision_features``,
    ``max_iter``. Outputs ``probabilities`` (fold ``u``'s P(synthetic)), ``indices``
    (its records) and ``query`` (P(synthetic) of every query record), all ``.npy``.
    """

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        try:
            spec = _Params(**params)
        except ValidationError as exc:
            raise GateError(f"{DETECTOR_TASK}: bad parameters: {exc}") from None
        if len(inputs) != 3:
            raise GateError(f"{DETECTOR_TASK} takes three inputs: features, labels, query")
        if ctx.units != spec.folds or not 0 <= ctx.unit < spec.folds:
            raise GateError(f"{DETECTOR_TASK}: unit {ctx.unit} of {ctx.units} for "
                            f"{spec.folds} folds")
        x, y, query = (get_array(ctx.blobs, cid) for cid in inputs)
        if x.ndim != 2 or y.shape != (len(x),) or query.ndim != 2 or \
                query.shape[1] != x.shape[1] or not set(np.unique(y).tolist()) <= {0, 1}:
            raise GateError(f"{DETECTOR_TASK}: features {x.shape}, labels {y.shape} and "
                            f"query {query.shape} do not fit together")
        if spec.precision_features:
            x, query = np.c_[x, decimals(x)], np.c_[query, decimals(query)]
        fold = stratified_folds(y, spec.folds, spec.seed)
        train, test = np.flatnonzero(fold != ctx.unit), np.flatnonzero(fold == ctx.unit)
        # One thread: the same floating-point order on every provider, so replicas agree.
        with threadpool_limits(1):
            model = HistGradientBoostingClassifier(max_iter=spec.max_iter,
                                                   random_state=spec.seed)
            model.fit(x[train], y[train])
            column = list(model.classes_).index(1)
            probs = model.predict_proba(x[test])[:, column]
            asked = model.predict_proba(query)[:, column] if len(query) else np.zeros(0)
        outputs = {"probabilities": put_array(ctx.blobs, probs.astype("<f8")),
                   "indices": put_array(ctx.blobs, test.astype("<i8")),
                   "query": put_array(ctx.blobs, asked.astype("<f8"))}
        return TaskResult(outputs=outputs, metrics={"train": len(train), "test": len(test),
                                                    "query": len(query)})


def detector_scores(real: np.ndarray, synthetic: np.ndarray, query: np.ndarray,
                    runner: UnitRunner, *, folds: int = 5, seed: int = 0,
                    precision_features: bool = True,
                    max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The discriminator's out-of-fold P(synthetic) of ``real`` and ``synthetic`` records,
    and the fold models' mean P(synthetic) of ``query``, one unit per fold.

    Raises:
        GateError: for arrays of different widths or fewer records than folds.
    """
    real, synthetic, query = (np.asarray(a, dtype=np.float64) for a in (real, synthetic, query))
    width = real.shape[1] if real.ndim == 2 else -1
    if any(a.ndim != 2 or a.shape[1] != width for a in (synthetic, query)):
        raise GateError("real, synthetic and query records must be (n, d) of one width")
    if min(len(real), len(synthetic)) < folds:
        raise GateError(f"{folds} folds need at least {folds} real and synthetic records")
    x = np.concatenate([real, synthetic])
    y = np.r_[np.zeros(len(real), dtype=np.int64), np.ones(len(synthetic), dtype=np.int64)]
    inputs = [put_array(runner.blobs, x.astype("<f8")), put_array(runner.blobs, y.astype("<i8")),
              put_array(runner.blobs, query.astype("<f8"))]
    params = {"folds": folds, "seed": seed, "precision_features": precision_features,
              "max_iter": max_iter}
    oof = np.full(len(x), np.nan)
    asked = np.zeros(len(query))
    # Histogram boosting: about n·d binning work per round and tree level (31 leaves).
    flops = float(len(x) * x.shape[1] * max_iter * 32 * (folds - 1))
    for cids in runner.run(DETECTOR_TASK, inputs, params, folds, flops=flops):
        oof[get_array(runner.blobs, cids[1])] = get_array(runner.blobs, cids[0])
        asked += get_array(runner.blobs, cids[2]) / folds
    if np.isnan(oof).any():
        raise GateError(f"{DETECTOR_TASK}: the folds did not cover every record")
    return oof[:len(real)], oof[len(real):], asked


def _auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.r_[negatives, positives])
    n0, n1 = len(negatives), len(positives)
    return float((ranks[n0:].sum() - n1 * (n1 + 1) / 2) / (n0 * n1))


# -- the synthetic gate --------------------------------------------------------------------


def _valid_cid(text: str) -> bool:
    from plexnet.core.cid import parse

    try:
        parse(text)
    except InvalidCID:
        return False
    return True


@register("synthetic")
@dataclass(frozen=True)
class SyntheticGate(Gate):
    """Watermarked records declared real are rejected, synthetic ones without a generator
    flagged, and (with enough known synthetic records) look-alikes flagged; see the
    module docstring for the checks and their thresholds."""

    kinds = frozenset({"image", "tabular", "text"})

    max_p: float = MAX_P  # watermark p-value at or below which a record carries the mark
    detector: bool = True  # run the classifier two-sample test when there is data for it
    detector_min: int = 50  # real and synthetic records each, before the detector runs
    detector_folds: int = 5  # out-of-fold scores calibrate the threshold
    detector_fpr: float = 0.01  # share of real records above the threshold (flagged)
    detector_min_auroc: float = 0.9  # out-of-fold AUROC below which it flags nothing
    precision_features: bool = True  # decimals per value as extra features
    action: Action = "reject"  # for watermarked records declared real

    def _validate(self) -> None:
        if not 0 < self.max_p < 1:
            raise GateError(f"synthetic: max_p must be in (0, 1), got {self.max_p}")
        if not 0 < self.detector_fpr < 1 or not 0 <= self.detector_min_auroc <= 1:
            raise GateError("synthetic: detector_fpr must be in (0, 1) and "
                            "detector_min_auroc in [0, 1]")
        if self.detector_folds < 2 or self.detector_min < self.detector_folds:
            raise GateError("synthetic: detector_folds must be >= 2 and detector_min >= "
                            "detector_folds")

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        self._validate()
        tags: list[str] = [p.tag for p in batch.provenance]
        findings: dict[int, Finding] = {}
        stats: dict[str, Any] = {"declared_synthetic": tags.count("synthetic")}
        for i, p in enumerate(batch.provenance):
            if p.tag == "synthetic" and (p.generator is None or not _valid_cid(p.generator)):
                what = "names no generator" if p.generator is None else \
                    f"names generator {p.generator!r}, which is not a CID"
                findings[i] = Finding(i, "flag", f"declared synthetic but {what}: name the "
                                      "CID of the generator's artifact or spec")
        stats["without_generator"] = len(findings)
        if batch.x is None:
            return GateResult(self.name, tuple(findings.values()), stats)

        detection = Watermark().detect(batch.x)
        marked = detection.marked(self.max_p)
        stats["watermarked"] = int(marked.sum())
        stats["watermarked_synthetic"] = int(sum(m and t == "synthetic"
                                                 for m, t in zip(marked, tags, strict=True)))
        synthetic_parents = self._synthetic_parents(batch, ctx, marked, tags)
        rejected = 0
        for i in np.flatnonzero(marked).tolist():
            p = batch.provenance[i]
            if p.tag not in _DECLARED_REAL or (p.tag == "augmented"
                                               and p.parent in synthetic_parents):
                continue
            findings[i] = Finding(
                i, self.action, score=float(detection.score[i]),
                reason=f"carries the plexnet synthetic watermark (p = "
                       f"{detection.p_value[i]:.1e}, {int(detection.matches[i])} of "
                       f"{int(detection.terms[i])} terms match) but is declared "
                       f"{p.tag}: declare it synthetic and name its generator")
            rejected += 1
        stats["watermarked_declared_real"] = rejected
        if self.detector:
            stats["detector"] = self._detect(batch, ctx, tags, findings)
        return GateResult(self.name, tuple(findings[i] for i in sorted(findings)), stats)

    def _synthetic_parents(self, batch: Records, ctx: GateContext, marked: np.ndarray,
                           tags: list[str]) -> set[str]:
        """Leaf hashes of the dataset's synthetic records, if a marked augmented record
        might be made from one (computed only then)."""
        if ctx.existing is None or not any(m and t == "augmented"
                                           for m, t in zip(marked, tags, strict=True)):
            return set()
        leaves = ctx.existing.leaf_hashes()
        return {leaf.hex() for leaf, p in zip(leaves, ctx.existing.provenance, strict=True)
                if p.tag == "synthetic"}

    def _detect(self, batch: Records, ctx: GateContext, tags: list[str],
                findings: dict[int, Finding]) -> dict[str, Any]:
        """The classifier two-sample test (check c); adds flags to ``findings``."""
        existing = ctx.existing
        real_rows = [] if existing is None else [
            i for i, p in enumerate(existing.provenance) if p.tag in REAL_TAGS]
        known = [] if existing is None else [
            i for i, p in enumerate(existing.provenance) if p.tag == "synthetic"]
        # The batch's declared synthetic records teach the detector too, unless they name
        # no generator (those are flagged: they may be anything).
        batch_known = [i for i, t in enumerate(tags) if t == "synthetic" and i not in findings]
        if min(len(real_rows), len(known) + len(batch_known)) < self.detector_min:
            return {"skipped": f"{len(real_rows)} real and {len(known) + len(batch_known)} "
                               f"synthetic records; needs {self.detector_min} of each"}
        assert existing is not None and existing.x is not None and batch.x is not None
        query = [i for i, t in enumerate(tags) if t != "synthetic" and i not in findings]
        runner = ctx.runner if ctx.runner is not None else (
            LocalRunner(ctx.blobs) if ctx.blobs is not None else None)
        if runner is None:
            raise GateError("synthetic: the detector needs a runner or a blob store in the "
                            "gate context (or set detector=False)")
        synthetic = np.concatenate([existing.x[known], batch.x[batch_known]])
        real_oof, synth_oof, scores = detector_scores(
            existing.x[real_rows], synthetic, batch.x[query], runner,
            folds=self.detector_folds, seed=ctx.seed,
            precision_features=self.precision_features)
        auroc = _auroc(real_oof, synth_oof)
        threshold = float(np.quantile(real_oof, 1 - self.detector_fpr, method="higher"))
        out: dict[str, Any] = {
            "real": len(real_rows), "synthetic": len(synthetic), "queried": len(query),
            "oof_auroc": round(auroc, 4), "threshold": round(threshold, 6),
            "oof_synthetic_above": round(float((synth_oof > threshold).mean()), 4),
            "flagged": 0}
        if auroc < self.detector_min_auroc:
            out["not_flagging"] = (f"out-of-fold AUROC {auroc:.3f} is below "
                                   f"{self.detector_min_auroc}: real and synthetic records "
                                   "look alike to the discriminator")
            return out
        for i, score in zip(query, scores.tolist(), strict=True):
            if score > threshold:
                findings[i] = Finding(
                    i, "flag", score=score,
                    reason=f"looks synthetic though declared {tags[i]}: the discriminator "
                           f"gives it {score:.2f}, above {threshold:.2f} (the score only "
                           f"{self.detector_fpr:.0%} of the dataset's real records exceed; "
                           f"out-of-fold AUROC {auroc:.3f}); declare it synthetic with its "
                           "generator, or show how it was collected")
                out["flagged"] += 1
        return out


# -- the budget gate -----------------------------------------------------------------------


def allowed_synthetic(existing_synthetic: int, existing_total: int, batch_real: int,
                      batch_synthetic: int, budget: float) -> int:
    """How many of the batch's synthetic records fit the budget: the largest ``a`` in
    ``0..batch_synthetic`` with ``(s + a) / (n + h + a) <= budget``.

    Raises:
        GateError: for a budget outside [0, 1] or negative counts.
    """
    if not 0 <= budget <= 1:
        raise GateError(f"a synthetic budget is a share in [0, 1], got {budget}")
    s, n, h, m = existing_synthetic, existing_total, batch_real, batch_synthetic
    if min(s, n, h, m) < 0 or s > n:
        raise GateError(f"bad record counts: {s} synthetic of {n}, batch {h} + {m}")
    if budget >= 1:
        return m

    def fits(a: int) -> bool:
        # Relative slack so a share equal to the budget (0.2 of 10) is not lost to rounding.
        return s + a <= budget * (n + h + a) * (1 + 1e-12)

    a = int(np.floor((budget * (n + h) - s) / (1 - budget) + 1e-9))
    a = max(0, min(m, a))
    while a > 0 and not fits(a):
        a -= 1
    while a < m and fits(a + 1):
        a += 1
    return a


@register("synthetic_budget")
@dataclass(frozen=True)
class SyntheticBudget(Gate):
    """Rejects the batch's synthetic records beyond the dataset's synthetic budget, the
    last ones first; see the module docstring."""

    kinds = frozenset({"image", "tabular", "text"})

    max_fraction: float | None = None  # share in [0, 1]; None: the dataset's (ctx) budget

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        budget = self.max_fraction if self.max_fraction is not None else ctx.synthetic_budget
        if budget is None:
            return GateResult(self.name, (), {"budget": None})
        if not 0 <= budget <= 1:
            raise GateError(f"synthetic_budget: a budget is a share in [0, 1], got {budget}")
        existing = ctx.existing
        s = 0 if existing is None else sum(p.tag == "synthetic" for p in existing.provenance)
        n = 0 if existing is None else len(existing)
        synthetic = [i for i, p in enumerate(batch.provenance) if p.tag == "synthetic"]
        h = len(batch) - len(synthetic)
        a = allowed_synthetic(s, n, h, len(synthetic), budget)
        findings = []
        for rank, i in enumerate(synthetic[a:], start=a + 1):
            share = (s + rank) / (n + h + rank)
            findings.append(Finding(
                i, "reject", score=share,
                reason=f"over the synthetic budget: admitting it would make the dataset "
                       f"{share:.1%} synthetic ({s + rank} of {n + h + rank} records), "
                       f"above its budget of {budget:.1%}; {a} of this batch's "
                       f"{len(synthetic)} synthetic records fit"))
        total = n + len(batch) - len(findings)
        return GateResult(self.name, tuple(findings), {
            "budget": budget, "existing_synthetic": s, "existing_records": n,
            "batch_synthetic": len(synthetic), "admitted_synthetic": a,
            "share_after": round((s + a) / total, 6) if total else 0.0})
