"""Backdoor gate benchmark (not a test): BadNets-style trigger patches on digits.

scikit-learn's digits are split as the demo splits them (80 % pool, stratified; the
first 60 % of the pool is the dataset a contributor already put in, the rest is the
batch under review). ``rate`` of the batch is poisoned, BadNets-style: a patch of
bright pixels is stamped on digits of other classes and their label is set to the
target class. For each attack and seed we report, over the batch's records:

* recall (poisoned records flagged / poisoned), precision (poisoned among flagged) and
  FPR (clean batch records flagged / clean batch records);
* the same on a fully clean batch (FPR only), and how many classes yield any finding;
* two baselines on the very same representations: Tran et al.'s spectral rule (remove
  the top 1.5·ε of every class; ε is given the true poisoned share of the target class,
  which a real defender does not know, or the nominal rate on clean data) and Chen et
  al.'s activation clustering by relative size alone (every class's 2-means cluster
  holding at most 35 % of it is poisoned).

Settings: ``existing`` (the demo's: 862 records already in, 575 in the batch) and
``new_dataset`` (no dataset yet: the whole pool of 1,437 is the batch, so only the
separation test can speak). A tabular case follows: breast_cancer with two columns
pushed to 1.5x their maximum and the label set to 1, and clean breast_cancer and wine.
Medians over seeds; the goal is recall >= 0.9 at FPR <= 0.05.

    python bench/data_backdoor.py            # 5 seeds, every attack (several minutes)
    python bench/data_backdoor.py --quick    # 2 seeds, the demo's attack and clean data
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from plexnet.core import canonical
from plexnet.core.blobstore import LocalBlobStore
from plexnet.data import Column, Records, Schema
from plexnet.data.gates.backdoor import (
    Backdoor,
    activation_clusters,
    batch_enrichment,
    representations,
    spectral_filter,
)
from plexnet.data.gates.base import GateContext
from plexnet.data.runner import LocalRunner

RESULTS = Path(__file__).parent / "results"
POOL_FRACTION = 0.8  # the demo holds out 20 % for testing
EXISTING_FRACTION = 0.6  # the demo's first contributor signs 60 % of the pool
CHEN_MAX_FRACTION = 0.35  # relative-size rule of the activation-clustering baseline
DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))


@dataclass(frozen=True)
class Attack:
    """A trigger: pixels ``rows x cols`` of the 8x8 image set to ``value``, label -> target."""

    name: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    value: float
    target: int

    def stamp(self, x: np.ndarray) -> np.ndarray:
        image = x.reshape(8, 8).copy()
        image[self.rows[0]:self.rows[1], self.cols[0]:self.cols[1]] = self.value
        return image.reshape(-1)


ATTACKS = (
    Attack("corner_br_2x2_to7", (6, 8), (6, 8), 16.0, 7),  # the demo's backdoor
    Attack("corner_tl_2x2_to0", (0, 2), (0, 2), 16.0, 0),
    Attack("corner_tr_2x2_to3", (0, 2), (6, 8), 16.0, 3),
    Attack("corner_bl_3x3_to1", (5, 8), (0, 3), 16.0, 1),
    Attack("pixel_br_1x1_to7", (7, 8), (7, 8), 16.0, 7),
    Attack("dim_br_2x2_to7", (6, 8), (6, 8), 8.0, 7),  # half brightness
    Attack("bar_bottom_1x4_to1", (7, 8), (0, 4), 16.0, 1),  # where 2s already have ink
)


class CachingRunner:
    """A UnitRunner that runs each distinct (task, inputs, params) once, so the gate and
    the baselines see the same representations without training twice."""

    def __init__(self, blobs: LocalBlobStore) -> None:
        self.blobs = blobs
        self._local = LocalRunner(blobs)
        self._done: dict[bytes, list[tuple[str, ...]]] = {}

    def run(self, task: str, inputs: list[str], params: dict[str, Any], units: int, *,
            flops: float = 0.0) -> list[tuple[str, ...]]:
        key = canonical.dumps([task, inputs, params, units])
        if key not in self._done:
            self._done[key] = self._local.run(task, inputs, params, units, flops=flops)
        return self._done[key]


def _pool(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x, _, y, _ = train_test_split(d.data.astype(np.float64), d.target.astype(np.int64),
                                  train_size=POOL_FRACTION, random_state=seed, stratify=d.target)
    return x, y


def _poison(x: np.ndarray, y: np.ndarray, attack: Attack, rate: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``round(rate·n)`` records of other classes get the trigger and the target label."""
    x, y = x.copy(), y.copy()
    others = np.flatnonzero(y != attack.target)
    picked = np.sort(rng.choice(others, round(rate * len(y)), replace=False))
    for i in picked:
        x[i], y[i] = attack.stamp(x[i]), attack.target
    bad = np.zeros(len(y), dtype=bool)
    bad[picked] = True
    return x, y, bad


