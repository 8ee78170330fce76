"""The plexnet synthetic-data watermark: a keyed mark on numeric records anyone can check.

A generator in plexnet embeds it in every record it makes (:meth:`Watermark.embed`);
the ``synthetic`` gate looks for it in records declared human (:meth:`Watermark.detect`)
and rejects those that carry it. The key is public (:data:`PUBLIC_KEY`): detection
needs no secret, so any auditor can re-check a verdict from the records alone.

How it works (quantisation index modulation with a public key):

* Each value of a record falls in one of three *categories*: zero (left alone: image
  background stays clean, and a log is undefined), integer (a *parity* term) or
  non-integer (a *grid* term). Embedding never changes a value's category.
* Keyed patterns come from SHAKE-256, eight bytes ``u_j`` per value (little-endian
  uint64). Parity terms: ``SHAKE(key | d | "|parity|" | zero mask)`` gives a target
  parity ``u_j & 1`` and a step direction ``(u_j >> 1) & 1``; hashing the record's
  zero mask (which pixels are 0, packed bits) draws a fresh pattern for each digit,
  so one pixel's skewed parity (a stroke pixel is often 16) does not bias a whole
  dataset. Grid terms: ``SHAKE(key | d | "|grid")`` gives one dither
  ``d_j = (u_j >> 11) / 2^53`` in [0, 1) per column, the same for every record, so a
  value that changes category (noise on an integer column) costs only its own term.
* A parity term matches when ``x mod 2`` is the target; embedding moves a mismatched
  value one step (toward ``hint``, the unrounded value, when given; else in the keyed
  direction), never onto zero or out of ``value_range``. Integers stay integers, so
  the mark survives a schema that wants integers (digits: 0..16) and re-rounding.
* A grid term lives on ``N · log2|x|`` (``N`` = :attr:`Watermark.steps_per_octave`): it
  matches when that lies within ``tolerance`` of ``k + d_j`` for an integer ``k``;
  embedding moves it to the nearest such point in range. The grid is relative, so no
  column range or unit is needed to check it, and a float32 copy keeps it.
* Under the null (a record nobody marked), a parity term matches with probability
  1/2 and a grid term with ``q = 2·tolerance``: the key is independent of the data, so
  a value's residual against its keyed target is uniform. The score is the
  log-likelihood ratio of the matches (1 bit per parity match, ``log2 1/q`` bits per
  grid match); its exact tail probability under the null (two binomials convolved)
  is the record's p-value.

Why these values (measured by ``bench/data_synthetic.py`` on scikit-learn's digits,
breast_cancer and wine; numbers in ``bench/results/data_synthetic.json``):

* ``steps_per_octave = 64``: a grid step is 1.09 % of the value; the mark moves a
  grid value by at most half a step (0.54 %), RMS 0.3 % of the value: 0.17 % of the
  columns' ranges on breast_cancer, 0.41 % on wine (whose integer columns take parity).
* ``tolerance = 0.125`` steps (``q = 1/4``, 2 bits per grid term): wide enough for
  float32 and six-significant-digit text, narrow enough that wine's 11 non-integer
  columns carry 22 bits (24 with its two integer columns).
* parity on integers: half the nonzero pixels of a digit move by one grey level,
  RMS 0.51 grey levels (3.2 % of 0..16) over the image; with the generator's
  unrounded output as ``hint`` no pixel ends more than one level from it. Every
  digit has at least 16 nonzero pixels, so a marked digit carries >= 16 bits.
* :data:`MAX_P` = 3e-5: a real record's chance to pass is at most that, 30 times
  below the 0.1 % asked for, and a marked digit's 16 bits (p = 1.5e-5) pass. Over 300
  keys the null holds: 0.0015-0.0019 % of real records reach ``MAX_P`` and
  0.05-0.09 % reach 1e-3 (digits, breast_cancer, wine). Under the public key no real
  record of the three sets passes (the smallest p is 1.5e-3), every marked one does.

Attacks (measured): it survives re-rounding integers, float32, text with six
significant digits, and relative noise up to 0.03 % on tables (0.1 %: breast_cancer
100 %, wine 22 %). Pixel noise of 0.1 grey levels, re-rounded, keeps every digit
marked; 0.2 keeps 81 % (a pixel crossing zero changes the zero mask and so the whole
parity pattern), 0.3 keeps 17 %, 0.5 none. Rounding tables to two decimals or 0.3 %
relative noise strips it.

The mark is public, so anyone can strip it that way, or forge it onto their own
records. It catches honest mistakes and careless relabelling, not an adversary; the
``synthetic`` gate's classifier two-sample test is the check for unmarked records.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from plexnet.data.errors import DataError

__all__ = ["MAX_P", "PUBLIC_KEY", "Detection", "Watermark"]

PUBLIC_KEY: Final = b"plexnet/synthetic-watermark/v1"
MAX_P: Final = 3e-5  # a record with p <= this carries the mark (see the module docstring)

_SKIP, _INTEGER, _GRID = 0, 1, 2
_INTEGRAL_LIMIT: Final = 2.0**52  # from here on doubles are integers, spaced >= 1: no parity


@dataclass(frozen=True)
class Detection:
    """Per record: the terms looked at, how many matched, the bits and the p-value.

    ``terms``/``matches`` count parity and grid terms together; ``bits`` is the
    log-likelihood ratio of the matches (log2); ``p_value`` the chance that an unmarked
    record scores at least as high. ``score`` is ``-log10 p_value``.
    """

    terms: np.ndarray
    matches: np.ndarray
    bits: np.ndarray
    p_value: np.ndarray

    @property
    def score(self) -> np.ndarray:
        return -np.log10(np.maximum(self.p_value, 1e-300))  # type: ignore[no-any-return]

    def marked(self, max_p: float = MAX_P) -> np.ndarray:
        """Boolean (n,): records whose p-value is at most ``max_p``."""
        return self.p_value <= max_p


@dataclass(frozen=True)
class Watermark:
    """The watermark's public parameters; see the module docstring for their values.

    ``key`` is public. A generator-specific key (``PUBLIC_KEY + b"/" + generator CID``)
    works the same way, but only an auditor who knows the generator can check it; the
    gate checks the shared key.
    """

    key: bytes = PUBLIC_KEY
    steps_per_octave: int = 64  # grid steps per doubling: one step is 1.09 % of the value
    tolerance: float = 0.125  # grid match window, +- steps: null match probability 1/4

    def __post_init__(self) -> None:
        if not 0 < self.tolerance < 0.5:
            raise DataError(f"watermark tolerance must be in (0, 0.5) steps, got "
                            f"{self.tolerance}")
        if self.steps_per_octave < 1:
            raise DataError(f"steps_per_octave must be >= 1, got {self.steps_per_octave}")

    # -- the keyed pattern ----------------------------------------------------------------

    def _categories(self, x: np.ndarray, integer: np.ndarray | None = None) -> np.ndarray:
        """(n, d) uint8: skip (zero, or too large for parity), integer or grid.

        ``integer`` (d,) says which columns keep integral values integral; ``None``
        (detection) takes every integral value as a parity term, which is what
        :meth:`embed` leaves behind.
        """
        cat = np.full(x.shape, _GRID, dtype=np.uint8)
        integral = np.floor(x) == x
        if integer is not None:
            integral &= integer[None, :]
        cat[integral] = _INTEGER
        cat[(x == 0) | (np.abs(x) >= _INTEGRAL_LIMIT)] = _SKIP
        return cat

    def _pattern(self, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The keyed target parity and step direction (per record) and dither (per
        column), each (n, d), for records of categories ``cat``."""
        n, d = cat.shape
        prefix = self.key + b"|" + d.to_bytes(4, "little")
        skipped = np.packbits(cat == _SKIP, axis=1)  # (n, ceil(d / 8)): the zero mask
        unique, inverse = np.unique(skipped, axis=0, return_inverse=True)
        table = np.stack([np.frombuffer(hashlib.shake_256(
            prefix + b"|parity|" + mask.tobytes()).digest(8 * d), dtype="<u8")
            for mask in unique]) if n else np.zeros((0, d), dtype=np.uint64)
        words = table[inverse.reshape(-1)]  # (n, d): records with one zero mask share a row
        parity = (words & np.uint64(1)).astype(np.float64)
        direction = np.where(words & np.uint64(2), 1.0, -1.0)
        column = np.frombuffer(hashlib.shake_256(prefix + b"|grid").digest(8 * d), dtype="<u8")
        dither = np.broadcast_to((column >> np.uint64(11)).astype(np.float64) * 2.0**-53,
                                 (n, d))
        return parity, direction, dither

    def _grid(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return self.steps_per_octave * np.log2(np.abs(x))  # type: ignore[no-any-return]

    # -- embedding ------------------------------------------------------------------------

    def embed(self, x: np.ndarray, *, value_range: tuple[float, float] | None = None,
              integer: np.ndarray | None = None, hint: np.ndarray | None = None) -> np.ndarray:
        """A marked copy of ``x`` (n, d); ``x`` itself is not changed.

        Args:
            x: finite feature vectors, one record per row.
            value_range: (low, high) every marked value must stay within (the schema's).
            integer: (d,) booleans, the columns whose values must stay integers
                (default: the columns whose values in ``x`` all are). An integral value
                in any other column becomes a grid term (a wine "ash" of 2.0 moves to
                about 2.003, not to 3).
            hint: the unrounded values ``x`` was rounded from (same shape): a parity
                term that has to move moves toward its hint.

        Raises:
            DataError: for non-finite values, values outside ``value_range``, or an
                ``integer`` or ``hint`` of the wrong shape.
        """
        x = _checked(x)
        low, high = (-np.inf, np.inf) if value_range is None else map(float, value_range)
        if ((x < low) | (x > high)).any():
            raise DataError(f"values outside the value range [{low:g}, {high:g}]")
        if hint is not None and np.shape(hint) != x.shape:
            raise DataError(f"hint has shape {np.shape(hint)}, the records {x.shape}")
        if integer is None:
            integer = (np.floor(x) == x).all(axis=0)
        integer = np.asarray(integer, dtype=bool)
        if integer.shape != (x.shape[1],):
            raise DataError(f"integer must name {x.shape[1]} columns, got shape "
                            f"{integer.shape}")
        cat = self._categories(x, integer)  # what the marked record's categories will be
        parity, direction, dither = self._pattern(cat)
        out = x.copy()

        # Parity terms: one step, preferably toward the hint, never onto 0 or out of range.
        wrong = (cat == _INTEGER) & (np.mod(x, 2) != parity)
        if hint is not None:
            pull = np.sign(np.asarray(hint, dtype=np.float64) - x)
            direction = np.where(pull != 0, pull, direction)
        first, second = x + direction, x - direction
        ok_first = (first != 0) & (first >= low) & (first <= high)
        ok_second = (second != 0) & (second >= low) & (second <= high)
        moved = np.where(ok_first, first, np.where(ok_second, second, x))
        out[wrong] = moved[wrong]

        # Grid terms: the nearer of the two grid points around the value that is in range
        # and still not an integer (either keeps the term a grid term).
        grid = cat == _GRID
        if grid.any():
            g = self._grid(x[grid])
            d = dither[grid]
            below = np.floor(g - d) + d
            points = np.stack([below, below + 1.0])  # (2, m) grid coordinates
            sign = np.sign(x[grid])
            values = sign * np.exp2(points / self.steps_per_octave)
            feasible = (values >= low) & (values <= high) & (np.floor(values) != values)
            dist = np.where(feasible, np.abs(points - g), np.inf)
            pick = dist.argmin(axis=0)
            chosen = values[pick, np.arange(len(g))]
            out[grid] = np.where(np.isfinite(dist.min(axis=0)), chosen, x[grid])
        return out

    # -- detection ------------------------------------------------------------------------

    def detect(self, x: np.ndarray) -> Detection:
        """Score every record of ``x`` (n, d) for the mark; see the module docstring.

        Raises:
            DataError: for non-finite values.
        """
        x = _checked(x)
        cat = self._categories(x)
        parity, _direction, dither = self._pattern(cat)
        is_int, is_grid = cat == _INTEGER, cat == _GRID
        int_match = is_int & (np.mod(x, 2) == parity)
        g = np.where(is_grid, self._grid(np.where(is_grid, x, 1.0)), 0.0)
        r = np.mod(g - dither, 1.0)
        grid_match = is_grid & (np.minimum(r, 1.0 - r) <= self.tolerance)
        m1, k1 = is_int.sum(axis=1), int_match.sum(axis=1)
        m2, k2 = is_grid.sum(axis=1), grid_match.sum(axis=1)
        q = 2 * self.tolerance
        weight = math.log2(1 / q)  # bits per grid match; a parity match is one bit
        combos = np.stack([m1, k1, m2, k2], axis=1)
        unique, inverse = np.unique(combos, axis=0, return_inverse=True)
        tails = np.array([_tail(a, b, c, e, q, weight) for a, b, c, e in unique.tolist()])
        p = tails[inverse.reshape(-1)] if len(x) else np.ones(0)
        return Detection(terms=m1 + m2, matches=k1 + k2, bits=k1 + weight * k2, p_value=p)


def _checked(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"records must have shape (n, d), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError("records hold NaN or infinite values")
    return arr


def _tail(m1: int, k1: int, m2: int, k2: int, q: float, weight: float) -> float:
    """P(B1 + weight·B2 >= k1 + weight·k2) for B1 ~ Bin(m1, 1/2), B2 ~ Bin(m2, q)."""
    from scipy.stats import binom

    if m1 + m2 == 0:
        return 1.0
    a = np.arange(m1 + 1)
    b = np.arange(m2 + 1)
    joint = binom.pmf(a, m1, 0.5)[:, None] * binom.pmf(b, m2, q)[None, :]
    reach = a[:, None] + weight * b[None, :] >= k1 + weight * k2 - 1e-9
    return float(min(1.0, joint[reach].sum()))
