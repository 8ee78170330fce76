"""Synthetic-data benchmark (not a test): the watermark, the generators' fidelity, and the
undeclared-synthetic detector, on scikit-learn's digits, breast_cancer and wine.

1. Watermark: per data set, the p-values of the real records under the public key and
   of the same records marked; AUROC, the FPR and TPR at ``MAX_P`` and the TPR at an
   empirical 0.1 % FPR; the FPR over many keys at several thresholds (is the null
   calibrated?); how much marking changes a record; detection after attacks
   (re-rounding, float32, printing, rounding to two decimals, noise); embed and detect
   times per 1,000 records.
2. Fidelity: a Gaussian copula on breast_cancer and wine, the conditional VAE on
   digits (and the copula on digits for comparison), each fitted on a stratified half
   and scored against it (column shapes, pair trends), ML efficacy on the other half,
   with and without the watermark; the share of VAE digits a logistic regression
   trained on real digits gives their label; fit and sample times. Median (min, max)
   over seeds.
3. Undeclared-synthetic detector: out-of-fold AUROC of the ``synthetic`` gate's
   discriminator (``gate.synthetic_detector`` units through a LocalRunner), real vs
   generator samples, unmarked and marked, raw and with the precision features; for
   tables also samples rounded to the data's precision (what a careful forger does).
   The watermark detector's AUROC on the same pairs. And the gate end to end on
   digits: held-out real digits and unmarked VAE digits declared human, judged
   against a dataset holding real digits and declared VAE samples.

    python bench/data_synthetic.py            # the full run (about 2 minutes on 2 cores)
    python bench/data_synthetic.py --quick    # one seed, 10 keys: a smoke run (40 s)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from plexnet.core.blobstore import LocalBlobStore
from plexnet.data import Records, Schema
from plexnet.data.gates.base import GateContext
from plexnet.data.gates.synthetic import SyntheticGate, decimals, detector_scores
from plexnet.data.runner import LocalRunner
from plexnet.data.synthesis import ConditionalVAE, GaussianCopula, fidelity
from plexnet.data.watermark import MAX_P, Watermark

RESULTS = Path(__file__).parent / "results"
SETS = {"digits": (load_digits, (0.0, 16.0)), "breast_cancer": (load_breast_cancer, None),
        "wine": (load_wine, None)}
FPR_TARGET = 0.001


def _load(name: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    load, value_range = SETS[name]
    d = load()
    return d.data.astype(np.float64), d.target.astype(np.int64), value_range


def _median(values: list[float], digits: int = 4) -> dict[str, float]:
    return {"median": round(float(np.median(values)), digits),
            "min": round(float(np.min(values)), digits),
            "max": round(float(np.max(values)), digits)}


def _timed(fn: Any, reps: int) -> tuple[Any, float]:
    times, out = [], None
    for _ in range(reps):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return out, float(np.median(times))


def _tpr_at_fpr(real: np.ndarray, marked: np.ndarray, fpr: float) -> float:
    threshold = np.quantile(real, 1 - fpr, method="higher")
    return float((marked > threshold).mean())


def _like_real_precision(real: np.ndarray, synth: np.ndarray) -> np.ndarray:
    """``synth`` rounded, value by value, to the decimals of the nearest real value of its
    column: what a careful forger does (it copies fixed decimals and fixed significant
    digits alike)."""
    out = np.empty_like(synth)
    places = decimals(real).astype(int)
    for j in range(real.shape[1]):
        order = np.argsort(real[:, j])
        column = real[order, j]
        at = np.clip(np.searchsorted(column, synth[:, j]), 1, len(column) - 1)
        nearer = np.where(np.abs(column[at - 1] - synth[:, j]) <= np.abs(column[at] - synth[:, j]),
                          at - 1, at)
        digits = np.minimum(places[order, j][nearer], 6)
        out[:, j] = [round(float(v), int(k)) for v, k in zip(synth[:, j], digits, strict=True)]
    return out


def _auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    labels = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
    return float(roc_auc_score(labels, np.r_[negatives, positives]))


# -- 1. the watermark -----------------------------------------------------------------------


def watermark_section(keys: int, reps: int, seed: int) -> dict[str, Any]:
    mark = Watermark()
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for name in SETS:
        x, _y, value_range = _load(name)
        real = mark.detect(x)
        marked_x, embed_s = _timed(lambda x=x, vr=value_range: mark.embed(x, value_range=vr),
                                   reps)
        found, detect_s = _timed(lambda m=marked_x: mark.detect(m), reps)
        scores_real, scores_marked = real.score, found.score
        span = np.full(x.shape[1], 16.0) if value_range else np.ptp(x, axis=0)
        span[span == 0] = 1.0
        change = (marked_x - x) / span
        nonzero = x != 0
        relative = np.abs(marked_x - x)[nonzero] / np.abs(x[nonzero])
        ps = np.concatenate([Watermark(key=b"bench-key-%d" % k).detect(x).p_value
                             for k in range(keys)])
        attacks: dict[str, np.ndarray] = {}
        if value_range is not None:  # integer images: re-rounding and pixel noise
            low, high = value_range
            attacks["re-round"] = np.round(marked_x)
            for sigma in (0.1, 0.2, 0.3, 0.5):
                noisy = marked_x + rng.normal(0, sigma, marked_x.shape)
                attacks[f"noise {sigma} levels, re-rounded"] = np.clip(np.round(noisy), low,
                                                                       high)
        else:  # tables: storage formats, rounding, relative noise
            attacks["float32"] = marked_x.astype(np.float32).astype(np.float64)
            attacks["print %.6g"] = np.vectorize(lambda v: float(f"{v:.6g}"))(marked_x)
            attacks["round 2 decimals"] = np.round(marked_x, 2)
            for rel in (1e-4, 3e-4, 1e-3, 3e-3):
                attacks[f"relative noise {rel:g}"] = marked_x * (
                    1 + rng.normal(0, rel, marked_x.shape))
        out[name] = {
            "records": len(x), "features": x.shape[1],
            "auroc": round(_auroc(scores_real, scores_marked), 6),
            "fpr_at_max_p": float(real.marked().mean()),
            "tpr_at_max_p": float(found.marked().mean()),
            "tpr_at_empirical_fpr_0.1%": _tpr_at_fpr(scores_real, scores_marked, FPR_TARGET),
            "real_min_p": float(real.p_value.min()),
            "marked_max_p": float(found.p_value.max()),
            "marked_min_bits": float(found.bits.min()),
            "fpr_over_keys": {"keys": keys, "p<=MAX_P": float((ps <= MAX_P).mean()),
                              "p<=1e-4": float((ps <= 1e-4).mean()),
                              "p<=1e-3": float((ps <= 1e-3).mean()),
                              "p<=1e-2": float((ps <= 1e-2).mean())},
            "change": {"rms_of_range": round(float(np.sqrt((change**2).mean())), 5),
                       "max_abs_of_range": round(float(np.abs(change).max()), 5),
                       "rms_relative": round(float(np.sqrt((relative**2).mean())), 5),
                       "changed_share": round(float((marked_x != x).mean()), 4)},
            "attacks_detected": {k: round(float(mark.detect(v).marked().mean()), 4)
                                 for k, v in attacks.items()},
            "embed_ms_per_1000": round(1000 * embed_s / len(x) * 1000, 2),
            "detect_ms_per_1000": round(1000 * detect_s / len(x) * 1000, 2),
        }
    return out


# -- 2. fidelity ----------------------------------------------------------------------------


def _split(name: str, seed: int) -> tuple[np.ndarray, ...]:
    x, y, _ = _load(name)
    return tuple(train_test_split(x, y, test_size=0.5, random_state=seed, stratify=y))


def fidelity_section(seeds: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    cases = [("copula", "breast_cancer"), ("copula", "wine"), ("vae", "digits"),
             ("copula", "digits")]
    out: dict[str, Any] = {}
    samples: dict[str, Any] = {}  # the first seed's samples, for the detector section
    for kind, name in cases:
        rows: dict[str, list[float]] = {}
        for seed in seeds:
            x_tr, x_te, y_tr, y_te = _split(name, seed)
            value_range = SETS[name][1]
            for marked in (True, False):
                wm = Watermark() if marked else None
                started = time.perf_counter()
                if kind == "vae":
                    gen: Any = ConditionalVAE(value_range=value_range, seed=seed,
                                              watermark=wm).fit(x_tr, y_tr)
                else:
                    gen = GaussianCopula(value_range=value_range, watermark=wm).fit(x_tr, y_tr)
                fit_s = time.perf_counter() - started
                started = time.perf_counter()
                synth = gen.sample(labels=y_tr, seed=seed + 1)
                sample_s = time.perf_counter() - started
                report = fidelity(x_tr, synth.x, real_y=y_tr, synth_y=synth.y,
                                  test=(x_te, y_te), seed=seed)
                tag = "marked" if marked else "unmarked"
                assert report.ml_efficacy is not None
                for key, value in (("column_shapes", report.column_shapes),
                                   ("pair_trends", report.pair_trends),
                                   ("overall", report.overall),
                                   ("ml_real", report.ml_efficacy["real"]),
                                   ("ml_synthetic", report.ml_efficacy["synthetic"]),
                                   ("ml_ratio", report.ml_efficacy["ratio"]),
                                   ("fit_s", fit_s), ("sample_s", sample_s)):
                    rows.setdefault(f"{tag}.{key}", []).append(value)
                if name == "digits":
                    with threadpool_limits(1):
                        clf = LogisticRegression(max_iter=3000).fit(x_tr / 16, y_tr)
                    rows.setdefault(f"{tag}.label_agreement", []).append(
                        float((clf.predict(synth.x / 16) == synth.y).mean()))
                if seed == seeds[0]:
                    samples[f"{kind}/{name}/{tag}"] = (x_tr, synth.x, gen)
        out[f"{kind}/{name}"] = {k: _median(v) for k, v in sorted(rows.items())}
        out[f"{kind}/{name}"]["seeds"] = len(seeds)
    return out, samples


# -- 3. the undeclared-synthetic detector ----------------------------------------------------


def detector_section(samples: dict[str, Any], seed: int, runner: LocalRunner) -> dict[str, Any]:
    mark = Watermark()
    out: dict[str, Any] = {}
    pairs: list[tuple[str, np.ndarray, np.ndarray]] = []
    for key, (real, synth, _gen) in samples.items():
        kind, name, tag = key.split("/")
        if (kind, name) == ("copula", "digits"):
            continue
        pairs.append((f"{kind}/{name}/{tag}", real, synth))
        if kind == "copula" and tag == "unmarked":
            pairs.append((f"{kind}/{name}/unmarked, rounded to the data's precision", real,
                          _like_real_precision(real, synth)))
    empty = np.zeros((0, 0))
    for label, real, synth in pairs:
        row: dict[str, Any] = {"real": len(real), "synthetic": len(synth)}
        for features in (False, True):
            started = time.perf_counter()
            r_oof, s_oof, _ = detector_scores(real, synth, empty.reshape(0, real.shape[1]),
                                              runner, seed=seed,
                                              precision_features=features)
            row["precision_features" if features else "raw"] = {
                "auroc": round(_auroc(r_oof, s_oof), 4),
                "tpr_at_fpr_1%": round(_tpr_at_fpr(r_oof, s_oof, 0.01), 4),
                "seconds": round(time.perf_counter() - started, 2)}
        row["watermark_auroc"] = round(_auroc(mark.detect(real).score,
                                              mark.detect(synth).score), 4)
        row["watermark_tpr_at_max_p"] = round(float(mark.detect(synth).marked().mean()), 4)
        out[label] = row
    return out


def gate_run(seed: int, runner: LocalRunner) -> dict[str, Any]:
    """The gate on digits: real + declared VAE samples in the dataset; held-out real and
    unmarked VAE digits declared human in the batch."""
    x, y, _ = _load("digits")
    order = np.random.default_rng(seed).permutation(len(x))
    train, held = order[:1200], order[1200:]
    vae = ConditionalVAE(value_range=(0, 16), seed=seed).fit(x[train], y[train])
    declared = vae.sample(40, seed=seed + 1)
    plain = ConditionalVAE.from_bytes(vae.to_bytes())
    plain.watermark = None  # a smuggler strips the mark (samples drawn without it)
    smuggled = plain.sample(30, seed=seed + 2)
    marked_lies = vae.sample(3, seed=seed + 3)
    schema = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                    value_range=(0, 16))
    existing = Records.concat([Records.make(y[train], x=x[train]), declared])
    batch = Records.make(np.r_[y[held], smuggled.y, marked_lies.y],
                         x=np.r_[x[held], smuggled.x, marked_lies.x])
    ctx = GateContext(schema=schema, existing=existing, runner=runner, seed=seed)
    started = time.perf_counter()
    result = SyntheticGate().check(batch, ctx)
    seconds = time.perf_counter() - started
    n_real, n_smuggled = len(held), len(smuggled)
    real_idx = set(range(n_real))
    smuggled_idx = set(range(n_real, n_real + n_smuggled))
    lies_idx = set(range(n_real + n_smuggled, len(batch)))
    flagged, rejected = result.indices("flag"), result.indices("reject")
    scores = {f.index: f.score for f in result.findings}
    return {
        "dataset": {"real": len(train), "declared_synthetic": len(declared)},
        "batch": {"real": n_real, "unmarked_synthetic": n_smuggled,
                  "marked_synthetic_declared_human": len(lies_idx)},
        "detector": result.stats["detector"],
        "real_flagged": round(len(flagged & real_idx) / n_real, 4),
        "unmarked_synthetic_flagged": round(len(flagged & smuggled_idx) / n_smuggled, 4),
        "marked_declared_human_rejected": round(len(rejected & lies_idx) / len(lies_idx), 4),
        "real_rejected": len(rejected & real_idx),
        "flag_scores_min": round(min((scores[i] for i in flagged), default=0.0), 4),
        "seconds": round(seconds, 2),
    }


def gate_section(seeds: list[int], runner: LocalRunner) -> dict[str, Any]:
    runs = [gate_run(seed, runner) for seed in seeds]
    summary = {key: _median([r[key] for r in runs]) for key in (
        "real_flagged", "unmarked_synthetic_flagged", "marked_declared_human_rejected",
        "real_rejected", "seconds")}
    summary["oof_auroc"] = _median([r["detector"]["oof_auroc"] for r in runs])
    return {"seeds": seeds, "median": summary, "runs": runs}


# -- output ---------------------------------------------------------------------------------


def _print(result: dict[str, Any]) -> None:
    print(f"watermark (public key; MAX_P = {MAX_P:.0e})")
    print(f"{'set':<14} {'AUROC':>7} {'FPR@MAX_P':>10} {'TPR@MAX_P':>10} {'TPR@0.1%':>9} "
          f"{'keys FPR@MAX_P':>15} {'keys FPR@1e-3':>14} {'RMS/range':>10} {'max/range':>10}")
    for name, r in result["watermark"].items():
        k = r["fpr_over_keys"]
        print(f"{name:<14} {r['auroc']:>7.4f} {r['fpr_at_max_p']:>10.4%} "
              f"{r['tpr_at_max_p']:>10.2%} {r['tpr_at_empirical_fpr_0.1%']:>9.2%} "
              f"{k['p<=MAX_P']:>15.5%} {k['p<=1e-3']:>14.4%} "
              f"{r['change']['rms_of_range']:>10.4f} {r['change']['max_abs_of_range']:>10.4f}")
    print("\nwatermark detected after attacks:")
    for name, r in result["watermark"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.0%}" for k, v in
                                        r["attacks_detected"].items()))
    print("\nfidelity (median over seeds; marked / unmarked):")
    print(f"{'generator':<22} {'shapes':>13} {'trends':>13} {'ML real':>8} {'ML synth':>13} "
          f"{'labels':>13} {'fit s':>6}")
    for name, r in result["fidelity"].items():
        def both(key: str, r: dict[str, Any] = r) -> str:
            a, b = r.get(f"marked.{key}"), r.get(f"unmarked.{key}")
            return "-" if a is None else f"{a['median']:.3f}/{b['median']:.3f}"
        print(f"{name:<22} {both('column_shapes'):>13} {both('pair_trends'):>13} "
              f"{r['marked.ml_real']['median']:>8.3f} {both('ml_synthetic'):>13} "
              f"{both('label_agreement'):>13} {r['marked.fit_s']['median']:>6.2f}")
    print("\nundeclared-synthetic detector, out-of-fold AUROC (raw / +precision) and the "
          "watermark's:")
    for name, r in result["detector"].items():
        print(f"  {name:<58} {r['raw']['auroc']:.3f} / {r['precision_features']['auroc']:.3f}"
              f"   watermark {r['watermark_auroc']:.3f}")
    g = {k: v["median"] for k, v in result["gate"]["median"].items()}
    print(f"\nsynthetic gate on digits (median of {len(result['gate']['seeds'])} seeds): OOF "
          f"AUROC {g['oof_auroc']:.4f}, unmarked VAE digits flagged "
          f"{g['unmarked_synthetic_flagged']:.1%}, real digits flagged {g['real_flagged']:.1%}, "
          f"marked ones declared human rejected {g['marked_declared_human_rejected']:.0%}, "
          f"real rejected {g['real_rejected']:.0f} ({g['seconds']} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 10 keys: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "data_synthetic.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [args.seed] if args.quick else [args.seed + i for i in range(3)]
    keys, reps = (10, 1) if args.quick else (300, 5)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        runner = LocalRunner(LocalBlobStore(tmp))
        section_s: dict[str, float] = {}
        t = time.perf_counter()
        wm = watermark_section(keys, reps, args.seed)
        section_s["watermark"] = time.perf_counter() - t
        t = time.perf_counter()
        fid, samples = fidelity_section(seeds)
        section_s["fidelity"] = time.perf_counter() - t
        t = time.perf_counter()
        det = detector_section(samples, args.seed, runner)
        section_s["detector"] = time.perf_counter() - t
        t = time.perf_counter()
        gate = gate_section(seeds, runner)
        section_s["gate"] = time.perf_counter() - t
    result = {
        "command": " ".join(["python", "bench/data_synthetic.py", *sys.argv[1:]]),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(),
                    "numpy": np.__version__, "torch": torch.__version__,
                    "sklearn": sklearn.__version__, "threads": 1},
        "params": {"seeds": seeds, "keys": keys, "timing_reps": reps, "max_p": MAX_P,
                   "watermark": {"steps_per_octave": Watermark().steps_per_octave,
                                 "tolerance": Watermark().tolerance},
                   "detector": {"folds": 5, "model": "HistGradientBoostingClassifier",
                                "max_iter": 100}},
        "watermark": wm, "fidelity": fid, "detector": det, "gate": gate,
        "section_s": {k: round(v, 1) for k, v in section_s.items()},
    }
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _print(result)
    print(f"\n{result['elapsed_s']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
