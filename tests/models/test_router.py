"""The router on known-answer tasks: who answers what is set by construction."""

from __future__ import annotations

import numpy as np
import pytest

from plexnet.models.errors import ModelError
from plexnet.models.router import Router, evaluate


def _task(n, seed=0):
    """Three models: the cheap one answers x0 < 1/3, the middle one x0 < 2/3, the dear
    one everything; a second feature is noise."""
    x = np.random.default_rng(seed).random((n, 2))
    q = np.stack([(x[:, 0] < 1 / 3), (x[:, 0] < 2 / 3), np.ones(n, bool)], axis=1)
    return x, q.astype(float)


COSTS = [1.0, 3.0, 10.0]


@pytest.fixture(scope="module")
def fitted():
    x, q = _task(1500)
    return Router(COSTS).fit(x, q)


def test_default_routing_sends_each_request_to_the_cheapest_model_that_answers_it(fitted):
    x, q = _task(1000, seed=1)
    choice = fitted.route(x)
    rows = np.arange(len(x))
    assert q[rows, choice].mean() >= 0.97
    ideal = np.where(x[:, 0] < 1 / 3, 0, np.where(x[:, 0] < 2 / 3, 1, 2))
    assert (choice == ideal).mean() >= 0.85  # the misses sit near the two boundaries
    # far cheaper than always calling the dearest model
    assert np.asarray(COSTS)[choice].mean() < 0.6 * 10.0


def test_a_budget_is_respected_and_buys_the_best_quality_it_can(fitted):
    x, q = _task(1000, seed=2)
    rows = np.arange(len(x))
    last = -1.0
    for budget in (1.0, 2.0, 4.0, 6.0, 10.0):
        choice = fitted.route(x, max_avg_cost=budget)
        assert np.asarray(COSTS)[choice].mean() <= budget + 1e-9
        quality = q[rows, choice].mean()
        assert quality >= last - 0.01  # more money, no worse answers
        last = quality
    assert (fitted.route(x, max_avg_cost=0.5) == 0).all()  # below every cost: the cheapest


def test_a_quality_target_is_reached_as_cheaply_as_possible(fitted):
    x, q = _task(1000, seed=3)
    rows = np.arange(len(x))
    low = fitted.route(x, min_quality=0.6)
    high = fitted.route(x, min_quality=0.95)
    assert q[rows, high].mean() >= 0.93
    assert np.asarray(COSTS)[low].mean() < np.asarray(COSTS)[high].mean()


def test_cascade_escalates_only_what_the_cheap_model_cannot_answer(fitted):
    x, q = _task(1000, seed=4)
    choice, paid = fitted.cascade(x, threshold=0.8)
    assert q[np.arange(len(x)), choice].mean() >= 0.97
    assert paid.min() == 1.0 and paid.max() == 14.0  # 1, 1+3, or 1+3+10


def test_evaluate_gives_routellm_measures(fitted):
    x, q = _task(1000, seed=5)
    report = evaluate(fitted, x, q)
    # A router that knows the answer recovers the gap at a fraction of the cost.
    assert report["apgr"] > 0.75
    assert report["cpt"][0.5] is not None and report["cpt"][0.5] < 0.2
    assert report["cpt"][0.8] is not None and report["cpt"][0.8] < 0.45
    costs = [c for c, _ in report["curve"]]
    assert costs == sorted(costs) and costs[0] >= 1.0 - 1e-9 and costs[-1] <= 10.0 + 1e-9
    # without information (features unrelated to quality) it can only use each model's
    # average: the middle model's, which sits above the diagonal here, and no more
    blind = Router(COSTS).fit(np.random.default_rng(9).random((1500, 2)), _task(1500)[1])
    assert evaluate(blind, x, q)["apgr"] < report["apgr"] - 0.1


def test_costs_in_any_order():
    x, q = _task(1500)
    order = [2, 0, 1]
    router = Router(np.asarray(COSTS)[order]).fit(x, q[:, order])
    xt, qt = _task(500, seed=6)
    choice = router.route(xt)
    assert qt[:, order][np.arange(500), choice].mean() >= 0.97
    assert evaluate(router, xt, qt[:, order])["apgr"] > 0.75


@pytest.mark.parametrize("costs", [[1.0], [1.0, 0.0], [1.0, float("nan")], [[1.0, 2.0]]])
def test_bad_costs_are_refused(costs):
    with pytest.raises(ModelError):
        Router(costs)


def test_bad_inputs_are_refused(fitted):
    x, q = _task(10)
    with pytest.raises(ModelError, match="not been fitted"):
        Router(COSTS).route(x)
    with pytest.raises(ModelError, match="columns"):
        Router(COSTS).fit(x, q[:, :2])
    with pytest.raises(ModelError, match=r"\[0, 1\]"):
        Router(COSTS).fit(x, q * 2)
    with pytest.raises(ModelError, match="same number"):
        Router(COSTS).fit(x[:5], q)
    with pytest.raises(ModelError, match="fitted on"):
        fitted.route(np.zeros((3, 5)))
    with pytest.raises(ModelError, match="not both"):
        fitted.route(x, max_avg_cost=2.0, min_quality=0.5)
    with pytest.raises(ModelError, match="NaN"):
        fitted.route(np.full((2, 2), np.nan))
    with pytest.raises(ModelError, match="shape"):
        evaluate(fitted, x, q[:, :2])
