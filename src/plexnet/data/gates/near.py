"""Near duplicates: a record that is another one with noise on it, shifted or zoomed, or
(for text) with a few words changed.

Every batch record is compared with the dataset's records and the batch records in front
of it; the closest such record within a threshold is named as its original. Three checks:

**Noisy copies** (images, tables). Features are scaled to the schema's value range (or,
for tables without one, to each column's standard deviation, and only with at least
``min_columns`` numeric columns) and compared by RMS difference per feature,
in those units. A record closer than ``max_rms`` to an earlier one, but
not equal to it (exact copies are ``exact_duplicates``' business), is a near copy. The
search is exact and needs no O(n²) scan: the records are projected onto their 8 leading
principal axes, an orthonormal projection that never lengthens a distance, so every pair
within the radius is also within it there; a k-d tree finds those candidates and the full
distance decides. Why 0.045: on scikit-learn's digits (0-16, 8x8) a copy with Gaussian
pixel noise of sigma 0.6 grey levels, rounded and clipped, lies at 0.034-0.045 from its
original, while 99.5 % of distinct digits are more than 0.064 from their nearest neighbour
(the closest pair of distinct digits is 0.041 apart).

**Shifted and zoomed copies** (images). A one-pixel shift moves every stroke of an 8x8
digit, so such a copy is further (0.14-0.28) from its original than most distinct digits
are from each other, and a perceptual hash of so small an image maps distinct digits onto
the same hash. Instead each record is registered against its likely originals:

1. candidates: every earlier record is warped by each transform of a coarse grid (zooms
   about the centre in steps that move the image's edge by 0.4 px, i.e. 0.9, 1.0, 1.1
   for 8x8; integer shifts up to ``max_shift_px``, plus half-pixel ones next to none,
   which a resize anchored at a corner produces; bilinear, background outside the image,
   and half weight where a pixel samples less than one pixel outside it, since libraries
   disagree there), projected onto 12 principal axes and put in one k-d tree. A record's
   16 nearest warped records (approximate search, within 2x) are re-ranked by their full
   RMS difference at that transform; the 2 closest below ``max_coarse_rms`` are its
   candidates. On digits the true original is among them for 98-100 % of copies;
2. verification: Lucas-Kanade, i.e. Levenberg-Marquardt on zoom and sub-pixel shift from
   the candidate's grid transform (zooms within one grid step probed first; the first
   steps on images blurred by 1 px, a pyramid's coarse level, kept only where they end
   lower; without them 3 of 20 known warps stop in local minima). The warp is
   separable, so a step is a few 8x8 matrix products per pair. Pixels that sample less
   than a pixel outside the original are left out. The RMS difference that remains is
   the score; below ``max_aligned_rms`` the record is a near copy.

The background (the value pixels take where nothing was drawn) is the median border
pixel of the records, per channel; for digits it is 0. Why 0.05 (``bench/data_dedup.py``,
200 planted copies into 1,200 digits against 597 other digits, 5 seeds): integer shifts
align to 0; zooms of 0.85-1.15 (bilinear, rounded) to 0.01-0.03; zoom 0.9-1.1 + 1 px shift
+ noise sigma 0.6 to 0.03-0.05 (99.3 % below 0.05, 95 % below 0.045); of the 1,797
distinct digits 0.45 % (8, all of them ones) come within 0.05 of another in either order
(0.22 % at 0.045, 1.1 % at 0.06). F1 0.985-0.993 for noise, 1-2 px shifts, zooms (scipy's
and torch-style resampling) and the mix; 0.97 for PIL resizes to 7 or 9 px. Not caught:
bicubic resampling (F1 0.75: the residual of bilinear vs bicubic is 0.05-0.07), a shift
followed by a zoom (two crops, F1 0.91), rotations, flips, crops beyond 2 px. These RMS
thresholds are in units of the value range and were measured on 8x8 digits: smoother or
larger images put distinct records closer (digits upsampled to 16x16 from 0.032), so
such a dataset needs its own measurement. Cost, 100,000 records on 2 cores: 14 s for
digits tiled with noise sigma 0.6 (most caught as noisy copies), 67 s with sigma 2
(nothing caught: every record goes through the shifted-copy search).

**Edited text** (text records; string columns of tables). Text is lower-cased, reduced
to its words and cut into overlapping ``shingle_chars``-character shingles; a record's
MinHash (datasketch, ``num_perm`` permutations) is looked up in a MinHash LSH index of the
earlier records, tuned to catch Jaccard similarities from ``lsh_jaccard`` up, and each
candidate's exact Jaccard similarity of shingle sets decides against ``min_jaccard``.
Character shingles rather than word n-grams because one changed word then costs about
``shingle_chars`` + its length shingles instead of n whole n-grams (measured on stdlib
docstring paragraphs, 10 % of words changed: Jaccard median 0.78 with 5-character
shingles, 0.45 with word 5-grams). On 888 such paragraphs with 150 planted copies, F1 is
1.0 for case-only, 5 % and 10 % edits, 0.99 for 20 %, at about 2,000 records per second.
A table row with string columns is a near copy only if its numbers are within
``max_rms`` and its strings (all string columns joined) within ``min_jaccard``; a table
with string columns only is matched on the strings.

**Augmented records** are near their parent by design: a finding that pairs a record
tagged ``augmented`` with its declared parent, or with a sibling of the same parent, is
left out (the ``provenance`` gate rejects the record if the recorded transform of that
parent does not give it). Only the closest match of each record is examined, so such a
record that is also a near copy of an unrelated record may go unnoticed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from plexnet.data.records import Records

__all__ = ["NearDuplicates", "align", "jaccard", "shingles"]

_DIMS: Final = 8  # principal axes of the noisy-copy search; 8 keeps k-d trees fast
_ALIGN_DIMS: Final = 12  # ... of the shifted-copy search: 8 misses 3 % of mixed copies
_FIT_ROWS: Final = 4096  # rows (evenly spaced) the principal axes are fitted on
_NEIGHBOURS: Final = 32  # tree neighbours per record before the exact check
_ALIGN_NEIGHBOURS: Final = 16  # warped records per record from the tree
_EPS: Final = 1.0  # their distances within 2x of the true k nearest: 8x faster queries
_CANDIDATES: Final = 2  # originals aligned per record: on digits the true one is in the 2
# with the smallest grid RMS for >99.7 % of shifted, zoomed and mixed copies
_TREE_POINTS: Final = 8_000_000  # warped records per k-d tree (about 1.2 GB at 12 dims)
_PAIR_CHUNK: Final = 1 << 18  # pairs whose full distance is computed at once
_EDGE_STEP_PX: Final = 0.4  # how far one coarse zoom step moves the image's edge
_PROBES: Final = 4  # zooms tried either side of a grid zoom before alignment
_LK_FIRST: Final = 6  # Levenberg-Marquardt steps every candidate gets, on blurred images
_SMOOTH_PX: Final = 1.0  # their blur (px): without it 3 of 20 known warps end in local minima
_LK_ITERATIONS: Final = 12  # more for those then within twice the threshold
_EDGE_WEIGHT: Final = 0.5  # see _warp
_WORD = re.compile(r"\w+")


# -- shared search machinery --------------------------------------------------------------


def _axes(z: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and ``dims`` orthonormal leading principal axes ``(dims, d)`` of
    ``z``'s rows, fitted on evenly spaced rows (deterministic)."""
    sample = z[::max(1, len(z) // _FIT_ROWS)]
    mean = sample.mean(axis=0)
    if z.shape[1] <= dims:
        return mean, np.eye(z.shape[1])
    _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
    return mean, vt[:dims]


def _distances(z: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows ``z[a]`` and ``z[b]``, in chunks."""
    out = np.empty(len(a))
    for lo in range(0, len(a), _PAIR_CHUNK):
        hi = lo + _PAIR_CHUNK
        out[lo:hi] = np.linalg.norm(z[a[lo:hi]] - z[b[lo:hi]], axis=1)
    return out


def _close_pairs(z: np.ndarray, start: int, radius: float) -> tuple[np.ndarray, ...]:
    """Every pair (batch record ``i``, earlier record ``j``) with ``|z_i - z_j| < radius``,
    as arrays ``(i, j, distance)``; ``i`` counts from the batch's start in ``z``.

    The ``_NEIGHBOURS`` nearest in projection come first; a record whose neighbours all lie
    within the radius there and that has no earlier match among them gets a full ball query,
    so no pair is missed.
    """
    from scipy.spatial import cKDTree

    mean, axes = _axes(z, _DIMS)
    p = (z - mean) @ axes.T
    tree = cKDTree(p)
    rows = np.arange(start, len(z))
    k = min(_NEIGHBOURS, len(z))
    bound = radius * (1 + 1e-9)
    dist, nb = tree.query(p[rows], k=k, distance_upper_bound=bound)
    dist, nb = dist.reshape(len(rows), k), nb.reshape(len(rows), k)
    found = np.isfinite(dist) & (nb < rows[:, None])
    qi, qj = np.nonzero(found)
    qi, qj = rows[qi], nb[qi, qj]
    d = _distances(z, qi, qj)
    keep = d < radius
    qi, qj, d = qi[keep], qj[keep], d[keep]
    saturated = np.isfinite(dist[:, -1]) & (k < len(z))
    saturated[np.unique(qi) - start] = False
    if saturated.any():
        extra = rows[saturated]
        balls = tree.query_ball_point(p[extra], bound, return_sorted=False)
        bi = np.repeat(extra, [len(b) for b in balls])
        bj = np.fromiter((j for b in balls for j in b), dtype=np.int64, count=len(bi))
        early = bj < bi
        bi, bj = bi[early], bj[early]
        bd = _distances(z, bi, bj)
        keep = bd < radius
        qi, qj, d = np.r_[qi, bi[keep]], np.r_[qj, bj[keep]], np.r_[d, bd[keep]]
    return qi - start, qj, d


def _best(i: np.ndarray, j: np.ndarray, score: np.ndarray, n: int,
          largest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per batch record, the pair with the smallest (or largest) score: ``(j, score)``
    arrays of length ``n``, ``-1`` / NaN where it has no pair. Ties go to the earliest."""
    best_j = np.full(n, -1, dtype=np.int64)
    best_s = np.full(n, np.nan)
    if len(i):
        order = np.lexsort((j, -score if largest else score, i))
        first = np.r_[True, i[order][1:] != i[order][:-1]]
        pick = order[first]
        best_j[i[pick]], best_s[i[pick]] = j[pick], score[pick]
    return best_j, best_s


def _outside_family(findings: list[Finding], batch: Records, pool: Records,
                    start: int) -> tuple[list[Finding], int]:
    """``findings`` less those that pair an ``augmented`` record with its declared parent
    or a sibling (a child of the same parent): such a record is near them by design, and
    the ``provenance`` gate checks that the recorded transform of the parent gives it.
    Also returns how many were left out."""
    if not any(batch.provenance[f.index].tag == "augmented" for f in findings):
        return findings, 0
    leaves = pool.leaf_hashes()
    kept = []
    for f in findings:
        mine = batch.provenance[f.index]
        j = int((f.related or ":-1").split(":")[1]) + (
            start if (f.related or "").startswith("batch:") else 0)
        theirs = pool.provenance[j] if j >= 0 else None
        if mine.tag == "augmented" and theirs is not None and (
                leaves[j].hex() == mine.parent
                or (theirs.tag == "augmented" and theirs.parent == mine.parent)):
            continue
        kept.append(f)
    return kept, len(findings) - len(kept)


def _where(j: int, start: int) -> str:
    return f"dataset:{j}" if j < start else f"batch:{j - start}"


# -- shifted and zoomed images --------------------------------------------------------------


def _warp(h: int, w: int, zoom: float, ty: float, tx: float) -> csr_matrix:
    """Bilinear warp ``(h·w, h·w)``: output pixel ``p`` samples the image at
    ``c + (p - c - t) / zoom`` (zoom about the centre ``c``, then shift by ``t``), taking
    zero outside the image."""
    from scipy.sparse import csr_matrix

    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w]
    uy, ux = cy + (yy - cy - ty) / zoom, cx + (xx - cx - tx) / zoom
    y0, x0 = np.floor(uy).astype(np.int64), np.floor(ux).astype(np.int64)
    fy, fx = uy - y0, ux - x0
    # Pixels sampled less than a pixel outside the image mix its edge with the background,
    # which libraries do differently (scipy.ndimage cuts to the background, torch and PIL
    # interpolate): halfway between the two halves the error against either.
    band = (((uy > -1) & (uy < 0)) | ((uy > h - 1) & (uy < h))
            | ((ux > -1) & (ux < 0)) | ((ux > w - 1) & (ux < w)))
    edge = np.where(band, _EDGE_WEIGHT, 1.0)
    out = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for dy, dx, wt in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)),
                       (0, 1, (1 - fy) * fx), (1, 1, fy * fx)):
        sy, sx = y0 + dy, x0 + dx
        ok = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w) & (wt > 0)
        rows.append(out[ok])
        cols.append((sy * w + sx)[ok])
        vals.append((wt * edge)[ok])
    return csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(h * w, h * w))


