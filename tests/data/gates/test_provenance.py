"""The provenance gate: augmented records are checked against their parents."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from plexnet.data import Provenance, Records, Schema
from plexnet.data.augment import Rotate, Zoom, augment
from plexnet.data.gates.base import GateContext, gate

DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))


@pytest.fixture(scope="module")
def world():
    x, y = load_digits(return_X_y=True)
    existing = Records.make(y[:100], x=x[:100], contributor="did:key:alice")
    children = augment(existing.subset(range(20)), DIGITS, [Rotate(10), Zoom()], seed=3,
                       contributor="did:key:bob")
    return existing, children


def _check(batch, existing):
    return gate("provenance").check(batch, GateContext(schema=DIGITS, existing=existing))


def test_honest_children_pass(world):
    existing, children = world
    assert len(children) >= 30
    result = _check(children, existing)
    assert result.findings == ()
    assert result.stats == {"augmented": len(children), "failed": 0}


def test_a_tampered_child_a_relabelled_child_and_an_orphan_are_rejected(world):
    existing, children = world
    x, y = children.x.copy(), children.y.copy()
    x[0, 10] = (x[0, 10] + 5) % 17          # one pixel changed
    y[1] = (y[1] + 1) % 10                  # another label
    provs = list(children.provenance)
    provs[2] = Provenance(tag="augmented", parent="ab" * 32, transform="rotate",
                          params=provs[2].params)  # a parent nobody has
    forged = Records.make(y, x=x, contributor="did:key:bob", provenance=provs)
    result = _check(forged, existing)
    assert {f.index for f in result.findings} == {0, 1, 2}
    assert all(f.action == "reject" for f in result.findings)
    by = {f.index: f for f in result.findings}
    assert "not in the dataset" in by[2].reason and by[2].related is None
    assert "does not give this record" in by[0].reason and by[0].related.startswith("dataset:")


def test_a_chain_inside_the_batch_is_followed_in_order(world):
    existing, _ = world
    first = augment(existing.subset([0]), DIGITS, [Rotate(10)], seed=1)
    second = augment(first, DIGITS, [Zoom()], seed=1)
    assert _check(Records.concat([first, second]), existing).findings == ()
    result = _check(Records.concat([second, first]), existing)  # child before its parent
    assert [f.index for f in result.findings] == [0]


def test_records_without_augmented_provenance_are_not_looked_at(world):
    existing, _ = world
    x = np.zeros((3, 64))
    x[:, 0] = [1, 2, 3]
    assert _check(Records.make([0, 1, 2], x=x), existing).stats == {"augmented": 0}
