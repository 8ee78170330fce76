"""Data and privacy benchmark (not a test): DP-SGD's price in accuracy, and augmentation.

1. DP-SGD (``train_mlp`` with ``dp``, Opacus, Poisson batches, PRV accountant,
   clip 1.0, δ 1e-5) against the same recipe without DP, on scikit-learn's breast
   cancer (569 records, 30 features, 2 classes; 5 epochs, lr 1e-3, batch 64: the
   setting ENVIRONMENT.md reports) and digits (1,797 records, 64 features, 10
   classes; 10 epochs, lr 1e-2, batch 64: DP-SGD wants a larger step than plain
   Adam, and at lr 1e-3 five private epochs reach only 0.37 on digits). For
   noise multipliers 0.7, 1.1 and 2.0: the validation accuracy (15 % held out,
   median and range over seeds), the ε spent (it does not depend on the seed) and
   the training time relative to the plain run (medians; one warm-up run first,
   so importing Opacus is not counted), with and without the PRV accountant's
   fixed ~0.5 s per run to compute ε (timed on its own).
2. Augmentation: a logistic regression trained on the first 1,200 digits reads the
   other 597 and their mildly augmented children (rotation ±10°, zoom 0.9-1.1,
   brightness/contrast ±10 %, one child per transform), per transform and over
   seeds; and how fast children are made and re-verified (records/s, medians).

    python bench/data_privacy.py            # about 3 minutes on 2 cores
    python bench/data_privacy.py --quick    # two seeds, one noise level
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression

from plexnet.data import Records, Schema
from plexnet.data.augment import BrightnessContrast, Rotate, Zoom, augment, verify_augmented
from plexnet.models.supervised import train_mlp

RESULTS = Path(__file__).parent / "results"
DATASETS: dict[str, dict[str, Any]] = {
    "breast_cancer": {"epochs": 5, "lr": 1e-3, "batch_size": 64},
    "digits": {"epochs": 10, "lr": 1e-2, "batch_size": 64},
}
CLIP, DELTA = 1.0, 1e-5
DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))
MILD = {"rotate": Rotate(max_degrees=10), "zoom": Zoom(min_scale=0.9, max_scale=1.1),
        "brightness_contrast": BrightnessContrast(max_brightness=0.1, max_contrast=0.1)}


def _load(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    bunch = load_breast_cancer() if name == "breast_cancer" else load_digits()
    return bunch.data, bunch.target, len(bunch.target_names)


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4)}


def dp_section(seeds: list[int], noises: list[float]) -> list[dict[str, Any]]:
    rows = []
    for name, base in DATASETS.items():
        x, y, classes = _load(name)
        train_mlp(x, y, classes, {**base, "dp": {"noise_multiplier": 1.0}})  # warm-up
        for noise in [None, *noises]:
            accs, times, metrics = [], [], {}
            for seed in seeds:
                params: dict[str, Any] = {**base, "seed": seed}
                if noise is not None:
                    params["dp"] = {"noise_multiplier": noise, "max_grad_norm": CLIP,
                                    "delta": DELTA}
                started = time.perf_counter()
                _, metrics = train_mlp(x, y, classes, params)
                times.append(time.perf_counter() - started)
                accs.append(metrics["val_accuracy"])
            rows.append({"dataset": name, "params": base, "noise_multiplier": noise,
                         "val_accuracy": _summary(accs), "train_s": _summary(times),
                         "epsilon": metrics.get("dp_epsilon"),
                         "sample_rate": metrics.get("dp_sample_rate")})
        plain = rows[-len(noises) - 1]["train_s"]["median"]
        for row in rows[-len(noises):]:
            row["accounting_s"] = _accounting_s(row)
            row["slowdown"] = round(row["train_s"]["median"] / plain, 2)
            row["slowdown_without_accounting"] = round(
                (row["train_s"]["median"] - row["accounting_s"]) / plain, 2)
    return rows


def _accounting_s(row: dict[str, Any]) -> float:
    """Median time of the PRV accountant's ε for this run's (noise, q, steps) alone:
    a fixed cost per run, independent of the data and the model."""
    from opacus.accountants import PRVAccountant

    steps = row["params"]["epochs"] * round(1 / row["sample_rate"])
    times = []
    for _ in range(3):
        accountant = PRVAccountant()
        accountant.history = [(row["noise_multiplier"], row["sample_rate"], steps)]
        started = time.perf_counter()
        accountant.get_epsilon(DELTA)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def augment_section(seeds: list[int]) -> dict[str, Any]:
    d = load_digits()
    x, y = d.data, d.target
    clf = LogisticRegression(max_iter=2000).fit(x[:1200], y[:1200])
    parents = Records.make(y[1200:], x=x[1200:], contributor="did:key:bench")
    base = float((clf.predict(parents.x) == parents.y).mean())
    per_transform: dict[str, list[float]] = {k: [] for k in MILD}
    combined, made_rate, verify_rate, kept = [], [], [], []
    for seed in seeds:
        for key, transform in MILD.items():
            children = augment(parents, DIGITS, [transform], seed=seed)
            per_transform[key].append(float((clf.predict(children.x) == children.y).mean()))
        started = time.perf_counter()
        children = augment(parents, DIGITS, list(MILD.values()), seed=seed)
        made = time.perf_counter() - started
        started = time.perf_counter()
        ok = verify_augmented(children, parents, DIGITS)
        checked = time.perf_counter() - started
        assert ok.all()
        combined.append(float((clf.predict(children.x) == children.y).mean()))
        made_rate.append(len(children) / made)
        verify_rate.append(len(children) / checked)
        kept.append(len(children) / (len(parents) * len(MILD)))
    return {"parents": len(parents), "original_accuracy": round(base, 4),
            "augmented_accuracy": _summary(combined),
            "per_transform_accuracy": {k: _summary(v) for k, v in per_transform.items()},
            "children_kept_fraction": _summary(kept),
            "augment_records_per_s": round(statistics.median(made_rate), 1),
            "verify_records_per_s": round(statistics.median(verify_rate), 1),
            "transforms": {k: repr(v) for k, v in MILD.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two seeds, one noise level")
    parser.add_argument("--out", type=Path, default=RESULTS / "data_privacy.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    noises = [1.1] if args.quick else [0.7, 1.1, 2.0]
    started = time.perf_counter()
    dp = dp_section(seeds, noises)
    aug = augment_section(seeds)
    print(f"{'dataset':<14}{'noise':>6}{'epsilon':>9}{'val acc (median, range)':>27}"
          f"{'slowdown':>10}{'w/o accounting':>16}")
    for row in dp:
        acc = row["val_accuracy"]
        noise = "-" if row["noise_multiplier"] is None else f"{row['noise_multiplier']:g}"
        eps = "-" if row["epsilon"] is None else f"{row['epsilon']:.2f}"
        slow = f"{row['slowdown']:.2f}x" if "slowdown" in row else "1x"
        net = f"{row['slowdown_without_accounting']:.2f}x" if "slowdown" in row else "1x"
        print(f"{row['dataset']:<14}{noise:>6}{eps:>9}"
              f"{acc['median']:>11.3f} ({acc['min']:.3f}-{acc['max']:.3f}){slow:>10}{net:>16}")
    print(f"\naugmented digits: original {aug['original_accuracy']:.3f}, mildly augmented "
          f"{aug['augmented_accuracy']['median']:.3f} (median of {len(seeds)} seeds); "
          + ", ".join(f"{k} {v['median']:.3f}" for k, v in aug["per_transform_accuracy"].items())
          + f"; {aug['augment_records_per_s']:.0f} children/s made, "
          f"{aug['verify_records_per_s']:.0f}/s verified")
    result = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(),
                    "torch": torch.__version__, "threads": 1},
        "seeds": seeds, "clip": CLIP, "delta": DELTA, "accountant": "prv",
        "dp": dp, "augmentation": aug,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
