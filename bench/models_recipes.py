"""Recipe benchmark (not a test): N, D, 6·N·D against measured FLOPs, wall time and cost.

Five recipes, each trained for real in this process on one CPU thread, side by side
in one run, each ``--reps`` times with the same seed (the results are bit-identical;
the wall time is the median over the repetitions):

* supervised: ``train_mlp`` (``supervised.py``) on digits, MLP 64 -> 128 -> 10;
  its measured FLOPs are one full batch's training step (``measure_flops`` on a
  fresh copy of the model) scaled to the samples seen;
* supervised_cnn: the same recipe with ``arch`` ``"cnn"`` (``cnn.py``: 8x8 images,
  convolutions of 16 and 32 channels, dense 128), FLOPs measured the same way;
* k-means: ``kmeans`` (``unsupervised.py``) on digits, k 10, 4 starts;
* autoencoder: ``train_autoencoder`` on digits, 64 -> 64 -> 8 -> 64 -> 64;
* RL: ``train_reinforce`` (``rl.py``), REINFORCE with a baseline on CartPole.

Each row gives its quality next to its trivial baseline (accuracy vs the majority
class, ARI vs random assignment, validation MSE vs the per-feature mean, mean
return of the last 20 episodes vs a random policy), N, D, the 6·N·D estimate, the
measured FLOPs, their ratio, the median wall time, measured FLOPs per second, and
the cost at ``--price`` per CPU-core hour (an assumed price, not a measurement:
one core ran each recipe).

    python bench/models_recipes.py            # about 1 min on 2 cores
    python bench/models_recipes.py --quick    # one repetition, shorter training
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from plexnet.models.flops import flops_report, measure_flops
from plexnet.models.rl import train_reinforce
from plexnet.models.supervised import (
    new_model,
    new_optimizer,
    train_classifier,
    training_params,
)
from plexnet.models.unsupervised import kmeans, train_autoencoder

RESULTS = Path(__file__).parent / "results"


def _supervised(x: np.ndarray, y: np.ndarray, epochs: int,
                arch: dict[str, Any] | None = None) -> dict[str, Any]:
    params = {"epochs": epochs, "seed": 0, **(arch or {})}
    shape = [8, 8] if arch else None  # digits are 8x8 images
    _, m = train_classifier(x, y, 10, params, shape=shape)
    p = training_params(params)
    model = new_model(x, 10, p, shape)  # a copy of the architecture, to count one step on
    opt, batch = new_optimizer(model, p), int(p["batch_size"])
    xb = torch.as_tensor(x[:batch], dtype=torch.float32)
    yb = torch.as_tensor(y[:batch], dtype=torch.long)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()

    report = flops_report(m["params"], m["samples"], measure_flops(step), batch)
    majority = float(np.bincount(y).max() / len(y))
    return {**report, "quality": "val_accuracy", "value": m["val_accuracy"],
            "baseline": round(majority, 4)}


def _kmeans(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    _, _, m = kmeans(x, y, {"k": 10, "seed": 0})
    return {**{k: m[k] for k in ("params", "samples", "flops_estimate", "flops_measured",
                                 "flops_ratio")},
            "quality": "ari", "value": m["ari"], "baseline": m["baseline_ari"]}


def _autoencoder(x: np.ndarray, epochs: int) -> dict[str, Any]:
    _, m = train_autoencoder(x, {"epochs": epochs, "seed": 0})
    return {**{k: m[k] for k in ("params", "samples", "flops_estimate", "flops_measured",
                                 "flops_ratio")},
            "quality": "val_mse (lower is better)", "value": m["val_mse"],
            "baseline": m["baseline_mse"]}


def _rl(episodes: int) -> dict[str, Any]:
    _, m = train_reinforce({"episodes": episodes, "seed": 0})
    return {**{k: m[k] for k in ("params", "samples", "flops_estimate", "flops_measured",
                                 "flops_ratio")},
            "quality": "mean_return_last20", "value": m["mean_return_last20"],
            "baseline": m["random_mean_return"], "greedy_mean_return": m["greedy_mean_return"]}


def _timed(fn: Callable[[], dict[str, Any]], reps: int) -> dict[str, Any]:
    walls, rows = [], []
    for _ in range(reps):
        start = time.perf_counter()
        rows.append(fn())
        walls.append(time.perf_counter() - start)
    if any(row != rows[0] for row in rows):
        raise SystemExit("a recipe gave different results for the same seed")
    return {**rows[0], "wall_s": round(statistics.median(walls), 3),
            "wall_s_all": [round(w, 3) for w in walls]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, less training")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per recipe")
    parser.add_argument("--price", type=float, default=0.05,
                        help="assumed price per CPU-core hour, for the cost column")
    parser.add_argument("--out", type=Path, default=RESULTS / "models_recipes.json")
    args = parser.parse_args()
    reps = 1 if args.quick else args.reps
    epochs, ae_epochs, episodes = (5, 10, 100) if args.quick else (30, 60, 300)
    torch.set_num_threads(1)
    digits = load_digits()
    x, y = digits.data, digits.target
    recipes: dict[str, Callable[[], dict[str, Any]]] = {
        "supervised": lambda: _supervised(x, y, epochs),
        "supervised_cnn": lambda: _supervised(x, y, epochs, {"arch": "cnn"}),
        "kmeans": lambda: _kmeans(x, y),
        "autoencoder": lambda: _autoencoder(x, ae_epochs),
        "rl": lambda: _rl(episodes),
    }
    rows: dict[str, dict[str, Any]] = {}
    for name, fn in recipes.items():
        row = _timed(fn, reps)
        row["measured_flops_per_s"] = round(row["flops_measured"] / row["wall_s"])
        row["cost"] = round(row["wall_s"] / 3600 * args.price, 8)
        rows[name] = row
    results: dict[str, Any] = {
        "command": " ".join(["python", "bench/models_recipes.py", *sys.argv[1:]]),
        "parameters": {"reps": reps, "supervised_epochs": epochs,
                       "autoencoder_epochs": ae_epochs, "rl_episodes": episodes, "seed": 0,
                       "price_per_core_hour": args.price, "threads": 1,
                       "data": "scikit-learn digits (1797 x 64); CartPole-v1 dynamics"},
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
        "recipes": rows,
    }
    print(f"{'recipe':<16}{'quality':>28}{'value':>9}{'baseline':>10}{'N':>8}{'D':>10}"
          f"{'6ND':>11}{'measured':>11}{'ratio':>7}{'wall s':>8}{'cost':>11}")
    for name, r in rows.items():
        print(f"{name:<16}{r['quality']:>28}{r['value']:>9}{r['baseline']:>10}{r['params']:>8}"
              f"{r['samples']:>10}{r['flops_estimate']:>11.3g}{r['flops_measured']:>11.3g}"
              f"{r['flops_ratio']:>7}{r['wall_s']:>8}{r['cost']:>11.2e}")
    print(f"\n(cost at an assumed {args.price} per CPU-core hour; wall time: median of {reps})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
