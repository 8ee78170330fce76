"""The L0 -> L1 -> L2 chain of the demo against training from scratch, over splits and sizes.

The demo's chain (``plexnet/cli/demo_tiers.py``) off the network: an MLP 64-256-256-10
trained on the digits pool (L0), fine-tuned on the pool rotated up to 30 degrees
(L1, industry: scanned forms), then fine-tuned on ``n`` of one customer's records
zoomed out to 75-85 % (L2, vertical), next to the same MLP trained from scratch on
those ``n`` records with the same parameters. L0 and L1 are also trained with
``scale_floor`` 0 (each pixel standardised by its bare std) to show the floor's
effect. Every model is scored on held-out digits of each domain: plain, rotated,
and in the customer's style (children of the held-out digits, other seeds). The
split (80/20, stratified) and the augmentation draws change with the seed;
medians over seeds per ``n``.

    python bench/models_tiers.py            # seeds 0-2, n in 50, 100, 200, 400
    python bench/models_tiers.py --quick    # one seed, n 200
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from plexnet.cli.demo import TRAIN_PARAMS
from plexnet.cli.demo_tiers import L1_PARAMS, L2_PARAMS, styles
from plexnet.data import Records, Schema
from plexnet.data.augment import augment
from plexnet.models.mlp import predict
from plexnet.models.supervised import train_classifier

OUT = Path(__file__).parent / "results" / "models_tiers.json"
SCHEMA = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))


def _styled(x: np.ndarray, y: np.ndarray, transform, seed: int) -> tuple[np.ndarray, np.ndarray]:
    kids = augment(Records.make(y, x=x), SCHEMA, [transform], seed=seed)
    return kids.x, kids.y


def run_seed(seed: int, sizes: list[int]) -> list[dict]:
    d = load_digits()
    x_pool, x_test, y_pool, y_test = train_test_split(
        d.data.astype(np.float64), d.target, test_size=0.2, random_state=seed, stratify=d.target)
    style = styles()
    tests = {"digits": (x_test, y_test),
             "scans": _styled(x_test, y_test, style["scans"], 2 * seed + 1),
             "customer": _styled(x_test, y_test, style["customer"], 2 * seed + 1)}
    scans = _styled(x_pool, y_pool, style["scans"], 2 * seed)
    started = time.perf_counter()
    l0, _ = train_classifier(x_pool, y_pool, 10, TRAIN_PARAMS)
    l1, _ = train_classifier(*scans, 10, {**TRAIN_PARAMS, **L1_PARAMS}, parent=l0)
    chain_s = time.perf_counter() - started
    # the same two without the standardisation floor (each pixel divided by its bare std)
    bare0, _ = train_classifier(x_pool, y_pool, 10, {**TRAIN_PARAMS, "scale_floor": 0.0})
    bare1, _ = train_classifier(*scans, 10, {**TRAIN_PARAMS, **L1_PARAMS}, parent=bare0)
    cut = int(len(y_pool) * 0.6)  # the customer's records: the second clinic's share
    rows = []
    for n in sizes:
        xc, yc = _styled(x_pool[cut : cut + n], y_pool[cut : cut + n], style["customer"],
                         2 * seed)
        l2, _ = train_classifier(xc, yc, 10, {**TRAIN_PARAMS, **L2_PARAMS}, parent=l1)
        scratch, _ = train_classifier(xc, yc, 10, {**TRAIN_PARAMS, **L2_PARAMS})
        acc = {name: {dom: round(float((predict(m, x) == y).mean()), 4)
                      for dom, (x, y) in tests.items()}
               for name, m in (("L0", l0), ("L1", l1), ("L2", l2), ("scratch", scratch),
                               ("L0 floor 0", bare0), ("L1 floor 0", bare1))}
        rows.append({"seed": seed, "n": n, "accuracy": acc, "l0_l1_seconds": round(chain_s, 2)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    seeds, sizes = ([0], [200]) if args.quick else ([0, 1, 2], [50, 100, 200, 400])
    rows = [row for seed in seeds for row in run_seed(seed, sizes)]
    summary = {}
    for n in sizes:
        mine = [r["accuracy"] for r in rows if r["n"] == n]
        summary[str(n)] = {model: {dom: round(float(np.median([a[model][dom] for a in mine])), 4)
                                   for dom in mine[0][model]}
                           for model in mine[0]}
    result = {"bench": "models_tiers", "seeds": seeds, "sizes": sizes,
              "machine": platform.platform(), "median": summary, "runs": rows}
    if not args.quick:
        OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'n':>4}  {'model':<11} {'digits':>7} {'scans':>7} {'customer':>9}")
    for n, models in summary.items():
        for model, acc in models.items():
            print(f"{n:>4}  {model:<11} {acc['digits']:7.3f} {acc['scans']:7.3f} "
                  f"{acc['customer']:9.3f}")


if __name__ == "__main__":
    main()