def _score(flagged: np.ndarray, bad: np.ndarray) -> dict[str, float | None]:
    hits = int((flagged & bad).sum())
    return {"recall": round(hits / bad.sum(), 4) if bad.any() else None,
            "precision": round(hits / flagged.sum(), 4) if flagged.any() else None,
            "fpr": round(float((flagged & ~bad).sum() / max(1, (~bad).sum())), 4),
            "flagged": int(flagged.sum())}


def _case(existing: Records | None, batch: Records, bad: np.ndarray, schema: Schema,
          seed: int, rate: float, target: int | None) -> dict[str, Any]:
    """The gate and both baselines on one batch."""
    with tempfile.TemporaryDirectory() as tmp:
        runner = CachingRunner(LocalBlobStore(Path(tmp)))
        ctx = GateContext(schema=schema, existing=existing, runner=runner, seed=seed)
        gate = Backdoor()
        started = time.perf_counter()
        result = gate.check(batch, ctx)
        elapsed = time.perf_counter() - started
        pool = ctx.candidates(batch)
        assert pool.x is not None
        reps = representations(pool.x, pool.y, len(schema.labels), runner, hidden=gate.hidden,
                               epochs=gate.epochs, seed=seed).astype(np.float64)
    start = ctx.offset()
    flagged = np.zeros(len(batch), dtype=bool)
    flagged[sorted(result.indices())] = True
    poisoned_all = np.r_[np.zeros(start, dtype=bool), bad]
    shares = [poisoned_all[pool.y == c].mean() for c in np.unique(pool.y)]
    epsilon = min(max(max(shares), rate), 0.66)  # the oracle share of the target class
    spectral = spectral_filter(reps, pool.y, epsilon)[start:]
    chen = np.zeros(len(pool), dtype=bool)
    in_batch = np.arange(len(pool)) >= start
    clean_p, clean_p_separated = [], []  # enrichment p of clusters in classes not attacked
    for c in np.unique(pool.y):
        members = np.flatnonzero(pool.y == c)
        if len(members) < gate.min_class_records:
            continue
        for k in range(2, gate.max_clusters + 1):
            split = activation_clusters(reps[members], k=k, dims=gate.dims, seed=seed)
            if k == 2 and split and split[0].fraction <= CHEN_MAX_FRACTION:
                chen[members[split[0].members]] = True
            for cluster in split if c != target else ():
                if cluster.fraction <= gate.max_cluster_fraction:
                    p = batch_enrichment(cluster.members, in_batch[members])
                    clean_p.append(p)
                    if cluster.separation >= gate.min_separation:
                        clean_p_separated.append(p)
    classes = result.stats.get("classes", {})
    return {"seed": seed, "gate": _score(flagged, bad), "spectral_1.5eps": _score(spectral, bad),
            "chen_relative_size": _score(chen[start:], bad),
            "classes_with_findings": sum(bool(s.get("flagged")) for s in classes.values()),
            "poisoned_classes": result.stats.get("poisoned_classes", []),
            "found": {c: {k: s[k] for k in ("k", "clusters", "spectral_agreement")}
                      for c, s in classes.items() if s.get("poisoned")},
            "target_split": {k: v for k, v in classes.get(str(target), {}).items()
                             if k in ("fraction", "separation", "enrichment_p")},
            # The largest 2-means separation of a class nobody poisoned (small cluster only).
            "max_clean_separation": max((s["separation"] for c, s in classes.items()
                                         if c != str(target) and "separation" in s
                                         and s["fraction"] <= gate.max_cluster_fraction),
                                        default=None),
            # The smallest p the enrichment test saw in classes nobody poisoned (k = 2 and
            # 3, clusters small enough to be suspects), all and those separated enough.
            "clean_min_enrichment_p": float(f"{min(clean_p, default=1.0):.3g}"),
            "clean_min_enrichment_p_separated": float(
                f"{min(clean_p_separated, default=1.0):.3g}"),
            "check_s": round(elapsed, 3)}


