"""Label-issue benchmark (not a test): how well confident learning finds planted wrong labels.

scikit-learn's digits (1,797 images, 10 classes) with a known share of labels made
wrong, two ways:

* ``symmetric`` — each chosen label moves to one of the other nine classes at random;
* ``class_dependent`` — each chosen label moves to its class's look-alike (1→7, 7→1,
  3→8, 8→3, 4→9, 9→4, 5→6, 6→5, 0→6, 2→3): the realistic and harder case, because
  the wrong labels agree with each other.

at 10 % and 20 % noise. For each, the out-of-fold probabilities are computed once
(five ``gate.out_of_fold`` units, in process, exactly as the ``label_issues`` gate
runs them) and every pruning method of
:func:`plexnet.data.gates.labels.find_label_issues` is scored against the planted
answer: precision, recall, F1, and the time of the probabilities and of the pruning.
The naive baseline flags every example whose most probable class is not its label.

With ``--cleanlab PYTHON`` the same probabilities are also given to cleanlab's
``find_label_issues`` run by that interpreter (cleanlab is AGPL-3.0: it lives in a
separate virtual environment and is never imported here) and the masks compared.

    python bench/data_labels.py                      # 3 seeds (about a minute)
    python bench/data_labels.py --quick              # 1 seed
    python bench/data_labels.py --cleanlab /tmp/cl-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from plexnet.core.blobstore import LocalBlobStore
from plexnet.data.gates.labels import FILTERS, find_label_issues, out_of_fold_probabilities
from plexnet.data.runner import LocalRunner

RESULTS = Path(__file__).parent / "results"
LOOK_ALIKE = np.array([6, 7, 3, 8, 9, 6, 5, 1, 3, 4])  # class → the class it is mistaken for
RATES = (0.10, 0.20)
KINDS = ("symmetric", "class_dependent")
METHODS = ("argmax_disagrees", *FILTERS)

CLEANLAB_SCRIPT = """
import sys, json, time, numpy as np
from cleanlab.filter import find_label_issues
y, p = np.load(sys.argv[1]), np.load(sys.argv[2])
out = {}
for method in ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning"):
    t = time.perf_counter()
    mask = find_label_issues(y, p, filter_by=method)
    out[method] = {"mask": np.flatnonzero(mask).tolist(), "s": time.perf_counter() - t}
print(json.dumps(out))
"""


def plant(y: np.ndarray, rate: float, kind: str, rng: np.random.Generator) -> tuple[
        np.ndarray, np.ndarray]:
    """Labels with ``round(rate·n)`` of them made wrong, and the mask of which."""
    noisy = y.copy()
    chosen = rng.choice(len(y), round(rate * len(y)), replace=False)
    if kind == "symmetric":
        noisy[chosen] = (y[chosen] + rng.integers(1, 10, len(chosen))) % 10
    else:
        noisy[chosen] = LOOK_ALIKE[y[chosen]]
    wrong = np.zeros(len(y), dtype=bool)
    wrong[chosen] = True
    return noisy, wrong


def score(flagged: np.ndarray, wrong: np.ndarray) -> dict[str, float]:
    hits = int((flagged & wrong).sum())
    precision = hits / max(int(flagged.sum()), 1)
    recall = hits / max(int(wrong.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "flagged": int(flagged.sum())}


def run_case(x: np.ndarray, y: np.ndarray, rate: float, kind: str, seed: int,
             blobs: LocalBlobStore, cleanlab: str | None) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    noisy, wrong = plant(y, rate, kind, rng)
    started = time.perf_counter()
    probs = out_of_fold_probabilities(x, noisy, 10, LocalRunner(blobs), folds=5, seed=seed)
    oof_s = time.perf_counter() - started
    out: dict[str, Any] = {"oof_s": oof_s, "oof_accuracy_vs_truth":
                           float((probs.argmax(1) == y).mean()), "methods": {}}
    for method in METHODS:
        started = time.perf_counter()
        if method == "argmax_disagrees":
            flagged = probs.argmax(1) != noisy
        else:
            flagged = find_label_issues(noisy, probs, filter_by=method)
        out["methods"][method] = {**score(flagged, wrong), "s": time.perf_counter() - started}
    if cleanlab:
        with tempfile.TemporaryDirectory() as tmp:
            np.save(f"{tmp}/y.npy", noisy)
            np.save(f"{tmp}/p.npy", probs)
            done = subprocess.run([cleanlab, "-c", CLEANLAB_SCRIPT, f"{tmp}/y.npy",
                                   f"{tmp}/p.npy"], capture_output=True, text=True, check=True)
        for method, got in json.loads(done.stdout).items():
            mask = np.zeros(len(y), dtype=bool)
            mask[got["mask"]] = True
            ours = find_label_issues(noisy, probs, filter_by=method)
            out["methods"][f"cleanlab:{method}"] = {
                **score(mask, wrong), "s": got["s"],
                "agreement_with_plexnet": float((mask == ours).mean()),
                "same_mask": bool((mask == ours).all())}
    return out


def median_rows(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for method in runs[0]["methods"]:
        rows = [r["methods"][method] for r in runs]
        table[method] = {k: statistics.median(float(row[k]) for row in rows)
                         for k in rows[0] if k != "same_mask"}
        if "same_mask" in rows[0]:
            table[method]["same_mask_runs"] = sum(bool(r["same_mask"]) for r in rows)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one seed")
    ap.add_argument("--cleanlab", metavar="PYTHON", help="an interpreter with cleanlab")
    ap.add_argument("--out", type=Path, default=RESULTS / "data_labels.json")
    args = ap.parse_args()
    seeds = 1 if args.quick else args.seeds
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    results: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "seeds": seeds,
                               "records": len(y), "platform": platform.platform(),
                               "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        blobs = LocalBlobStore(Path(tmp))
        for kind in KINDS:
            for rate in RATES:
                runs = [run_case(x, y.astype(np.int64), rate, kind, seed, blobs, args.cleanlab)
                        for seed in range(seeds)]
                case = f"{kind}@{rate:.0%}"
                results["cases"][case] = {
                    "oof_s": statistics.median(r["oof_s"] for r in runs),
                    "oof_accuracy_vs_truth": statistics.median(
                        r["oof_accuracy_vs_truth"] for r in runs),
                    "methods": median_rows(runs)}
                print(f"\n{case}: out-of-fold probabilities {results['cases'][case]['oof_s']:.2f}"
                      f" s (median of {seeds}), accuracy vs true labels "
                      f"{results['cases'][case]['oof_accuracy_vs_truth']:.3f}")
                print(f"  {'method':<34}{'precision':>10}{'recall':>8}{'F1':>7}{'flagged':>9}"
                      f"{'ms':>8}")
                for method, row in results["cases"][case]["methods"].items():
                    extra = (f"  same mask as plexnet in {int(row['same_mask_runs'])}/{seeds}"
                             if "same_mask_runs" in row else "")
                    print(f"  {method:<34}{row['precision']:>10.3f}{row['recall']:>8.3f}"
                          f"{row['f1']:>7.3f}{row['flagged']:>9.0f}{row['s'] * 1e3:>8.1f}"
                          f"{extra}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
