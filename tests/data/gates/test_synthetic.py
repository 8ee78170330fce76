"""The synthetic and synthetic_budget gates on known answers: planted watermarked records
declared human, synthetic records without a generator, unmarked VAE digits among real
ones, and budget arithmetic checked against brute force."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_wine

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.cid import cid_for
from plexnet.data import Column, Provenance, Records, Schema
from plexnet.data.errors import GateError
from plexnet.data.gates.base import GateContext, gate, registered
from plexnet.data.gates.synthetic import (
    DETECTOR_TASK,
    SyntheticBudget,
    SyntheticGate,
    allowed_synthetic,
    decimals,
    detector_scores,
)
from plexnet.data.runner import LocalRunner
from plexnet.data.synthesis import ConditionalVAE, GaussianCopula, load_generator

DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))
HUMAN = Provenance()
GENERATOR = cid_for(b"a generator spec")


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(float), d.target.astype(np.int64)


@pytest.fixture(scope="module")
def vae(digits):
    x, y = digits
    return ConditionalVAE(value_range=(0, 16)).fit(x[:800], y[:800])


def _synthetic(generator: str | None = None) -> Provenance:
    return Provenance(tag="synthetic", generator=generator)


def test_watermarked_records_declared_real_are_rejected_and_missing_generators_flagged(
        digits, vae):
    x, y = digits
    marked = vae.sample(3, seed=1)  # 30 marked digits
    batch = Records.concat([
        Records.make(y[1000:1200], x=x[1000:1200]),                     # 0..199 real
        Records.make(marked.y[:20], x=marked.x[:20], provenance=HUMAN),  # 200..219 lie
        Records.make(marked.y[20:25], x=marked.x[20:25],
                     provenance=Provenance(tag="device")),               # 220..224 lie
        marked.subset(range(25, 30)),                                     # 225..229 honest
        Records.make(y[:2], x=x[:2], provenance=_synthetic()),           # 230, 231: no CID
        Records.make(y[2:3], x=x[2:3], provenance=_synthetic("not-a-cid")),  # 232
    ])
    result = SyntheticGate().check(batch, GateContext(schema=DIGITS))
    assert result.indices("reject") == set(range(200, 225))
    assert result.indices("flag") == {230, 231, 232}
    reasons = {f.index: f.reason for f in result.findings}
    assert "watermark" in reasons[200] and "declared human" in reasons[200]
    assert "declared device" in reasons[220]
    assert "names no generator" in reasons[230] and "not a CID" in reasons[232]
    assert result.stats["watermarked"] == 30 and result.stats["watermarked_synthetic"] == 5
    assert result.stats["detector"]["skipped"].startswith("0 real")


def test_augmented_from_a_synthetic_record_may_keep_its_mark(digits, vae):
    x, y = digits
    marked = vae.sample(1, seed=2)
    existing = Records.concat([Records.make(y[:50], x=x[:50]), marked])
    synthetic_leaf = marked.leaf_hashes()[0].hex()
    real_leaf = existing.leaf_hashes()[0].hex()
    batch = Records.make(marked.y[:2], x=marked.x[:2], provenance=[
        Provenance(tag="augmented", parent=synthetic_leaf, transform="identity"),
        Provenance(tag="augmented", parent=real_leaf, transform="identity")])
    result = SyntheticGate(detector=False).check(batch, GateContext(schema=DIGITS,
                                                                   existing=existing))
    assert result.indices("reject") == {1}


def test_detector_finds_unmarked_vae_digits_and_calibrates_on_real_ones(digits, vae, tmp_path):
    x, y = digits
    unmarked = load_generator(vae.to_bytes())  # the same model, sampling without the mark
    unmarked.watermark = None
    declared = vae.sample(20, seed=3)  # 200 declared synthetic in the dataset
    existing = Records.concat([Records.make(y[:800], x=x[:800]), declared])
    smuggled = unmarked.sample(10, seed=4)  # 100 undeclared, unmarked
    batch = Records.make(np.r_[y[1000:1300], smuggled.y], x=np.r_[x[1000:1300], smuggled.x])
    ctx = GateContext(schema=DIGITS, existing=existing, runner=LocalRunner(
        LocalBlobStore(tmp_path)))
    result = SyntheticGate().check(batch, ctx)
    stats = result.stats["detector"]
    assert stats["oof_auroc"] > 0.95, stats  # measured 0.99 (bench)
    flagged = result.indices("flag")
    recall = len(flagged & set(range(300, 400))) / 100
    false_alarms = len(flagged & set(range(300))) / 300
    assert recall >= 0.7 and false_alarms <= 0.04, (recall, false_alarms)  # 0.85 and 0.013
    assert not result.indices("reject")  # unmarked: nothing certain, only flags
    assert all("looks synthetic" in f.reason for f in result.findings)
    again = SyntheticGate().check(batch, ctx)
    assert again.findings == result.findings  # deterministic for a seed


def test_detector_does_not_flag_when_it_cannot_tell_real_from_synthetic(tmp_path):
    wine = load_wine()
    x, y = wine.data, wine.target
    gen = GaussianCopula(watermark=None).fit(x, y)
    rounded = gen.sample(40, seed=5)
    fake = Records.make(rounded.y, x=np.round(rounded.x, 2), provenance=rounded.provenance)
    schema = Schema(kind="tabular", labels=["a", "b", "c"],
                    columns=[Column(name=n) for n in wine.feature_names])
    existing = Records.concat([Records.make(y[:150], x=x[:150]), fake])
    batch = Records.make(y[150:], x=x[150:])
    result = SyntheticGate().check(batch, GateContext(
        schema=schema, existing=existing, blobs=LocalBlobStore(tmp_path)))
    stats = result.stats["detector"]
    assert stats["oof_auroc"] < 0.9 and "look alike" in stats["not_flagging"]
    assert not result.findings


def test_detector_task_and_helpers_refuse_bad_input(tmp_path):
    runner = LocalRunner(LocalBlobStore(tmp_path))
    with pytest.raises(GateError, match="one width"):
        detector_scores(np.ones((10, 2)), np.ones((10, 3)), np.ones((1, 2)), runner)
    with pytest.raises(GateError, match="folds need"):
        detector_scores(np.ones((3, 2)), np.ones((10, 2)), np.ones((1, 2)), runner)
    with pytest.raises(GateError, match="bad parameters"):
        runner.run(DETECTOR_TASK, ["a", "b", "c"], {"folds": 1}, 1)
    with pytest.raises(GateError, match="needs a runner"):
        x = np.random.default_rng(0).uniform(1, 2, (120, 3))
        existing = Records.make(np.zeros(120, int), x=x, provenance=[HUMAN] * 60 + [
            _synthetic(GENERATOR)] * 60)
        schema = Schema(kind="tabular", labels=["a"], columns=[Column(name=c) for c in "abc"])
        SyntheticGate().check(Records.make([0], x=x[:1]), GateContext(schema=schema,
                                                                     existing=existing))
    with pytest.raises(GateError, match="max_p"):
        SyntheticGate(max_p=0).check(Records.make([0], x=[[1.0]]), GateContext(schema=DIGITS))
    assert decimals(np.array([3.0, 2.43, 0.125, 1 / 3])).tolist() == [0, 2, 3, 7]


# -- the budget ---------------------------------------------------------------------------


def _brute(s: int, n: int, h: int, m: int, budget: str) -> int:
    b = Fraction(budget)
    return max(a for a in range(m + 1) if a == 0 or Fraction(s + a, n + h + a) <= b)


@pytest.mark.parametrize(("s", "n", "h", "m", "budget", "want"), [
    (0, 90, 0, 20, "0.1", 10),     # 10 of 100: exactly at the budget
    (10, 100, 0, 10, "0.1", 0),    # already at the budget: nothing more
    (0, 8, 0, 2, "0.2", 2),        # 2 of 10 = 0.2: equality fits despite rounding
    (0, 0, 0, 5, "0.5", 0),        # a new dataset of synthetic records only: 1/1 > 0.5
    (0, 0, 5, 5, "0.5", 5),        # half and half
    (30, 100, 0, 10, "0.1", 0),    # already over: nothing
    (0, 100, 0, 7, "1", 7),
    (0, 100, 50, 7, "0", 0),
])
def test_allowed_synthetic_known_answers(s, n, h, m, budget, want):
    assert allowed_synthetic(s, n, h, m, float(budget)) == want
    assert _brute(s, n, h, m, budget) == want


def test_allowed_synthetic_matches_exact_arithmetic():
    rng = np.random.default_rng(9)
    for _ in range(500):
        n = int(rng.integers(0, 300))
        s, h, m = int(rng.integers(0, n + 1)), int(rng.integers(0, 100)), int(
            rng.integers(0, 100))
        budget = str(round(float(rng.uniform(0, 1)), 3))
        got = allowed_synthetic(s, n, h, m, float(budget))
        assert got == _brute(s, n, h, m, budget), (s, n, h, m, budget)


def test_budget_gate_rejects_the_last_synthetic_records_first():
    schema = Schema(kind="tabular", labels=["a"], columns=[Column(name="v")])
    gen = GENERATOR
    existing = Records.make(np.zeros(100, int), x=np.ones((100, 1)),
                            provenance=[HUMAN] * 90 + [_synthetic(gen)] * 10)
    # 10 real, then 10 synthetic interleaved with 5 more real.
    prov = [HUMAN] * 10 + [_synthetic(gen), HUMAN] * 5 + [_synthetic(gen)] * 5
    batch = Records.make(np.zeros(len(prov), int), x=np.ones((len(prov), 1)), provenance=prov)
    result = SyntheticBudget().check(batch, GateContext(schema=schema, existing=existing,
                                                        synthetic_budget=0.12))
    synthetic_at = [i for i, p in enumerate(prov) if p.tag == "synthetic"]
    # (10 + a) / (115 + a) <= 0.12  ->  a <= 4.318: the first 4 fit, the last 6 do not.
    assert result.indices("reject") == set(synthetic_at[4:])
    assert result.stats["admitted_synthetic"] == 4
    first = min(result.findings, key=lambda f: f.index)
    assert "budget of 12.0%" in first.reason and "15 of 120" in first.reason
    assert first.score == pytest.approx(15 / 120)
    # The gate's own max_fraction wins over the dataset's budget.
    strict = SyntheticBudget(max_fraction=0.0).check(batch, GateContext(
        schema=schema, existing=existing, synthetic_budget=0.5))
    assert strict.indices("reject") == set(synthetic_at)
    loose = gate("synthetic_budget").check(batch, GateContext(schema=schema, existing=existing))
    assert not loose.findings and loose.stats["budget"] is None


def test_budget_gate_and_registry_refuse_bad_budgets():
    schema = Schema(kind="tabular", labels=["a"], columns=[Column(name="v")])
    batch = Records.make([0], x=[[1.0]])
    with pytest.raises(GateError, match=r"\[0, 1\]"):
        SyntheticBudget(max_fraction=1.5).check(batch, GateContext(schema=schema))
    with pytest.raises(GateError, match=r"\[0, 1\]"):
        SyntheticBudget().check(batch, GateContext(schema=schema, synthetic_budget=-0.1))
    with pytest.raises(GateError, match="counts"):
        allowed_synthetic(5, 3, 0, 1, 0.5)
    assert {"synthetic", "synthetic_budget"} <= set(registered())
    with pytest.raises(GateError, match="synthetic_budget"):
        gate("synthetic_budget", not_a_field=1)
    assert isinstance(gate("synthetic", detector_fpr=0.02), SyntheticGate)


def test_both_gates_in_judge_give_json_reports(digits, vae):
    from plexnet.core import canonical
    from plexnet.data.admission import Policy, jsonable, judge

    x, y = digits
    marked = vae.sample(1, seed=8)  # 10 marked, tagged synthetic with the VAE's CID
    existing = Records.make(y[:90], x=x[:90])
    lie = Records.make(marked.y[:1], x=marked.x[:1], provenance=HUMAN)
    batch = Records.concat([Records.make(y[90:100], x=x[90:100]), marked, lie])
    policy = Policy((SyntheticGate(), SyntheticBudget()))
    verdict = judge(batch, GateContext(schema=DIGITS, existing=existing, synthetic_budget=0.05),
                    policy)
    # (0 + a) / (90 + 11 + a) <= 0.05 -> a <= 5.3: five synthetic records fit, five do not.
    assert verdict.decisions[:10] == ("accepted",) * 10
    assert verdict.decisions[10:15] == ("accepted",) * 5
    assert verdict.decisions[15:20] == ("rejected",) * 5
    assert verdict.decisions[20] == "rejected"  # marked, declared human
    for result in verdict.results:
        canonical.dumps(jsonable(result.stats))