def _digits_case(attack: Attack | None, setting: str, rate: float, seed: int) -> dict[str, Any]:
    x, y = _pool(seed)
    cut = int(len(y) * EXISTING_FRACTION) if setting == "existing" else 0
    xb, yb, bad = x[cut:], y[cut:], np.zeros(len(y) - cut, dtype=bool)
    if attack is not None:
        xb, yb, bad = _poison(xb, yb, attack, rate, np.random.default_rng(1000 + seed))
    existing = Records.make(y[:cut], x=x[:cut]) if cut else None
    return _case(existing, Records.make(yb, x=xb), bad, DIGITS, seed, rate,
                 None if attack is None else attack.target)


def _tabular_case(name: str, poison: bool, seed: int, rate: float) -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer, load_wine

    d = (load_breast_cancer if name == "breast_cancer" else load_wine)()
    x, y = d.data.astype(np.float64), d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    cut = int(len(y) * EXISTING_FRACTION)
    xb, yb, bad = x[cut:].copy(), y[cut:].copy(), np.zeros(len(y) - cut, dtype=bool)
    if poison:  # two columns pushed past anything seen, label -> 1
        rng = np.random.default_rng(1000 + seed)
        picked = rng.choice(np.flatnonzero(yb != 1), round(rate * len(yb)), replace=False)
        xb[np.ix_(picked, [-2, -1])] = 1.5 * x[:, -2:].max(axis=0)
        yb[picked], bad[picked] = 1, True
    schema = Schema(kind="tabular", labels=[str(n) for n in d.target_names],
                    columns=[Column(name=f"c{i}") for i in range(x.shape[1])])
    return _case(Records.make(y[:cut], x=x[:cut]), Records.make(yb, x=xb), bad, schema, seed,
                 rate, 1 if poison else None)


