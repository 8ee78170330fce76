"""Admission gates that the model layer adds to the data layer's: ``reconstruction``.

The data layer cannot import models (imports point down), so a gate built on a model
lives here and registers itself with ``plexnet.data.gates.base.register`` when this
module is imported (the CLI imports it; a policy names it like any other gate:
``plexnet data admit D --as CURATOR`` runs the default policy, ``plexnet data gate
reconstruction BATCH`` runs it alone).

**reconstruction** flags batch records that an autoencoder of the reference data
(``unsupervised.py``) reconstructs badly: the anomaly score of a record is its mean
squared reconstruction error in standardised units (:func:`anomaly_scores`). The
reference is chosen as the ``outliers`` gate chooses it (the dataset's records when
it has ``min_reference`` of them, else the dataset and the batch together). The
autoencoder is either trained on the reference here (the recipe's defaults, seeded
with the admission seed, on all but a ``calibration_share`` of it; the records held
out calibrate the threshold) or given by CID (``model``: a ``train.autoencoder``
artifact in the blob store, e.g. one trained as a job on the network; the whole
reference calibrates). Threshold: the calibration scores' median plus ``z`` robust
standard deviations (1.4826 x MAD), as for ``outliers``. A record above it is
flagged, not rejected: unlike the training data is not the same as wrong.

Measured (``bench/data_dedup.py --only reconstruction``, 5 seeds, medians; the
``outliers`` benchmark's records: 1,200 dataset digits, 597 clean ones and 100 of
each corruption): 0.8 % of clean digits flagged (worst seed 1.5 %); uniform noise,
all-zero images, digits on a 0-1 scale and photograph patches all caught, the least
anomalous of each at 61x, 1.3x, 1.09x and 2.1x the threshold. The kNN ``outliers``
gate does better on these (0.34 % of clean digits flagged, all caught), so
``reconstruction`` is not in the default policy: it is a second opinion for data
where pixel distance means little. For a new dataset (the autoencoder trained on the
batch, junk included) it caught only 40 % of 20 junk records, the junk being learned
with the rest: give it a ``model`` trained on trusted data instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.models.supervised import split_indices
from plexnet.models.unsupervised import anomaly_scores, load_autoencoder, train_autoencoder

if TYPE_CHECKING:
    from plexnet.data.records import Records

__all__ = ["Reconstruction"]


@register("reconstruction")
@dataclass(frozen=True)
class Reconstruction(Gate):
    """Flag batch records an autoencoder of the reference reconstructs badly; see the
    module docstring."""

    kinds = frozenset({"image", "tabular"})

    model: str | None = None  # CID of a train.autoencoder artifact; None: train one here
    # threshold: calibration scores' median plus this many robust standard deviations.
    # Reconstruction errors are skewed to the right, so the outliers gate's 3 flags 4.2 %
    # of clean digits; 8 flags 0.8 % and still catches every corruption of the benchmark
    # (the closest at 1.09x the threshold; bench/data_dedup.py --only reconstruction)
    z: float = 8.0
    min_reference: int = 200  # dataset records needed to be the reference on its own
    min_records: int = 200    # fewer (dataset and batch) and nothing is judged
    # share of the reference held out of a model trained here, to calibrate the
    # threshold on records it did not learn (the autoencoder recipe's own split)
    calibration_share: float = 0.15
    action: Action = "flag"

    def __post_init__(self) -> None:
        if not self.z > 0:
            raise GateError(f"reconstruction: z must be positive, got {self.z!r}")
        if self.min_records < 20 or self.min_reference < 20:
            raise GateError("reconstruction: min_records and min_reference must be >= 20")
        if not 0 < self.calibration_share < 1:
            raise GateError("reconstruction: calibration_share must be in (0, 1), got "
                            f"{self.calibration_share!r}")

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        if batch.x is None or batch.x.shape[1] == 0:
            return GateResult(self.name, (), {"skipped": "records have no features x"})
        pool, own_reference = ctx.reference(batch, self.min_reference)
        assert pool.x is not None
        if self.model is None and len(pool) < self.min_records:
            return GateResult(self.name, (), {
                "skipped": f"{len(pool)} reference records; need {self.min_records}"})
        if self.model is None:  # train on most of the reference, calibrate on the rest
            val, train = split_indices(np.random.default_rng(ctx.seed), len(pool),
                                       {"val_fraction": self.calibration_share})
            model, _metrics = train_autoencoder(pool.x[train],
                                                {"seed": int(ctx.seed), "val_fraction": 0.0})
            calibration = anomaly_scores(model, pool.x[val])
            source = "trained on the reference"
        else:
            if ctx.blobs is None:
                raise GateError("reconstruction: a model CID needs a blob store in the context")
            model = load_autoencoder(ctx.blobs.get(self.model))
            if int(model.config["in"]) != batch.x.shape[1]:
                raise GateError(f"reconstruction: the autoencoder takes {model.config['in']} "
                                f"features, the records have {batch.x.shape[1]}")
            calibration = anomaly_scores(model, pool.x)
            source = self.model
        centre = float(np.median(calibration))
        spread = 1.4826 * float(np.median(np.abs(calibration - centre)))
        threshold = centre + self.z * max(spread, 1e-12)
        scores = anomaly_scores(model, batch.x)
        findings = tuple(
            Finding(i, self.action, f"unlike the data: reconstruction error {scores[i]:.3g}, "
                    f"{scores[i] / threshold:.1f}x the threshold {threshold:.3g} (the "
                    f"reference's median {centre:.3g} plus {self.z:g} robust standard "
                    "deviations)", float(scores[i]))
            for i in np.flatnonzero(scores > threshold).tolist())
        return GateResult(self.name, findings, {
            "flagged": len(findings), "threshold": round(threshold, 6),
            "reference_median": round(centre, 6), "reference_robust_sd": round(spread, 6),
            "reference": "dataset" if own_reference else "dataset+batch",
            "calibration_records": len(calibration), "model": source})
