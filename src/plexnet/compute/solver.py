"""The solvers behind placement: share shards among providers, choose a gang's members.

Pure numerics over arrays indexed by provider (no jobs, no profiles): placement.py
turns a job and a snapshot into these arrays through its cost model, and the
answers back into a Decision. Costs are expected micro-credits (floats), times
seconds.

Parallel jobs (``n`` shards). Provider ``p`` takes ``x_p`` shards one after
another: time ``x_p * unit_time_s[p] + setup_s[p]`` when used, expected cost
``x_p * unit_cost[p] + fixed_cost[p]`` when used. ``cap_p`` is the most shards it
finishes by the horizon (the deadline). The exact solver is the MILP

    min  sum_p unit_cost_p x_p + fixed_cost_p y_p
    s.t. sum_p x_p = n,   x_p <= cap_p y_p,   x_p in {0..cap_p},   y_p in {0, 1}

solved by HiGHS through ``scipy.optimize.milp``. The heuristic sorts by per-shard
cost with the fixed cost amortised over the shards the provider could take and
fills each provider to its cap: O(P log P). Amortising misleads when the last
provider opened takes only a few shards, so that remainder goes to whoever takes
it whole most cheaply, and the best single provider replaces the plan when it is
cheaper still (both O(P)).

Coupled jobs (a gang of ``n`` members in one region; callers pass one region's
members). The gang's time is ``time_s(min speed, min bandwidth, max rtt, all
members hold the inputs)`` — non-increasing in the first two, non-decreasing in
the third — and its expected cost is ``sum of members' weight * time`` (weight:
expected micro-credits per second). ``gang_exact`` enumerates every threshold
(s, b, r, h) drawn from the members' own values and takes the ``n`` lowest-weight
members with speed >= s, bandwidth >= b, rtt <= r (and holding the inputs if h).
It is exact: the optimal gang G* appears at its own thresholds, where the chosen
gang's weight is at most G*'s (the n lightest of a set that contains G*) and its
time at most G*'s (its minimum speed and bandwidth are no lower, its maximum rtt
no higher), so its cost is at most the optimum. The work is about
2·|speeds|·|bandwidths|·|rtts|·m array cells per region of m members.
``gang_greedy`` enumerates the speed thresholds only (exact when bandwidths and
rtts are alike) and also tries the n fastest members: O(|speeds|·m).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "Bools",
    "Floats",
    "GangTime",
    "Ints",
    "gang_exact",
    "gang_greedy",
    "gang_work",
    "shard_caps",
    "shards_fastest_horizon_s",
    "shards_greedy",
    "shards_milp",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
# (min speed, min bandwidth, max rtt, every member holds the inputs) -> seconds;
# the first three broadcast against each other.
GangTime = Callable[[Floats, Floats, Floats, bool], Floats]

# Slack on "fits by the horizon": a plan of exactly the horizon must not lose a
# shard to a floating-point quotient a hair below an integer.
_FIT_SLACK: Final = 1e-9
# gang_exact works on blocks of at most about this many cells (bytes, as booleans).
_BLOCK_CELLS: Final = 4_000_000


def shard_caps(unit_time_s: Floats, setup_s: Floats, n: int, horizon_s: float) -> Ints:
    """The most shards (at most ``n``) each provider finishes by ``horizon_s``."""
    room = np.divide(horizon_s - setup_s, unit_time_s, out=np.full_like(setup_s, float(n)),
                     where=unit_time_s > 0)
    caps = np.floor(np.minimum(room, n) + _FIT_SLACK)
    caps[setup_s > horizon_s * (1 + _FIT_SLACK)] = 0
    return np.clip(caps, 0, n).astype(np.int64)


def shards_fastest_horizon_s(unit_time_s: Floats, setup_s: Floats, n: int) -> float:
    """The shortest makespan of any split of ``n`` shards (bisection to 1e-9 relative)."""
    lo, hi = 0.0, float(np.min(setup_s + n * unit_time_s))  # one provider doing everything
    while hi - lo > 1e-9 * hi:
        mid = (lo + hi) / 2
        if shard_caps(unit_time_s, setup_s, n, mid).sum() >= n:
            hi = mid
        else:
            lo = mid
    return hi


def _plan_cost(x: Ints, unit_cost: Floats, fixed_cost: Floats) -> float:
    return float(unit_cost @ x + fixed_cost @ (x > 0))


def shards_greedy(unit_cost: Floats, fixed_cost: Floats, caps: Ints, n: int) -> Ints | None:
    """Shards per provider by the greedy rule (see the module docstring); None if caps < n."""
    if caps.sum() < n:
        return None
    key = unit_cost + fixed_cost / np.maximum(np.minimum(caps, n), 1)
    order = np.lexsort((np.arange(len(caps)), caps == 0, key))  # stable: callers sort by name
    filled_before = np.cumsum(caps[order]) - caps[order]
    x = np.zeros(len(caps), dtype=np.int64)
    x[order] = np.clip(n - filled_before, 0, caps[order])
    # The last provider opened may take only a few shards, so its amortised key
    # flattered it: give that remainder to whoever takes it whole most cheaply.
    partial = np.flatnonzero((x > 0) & (x < np.minimum(caps, n)))
    if len(partial):
        last = int(partial[0])
        rest = int(x[last])
        spare = np.flatnonzero(((x == 0) | (np.arange(len(x)) == last)) & (caps >= rest))
        alone = unit_cost[spare] * rest + fixed_cost[spare]
        x[last], x[int(spare[np.argmin(alone)])] = 0, rest
    whole = np.flatnonzero(caps >= n)
    if len(whole):
        alone = unit_cost[whole] * n + fixed_cost[whole]
        best = int(whole[np.argmin(alone)])
        if alone.min() < _plan_cost(x, unit_cost, fixed_cost):
            x[:] = 0
            x[best] = n
    return x


def shards_milp(unit_cost: Floats, fixed_cost: Floats, caps: Ints, n: int) -> Ints | None:
    """Shards per provider at the least expected cost (exact); None if caps < n."""
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, milp

    if caps.sum() < n:
        return None
    idx = np.flatnonzero(caps > 0)
    p = len(idx)
    # Rows: sum x = n; then x_p - cap_p y_p <= 0. Columns: x (p), y (p).
    k = np.arange(p)
    rows = np.concatenate([np.zeros(p, dtype=np.int64), k + 1, k + 1])
    cols = np.concatenate([k, k, k + p])
    data = np.concatenate([np.ones(2 * p), -caps[idx].astype(float)])
    a = sparse.csr_array((data, (rows, cols)), shape=(p + 1, 2 * p))
    lower = np.concatenate([[n], np.full(p, -np.inf)])
    upper = np.concatenate([[n], np.zeros(p)])
    result = milp(np.concatenate([unit_cost[idx], fixed_cost[idx]]),
                  integrality=np.ones(2 * p),
                  bounds=Bounds(0, np.concatenate([caps[idx], np.ones(p)])),
                  constraints=LinearConstraint(a, lower, upper),
                  options={"mip_rel_gap": 0.0})
    if result.x is None:
        raise RuntimeError(f"HiGHS found no solution to a feasible MILP: {result.message}")
    x = np.zeros(len(caps), dtype=np.int64)
    x[idx] = np.rint(result.x[:p]).astype(np.int64)
    assert x.sum() == n and np.all(x <= caps), "MILP solution breaks its constraints"
    return x


def gang_work(speed: Floats, bandwidth: Floats, rtt_s: Floats) -> int:
    """Array cells ``gang_exact`` touches for one region (to choose exact or greedy)."""
    sizes = (len(np.unique(a)) for a in (speed, bandwidth, rtt_s))
    return 2 * math.prod(sizes) * len(speed)


def _better(candidate: tuple[float, float], incumbent: tuple[float, float] | None) -> bool:
    return incumbent is None or candidate < incumbent


def gang_exact(weight: Floats, speed: Floats, bandwidth: Floats, rtt_s: Floats, holds: Bools,
               n: int, time_s: GangTime, horizon_s: float, *, budget: float = math.inf,
               fastest: bool = False) -> Ints | None:
    """Indices of the best gang of ``n`` (exact; see the module docstring), or None.

    Best is the least expected cost ``sum(weight) * time``, or with ``fastest`` the
    least time (then cost); the gang must finish by ``horizon_s`` within ``budget``.
    """
    order = np.argsort(weight, kind="stable")  # lightest first: "first n that pass"
    w, sp, bw, rt, hd = (a[order] for a in (weight, speed, bandwidth, rtt_s, holds))
    best: tuple[float, float] | None = None
    chosen: Bools | None = None
    for all_hold in (False, True):
        base = hd if all_hold else np.ones(len(w), dtype=bool)
        if base.sum() < n:
            continue
        rtts = np.unique(rt[base])
        blocks = max(1, len(rtts) * len(w) * int(base.sum()) // _BLOCK_CELLS)
        for s, bws in itertools.product(np.unique(sp[base]),
                                        np.array_split(np.unique(bw[base]), blocks)):
            fast = base & (sp >= s)
            if fast.sum() < n or not len(bws):
                continue
            # (bandwidth threshold, rtt threshold, member)
            ok = fast & (bw >= bws[:, None, None]) & (rt <= rtts[None, :, None])
            take = ok & (np.cumsum(ok, axis=-1, dtype=np.int32) <= n)
            full = take.sum(axis=-1) == n
            t = np.broadcast_to(time_s(np.asarray(s), bws[:, None], rtts[None, :], all_hold),
                                full.shape)
            cost = (take @ w) * t
            fits = full & (t <= horizon_s) & (cost <= budget)
            if not fits.any():
                continue
            keys = (t, cost) if fastest else (cost, t)
            i = np.lexsort((keys[1][fits], keys[0][fits]))[0]
            at = tuple(c[i] for c in np.nonzero(fits))
            key = (float(keys[0][at]), float(keys[1][at]))
            if _better(key, best):
                best, chosen = key, take[at]
    return None if chosen is None else np.sort(order[chosen])


def gang_greedy(weight: Floats, speed: Floats, bandwidth: Floats, rtt_s: Floats, holds: Bools,
                n: int, time_s: GangTime, horizon_s: float, *, budget: float = math.inf,
                fastest: bool = False) -> Ints | None:
    """Indices of a good gang of ``n`` (the speed-only enumeration; see above), or None."""
    if len(weight) < n:
        return None
    order = np.argsort(weight, kind="stable")
    ok = speed[order] >= np.unique(speed)[:, None]  # (speed threshold, member)
    take = ok & (np.cumsum(ok, axis=-1, dtype=np.int32) <= n)
    gangs = [order[row] for row in take[take.sum(axis=-1) == n]]
    pace = time_s(speed, bandwidth, rtt_s, False)  # each member's pace, were all like it
    gangs.append(np.argsort(pace, kind="stable")[:n])
    best: tuple[float, float] | None = None
    chosen: Ints | None = None
    for members in gangs:
        t = float(time_s(speed[members].min(), bandwidth[members].min(), rtt_s[members].max(),
                         bool(holds[members].all())))
        cost = float(weight[members].sum()) * t
        key = (t, cost) if fastest else (cost, t)
        if t <= horizon_s and cost <= budget and _better(key, best):
            best, chosen = key, np.sort(members)
    return chosen
