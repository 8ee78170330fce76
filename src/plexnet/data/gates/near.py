"""Near duplicates of numeric records: the same image or row with a little noise on it.

Each batch record's nearest neighbour among the dataset's records and the batch's
earlier records (scikit-learn's exact k-d/ball tree, so no O(n²) scan) is found in
feature space scaled to the schema's value range (or, for tables without one, to
each column's spread). Its distance is reported as an RMS difference per feature,
in units of that range. A record closer than ``max_rms`` to another, but not equal
to it (exact copies are ``exact_duplicates``' business), is rejected.

Why 0.045 for images: on scikit-learn's digits (0-16, 8x8) a copy with Gaussian
pixel noise of sigma 0.6 grey levels, rounded and clipped, lies at 0.034-0.043 from
its original, while 99.5 % of distinct digits are more than 0.064 from their
nearest neighbour (the closest pair of distinct digits is 0.041 apart). What this
gate does not catch: copies shifted by a pixel or resized (they move every pixel);
a perceptual hash or an embedding is needed for those, and text needs MinHash —
both are still to come.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.data.records import Records

__all__ = ["NearDuplicates"]


@register("near_duplicates")
@dataclass(frozen=True)
class NearDuplicates(Gate):
    """Reject records within ``max_rms`` (per feature, in units of the value range)
    of another record; see the module docstring for why that value."""

    kinds = frozenset({"image", "tabular"})
    max_rms: float = 0.045
    action: Action = "reject"

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        from sklearn.neighbors import NearestNeighbors

        assert batch.x is not None  # image and tabular records have features
        pool = ctx.candidates(batch)
        assert pool.x is not None
        if ctx.schema.value_range is not None:
            low, high = ctx.schema.value_range
            scale = np.full(pool.x.shape[1], high - low)
        else:
            scale = np.maximum(pool.x.max(axis=0) - pool.x.min(axis=0), 1e-12)
        z = pool.x / scale
        start = ctx.offset()
        found = []
        nearest = NearestNeighbors(n_neighbors=1)
        # Each batch record is compared with everything before it: the dataset, then
        # the batch records in front of it (in chunks, refitting as the prefix grows).
        chunk = 2048
        for lo in range(0, len(batch), chunk):
            hi = min(lo + chunk, len(batch))
            prefix = start + lo
            rows = z[start + lo:start + hi]
            candidates = []
            if prefix:
                nearest.fit(z[:prefix])
                dist, idx = nearest.kneighbors(rows)
                candidates = list(zip(dist[:, 0], idx[:, 0], strict=True))
            for k in range(hi - lo):  # within the chunk: brute force over earlier rows
                best = candidates[k] if candidates else (np.inf, -1)
                if k:
                    d = np.linalg.norm(rows[:k] - rows[k], axis=1)
                    j = int(d.argmin())
                    if d[j] < best[0]:
                        best = (d[j], prefix + j)
                rms = float(best[0]) / np.sqrt(z.shape[1])
                if 0 < rms < self.max_rms:
                    j = int(best[1])
                    where = f"dataset:{j}" if j < start else f"batch:{j - start}"
                    what = where.replace(":", " record ")
                    found.append(Finding(lo + k, self.action, f"near copy of {what} (RMS "
                                         f"difference {rms:.3f} of the value range)", rms,
                                         where))
        return GateResult(self.name, tuple(found), {"near_duplicates": len(found),
                                                    "max_rms": self.max_rms})