def _grid(h: int, w: int, max_shift: float, zoom: tuple[float, float]) -> list[tuple[float, ...]]:
    """The coarse transforms ``(zoom, ty, tx)``: zooms whose steps move the image's edge by
    ``_EDGE_STEP_PX``, each with integer shifts and with half-pixel ones next to none (a
    resize anchored at a corner rather than the centre, as PIL's resize-then-crop is,
    shifts an 8x8 image by about half a pixel)."""
    step = 2 * _EDGE_STEP_PX / max(h, w)
    zooms = [1 + step * k for k in range(-math.floor((1 - zoom[0]) / step + 1e-9),
                                         math.floor((zoom[1] - 1) / step + 1e-9) + 1)]
    reach = math.ceil(max_shift - 1e-9)
    shifts = [(float(ty), float(tx)) for ty in range(-reach, reach + 1)
              for tx in range(-reach, reach + 1)]
    if max_shift >= 0.5:
        shifts += [(ty, tx) for ty in (-0.5, 0.0, 0.5) for tx in (-0.5, 0.0, 0.5)
                   if (ty, tx) != (0.0, 0.0)]
    return [(s, ty, tx) for s in zooms for ty, tx in shifts]


def _aligned_candidates(z: np.ndarray, rows: np.ndarray, shape: tuple[int, int, int],
                        grid: list[tuple[float, ...]],
                        bound: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each record in ``rows`` (positions in ``z``), up to ``_CANDIDATES`` earlier
    records that a grid transform brings within ``bound`` of it (Euclidean, in ``z``'s
    units), the closest first: arrays ``(row, original, transform index)``."""
    from scipy.spatial import cKDTree

    h, w, c = shape
    mean, axes = _axes(z, _ALIGN_DIMS)
    planes = axes.reshape(len(axes), h * w, c)
    offset = mean @ axes.T
    queries = z[rows] @ axes.T - offset
    per_tree = max(1, _TREE_POINTS // len(z))
    hits: list[np.ndarray] = []
    for lo in range(0, len(grid), per_tree):
        group = grid[lo:lo + per_tree]
        warped = np.empty((len(group) * len(z), len(axes)))
        for g, t in enumerate(group):
            m = _warp(h, w, *t)
            # (k, h·w·c): the projection of a warped image, as a projection of the image
            folded = np.stack([(m.T @ planes[:, :, ch].T).T for ch in range(c)], axis=2)
            part = warped[g * len(z):(g + 1) * len(z)]
            np.matmul(z, folded.reshape(len(axes), -1).T, out=part)
            part -= offset
        # Unbalanced: builds 3x faster on many near-equal points, queries as fast.
        tree = cKDTree(warped, balanced_tree=False, compact_nodes=False)
        del warped
        k = min(_ALIGN_NEIGHBOURS, len(group) * len(z))
        dist, nb = tree.query(queries, k=k, distance_upper_bound=bound, eps=_EPS)
        dist, nb = dist.reshape(len(rows), k), nb.reshape(len(rows), k)
        qi, col = np.nonzero(np.isfinite(dist))
        owner, which = nb[qi, col] % len(z), nb[qi, col] // len(z) + lo
        early = owner < rows[qi]
        hits.append(np.stack([qi[early], owner[early], which[early], dist[qi, col][early]],
                             axis=1))
    found = np.concatenate(hits) if hits else np.empty((0, 4))
    if not len(found):
        return (np.empty(0, np.int64),) * 3
    # The projection only bounds the distance: rank hits by the full one, at their transform.
    qi, owner, which = (found[:, k].astype(np.int64) for k in range(3))
    found[:, 3] = _coarse_rms(z, rows[qi], owner, which, grid, shape)
    found = found[found[:, 3] * math.sqrt(z.shape[1]) < bound]
    # Per (row, original), the closest transform; then per row its nearest originals.
    order = np.lexsort((found[:, 3], found[:, 1], found[:, 0]))
    found = found[order]
    first = np.r_[True, (found[1:, :2] != found[:-1, :2]).any(axis=1)]
    found = found[first]
    order = np.lexsort((found[:, 3], found[:, 0]))
    found = found[order]
    start = np.r_[0, np.flatnonzero(found[1:, 0] != found[:-1, 0]) + 1]
    rank = np.arange(len(found)) - np.repeat(start, np.diff(np.r_[start, len(found)]))
    found = found[rank < _CANDIDATES]
    qi = found[:, 0].astype(np.int64)
    return rows[qi], found[:, 1].astype(np.int64), found[:, 2].astype(np.int64)


def _coarse_rms(z: np.ndarray, rows: np.ndarray, owner: np.ndarray, which: np.ndarray,
                grid: list[tuple[float, ...]], shape: tuple[int, int, int]) -> np.ndarray:
    """RMS difference between ``z[rows]`` and ``z[owner]`` warped by ``grid[which]``."""
    h, w, c = shape
    out = np.empty(len(rows))
    for t in np.unique(which).tolist():
        m = _warp(h, w, *grid[t])
        for part in np.array_split(np.flatnonzero(which == t),
                                   max(1, int(np.sum(which == t)) // _PAIR_CHUNK)):
            orig = z[owner[part]].reshape(len(part), h * w, c)
            warped = np.stack([(m @ orig[:, :, ch].T).T for ch in range(c)], axis=2)
            diff = z[rows[part]] - warped.reshape(len(part), -1)
            out[part] = np.sqrt((diff * diff).mean(axis=1))
    return out


def _axis_warp(n: int, zoom: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, ...]:
    """One axis of a zoom-and-shift warp, for each of ``len(zoom)`` pairs: the bilinear
    weights ``R[p, i, k]`` of source pixel ``k`` in output pixel ``i`` (zero outside the
    image), their derivative with respect to the sample position, the derivative of that
    position with respect to the zoom, and the pixels whose sample lies within a pixel
    outside the image (mixing its edge with the background, which libraries do in
    different ways: scipy.ndimage cuts, torch and PIL interpolate)."""
    c = (n - 1) / 2
    offset = np.arange(n) - c - shift[:, None]  # (P, n)
    u = c + offset / zoom[:, None]  # sample position of each output pixel
    d = u[:, :, None] - np.arange(n)  # (P, n, n)
    weights = np.maximum(1 - np.abs(d), 0.0)
    # The derivative of the hat weights; where they kink (a sample exactly on a pixel, as
    # every grid transform's are) the mean of both sides, i.e. a central difference, so
    # the first step may go either way.
    slope = np.where((np.abs(d) < 1) & (d != 0), -np.sign(d), 0.0)
    slope = np.where(np.abs(d) == 1, -0.5 * np.sign(d), slope)
    band = ((u > -1) & (u < 0)) | ((u > n - 1) & (u < n))
    return weights, slope, -offset / zoom[:, None] ** 2, band


def _blur(n: int, sigma: float) -> np.ndarray:
    """``(n, n)`` Gaussian blur along one axis, zero outside (as the warps are)."""
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    kernel: np.ndarray = np.exp(-0.5 * (d / sigma) ** 2)
    return kernel / float(np.exp(-0.5 * (np.arange(-n, n + 1) / sigma) ** 2).sum())


def align(record: np.ndarray, original: np.ndarray, init: np.ndarray, *,
          zoom: tuple[float, float] = (0.8, 1.2), max_shift: float = 2.5,
          iterations: int = _LK_ITERATIONS, probe: float = 0.0,
          smooth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Register originals onto records by zoom about the centre and sub-pixel shift.

    Levenberg-Marquardt (Lucas-Kanade) on the mean squared difference between ``record``
    and the bilinearly warped ``original`` (background, i.e. 0, outside it), from
    ``init``. The warp is separable, ``R_y · A · R_xᵀ`` per channel, so a step costs a
    few 8x8 matrix products per pair. Pixels that sample less than a pixel outside the
    original are left out of the mean (resampling libraries disagree there).

    Args:
        record: ``(P, H, W, C)`` images.
        original: ``(P, H, W, C)`` images, one per record.
        init: ``(P, 3)`` starting transforms ``(zoom, ty, tx)``: the record is taken to
            be the original zoomed about its centre, then shifted by ``(ty, tx)`` px.
        zoom: the range zooms are kept in.
        max_shift: the largest shift kept, in pixels.
        iterations: Levenberg-Marquardt steps.
        probe: before them, zooms up to this far from the start (in ``2·_PROBES`` steps)
            are tried and the best kept.
        smooth: if set, every step is taken on both images blurred by a Gaussian of this
            sigma (px), as the coarse level of an image pyramid; the RMS returned is
            still that of the sharp images.

    Returns:
        ``(rms, params)``: the RMS difference per value after alignment ``(P,)``, and
        the transforms ``(P, 3)``.
    """
    if not len(record):
        return np.empty(0), np.empty((0, 3))
    q = np.moveaxis(np.asarray(record, dtype=np.float64), 3, 1)  # (P, C, H, W)
    a = np.moveaxis(np.asarray(original, dtype=np.float64), 3, 1)
    n, _, h, w = q.shape
    sharp_q, sharp_a = q, a
    if smooth:  # blurred copies: a smoother cost with a wider basin, for the first steps
        by, bx = _blur(h, smooth), _blur(w, smooth)
        q, a = by @ q @ bx.T, by @ a @ bx.T
    low = np.array([zoom[0], -max_shift, -max_shift])
    high = np.array([zoom[1], max_shift, max_shift])

    def evaluate(theta: np.ndarray, grad: bool) -> tuple[np.ndarray, ...]:
        ry, dy, sy, by = _axis_warp(h, theta[:, 0], theta[:, 1])
        rx, dx, sx, bx = _axis_warp(w, theta[:, 0], theta[:, 2])
        keep = ~(by[:, :, None] | bx[:, None, :])[:, None]  # (P, 1, H, W)
        right = a @ rx.transpose(0, 2, 1)[:, None]  # A·R_xᵀ, (P, C, H, W)
        warped = ry[:, None] @ right
        resid = np.where(keep, q - warped, 0.0)
        cost = (resid**2).sum(axis=(1, 2, 3)) / np.maximum(keep.sum(axis=(1, 2, 3)) * q.shape[1],
                                                             1)
        if not grad:
            return (cost,)
        gy = dy[:, None] @ right  # d warped / d (row sample position)
        gx = (ry[:, None] @ a) @ dx.transpose(0, 2, 1)[:, None]
        inv = (1 / theta[:, 0])[:, None, None, None]
        jac = np.stack([gy * sy[:, None, :, None] + gx * sx[:, None, None, :],
                        -gy * inv, -gx * inv], axis=-1) * keep[..., None]
        return cost, resid.reshape(n, -1), jac.reshape(n, -1, 3)

    def probed(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lucas-Kanade's basin is narrow in zoom: first try zooms around the start."""
        theta = theta.copy()
        cost = evaluate(theta, False)[0]
        for k in np.linspace(-probe, probe, 2 * _PROBES + 1) if probe else ():
            trial = np.clip(theta + np.array([k, 0.0, 0.0]), low, high)
            trial_cost = evaluate(trial, False)[0]
            better = trial_cost < cost
            theta[better], cost[better] = trial[better], trial_cost[better]
        return theta, cost

    def descend(theta: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        damping = np.full(n, 1e-3)
        for _ in range(iterations):
            _, resid, jac = evaluate(theta, True)
            jtj = np.einsum("npi,npj->nij", jac, jac)
            jtr = np.einsum("npi,np->ni", jac, resid)
            lhs = jtj + damping[:, None, None] * (jtj * np.eye(3)) + 1e-9 * np.eye(3)
            step = np.linalg.solve(lhs, jtr[..., None])[..., 0]
            trial = np.clip(theta + step, low, high)
            trial_cost = evaluate(trial, False)[0]
            better = trial_cost < cost
            theta[better], cost[better] = trial[better], trial_cost[better]
            damping = np.where(better, damping * 0.3, damping * 10)
        return theta, cost

    start = np.clip(np.asarray(init, dtype=np.float64), low, high)
    if not smooth:
        theta, cost = descend(*probed(start))
        return np.sqrt(cost), theta
    theta, _ = descend(*probed(start))  # on the blurred images
    q, a = sharp_q, sharp_a
    cost = evaluate(theta, False)[0]
    # Blurring moves the optimum where ink left the image: keep the sharp start if better.
    kept, kept_cost = probed(start)
    better = kept_cost < cost
    theta[better], cost[better] = kept[better], kept_cost[better]
    return np.sqrt(cost), theta


# -- text -------------------------------------------------------------------------------------


def shingles(text: str, size: int = 5) -> frozenset[str]:
    """The ``size``-character shingles of ``text`` lower-cased and reduced to its words
    (a text shorter than that is one shingle)."""
    norm = " ".join(_WORD.findall(text.lower()))
    if len(norm) <= size:
        return frozenset({norm})
    return frozenset(norm[i:i + size] for i in range(len(norm) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets (1 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _text_pairs(texts: list[str], start: int, size: int, num_perm: int,
                lsh_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (batch record, earlier record) pair the LSH index pairs up, with its exact
    Jaccard similarity: arrays ``(i, j, jaccard)``, ``i`` from the batch's start."""
    from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped]

    sets = [shingles(t, size) for t in texts]
    hashes = MinHash.bulk([[s.encode() for s in sorted(x)] for x in sets], num_perm=num_perm,
                          seed=1)
    index = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
    qi: list[int] = []
    qj: list[int] = []
    sim: list[float] = []
    for j in range(start):
        index.insert(j, hashes[j])
    for i in range(start, len(texts)):
        for j in index.query(hashes[i]):
            qi.append(i - start)
            qj.append(j)
            sim.append(jaccard(sets[i], sets[j]))
        index.insert(i, hashes[i])
    return np.asarray(qi, np.int64), np.asarray(qj, np.int64), np.asarray(sim, np.float64)


def _row_texts(records: Records) -> list[str]:
    """A table's string columns, joined per row (columns in name order)."""
    names = sorted(records.strings)
    return [" | ".join(records.strings[k][i] for k in names) for i in range(len(records))]


# -- the gate ---------------------------------------------------------------------------------


@register("near_duplicates")
@dataclass(frozen=True)
class NearDuplicates(Gate):
    """Reject near copies of earlier records: noisy, shifted or zoomed images and rows,
    edited texts; see the module docstring for the method and why these values."""

    kinds = frozenset({"image", "tabular", "text"})

    # RMS difference per feature, in units of the value range: noisy copies of digits
    # (sigma 0.6 grey levels) lie at 0.034-0.045; distinct digits' nearest neighbour is
    # further than 0.064 for 99.5 % of them (closest pair 0.041).
    max_rms: float = 0.045
    # Tables without a value range: columns in units of their standard deviation, and
    # rows compared only with at least this many numeric columns. In those units no
    # distinct rows of iris (4 columns), wine (13) or breast_cancer (30) are within
    # 0.045 (by column range instead: 104 of 150 iris rows, 187 of 569 breast_cancer
    # rows); of 200 uniform random rows (5 seeds), 18 fall within it with 2 columns, 1
    # with 3, none with 4 or more.
    min_columns: int = 4
    # RMS difference left after alignment: 1-2 px shifts leave 0, zooms of 0.85-1.15
    # (bilinear, rounded) 0.01-0.03, zoom + shift + noise (sigma 0.6) 99.3 % below 0.05;
    # 0.45 % of distinct digits come closer than that to another (1.1 % at 0.06).
    max_aligned_rms: float = 0.05
    max_shift_px: float = 2.0  # shifts searched, in pixels (the 1-2 px)
    zoom: tuple[float, float] = (0.85, 1.15)  # zooms searched (the resizes)
    # RMS at the best grid transform above which a candidate is not aligned at all:
    # planted copies lie within 0.12 of their original there (PIL resizes 0.145).
    max_coarse_rms: float = 0.2
    # Jaccard similarity of 5-character shingles: 95 % of copies with 5 % (10 %, 20 %) of
    # their words changed keep 0.81 (0.71, 0.54); distinct stdlib docstring paragraphs
    # have median 0.11 to their nearest other one (repeats at 0.3 and up removed).
    min_jaccard: float = 0.5
    shingle_chars: int = 5  # shingle length; 5 is text-dedup's and the literature's usual
    num_perm: int = 128  # MinHash permutations: Jaccard estimated within about 0.04
    # The LSH index's design threshold: datasketch then bands 128 permutations as 37 x 3,
    # pairing texts of Jaccard 0.5 with probability 0.993 (0.4: 32 x 4, only 0.873).
    lsh_jaccard: float = 0.3
    action: Action = "reject"  # a near copy adds weight on one record, not information

    def __post_init__(self) -> None:
        positive = {"max_rms": self.max_rms, "max_aligned_rms": self.max_aligned_rms,
                    "max_coarse_rms": self.max_coarse_rms, "shingle_chars": self.shingle_chars,
                    "num_perm": self.num_perm}
        for name, value in positive.items():
            if not value > 0:
                raise GateError(f"near_duplicates: {name} must be positive, got {value!r}")
        if self.max_shift_px < 0:
            raise GateError(f"near_duplicates: max_shift_px must be >= 0, got "
                            f"{self.max_shift_px!r}")
        if len(self.zoom) != 2 or not 0 < self.zoom[0] <= 1 <= self.zoom[1]:
            raise GateError(f"near_duplicates: zoom must be (low, high) with 0 < low <= 1 <= "
                            f"high, got {self.zoom!r}")
        for name, value in (("min_jaccard", self.min_jaccard),
                            ("lsh_jaccard", self.lsh_jaccard)):
            if not 0 < value <= 1:
                raise GateError(f"near_duplicates: {name} must be in (0, 1], got {value!r}")

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        pool = ctx.candidates(batch)
        start, n = ctx.offset(), len(batch)
        if ctx.schema.kind == "text":
            if pool.text is None:
                raise GateError("near_duplicates: text records carry no text")
            return self._text(list(pool.text), start, n, "text")
        if pool.x is None:
            raise GateError(f"near_duplicates: {ctx.schema.kind} records carry no features x")
        strings = _row_texts(pool) if pool.strings else None
        if pool.x.shape[1] == 0:
            if strings is None:
                return GateResult(self.name, (), {"skipped": "records have no content"})
            return self._text(strings, start, n, "strings")
        if ctx.schema.value_range is not None:
            low, high = ctx.schema.value_range
            z = (pool.x - low) / (high - low)
        else:
            if pool.x.shape[1] < self.min_columns and strings is None:
                return GateResult(self.name, (), {
                    "skipped": f"{pool.x.shape[1]} numeric columns; rows this short lie "
                               f"close by chance (min_columns {self.min_columns})"})
            # Each column in units of its standard deviation: a range is set by the two
            # most extreme rows, and squeezes the rest of a skewed column together.
            z = (pool.x - pool.x.mean(axis=0)) / np.maximum(pool.x.std(axis=0), 1e-12)
        root = math.sqrt(z.shape[1])
        i, j, d = _close_pairs(z, start, self.max_rms * root)
        rms = d / root
        if strings is not None:  # a row's strings must match too
            sets = {k: shingles(strings[k], self.shingle_chars)
                    for k in set((i + start).tolist()) | set(j.tolist())}
            sim = np.array([jaccard(sets[start + a], sets[b])
                            for a, b in zip(i.tolist(), j.tolist(), strict=True)])
            same = np.array([strings[start + a] == strings[b]
                             for a, b in zip(i.tolist(), j.tolist(), strict=True)], bool)
            exact = np.zeros(n, bool)
            exact[i[(rms == 0) & same]] = True
            ok = (sim >= self.min_jaccard) & ~((rms == 0) & same)
            best_j, best_rms = _best(i[ok], j[ok], rms[ok], n)
            best_sim = dict(zip(zip(i[ok].tolist(), j[ok].tolist(), strict=True),
                                sim[ok].tolist(), strict=True))
        else:
            best_j, best_rms = _best(i, j, rms, n)
            exact = best_rms == 0
            best_sim = {}
        findings: list[Finding] = []
        for k in np.flatnonzero((best_j >= 0) & ~exact).tolist():
            where = _where(int(best_j[k]), start)
            what = where.replace(":", " record ")
            extra = "" if strings is None else (
                f", strings Jaccard {best_sim[(k, int(best_j[k]))]:.2f}")
            findings.append(Finding(k, self.action, f"near copy of {what} (RMS difference "
                                    f"{best_rms[k]:.3f} of the value range{extra})",
                                    float(best_rms[k]), where))
        stats: dict[str, object] = {"noisy": len(findings), "max_rms": self.max_rms}
        if ctx.schema.kind == "image" and strings is None:
            resolved = np.zeros(n, bool)
            resolved[[f.index for f in findings]] = True
            resolved |= exact
            aligned = self._aligned(z, start, ~resolved, ctx.schema.shape)
            findings += aligned
            stats |= {"aligned": len(aligned), "max_aligned_rms": self.max_aligned_rms}
            findings.sort(key=lambda f: f.index)
        findings, family = _outside_family(findings, batch, pool, start)
        stats["near_duplicates"] = len(findings)
        if family:
            stats["augmented_near_their_family"] = family
        return GateResult(self.name, tuple(findings), stats)

    def _text(self, texts: list[str], start: int, n: int, what: str) -> GateResult:
        """Near copies among texts (``what``: ``text``, or a table's ``strings``)."""
        i, j, sim = _text_pairs(texts, start, self.shingle_chars, self.num_perm,
                                self.lsh_jaccard)
        same = np.array([texts[start + a] == texts[b]
                         for a, b in zip(i.tolist(), j.tolist(), strict=True)], bool)
        exact = np.zeros(n, bool)
        exact[i[same]] = True
        ok = (sim >= self.min_jaccard) & ~same
        best_j, best_sim = _best(i[ok], j[ok], sim[ok], n, largest=True)
        findings = []
        for k in np.flatnonzero((best_j >= 0) & ~exact).tolist():
            where = _where(int(best_j[k]), start)
            findings.append(Finding(k, self.action, (
                f"near copy of {where.replace(':', ' record ')} (Jaccard similarity "
                f"{best_sim[k]:.2f} of {self.shingle_chars}-character shingles of the "
                f"{what})"), float(best_sim[k]), where))
        return GateResult(self.name, tuple(findings), {
            "near_duplicates": len(findings), "text": len(findings),
            "lsh_candidates": len(i), "min_jaccard": self.min_jaccard})

    def _aligned(self, z: np.ndarray, start: int, open_: np.ndarray,
                 shape: list[int]) -> list[Finding]:
        """Findings for the batch records in ``open_`` that are shifted or zoomed copies."""
        h, w = shape[0], shape[1]
        c = shape[2] if len(shape) == 3 else 1
        rows = start + np.flatnonzero(open_)
        if not len(rows) or start + len(open_) < 2:
            return []
        images = z[::max(1, len(z) // _FIT_ROWS)].reshape(-1, h, w, c)
        border = np.concatenate([images[:, [0, -1]].reshape(-1, c),
                                 images[:, 1:-1, [0, -1]].reshape(-1, c)])
        background = np.median(border, axis=0)  # per channel
        zb = (z.reshape(-1, h * w, c) - background).reshape(len(z), -1)
        grid = _grid(h, w, self.max_shift_px, self.zoom)
        root = math.sqrt(z.shape[1])
        qi, orig, which = _aligned_candidates(zb, rows, (h, w, c), grid,
                                              self.max_coarse_rms * root)
        if not len(qi):
            return []
        slack = 0.05
        zooms = sorted({t[0] for t in grid})
        probe = max(np.diff(zooms), default=0.0)
        scores = np.empty(len(qi))
        params = np.empty((len(qi), 3))
        zoom = (self.zoom[0] - slack, self.zoom[1] + slack)
        reach = self.max_shift_px + 0.5
        chunk = max(1, 2_000_000 // z.shape[1])  # pairs aligned at once (~150 MB)
        for lo in range(0, len(qi), chunk):
            sl = slice(lo, lo + chunk)
            q, a = zb[qi[sl]].reshape(-1, h, w, c), zb[orig[sl]].reshape(-1, h, w, c)
            rms, theta = align(q, a, np.asarray(grid)[which[sl]], probe=probe, zoom=zoom,
                               max_shift=reach, iterations=_LK_FIRST, smooth=_SMOOTH_PX)
            # Most pairs are plainly different after a few steps: only the others go on.
            go = np.flatnonzero(rms < 2 * self.max_aligned_rms)
            rms[go], theta[go] = align(q[go], a[go], theta[go], zoom=zoom, max_shift=reach)
            scores[sl], params[sl] = rms, theta
        local = qi - start
        best_j, best = _best(local, orig, scores, len(open_))
        pick = {(a, b): k for k, (a, b) in enumerate(zip(local.tolist(), orig.tolist(),
                                                         strict=True))}
        findings = []
        for k in np.flatnonzero((best_j >= 0) & (best < self.max_aligned_rms)).tolist():
            j = int(best_j[k])
            s, ty, tx = params[pick[(k, j)]]
            where = _where(j, start)
            what = where.replace(":", " record ")
            findings.append(Finding(k, self.action, (
                f"shifted/zoomed copy of {what}: shifted ({ty:+.1f}, {tx:+.1f}) px, zoomed "
                f"x{s:.2f}, RMS difference {best[k]:.3f} of the value range after alignment"),
                float(best[k]), where))
        return findings
