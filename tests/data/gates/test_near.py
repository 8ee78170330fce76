"""near_duplicates on planted copies with a known answer: noisy, shifted, zoomed, edited."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

import plexnet.data.gates.near as near
from plexnet.data import Column, Records, Schema
from plexnet.data.errors import GateError
from plexnet.data.gates.base import GateContext, gate
from plexnet.data.gates.near import NearDuplicates, align, jaccard, shingles

DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))
TEXT = Schema(kind="text", labels=["doc"])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(float), d.target.astype(np.int64)


def _shift(img, dy, dx):
    out = np.zeros_like(img)
    h, w = img.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _zoom(img, z):
    centre = (np.array(img.shape) - 1) / 2
    m = np.eye(2) / z
    out = ndimage.affine_transform(img, m, centre - m @ centre, order=1, mode="grid-constant")
    return np.clip(np.round(out), 0, 16)


def _noise(img, rng):
    return np.clip(np.round(img + rng.normal(0, 0.6, img.shape)), 0, 16)


def _differs(make, img, rng):
    while True:
        copy = make(img, rng)
        if not np.array_equal(copy, img):
            return copy


def test_noisy_copies_are_caught_but_not_distinct_digits(digits):
    x, y = digits
    rng = np.random.default_rng(6)
    existing = Records.make(y[:1000], x=x[:1000])
    src = rng.choice(1000, 40, replace=False)
    noisy = np.clip(np.round(x[src] + rng.normal(0, 0.6, (40, 64))), 0, 16)
    batch = Records.make(np.r_[y[src], y[1000:1400]], x=np.r_[noisy, x[1000:1400]])
    result = gate("near_duplicates").check(batch, GateContext(schema=DIGITS, existing=existing))
    found = {f.index for f in result.findings}
    assert set(range(40)) <= found | {i for i in range(40) if np.array_equal(noisy[i], x[src[i]])}
    assert len(found - set(range(40))) <= 4  # at most 1% of distinct digits
    assert {f.related for f in result.findings if f.index < 40} <= {f"dataset:{i}" for i in src}
    assert all(f.action == "reject" and "RMS difference" in f.reason for f in result.findings)
    exact = Records.make(y[:3], x=x[:3])
    assert not gate("near_duplicates").check(exact, GateContext(
        schema=DIGITS, existing=existing)).findings  # exact copies are another gate's


@pytest.mark.parametrize("fault", ["shift_1px", "shift_2px", "zoom", "mix"])
def test_shifted_and_zoomed_copies_name_their_original(digits, fault):
    x, y = digits
    images = x.reshape(-1, 8, 8)
    rng = np.random.default_rng({"shift_1px": 1, "shift_2px": 2, "zoom": 3, "mix": 4}[fault])
    shifts = {"shift_1px": [(1, 0), (0, -1), (-1, 1), (1, 1)],
              "shift_2px": [(2, 0), (0, -2), (-2, 1), (2, 2)]}
    makers = {
        "shift_1px": lambda im, r: _shift(im, *shifts["shift_1px"][int(r.integers(4))]),
        "shift_2px": lambda im, r: _shift(im, *shifts["shift_2px"][int(r.integers(4))]),
        "zoom": lambda im, r: _zoom(im, r.uniform(0.85, 1.15)),
        "mix": lambda im, r: _noise(_shift(_zoom(im, r.uniform(0.9, 1.1)), 1, -1), r),
    }
    src = rng.choice(1000, 40, replace=False)
    copies = np.stack([_differs(makers[fault], images[i], rng) for i in src]).reshape(40, -1)
    batch = Records.make(np.r_[y[src], y[1000:1400]], x=np.r_[copies, x[1000:1400]])
    ctx = GateContext(schema=DIGITS, existing=Records.make(y[:1000], x=x[:1000]))
    result = NearDuplicates().check(batch, ctx)
    found = {f.index: f for f in result.findings}
    caught = [i for i in range(40) if i in found]
    assert len(caught) >= 38, (fault, len(caught))  # >= 95 %
    assert all(found[i].related == f"dataset:{src[i]}" for i in caught)
    assert len(set(found) - set(range(40))) <= 4  # at most 1 % of 400 distinct digits
    if fault.startswith("shift"):
        assert all("shifted/zoomed" in found[i].reason and found[i].score < 1e-6
                   for i in caught)  # an exact shift leaves nothing after alignment
        assert result.stats["aligned"] >= 38


def test_a_one_pixel_shift_is_further_than_distinct_digits_without_alignment(digits):
    """Why alignment is needed at all: what the noisy-copy check alone would see."""
    x, y = digits
    images = x.reshape(-1, 8, 8)
    shifted = np.stack([_shift(images[i], 1, 0) for i in range(50)]).reshape(50, -1)
    plain = NearDuplicates(max_shift_px=0, zoom=(1.0, 1.0))  # no shift or zoom searched
    result = plain.check(Records.make(y[:50], x=shifted),
                         GateContext(schema=DIGITS, existing=Records.make(y[:50], x=x[:50])))
    assert not result.findings
    rms = np.sqrt(((shifted - x[:50]) ** 2).mean(axis=1)) / 16
    assert rms.min() > 0.1  # vs 0.064 for 99.5 % of distinct digits' nearest neighbour


def test_copies_inside_the_batch_name_the_batch_record(digits):
    x, y = digits
    img = x[7].reshape(8, 8)
    batch = Records.make([y[7], y[8], y[7]], x=[x[7], x[8], _shift(img, 0, 1).reshape(-1)])
    result = NearDuplicates().check(batch, GateContext(schema=DIGITS))
    assert [(f.index, f.related) for f in result.findings] == [(2, "batch:0")]


def test_distinct_digits_rarely_match_each_other(digits):
    x, y = digits
    result = NearDuplicates().check(Records.make(y, x=x), GateContext(schema=DIGITS))
    assert len(result.findings) <= 9  # <= 0.5 % of 1,797 (measured: 4)
    again = NearDuplicates().check(Records.make(y, x=x), GateContext(schema=DIGITS))
    assert result.findings == again.findings  # deterministic


def test_align_recovers_a_known_zoom_and_shift(digits):
    x, _ = digits
    originals = x[:20].reshape(20, 8, 8, 1) / 16
    truth = np.array([[1.0 + 0.01 * (i % 11 - 5), 0.3 * (i % 5 - 2), -0.25 * (i % 3)]
                      for i in range(20)])
    records = np.stack([(near._warp(8, 8, *t) @ originals[i].reshape(-1)).reshape(8, 8, 1)
                        for i, t in enumerate(truth)])
    start = np.round(truth)  # the nearest integer shift, no zoom
    start[:, 0] = 1.0
    _, coarse = align(records, originals, start, probe=0.1, iterations=6, smooth=1.0)
    rms, found = align(records, originals, coarse)
    assert rms.max() < 0.01
    assert np.abs(found - truth).max() < 0.05
    sharp_only, _ = align(records, originals, start, probe=0.1)
    assert (sharp_only > 0.01).sum() >= 2  # why the blurred first steps: local minima


def test_colour_and_larger_images(digits):
    x, y = digits
    big = np.stack([ndimage.zoom(im, 2, order=1) for im in x[:300].reshape(-1, 8, 8)])
    colour = np.stack([big, 0.6 * big, 0.3 * big], axis=-1)  # (300, 16, 16, 3)
    schema = Schema(kind="image", shape=[16, 16, 3], labels=DIGITS.labels, value_range=(0, 16))
    copies = np.stack([_shift(colour[i], 2, -1) for i in range(5)])
    batch = Records.make(np.r_[y[:5], y[200:300]],
                         x=np.r_[copies.reshape(5, -1), colour[200:300].reshape(100, -1)])
    ctx = GateContext(schema=schema, existing=Records.make(y[:200],
                                                          x=colour[:200].reshape(200, -1)))
    # Smooth upsampled digits lie closer together than 8x8 ones (distinct ones from 0.032):
    # the default thresholds were measured on 8x8 digits and do not transfer.
    result = NearDuplicates(max_rms=0.02, max_aligned_rms=0.02).check(batch, ctx)
    assert {f.index: f.related for f in result.findings} == {i: f"dataset:{i}" for i in range(5)}


# -- text and tables ---------------------------------------------------------------------------


def _corpus(n, rng):
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, int(rng.integers(3, 9)))) for _ in range(2000)]
    return [" ".join(rng.choice(vocab, 60)) for _ in range(n)]


def _edit(text, rng, share=0.05):
    words = text.split()
    for _ in range(max(1, int(share * len(words)))):
        i = int(rng.integers(len(words)))
        words[i] = "changed"
    return " ".join(w.upper() if rng.random() < 0.2 else w for w in words)


def test_shingles_ignore_case_and_punctuation():
    assert shingles("Hello, World!") == shingles("hello world")
    assert shingles("abc") == frozenset({"abc"})
    assert jaccard(shingles("the same words"), shingles("THE SAME words.")) == 1.0


def test_edited_texts_are_caught_and_distinct_ones_are_not():
    rng = np.random.default_rng(8)
    texts = _corpus(60, rng)
    existing = Records.make(np.zeros(40, np.int64), text=texts[:40])
    copies = [_edit(texts[i], rng) for i in (3, 17, 29)]
    batch = Records.make(np.zeros(25, np.int64),
                         text=[*copies, texts[5], *texts[40:60], copies[0].lower()])
    result = NearDuplicates().check(batch, GateContext(schema=TEXT, existing=existing))
    got = {f.index: f.related for f in result.findings}
    # the copies; not the exact copy of record 5 (another gate's); the case-only copy of
    # batch record 0 names it
    assert got == {0: "dataset:3", 1: "dataset:17", 2: "dataset:29", 24: "batch:0"}
    assert all("Jaccard similarity" in f.reason and 0.5 <= f.score <= 1
               for f in result.findings)


def test_table_rows_must_match_in_numbers_and_strings():
    schema = Schema(kind="tabular", labels=["no", "yes"], columns=[
        Column(name="age"), Column(name="income"), Column(name="note", type="string")])
    notes = ["prefers email contact on weekdays", "moved from the north office last year",
             "asked about the premium plan twice"]
    existing = Records.make([0, 1, 0], x=[[30, 1000], [45, 5200], [61, 2400]],
                            strings={"note": notes})
    batch = Records.make([0, 1, 0, 1], x=[[30, 1001], [45, 5200], [61, 2400], [30, 1000]],
                         strings={"note": [notes[0], "something else entirely, not the same",
                                           notes[2] + " again", notes[0]]})
    result = NearDuplicates().check(batch, GateContext(schema=schema, existing=existing))
    # row 0: numbers a hair apart, same note; row 2: same numbers, note edited;
    # row 1: same numbers, another note; row 3: an exact copy (another gate's)
    assert {f.index: f.related for f in result.findings} == {0: "dataset:0", 2: "dataset:2"}


def test_string_only_tables_use_the_text_path():
    schema = Schema(kind="tabular", labels=["a"], columns=[Column(name="name", type="string")])
    batch = Records.make([0, 0, 0], x=np.zeros((3, 0)), strings={"name": [
        "Alice Smith, 12 Harbour Road, Portsmouth", "alice smith 12 harbour rd portsmouth",
        "Bob Jones, 3 Mill Lane, Leeds"]})
    result = NearDuplicates().check(batch, GateContext(schema=schema))
    assert [(f.index, f.related) for f in result.findings] == [(1, "batch:0")]


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"max_rms": 0}, {"max_aligned_rms": -0.1}, {"zoom": (1.1, 1.2)}, {"zoom": (0.9,)},
    {"min_jaccard": 0}, {"lsh_jaccard": 1.5}, {"max_shift_px": -1}, {"num_perm": 0},
    {"no_such_threshold": 1},
])
def test_bad_thresholds_are_refused(params):
    with pytest.raises(GateError, match="near_duplicates"):
        gate("near_duplicates", **params)


def test_records_without_their_content_are_refused(digits):
    x, y = digits
    with pytest.raises(GateError, match="no text"):
        NearDuplicates().check(Records.make(y[:2], x=x[:2]), GateContext(schema=TEXT))
    with pytest.raises(GateError, match="no features"):
        NearDuplicates().check(Records.make([0], text=["a"]), GateContext(schema=DIGITS))