def _median(runs: list[dict[str, Any]], method: str, metric: str) -> float | None:
    values = [r[method][metric] for r in runs if r[method][metric] is not None]
    return round(statistics.median(values), 4) if values else None


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method in ("gate", "spectral_1.5eps", "chen_relative_size"):
        out[method] = {m: _median(runs, method, m) for m in ("recall", "precision", "fpr")}
    out["gate"]["min_recall"] = min((r["gate"]["recall"] for r in runs
                                     if r["gate"]["recall"] is not None), default=None)
    out["gate"]["max_fpr"] = max(r["gate"]["fpr"] for r in runs)
    out["max_clean_separation"] = max((r["max_clean_separation"] for r in runs
                                       if r["max_clean_separation"] is not None), default=None)
    out["clean_min_enrichment_p"] = min(r["clean_min_enrichment_p"] for r in runs)
    out["clean_min_enrichment_p_separated"] = min(r["clean_min_enrichment_p_separated"]
                                                  for r in runs)
    out["median_check_s"] = round(statistics.median(r["check_s"] for r in runs), 3)
    out["median_classes_with_findings"] = statistics.median(
        r["classes_with_findings"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, the demo attack only")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per case (default 5)")
    parser.add_argument("--rate", type=float, default=0.05, help="poisoned share of the batch")
    parser.add_argument("--out", type=Path, default=RESULTS / "data_backdoor.json")
    args = parser.parse_args()
    seeds = list(range(args.seeds or (2 if args.quick else 5)))
    attacks = ATTACKS[:1] if args.quick else ATTACKS
    settings = ("existing",) if args.quick else ("existing", "new_dataset")
    rates = () if args.quick else (0.02, 0.10)
    started = time.perf_counter()
    cases: list[dict[str, Any]] = []

    def record(group: str, name: str, setting: str, rate: float | None,
               runs: list[dict[str, Any]]) -> None:
        cases.append({"group": group, "case": name, "setting": setting, "rate": rate,
                      "summary": _summary(runs), "runs": runs})
        s = cases[-1]["summary"]
        g = s["gate"]
        print(f"{group:8s} {name:20s} {setting:11s} {'-' if rate is None else rate:>4} "
              f"{_fmt(g['recall'])} {_fmt(g['min_recall'])} {_fmt(g['precision'])} "
              f"{_fmt(g['fpr'])} {_fmt(g['max_fpr'])} "
              f"{_fmt(s['spectral_1.5eps']['recall'])}/{_fmt(s['spectral_1.5eps']['fpr'])} "
              f"{_fmt(s['chen_relative_size']['recall'])}/"
              f"{_fmt(s['chen_relative_size']['fpr'])} {_fmt(s['max_clean_separation'])} "
              f"{s['clean_min_enrichment_p_separated']:8.2g} {s['median_check_s']:5.2f}",
              flush=True)

    print(f"{'group':8s} {'case':20s} {'setting':11s} {'rate':>4} {'recall':>6} {'min':>6} "
          f"{'prec':>6} {'FPR':>6} {'maxFPR':>6} {'spectral r/FPR':>13} {'chen r/FPR':>13} "
          f"{'cleanD':>6} {'clean p':>8} {'chk_s':>5}")
    with threadpool_limits(1):
        for setting in settings:
            record("clean", "digits_clean", setting, None,
                   [_digits_case(None, setting, args.rate, s) for s in seeds])
            for attack in attacks:
                record("backdoor", attack.name, setting, args.rate,
                       [_digits_case(attack, setting, args.rate, s) for s in seeds])
        for rate in rates:
            record("rate", ATTACKS[0].name, "existing", rate,
                   [_digits_case(ATTACKS[0], "existing", rate, s) for s in seeds])
        if not args.quick:
            for name in ("breast_cancer", "wine"):
                record("tabular", f"{name}_clean", "existing", None,
                       [_tabular_case(name, False, s, args.rate) for s in seeds])
            record("tabular", "breast_cancer_2col", "existing", args.rate,
                   [_tabular_case("breast_cancer", True, s, args.rate) for s in seeds])
    gate = Backdoor()
    result = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(),
                    "numpy": np.__version__, "threads": 1},
        "params": {"seeds": seeds, "rate": args.rate, "pool_fraction": POOL_FRACTION,
                   "existing_fraction": EXISTING_FRACTION,
                   "chen_max_fraction": CHEN_MAX_FRACTION, "gate": gate.params(),
                   "attacks": [a.__dict__ for a in attacks]},
        "goal": {"recall_at_least": 0.9, "fpr_at_most": 0.05},
        "cases": cases,
    }
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{result['elapsed_s']} s; wrote {args.out}")


def _fmt(v: float | None) -> str:
    return f"{'-':>6}" if v is None else f"{v:6.3f}"


if __name__ == "__main__":
    main()
