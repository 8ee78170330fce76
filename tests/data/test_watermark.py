"""The synthetic-data watermark on known answers: real data is not marked, marked data is,
the mark changes little and keeps integers integers, and the p-values are exact."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

from plexnet.data.errors import DataError
from plexnet.data.watermark import MAX_P, PUBLIC_KEY, Watermark

SETS = {"digits": (load_digits, (0.0, 16.0)), "breast_cancer": (load_breast_cancer, None),
        "wine": (load_wine, None)}


@pytest.fixture(scope="module")
def data():
    return {name: (load().data.astype(float), vr) for name, (load, vr) in SETS.items()}


@pytest.mark.parametrize("name", list(SETS))
def test_real_records_are_not_marked_and_marked_ones_are(data, name):
    x, value_range = data[name]
    mark = Watermark()
    real = mark.detect(x)
    assert real.marked().mean() <= 0.001  # the FPR asked for; measured: none at all
    marked = mark.embed(x, value_range=value_range)
    found = mark.detect(marked)
    assert found.marked().all()
    assert (found.p_value <= MAX_P).all() and (found.score > -np.log10(MAX_P)).all()
    # Another key sees nothing: the mark is keyed, not a property of the values.
    assert Watermark(key=b"someone else").detect(marked).marked().mean() <= 0.001


def test_null_p_values_are_calibrated_over_keys(data):
    # A real record's p-value is (super-)uniform: over 20 keys about 1 % of digits
    # reach p <= 0.01 and about 0.1 % p <= 0.001 (binomial tails are discrete, so a
    # little under). A biased pattern would put far more there.
    x = data["digits"][0][:600]
    p = np.concatenate([Watermark(key=b"k%d" % k).detect(x).p_value for k in range(20)])
    assert 0.003 <= (p <= 0.01).mean() <= 0.015
    assert (p <= 0.001).mean() <= 0.003


def test_marking_changes_little_and_keeps_the_schema(data):
    x, value_range = data["digits"]
    marked = Watermark().embed(x, value_range=value_range)
    assert np.array_equal(marked, np.round(marked)) and marked.min() >= 0 and marked.max() <= 16
    assert np.array_equal(marked == 0, x == 0)  # background untouched, no new zeros
    assert np.abs(marked - x).max() == 1
    assert np.sqrt(((marked - x) ** 2).mean()) < 0.6  # grey levels (3.7 % of the range)
    for name in ("breast_cancer", "wine"):
        x, _ = data[name]
        marked = Watermark().embed(x)
        integer_columns = (np.floor(x) == x).all(axis=0)  # wine: magnesium, proline
        assert np.array_equal(np.floor(marked[:, integer_columns]), marked[:, integer_columns])
        assert np.abs(marked - x)[:, integer_columns].max(initial=0) <= 1
        floats = x[:, ~integer_columns]
        relative = np.abs(marked[:, ~integer_columns] - floats)[floats != 0] / floats[floats != 0]
        # Half a grid step, 2^(1/128) - 1: an integral value in a float column (wine's
        # "ash" of 2.0) moves by that little too, not by one.
        assert relative.max() <= 0.0055


def test_survives_rerounding_float32_and_printing_not_heavy_noise(data):
    mark = Watermark()
    x, value_range = data["digits"]
    marked = mark.embed(x, value_range=value_range)
    assert mark.detect(np.round(marked + 0.3 * np.sign(marked - 8))).marked().all()
    rng = np.random.default_rng(0)
    stripped = np.clip(np.round(marked + rng.normal(0, 0.5, marked.shape)), 0, 16)
    assert mark.detect(stripped).marked().mean() < 0.05  # documented: noise strips it
    x, _ = data["breast_cancer"]
    marked = mark.embed(x)
    assert mark.detect(marked.astype(np.float32).astype(np.float64)).marked().all()
    printed = np.array([[float(f"{v:.6g}") for v in row] for row in marked])
    assert mark.detect(printed).marked().mean() >= 0.99
    assert mark.detect(np.round(marked, 2)).marked().mean() < 0.05


def test_hint_pulls_parity_moves_toward_the_unrounded_value():
    rng = np.random.default_rng(1)
    raw = rng.uniform(1, 15, (200, 64))
    rounded = np.round(raw)
    marked = Watermark().embed(rounded, value_range=(0, 16), hint=raw)
    assert np.abs(marked - raw).max() <= 1.0  # the nearest integer of the right parity
    moved = marked != rounded
    assert np.all(np.sign(marked - rounded)[moved] == np.sign(raw - rounded)[moved])
    assert Watermark().detect(marked).marked().all()


def test_exact_p_values():
    mark = Watermark()
    # 10 nonzero integers, all matching: p = 2^-10 exactly.
    x = np.ones((1, 10))
    marked = mark.embed(x, value_range=(0, 100))
    det = mark.detect(marked)
    assert det.terms[0] == 10 and det.matches[0] == 10
    assert det.p_value[0] == pytest.approx(2.0**-10)
    # 5 non-integers, all matching: 2 bits each at q = 1/4: p = 4^-5.
    det = mark.detect(mark.embed(np.full((1, 5), 0.37)))
    assert det.p_value[0] == pytest.approx(4.0**-5) and det.bits[0] == 10
    # Nothing to look at: p = 1.
    assert mark.detect(np.zeros((3, 4))).p_value.tolist() == [1.0, 1.0, 1.0]
    assert PUBLIC_KEY == b"plexnet/synthetic-watermark/v1"


@pytest.mark.parametrize(("call", "match"), [
    (lambda: Watermark().detect(np.array([[1.0, np.nan]])), "NaN"),
    (lambda: Watermark().detect(np.ones(3)), "shape"),
    (lambda: Watermark().embed(np.array([[20.0]]), value_range=(0, 16)), "outside"),
    (lambda: Watermark().embed(np.ones((2, 3)), hint=np.ones((2, 2))), "hint"),
    (lambda: Watermark().embed(np.ones((2, 3)), integer=np.ones(2, bool)), "columns"),
    (lambda: Watermark(tolerance=0.6), "tolerance"),
    (lambda: Watermark(steps_per_octave=0), "steps_per_octave"),
])
def test_bad_inputs_are_refused(call, match):
    with pytest.raises(DataError, match=match):
        call()
