"""A router over N models: each request goes to the cheapest model expected to answer it well.

:class:`Router` learns, from requests it has seen answered, how well each model does on
requests like a new one, and trades that predicted quality against each model's cost:

* **fit** — ``features`` ``(n, d)`` and the observed ``quality`` ``(n, m)`` in [0, 1] of
  each of the ``m`` models on each request. Quality is predicted by similarity-weighted
  nearest neighbours (RouteLLM's "SW ranking" idea, applied to quality rather than to
  preferences): features are standardised, and a request's predicted quality for model
  ``j`` is the mean observed quality of model ``j`` on its ``k`` nearest training
  requests, each weighted by ``exp(-distance² / (2·h²))`` with ``h`` their median
  distance, shrunk toward model ``j``'s overall mean by ``prior`` pseudo-requests, so a
  request far from everything seen falls back on what each model does on average.
* **route** — for a trade-off ``λ ≥ 0`` each request goes to ``argmax_j q̂_j - λ·c_j``
  (costs scaled so the dearest is 1). ``λ`` is calibrated on the requests being routed:
  with ``max_avg_cost`` the smallest ``λ`` whose mean cost fits the budget (the best
  quality the budget buys); with ``min_quality`` the largest ``λ`` whose mean *predicted*
  quality still reaches the target (the cheapest way to get it). With neither, each
  request goes to the cheapest model whose predicted quality is within ``tolerance`` of
  the best predicted one — "expected to answer well".
* **cascade** — the other strategy: try models cheapest first and stop at the first whose
  predicted quality reaches ``threshold`` (escalate on low confidence); every model tried
  is paid for.

:func:`evaluate` measures a router with RouteLLM's measures (Ong et al., "RouteLLM:
Learning to Route LLMs with Preference Data", 2024), generalised from two models to N by
cost: the weak model is the cheapest, the strong one the dearest; a routing's *cost
share* is ``(mean cost - weak cost) / (strong cost - weak cost)``; its PGR (performance
gap recovered) is ``(quality - weak quality) / (strong quality - weak quality)``. Sweeping
``λ`` traces the quality-cost curve from all-weak (0, 0) to all-strong (1, 1); APGR is the
area under PGR against cost share, and CPT(x) the smallest share of requests sent to the
strong model at which PGR reaches x. With two models the cost share is exactly the share
of calls to the strong model, and these are RouteLLM's numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plexnet.models.errors import ModelError

__all__ = ["Router", "evaluate"]

_SEARCH_STEPS = 60  # bisection steps on λ: 2^-60 of the range, far below any cost gap


def _matrix(value: Any, name: str, *, ndim: int = 2) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ModelError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ModelError(f"{name} holds NaN or infinite values")
    return arr


class Router:
    """Routes requests among models of the given ``costs`` (one per model, any order).

    Args:
        costs: the cost of one request on each model (any unit; positive).
        k: neighbours consulted per prediction (capped at the training requests).
        prior: pseudo-requests of each model's mean quality mixed into each prediction.
        tolerance: default routing sends a request to the cheapest model predicted to be
            within this much of the best predicted quality.

    Raises:
        ModelError: for fewer than two models, or costs that are not positive numbers.
    """

    def __init__(self, costs: Any, *, k: int = 20, prior: float = 1.0,
                 tolerance: float = 0.1) -> None:
        c = _matrix(costs, "costs", ndim=1)
        if len(c) < 2:
            raise ModelError(f"a router needs at least two models, got {len(c)} cost(s)")
        if (c <= 0).any():
            raise ModelError("every model's cost must be positive")
        if k < 1 or prior < 0 or not 0 <= tolerance <= 1:
            raise ModelError("need k >= 1, prior >= 0 and tolerance in [0, 1]")
        self.costs = c
        self.k, self.prior, self.tolerance = int(k), float(prior), float(tolerance)
        self._x: np.ndarray | None = None
        self._q: np.ndarray | None = None

    @property
    def n_models(self) -> int:
        return len(self.costs)

    def fit(self, features: Any, quality: Any) -> Router:
        """Learn from ``features`` ``(n, d)`` and observed ``quality`` ``(n, n_models)``.

        Raises:
            ModelError: for mismatched shapes, values outside [0, 1], or no requests.
        """
        x, q = _matrix(features, "features"), _matrix(quality, "quality")
        if len(x) == 0 or len(q) != len(x):
            raise ModelError(f"features {x.shape} and quality {q.shape} must have the same "
                             "number of requests (at least one)")
        if q.shape[1] != self.n_models:
            raise ModelError(f"quality has {q.shape[1]} columns for {self.n_models} models")
        if (q < 0).any() or (q > 1).any():
            raise ModelError("quality must lie in [0, 1]")
        self._mean = x.mean(axis=0)
        self._scale = np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
        self._x, self._q = (x - self._mean) / self._scale, q
        self._prior_q = q.mean(axis=0)
        return self

    def predict(self, features: Any) -> np.ndarray:
        """Predicted quality ``(n, n_models)`` of each model on each request.

        Raises:
            ModelError: before :meth:`fit`, or for features of another width.
        """
        if self._x is None or self._q is None:
            raise ModelError("the router has not been fitted (call fit first)")
        x = _matrix(features, "features")
        if x.shape[1] != self._x.shape[1]:
            raise ModelError(f"features have {x.shape[1]} columns; the router was fitted on "
                             f"{self._x.shape[1]}")
        z = (x - self._mean) / self._scale
        k = min(self.k, len(self._x))
        out = np.empty((len(z), self.n_models))
        for lo in range(0, len(z), 1024):
            block = z[lo:lo + 1024]
            d2 = ((block[:, None, :] - self._x[None, :, :]) ** 2).sum(-1)
            near = np.argpartition(d2, k - 1, axis=1)[:, :k]
            dn = np.take_along_axis(d2, near, axis=1)
            h2 = np.maximum(np.median(dn, axis=1, keepdims=True), 1e-12)
            w = np.exp(-dn / (2 * h2))
            num = (w[:, :, None] * self._q[near]).sum(1) + self.prior * self._prior_q
            out[lo:lo + 1024] = num / (w.sum(1, keepdims=True) + self.prior)
        return out

    def _choose(self, predicted: np.ndarray, lam: float) -> np.ndarray:
        scaled = self.costs / self.costs.max()
        # Ties go to the cheaper model: subtract a cost-ordered epsilon.
        order = np.argsort(np.argsort(self.costs, kind="stable"), kind="stable")
        return np.argmax(predicted - lam * scaled - 1e-12 * order, axis=1)  # type: ignore[no-any-return]

    def _lambda(self, predicted: np.ndarray, ok: Any, *, largest: bool) -> float:
        """The largest (or smallest) λ in [0, Λ] whose routing satisfies ``ok``."""
        # Beyond this λ every request goes to the cheapest model: the smallest gap between
        # two scaled costs then outweighs any difference in predicted quality.
        scaled = np.unique(self.costs / self.costs.max())
        gap = float(np.diff(scaled).min()) if len(scaled) > 1 else 1.0
        high = (float(np.ptp(predicted)) + 1.0) / gap
        lo, hi = 0.0, high
        if largest:  # ok holds at small λ (quality falls as λ grows)
            if not ok(self._choose(predicted, 0.0)):
                return 0.0
            for _ in range(_SEARCH_STEPS):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if ok(self._choose(predicted, mid)) else (lo, mid)
            return lo
        if not ok(self._choose(predicted, high)):  # ok holds at large λ (cost falls)
            return high
        for _ in range(_SEARCH_STEPS):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if ok(self._choose(predicted, mid)) else (mid, hi)
        return hi

    def route(self, features: Any, max_avg_cost: float | None = None,
              min_quality: float | None = None) -> np.ndarray:
        """One model index per request; see the module docstring.

        Args:
            max_avg_cost: the mean cost per request not to exceed (below the cheapest
                model's cost, every request goes to the cheapest).
            min_quality: the mean predicted quality to reach as cheaply as possible (if
                even the best predicted models fall short, each request gets its best).

        Raises:
            ModelError: before :meth:`fit`, for both targets at once, or bad features.
        """
        if max_avg_cost is not None and min_quality is not None:
            raise ModelError("give max_avg_cost or min_quality, not both")
        predicted = self.predict(features)
        if max_avg_cost is not None:
            budget = float(max_avg_cost)
            lam = self._lambda(predicted, lambda ch: self.costs[ch].mean() <= budget,
                               largest=False)
            return self._choose(predicted, lam)
        if min_quality is not None:
            target = float(min_quality)
            rows = np.arange(len(predicted))
            lam = self._lambda(predicted,
                               lambda ch: predicted[rows, ch].mean() >= target - 1e-12,
                               largest=True)
            return self._choose(predicted, lam)
        best = predicted.max(axis=1, keepdims=True)
        good = predicted >= best - self.tolerance
        cost = np.where(good, self.costs, np.inf)
        return np.argmin(cost, axis=1)  # type: ignore[no-any-return]

    def cascade(self, features: Any, threshold: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Cheapest first, escalating while the predicted quality is below ``threshold``.

        Returns:
            ``(choice, paid)``: the model that answers each request, and the cost paid
            for it (every model tried, the dearest answering if none reaches it).
        """
        predicted = self.predict(features)
        order = np.argsort(self.costs, kind="stable")
        choice = np.full(len(predicted), order[-1])
        paid = np.zeros(len(predicted))
        open_ = np.ones(len(predicted), dtype=bool)
        for j in order:
            paid[open_] += self.costs[j]
            done = open_ & (predicted[:, j] >= threshold)
            choice[done] = j
            open_ &= ~done
        return choice, paid


def _pgr(q: float, weak: float, strong: float) -> float:
    return (q - weak) / (strong - weak) if strong != weak else 1.0


def evaluate(router: Router, features: Any, quality: Any, *, points: int = 41,
             levels: tuple[float, ...] = (0.5, 0.8)) -> dict[str, Any]:
    """RouteLLM's measures of ``router`` on held-out ``features`` and observed ``quality``.

    Returns:
        ``apgr`` (area under PGR against cost share, in [0, 1] for a router no worse
        than random mixing is 0.5), ``cpt`` (level → share of requests sent to the
        dearest model at which PGR first reaches it, ``None`` if never), ``curve``
        (``(mean cost, mean quality)`` points, cheapest first), and the ``weak`` and
        ``strong`` models' mean quality and cost.

    Raises:
        ModelError: for mismatched shapes or a router of another number of models.
    """
    x, q = _matrix(features, "features"), _matrix(quality, "quality")
    if q.shape != (len(x), router.n_models):
        raise ModelError(f"quality must have shape ({len(x)}, {router.n_models}), got "
                         f"{q.shape}")
    weak, strong = int(np.argmin(router.costs)), int(np.argmax(router.costs))
    c_weak, c_strong = float(router.costs[weak]), float(router.costs[strong])
    q_weak, q_strong = float(q[:, weak].mean()), float(q[:, strong].mean())
    rows = np.arange(len(x))
    budgets = np.linspace(c_weak, c_strong, points)
    curve, shares, pgrs, strong_calls = [], [], [], []
    for b in budgets:
        ch = router.route(x, max_avg_cost=float(b))
        cost, qual = float(router.costs[ch].mean()), float(q[rows, ch].mean())
        curve.append((cost, qual))
        shares.append((cost - c_weak) / (c_strong - c_weak))
        pgrs.append(_pgr(qual, q_weak, q_strong))
        strong_calls.append(float((ch == strong).mean()))
    # The end points of the curve are all-weak and all-strong by definition.
    shares = [0.0, *shares, 1.0]
    pgrs = [0.0, *pgrs, 1.0]
    strong_calls = [0.0, *strong_calls, 1.0]
    order = np.argsort(shares, kind="stable")
    s, p = np.asarray(shares)[order], np.asarray(pgrs)[order]
    apgr = float(np.sum((s[1:] - s[:-1]) * (p[1:] + p[:-1]) / 2))
    calls = np.asarray(strong_calls)[order]
    cpt: dict[float, float | None] = {}
    for level in levels:
        reached = np.flatnonzero(p >= level)
        cpt[level] = float(calls[reached].min()) if len(reached) else None
    return {"apgr": apgr, "cpt": cpt, "curve": sorted(curve),
            "weak": {"model": weak, "quality": q_weak, "cost": c_weak},
            "strong": {"model": strong, "quality": q_strong, "cost": c_strong}}
