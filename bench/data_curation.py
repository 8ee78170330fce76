"""Curation benchmark (not a test): does a curated share of the data do as well as all of it?

The article's claim: 30 % of high-quality data trains as well as the whole set. On
scikit-learn's digits (stratified 70 % train / 30 % test split per seed), with clean
labels and with 20 % of the training labels made wrong (symmetric noise), this trains
the same classifier on:

* the full training set;
* curated subsets of 10 %, 30 % and 50 %, chosen by
  :func:`plexnet.data.curation.select` (class-balanced) from EL2N scores (``easy`` and
  ``hard`` ends) and from confident-learning margins (``easy`` end, on out-of-fold
  probabilities);
* random class-balanced subsets of the same sizes (the baseline a curation method
  must beat);
* the full set less the label issues confident learning finds (for reference);

and reports test accuracy, median over seeds. The classifier is a one-hidden-layer
network (scikit-learn's MLPClassifier, 64 units, early stopping off, 300 iterations)
on standardised features — a model that can memorise wrong labels, which is where
curation matters.

    python bench/data_curation.py            # 3 seeds (a few minutes)
    python bench/data_curation.py --quick    # 1 seed
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from plexnet.core.blobstore import LocalBlobStore
from plexnet.data.curation import el2n_scores, margin_scores, select
from plexnet.data.gates.labels import find_label_issues, out_of_fold_probabilities
from plexnet.data.runner import LocalRunner

RESULTS = Path(__file__).parent / "results"
FRACTIONS = (0.1, 0.3, 0.5)
NOISE = (0.0, 0.2)
STRATEGIES = ("random", "el2n_easy", "el2n_hard", "margin_easy")


def accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             seed: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(scaler.transform(x_train), y_train)
    return float((model.predict(scaler.transform(x_test)) == y_test).mean())


def run_seed(x: np.ndarray, y: np.ndarray, noise: float, seed: int,
             blobs: LocalBlobStore) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y,
                                                        random_state=seed)
    rng = np.random.default_rng(seed)
    y_given = y_train.copy()
    chosen = rng.choice(len(y_train), round(noise * len(y_train)), replace=False)
    y_given[chosen] = (y_train[chosen] + rng.integers(1, 10, len(chosen))) % 10
    started = time.perf_counter()
    el2n = el2n_scores(x_train, y_given, 10, seed=seed)
    el2n_s = time.perf_counter() - started
    started = time.perf_counter()
    probs = out_of_fold_probabilities(x_train, y_given, 10, LocalRunner(blobs), seed=seed)
    margin = margin_scores(y_given, probs)
    margin_s = time.perf_counter() - started
    clean = np.flatnonzero(~find_label_issues(y_given, probs))
    out: dict[str, Any] = {"full": accuracy(x_train, y_given, x_test, y_test, seed),
                           "full_without_label_issues": accuracy(
                               x_train[clean], y_given[clean], x_test, y_test, seed),
                           "label_issues_removed": len(y_given) - len(clean),
                           "el2n_s": el2n_s, "margin_s": margin_s, "subsets": {}}
    for fraction in FRACTIONS:
        for strategy in STRATEGIES:
            if strategy == "random":
                keep = select(rng.random(len(y_given)), fraction, labels=y_given)
            elif strategy == "margin_easy":
                keep = select(margin, fraction, prefer="easy", labels=y_given, higher="easy")
            else:
                keep = select(el2n, fraction, prefer=strategy.removeprefix("el2n_"),  # type: ignore[arg-type]
                              labels=y_given)
            wrong = float(np.isin(keep, chosen).mean())
            out["subsets"][f"{strategy}@{fraction:.0%}"] = {
                "accuracy": accuracy(x_train[keep], y_given[keep], x_test, y_test, seed),
                "wrong_labels_kept": wrong, "records": len(keep)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one seed")
    ap.add_argument("--out", type=Path, default=RESULTS / "data_curation.json")
    args = ap.parse_args()
    seeds = 1 if args.quick else args.seeds
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    y = y.astype(np.int64)
    results: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "seeds": seeds,
                               "platform": platform.platform(), "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        blobs = LocalBlobStore(Path(tmp))
        for noise in NOISE:
            runs = [run_seed(x, y, noise, seed, blobs) for seed in range(seeds)]
            case: dict[str, Any] = {
                "full_accuracy": statistics.median(r["full"] for r in runs),
                "full_without_label_issues_accuracy": statistics.median(
                    r["full_without_label_issues"] for r in runs),
                "label_issues_removed": statistics.median(
                    r["label_issues_removed"] for r in runs),
                "el2n_s": statistics.median(r["el2n_s"] for r in runs),
                "margin_s": statistics.median(r["margin_s"] for r in runs), "subsets": {}}
            for name in runs[0]["subsets"]:
                case["subsets"][name] = {
                    k: statistics.median(r["subsets"][name][k] for r in runs)
                    for k in ("accuracy", "wrong_labels_kept", "records")}
            results["cases"][f"noise@{noise:.0%}"] = case
            print(f"\nlabel noise {noise:.0%}: full training set accuracy "
                  f"{case['full_accuracy']:.3f} (median of {seeds}); scoring took EL2N "
                  f"{case['el2n_s']:.1f} s, margins {case['margin_s']:.1f} s; without the "
                  f"{case['label_issues_removed']:.0f} label issues confident learning finds: "
                  f"{case['full_without_label_issues_accuracy']:.3f}")
            print(f"  {'subset':<12}" + "".join(f"{s:>14}" for s in STRATEGIES))
            for fraction in FRACTIONS:
                cells = [case["subsets"][f"{s}@{fraction:.0%}"] for s in STRATEGIES]
                print(f"  {fraction:<12.0%}" + "".join(
                    f"{c['accuracy']:>8.3f} ({c['wrong_labels_kept']:.0%})" for c in cells))
    print("\n(accuracy on the clean test split; in brackets: share of kept records whose "
          "label was wrong)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
