"""Outliers: records far from the rest of the data in feature space.

A record's score is its distance to its ``k``-th nearest neighbour among the *reference*
records, in features scaled to the schema's value range (images, tables with one) or to
each column's interquartile range (other tables; text embeddings are used as they are).
The reference is the dataset's records when it has at least ``min_reference`` of them
(trusted, already admitted), else the dataset and the batch together (a new dataset),
subsampled to ``max_reference`` records with ``ctx.seed`` so the cost stays linear. The
threshold is calibrated on the reference itself: the median of its own leave-one-out
scores plus ``z`` robust standard deviations (1.4826 x their median absolute deviation),
which, unlike a quantile, junk inside the reference barely moves. A batch record scoring
above it is flagged (a reviewer decides: an outlier may be a rare but real record).

Why these values (scikit-learn's digits, 1,200 reference digits, 597 other clean digits
and 100 corrupted records of each kind; ``bench/data_dedup.py --only outliers``):

* ``k = 10``: the distance to the 10th neighbour is steadier than to the 1st (a digit
  with one close twin is not "typical" for that), and a record needs ten close records
  to look normal, so small clumps of junk do not vouch for each other;
* ``z = 3.0``: on clean digits the reference's 99.5 % quantile lies 2.5-3.1 robust
  standard deviations above its median, so about 0.3 % of clean digits from the same
  source are flagged (a quantile threshold instead lets junk inside a new dataset's
  reference raise it: with 20 % junk it caught 1 % of it), while uniform-noise images,
  all-zero images, digits stored on the wrong scale (0-1 inside a 0-16 range) and 8x8
  patches of photographs (scikit-learn's sample images) score 1.06-1.4x the threshold
  or more and are all caught (the photographs are the closest call). Over 5 seeds:
  0.34 % of clean digits flagged, 100 % of each corruption caught.

A new dataset (all 1,797 digits plus 5 records of each corruption, the reference being
the batch itself): 0.11 % of digits flagged, all 20 junk records caught.

When the reference includes the batch, ``k`` grows to 2 % of the reference, so up to that
many copies of the same junk cannot hide each other. Text records are judged only if they
carry features ``x`` (embeddings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register

if TYPE_CHECKING:
    from plexnet.data.records import Records

__all__ = ["Outliers", "knn_distance"]

_BLOCK = 2048  # query rows per distance block: 2048 x 5000 float64 = 80 MB


def knn_distance(x: np.ndarray, reference: np.ndarray, k: int,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """Distance from each row of ``x`` to its ``k``-th nearest row of ``reference``
    (Euclidean, blocked so memory stays bounded).

    Args:
        x: ``(m, d)`` query rows.
        reference: ``(r, d)`` rows, ``r > k`` (``r >= k`` without ``exclude``).
        k: which neighbour, counting from 1.
        exclude: ``(m,)`` index into ``reference`` of each query row itself (left out
            of its own neighbours), or -1; ``None`` when no query is in the reference.

    Raises:
        GateError: if the reference has too few rows for ``k``.
    """
    need = k + (exclude is not None)
    if len(reference) < need:
        raise GateError(f"outliers: {len(reference)} reference records are too few for "
                        f"k={k}")
    ref_sq = (reference**2).sum(axis=1)
    out = np.empty(len(x))
    for lo in range(0, len(x), _BLOCK):
        rows = x[lo:lo + _BLOCK]
        d2 = (rows**2).sum(axis=1)[:, None] + ref_sq[None] - 2 * rows @ reference.T
        if exclude is not None:
            own = exclude[lo:lo + _BLOCK]
            hit = own >= 0
            d2[np.flatnonzero(hit), own[hit]] = np.inf
        kth = np.partition(d2, k - 1, axis=1)[:, k - 1]
        out[lo:lo + _BLOCK] = np.sqrt(np.maximum(kth, 0))
    return out


@register("outliers")
@dataclass(frozen=True)
class Outliers(Gate):
    """Flag batch records far from the reference data; see the module docstring."""

    kinds = frozenset({"image", "tabular", "text"})

    k: int = 10  # which neighbour's distance is the score (see the module docstring)
    # threshold: the reference's leave-one-out scores' median plus this many robust
    # standard deviations (1.4826 x MAD); 3.0 matches their 99.5 % quantile on clean
    # digits (2.5-3.1 over seeds) but, unlike a quantile, junk in the reference barely
    # moves it
    z: float = 3.0
    min_reference: int = 50  # dataset records needed to be the reference on its own
    # Fewer records than this (dataset and batch) and nothing is judged: the median and
    # MAD of so few distances are too noisy (40 uniform random rows: 1 flagged at z=3).
    min_records: int = 100
    max_reference: int = 5000  # reference records kept (seeded subsample): cost ~ linear
    share: float = 0.02  # k is at least this share of a reference that holds the batch
    action: Action = "flag"  # an outlier may be rare but real: a reviewer decides

    def __post_init__(self) -> None:
        if self.k < 1:
            raise GateError(f"outliers: k must be >= 1, got {self.k!r}")
        if not self.z > 0:
            raise GateError(f"outliers: z must be positive, got {self.z!r}")
        if self.max_reference <= self.k or self.min_reference <= self.k:
            raise GateError("outliers: min_reference and max_reference must exceed k")
        if not 0 <= self.share < 1:
            raise GateError(f"outliers: share must be in [0, 1), got {self.share!r}")

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        if batch.x is None or batch.x.shape[1] == 0:
            return GateResult(self.name, (), {"skipped": "records have no features x"})
        pool, own_reference = ctx.reference(batch, self.min_reference)
        assert pool.x is not None
        if len(ctx.candidates(batch)) < self.min_records or len(pool) <= self.k:
            return GateResult(self.name, (), {
                "skipped": f"{len(ctx.candidates(batch))} records; need "
                           f"{max(self.min_records, self.k + 1)}"})
        scale_lo, scale = self._scaling(pool.x, ctx)
        rng = np.random.default_rng(ctx.seed)
        keep = np.sort(rng.choice(len(pool), self.max_reference, replace=False)) \
            if len(pool) > self.max_reference else np.arange(len(pool))
        reference = (pool.x[keep] - scale_lo) / scale
        queries = (batch.x - scale_lo) / scale
        k = self.k if own_reference else max(self.k, math.ceil(self.share * len(keep)))
        k = min(k, len(keep) - 1)
        # Calibration: each reference record against the others.
        calibration = knn_distance(reference, reference, k, exclude=np.arange(len(keep)))
        centre = float(np.median(calibration))
        spread = 1.4826 * float(np.median(np.abs(calibration - centre)))
        threshold = centre + self.z * max(spread, 1e-12)
        exclude = None
        if not own_reference:  # the batch is in the reference: leave each record out
            where = np.full(len(pool), -1)
            where[keep] = np.arange(len(keep))
            exclude = where[ctx.offset():]
        scores = knn_distance(queries, reference, k, exclude=exclude)
        findings = tuple(
            Finding(i, self.action, f"far from the data: distance {scores[i]:.3g} to its "
                    f"{_ordinal(k)} nearest record, {scores[i] / threshold:.1f}x the "
                    f"threshold {threshold:.3g} (the reference's median {centre:.3g} plus "
                    f"{self.z:g} robust standard deviations)", float(scores[i]))
            for i in np.flatnonzero(scores > threshold).tolist())
        return GateResult(self.name, findings, {
            "outliers": len(findings), "threshold": round(threshold, 6), "k": k,
            "reference_median": round(centre, 6), "reference_robust_sd": round(spread, 6),
            "reference": "dataset" if own_reference else "dataset+batch",
            "reference_records": len(keep)})

    def _scaling(self, x: np.ndarray, ctx: GateContext) -> tuple[np.ndarray | float, Any]:
        if ctx.schema.value_range is not None:
            low, high = ctx.schema.value_range
            return low, high - low
        if ctx.schema.kind == "text":  # embeddings: already on one scale
            return 0.0, 1.0
        q1, q3 = np.quantile(x, [0.25, 0.75], axis=0)
        spread = q3 - q1
        fallback = x.std(axis=0)
        spread = np.where(spread > 0, spread, np.where(fallback > 0, fallback, 1.0))
        return np.median(x, axis=0), spread


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"
