"""Router benchmark (not a test): APGR and CPT on plexnet's own multi-model task, with the curve.

Three classifiers of very different size answer the same requests (scikit-learn's
digits, a stratified 50/25/25 split into training, router-fitting and held-out
requests):

* ``tiny`` — logistic regression on a 4x4 down-sampled image (16 inputs);
* ``small`` — an MLP 64→32→10;
* ``large`` — an MLP 64→512→512→10 trained longer;

each costs its multiply-adds per request (``tiny`` ≈ 170, ``large`` ≈ 300,000). A
request's observed quality for a model is 1 if the model answers it right, else 0.
The router (:class:`plexnet.models.router.Router`) is fitted on the router-fitting
requests with two kinds of request features: the raw 64 pixels, and the ``tiny``
model's class probabilities (which the cheapest model gives for free when it is
asked first). Reported on the held-out requests: APGR, CPT(50%) and CPT(80%), the
quality and cost of always-tiny, always-large and of the router at the default
setting, and a random router (same budgets, requests picked at random) as the
baseline. The quality-cost curve is drawn to ``bench/results/models_router.png``.

    python bench/models_router.py             # 5 seeds
    python bench/models_router.py --quick     # 1 seed
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from plexnet.models.router import Router, evaluate

RESULTS = Path(__file__).parent / "results"


def _models(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[list[Any], np.ndarray]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    def pool(images: np.ndarray) -> np.ndarray:  # 8x8 → 4x4 by 2x2 means
        return images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)

    tiny = make_pipeline(FunctionTransformer(pool), StandardScaler(),
                         LogisticRegression(C=0.05, max_iter=300))
    small = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=60,
                                                          random_state=seed))
    large = make_pipeline(StandardScaler(), MLPClassifier((512, 512), max_iter=300,
                                                          random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for m in (tiny, small, large):
            m.fit(x, y)
    costs = np.array([16 * 10 + 10, 64 * 32 + 32 * 10, 64 * 512 + 512 * 512 + 512 * 10],
                     dtype=float)
    return [tiny, small, large], costs


def _random_apgr(quality: np.ndarray, costs: np.ndarray, rng: np.random.Generator,
                 points: int = 41) -> float:
    """APGR of routing at random: each budget spent on random requests, by model."""
    weak, strong = int(np.argmin(costs)), int(np.argmax(costs))
    qw, qs = quality[:, weak].mean(), quality[:, strong].mean()
    shares, pgrs = [0.0], [0.0]
    for share in np.linspace(0, 1, points)[1:-1]:
        pick = rng.random(len(quality)) < share
        q = np.where(pick, quality[:, strong], quality[:, weak]).mean()
        shares.append(float(pick.mean()))
        pgrs.append(float((q - qw) / (qs - qw)))
    shares.append(1.0)
    pgrs.append(1.0)
    s, p = np.asarray(shares), np.asarray(pgrs)
    return float(np.sum((s[1:] - s[:-1]) * (p[1:] + p[:-1]) / 2))


def run_seed(seed: int) -> dict[str, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.5, stratify=y,
                                                        random_state=seed)
    x_fit, x_test, y_fit, y_test = train_test_split(x_rest, y_rest, test_size=0.5,
                                                    stratify=y_rest, random_state=seed)
    models, costs = _models(x_train, y_train, seed)
    q_fit = np.stack([m.predict(x_fit) == y_fit for m in models], axis=1).astype(float)
    q_test = np.stack([m.predict(x_test) == y_test for m in models], axis=1).astype(float)
    out: dict[str, Any] = {
        "accuracy": {n: float(q_test[:, j].mean())
                     for j, n in enumerate(("tiny", "small", "large"))},
        "costs": costs.tolist(), "features": {}}
    for name, f_fit, f_test in (("pixels", x_fit, x_test),
                                ("tiny_probabilities", models[0].predict_proba(x_fit),
                                 models[0].predict_proba(x_test))):
        router = Router(costs).fit(f_fit, q_fit)
        report = evaluate(router, f_test, q_test)
        choice = router.route(f_test)
        rows = np.arange(len(f_test))
        out["features"][name] = {
            "apgr": report["apgr"], "cpt": {str(k): v for k, v in report["cpt"].items()},
            "curve": report["curve"],
            "default": {"quality": float(q_test[rows, choice].mean()),
                        "cost": float(costs[choice].mean()),
                        "cost_vs_large": float(costs[choice].mean() / costs[2]),
                        "share": {n: float((choice == j).mean())
                                  for j, n in enumerate(("tiny", "small", "large"))}}}
    out["random_apgr"] = _random_apgr(q_test, costs, np.random.default_rng(seed))
    return out


def _plot(run: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    costs = run["costs"]
    for name, res in run["features"].items():
        c, q = zip(*res["curve"], strict=True)
        ax.plot(np.asarray(c) / costs[2], q, marker=".", label=f"router on {name} "
                f"(APGR {res['apgr']:.2f})")
    acc = run["accuracy"]
    for j, n in enumerate(("tiny", "small", "large")):
        ax.scatter([costs[j] / costs[2]], [acc[n]], marker="s", zorder=3)
        ax.annotate(n, (costs[j] / costs[2], acc[n]), textcoords="offset points",
                    xytext=(4, -10))
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("mean cost per request (share of the large model's)")
    ax.set_ylabel("accuracy on held-out requests")
    ax.set_title("plexnet router: quality against cost (digits, 3 models)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one seed")
    ap.add_argument("--out", type=Path, default=RESULTS / "models_router.json")
    args = ap.parse_args()
    seeds = 1 if args.quick else args.seeds
    runs = [run_seed(s) for s in range(seeds)]
    med = statistics.median
    summary: dict[str, Any] = {
        "accuracy": {n: med(r["accuracy"][n] for r in runs) for n in runs[0]["accuracy"]},
        "random_apgr": med(r["random_apgr"] for r in runs), "features": {}}
    for name in runs[0]["features"]:
        rs = [r["features"][name] for r in runs]
        cpt = {k: [x["cpt"][k] for x in rs] for k in rs[0]["cpt"]}
        summary["features"][name] = {
            "apgr": med(x["apgr"] for x in rs),
            "cpt": {k: (med(v for v in vals if v is not None)
                        if any(v is not None for v in vals) else None)
                    for k, vals in cpt.items()},
            "default_quality": med(x["default"]["quality"] for x in rs),
            "default_cost_vs_large": med(x["default"]["cost_vs_large"] for x in rs)}
    print(f"accuracy (median of {seeds}): " + ", ".join(
        f"{n} {a:.3f}" for n, a in summary["accuracy"].items())
        + f"; costs (multiply-adds) {runs[0]['costs']}")
    print(f"  {'router features':<22}{'APGR':>7}{'CPT(50%)':>10}{'CPT(80%)':>10}"
          f"{'default acc':>13}{'default cost':>14}")
    for name, s in summary["features"].items():
        cpt = [("-" if s["cpt"][k] is None else f"{s['cpt'][k]:.1%}") for k in ("0.5", "0.8")]
        print(f"  {name:<22}{s['apgr']:>7.3f}{cpt[0]:>10}{cpt[1]:>10}"
              f"{s['default_quality']:>13.3f}{s['default_cost_vs_large']:>13.1%}")
    print(f"  {'random routing':<22}{summary['random_apgr']:>7.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _plot(runs[0], args.out.with_suffix(".png"))
    args.out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]),
                                    "platform": platform.platform(), "seeds": seeds,
                                    "summary": summary, "runs": runs}, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
