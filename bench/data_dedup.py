"""Near-duplicate benchmark (not a test): planted copies found, distinct records left alone.

1. Digits (scikit-learn, 1,797 8x8 images, 0-16): per seed, 1,200 digits are the
   dataset; the batch holds ``copies`` planted near copies of dataset digits and the 597
   other digits. Faults (each copy differs from its source: ones that round back to it
   are drawn again): Gaussian pixel noise (sigma 0.6, rounded, clipped); shifts of 1 and
   of 2 px (background fill); a zoom of 0.85-1.15 about the centre resampled back onto
   8x8 (bilinear with zero padding, as torch's ``grid_sample`` and scipy's
   ``grid-constant`` mode do); the same zoom in scipy.ndimage's default ``constant``
   mode (no interpolation past the edge); and a mix: zoom 0.9-1.1, then a 1 px shift,
   then noise. Three more are outside the gate's model and shown for honesty: bicubic
   zoom, a shift followed by a zoom (two crops), and PIL resizes to 7 or 9 px centred
   back onto 8x8. Precision, recall, F1 of ``near_duplicates`` per fault, the share of
   found copies that name their true source, and batch records per second.
2. Distinct digits: all 1,797 as one batch (in order and reversed): the false-match rate,
   and the best aligned score of every digit, swept over ``max_aligned_rms``.
3. Scale: 100,000 records (digits tiled with pixel noise sigma 0.6, as the issue asks,
   and with sigma 2.0, where no record is a noisy copy so every record goes through the
   shift-tolerant search) through ``near_duplicates``.
4. Text: docstring paragraphs of the Python standard library (>= 30 words, true repeats
   removed); planted copies with 5, 10 and 20 % of words replaced, inserted or deleted
   plus random case changes, and case-only copies. F1 and records per second of the
   MinHash path; the 20 % row shows where it stops.
5. Semantic: MiniLM cosine of the same copies and of rewordings that keep the meaning
   (sentences shuffled, one dropped, 10 % of words deleted) against distinct
   paragraphs: ``semantic_duplicates``.
6. Outliers: 597 clean digits and 100 of each corruption (uniform noise, all zero,
   0-1 scale inside the 0-16 range, 8x8 patches of scikit-learn's sample photographs)
   against 1,200 dataset digits: flag rates of ``outliers``; the same records through
   the model layer's ``reconstruction`` gate (an autoencoder's reconstruction error,
   ``plexnet/models/gates.py``) as the part ``reconstruction``.

    python bench/data_dedup.py              # everything (about 10 minutes on 2 cores)
    python bench/data_dedup.py --quick      # fewer seeds, smaller scale run
    python bench/data_dedup.py --only text  # one part
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import platform
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits, load_sample_images
from threadpoolctl import threadpool_limits

from plexnet.data import Records, Schema
from plexnet.data.gates.base import GateContext, GateResult
from plexnet.data.gates.near import NearDuplicates, jaccard, shingles
from plexnet.data.gates.outliers import Outliers

RESULTS = Path(__file__).parent / "results"
DIGITS = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                value_range=(0, 16))
TEXT = Schema(kind="text", labels=["doc"])
GOAL_F1 = 0.95
DATASET = 1200
Fault = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# -- digit faults -----------------------------------------------------------------------------


def _noise(img: np.ndarray, rng: np.random.Generator, sigma: float = 0.6) -> np.ndarray:
    return np.clip(np.round(img + rng.normal(0, sigma, img.shape)), 0, 16)


def _shift(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(img)
    h, w = img.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _random_shift(rng: np.random.Generator, size: int) -> tuple[int, int]:
    while True:  # largest component exactly `size`
        dy, dx = rng.integers(-size, size + 1, 2).tolist()
        if max(abs(dy), abs(dx)) == size:
            return dy, dx


def _zoom(img: np.ndarray, z: float, mode: str = "grid-constant", order: int = 1) -> np.ndarray:
    centre = (np.array(img.shape) - 1) / 2
    matrix = np.eye(2) / z
    out = ndimage.affine_transform(img, matrix, centre - matrix @ centre, order=order,
                                   mode=mode)
    return np.clip(np.round(out), 0, 16)


def _pil_resize(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    side = int(rng.choice([7, 9]))
    pic = Image.fromarray(img.astype(np.float32), mode="F").resize((side, side),
                                                                   Image.Resampling.BILINEAR)
    small = np.asarray(pic)
    out = np.zeros((8, 8))
    if side < 8:
        out[:side, :side] = small  # padded at the bottom-right: a half-pixel shift too
    else:
        out[:] = small[:8, :8]
    return np.clip(np.round(out), 0, 16)


FAULTS: dict[str, Fault] = {
    "noise": _noise,
    "shift_1px": lambda im, rng: _shift(im, *_random_shift(rng, 1)),
    "shift_2px": lambda im, rng: _shift(im, *_random_shift(rng, 2)),
    "zoom": lambda im, rng: _zoom(im, rng.uniform(0.85, 1.15)),
    "zoom_scipy_constant": lambda im, rng: _zoom(im, rng.uniform(0.85, 1.15), mode="constant"),
    "mix": lambda im, rng: _noise(_shift(_zoom(im, rng.uniform(0.9, 1.1)),
                                         *_random_shift(rng, 1)), rng),
}
OUTSIDE: dict[str, Fault] = {
    "zoom_bicubic": lambda im, rng: _zoom(im, rng.uniform(0.85, 1.15), order=3),
    "shift_then_zoom": lambda im, rng: _noise(_zoom(_shift(im, *_random_shift(rng, 1)),
                                                    rng.uniform(0.9, 1.1)), rng),
    "pil_resize": _pil_resize,
}


def _plant(fault: Fault, images: np.ndarray, sources: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    out = []
    for i in sources:
        for _ in range(50):
            copy = fault(images[i], rng)
            if not np.array_equal(copy, images[i]):
                break
        out.append(copy)
    return np.asarray(out).reshape(len(sources), -1)


def _scores(found: set[int], truth: set[int]) -> dict[str, float]:
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "false_positives": len(found - truth)}


def _timed(gate: Any, batch: Records, ctx: GateContext) -> tuple[GateResult, float]:
    t0 = time.perf_counter()
    result = gate.check(batch, ctx)
    return result, time.perf_counter() - t0


def digits(seeds: list[int], copies: int) -> dict[str, Any]:
    data = load_digits()
    x, y = data.data.astype(float), data.target.astype(np.int64)
    images = x.reshape(-1, 8, 8)
    gate = NearDuplicates()
    rows = []
    for kind, faults in (("model", FAULTS), ("outside", OUTSIDE)):
        for name, fault in faults.items():
            per_seed = []
            for seed in seeds:
                rng = np.random.default_rng(seed)
                order = rng.permutation(len(x))
                dataset, rest = order[:DATASET], order[DATASET:]
                position = rng.choice(DATASET, copies, replace=False)  # in the dataset
                sources = dataset[position]
                planted = _plant(fault, images, sources, rng)
                batch = Records.make(np.r_[y[sources], y[rest]], x=np.r_[planted, x[rest]])
                ctx = GateContext(schema=DIGITS, existing=Records.make(y[dataset], x=x[dataset]))
                result, seconds = _timed(gate, batch, ctx)
                found = {f.index for f in result.findings}
                named = [f.related == f"dataset:{position[f.index]}" for f in result.findings
                         if f.index < copies]
                per_seed.append(_scores(found, set(range(copies))) | {
                    "seconds": seconds, "records_per_s": len(batch) / seconds,
                    "names_source": float(np.mean(named)) if named else 0.0})
            row = {"fault": name, "in_model": kind == "model", "seeds": len(seeds),
                   "copies": copies, "batch": copies + len(x) - DATASET, "dataset": DATASET}
            for key in per_seed[0]:
                row[key] = statistics.median(s[key] for s in per_seed)
            row["f1_min"] = min(s["f1"] for s in per_seed)
            rows.append(row)
            print(f"  {name:22s} P {row['precision']:.3f} R {row['recall']:.3f} "
                  f"F1 {row['f1']:.3f} (min {row['f1_min']:.3f})  names source "
                  f"{row['names_source']:.3f}  {row['records_per_s']:,.0f} records/s",
                  flush=True)
    return {"rows": rows, "goal_f1": GOAL_F1,
            "goal_met_in_model": all(r["f1"] >= GOAL_F1 for r in rows if r["in_model"])}


def distinct_digits(seeds: list[int], copies: int) -> dict[str, Any]:
    """False matches among the 1,797 distinct digits, and the threshold sweep."""
    data = load_digits()
    x, y = data.data.astype(float), data.target.astype(np.int64)
    n = len(x)
    loose = NearDuplicates(max_aligned_rms=0.1)
    best = np.full(n, np.inf)
    for order in (np.arange(n), np.arange(n)[::-1]):
        result = loose.check(Records.make(y[order], x=x[order]), GateContext(schema=DIGITS))
        for f in result.findings:
            who = int(order[f.index])
            if "shifted/zoomed" in f.reason:
                best[who] = min(best[who], f.score or np.inf)
            else:
                best[who] = -1.0  # matched by the noisy-copy check (fixed at max_rms)
    # Recall of each in-model fault at each threshold, from the same loose gate.
    images = x.reshape(-1, 8, 8)
    fault_best: dict[str, list[float]] = {name: [] for name in FAULTS}
    for name, fault in FAULTS.items():
        for seed in seeds:
            rng = np.random.default_rng(seed)
            order = rng.permutation(n)
            dataset, rest = order[:DATASET], order[DATASET:]
            sources = rng.choice(dataset, copies, replace=False)
            planted = _plant(fault, images, sources, rng)
            batch = Records.make(np.r_[y[sources], y[rest]], x=np.r_[planted, x[rest]])
            ctx = GateContext(schema=DIGITS, existing=Records.make(y[dataset], x=x[dataset]))
            score = np.full(copies, np.inf)
            for f in loose.check(batch, ctx).findings:
                if f.index < copies:
                    score[f.index] = -1.0 if "shifted/zoomed" not in f.reason else f.score
            fault_best[name] += score.tolist()
    sweep = []
    for threshold in (0.03, 0.035, 0.04, 0.045, 0.05, 0.055, 0.06, 0.07):
        row: dict[str, Any] = {"max_aligned_rms": threshold,
                               "distinct_false_match_rate": float(np.mean(best < threshold))}
        for name, scores in fault_best.items():
            row[f"recall_{name}"] = float(np.mean(np.asarray(scores) < threshold))
        sweep.append(row)
    default = NearDuplicates()
    counts = {}
    for label, order in (("in_order", np.arange(n)), ("reversed", np.arange(n)[::-1])):
        result = default.check(Records.make(y[order], x=x[order]), GateContext(schema=DIGITS))
        counts[label] = {int(order[f.index]) for f in result.findings}
    either = counts["in_order"] | counts["reversed"]
    aligned = best[best >= 0]
    out = {"digits": n,
           "false_matches_in_order": len(counts["in_order"]),
           "false_match_rate_in_order": len(counts["in_order"]) / n,
           "false_matches_either_order": len(either),
           "false_match_rate_either_order": len(either) / n,
           "best_aligned_rms_quantiles": {
               q: float(np.quantile(np.where(np.isfinite(aligned), aligned, 1.0), q))
               for q in (0.001, 0.002, 0.005, 0.01, 0.02)},
           "sweep": sweep}
    print(f"  distinct digits matched: {len(counts['in_order'])} in order, {len(either)} in "
          f"either order of {n} ({len(either) / n:.2%})")
    for row in sweep:
        print("  max_aligned_rms {max_aligned_rms:.3f}: distinct FMR "
              "{distinct_false_match_rate:.4f}".format(**row) + "  " + "  ".join(
                  f"{k[7:]} {v:.3f}" for k, v in row.items() if k.startswith("recall_")))
    return out


def scale(records: int, reps: int) -> dict[str, Any]:
    data = load_digits()
    x = data.data.astype(float)
    rows = []
    for sigma in (0.6, 2.0):
        times, stats = [], {}
        for rep in range(reps):
            rng = np.random.default_rng(100 + rep)
            tiled = np.clip(np.round(x[rng.integers(0, len(x), records)]
                                     + rng.normal(0, sigma, (records, 64))), 0, 16)
            batch = Records.make(np.zeros(records, np.int64), x=tiled)
            result, seconds = _timed(NearDuplicates(), batch, GateContext(schema=DIGITS))
            times.append(seconds)
            stats = result.stats
        row = {"records": records, "noise_sigma": sigma, "reps": reps,
               "seconds_median": statistics.median(times), "seconds": times,
               "records_per_s": records / statistics.median(times), "last_stats": stats}
        rows.append(row)
        print(f"  {records:,} records, noise sigma {sigma}: {row['seconds_median']:.1f} s "
              f"median of {reps} ({row['records_per_s']:,.0f} records/s); {stats}", flush=True)
    return {"rows": rows}


# -- text --------------------------------------------------------------------------------------


def stdlib_paragraphs(min_words: int = 30) -> list[str]:
    """Docstring paragraphs of the standard library's public modules, classes, functions."""
    skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}
    names = sorted(m for m in sys.stdlib_module_names if not m.startswith("_") and m not in skip)
    seen: dict[str, None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            try:
                module = importlib.import_module(name)
            except Exception:  # platform-specific modules
                continue
            objects: list[Any] = [module]
            for key, value in sorted(vars(module).items()):
                if key.startswith("_") or getattr(value, "__module__", None) != name:
                    continue
                if inspect.isfunction(value):
                    objects.append(value)
                elif inspect.isclass(value):
                    objects.append(value)
                    objects += [m for k, m in sorted(vars(value).items())
                                if not k.startswith("_") and inspect.isfunction(m)]
            for obj in objects:
                for para in re.split(r"\n\s*\n", inspect.getdoc(obj) or ""):
                    para = " ".join(para.split())
                    if len(para.split()) >= min_words:
                        seen.setdefault(para, None)
    return list(seen)


def distinct(paragraphs: list[str], cut: float = 0.3) -> tuple[list[str], int]:
    """Paragraphs with no earlier kept one at exact shingle Jaccard >= ``cut``."""
    kept: list[str] = []
    sets: list[frozenset[str]] = []
    for p in paragraphs:
        s = shingles(p)
        if all(jaccard(s, t) < cut for t in sets):
            kept.append(p)
            sets.append(s)
    return kept, len(paragraphs) - len(kept)


def edit(text: str, share: float, vocab: list[str], rng: np.random.Generator,
         case: float = 0.1) -> str:
    """``share`` of the words replaced, inserted or deleted, then random case changes."""
    words = text.split()
    for _ in range(max(1, round(share * len(words))) if share else 0):
        op, i = int(rng.integers(3)), int(rng.integers(len(words)))
        if op == 0:
            words[i] = vocab[int(rng.integers(len(vocab)))]
        elif op == 1:
            words.insert(i, vocab[int(rng.integers(len(vocab)))])
        elif len(words) > 2:
            del words[i]
    words = [w.upper() if rng.random() < case else w.capitalize() if rng.random() < case
             else w for w in words]
    return " ".join(words)


def reword(text: str, rng: np.random.Generator) -> str:
    """A rewording that keeps the meaning: sentences shuffled, one dropped (of three or
    more), 10 % of the words deleted (no foreign words put in)."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    order = rng.permutation(len(sentences)).tolist()
    if len(order) >= 3:
        order = order[:-1]
    words = " ".join(sentences[i] for i in order).split()
    drop = set(rng.choice(len(words), len(words) // 10, replace=False).tolist())
    return " ".join(w for i, w in enumerate(words) if i not in drop)


TEXT_FAULTS = {"case_only": 0.0, "edit_5pct": 0.05, "edit_10pct": 0.10, "edit_20pct": 0.20}


def _text_setup(paragraphs: list[str], seed: int, copies: int, fault: str,
                vocab: list[str]) -> tuple[Records, GateContext, np.ndarray]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(paragraphs))
    cut = int(0.6 * len(order))
    dataset, rest = order[:cut], order[cut:]
    position = rng.choice(cut, copies, replace=False)  # in the dataset
    sources = dataset[position]
    if fault == "reworded":
        planted = [reword(paragraphs[i], rng) for i in sources]
    else:
        planted = [edit(paragraphs[i], TEXT_FAULTS[fault], vocab, rng) for i in sources]
    batch = Records.make(np.zeros(copies + len(rest), np.int64),
                         text=planted + [paragraphs[i] for i in rest])
    ctx = GateContext(schema=TEXT, existing=Records.make(np.zeros(len(dataset), np.int64),
                                                         text=[paragraphs[i] for i in dataset]))
    return batch, ctx, position


def text(seeds: list[int], copies: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    raw = stdlib_paragraphs()
    paragraphs, removed = distinct(raw)
    print(f"  {len(raw)} stdlib docstring paragraphs, {removed} removed as repeats "
          f"(Jaccard >= 0.3), {len(paragraphs)} left ({time.perf_counter() - t0:.1f} s)")
    vocab = sorted({w for p in paragraphs for w in re.findall(r"[A-Za-z]+", p)})
    gate = NearDuplicates()
    rows = []
    for fault in [*TEXT_FAULTS, "reworded"]:
        per_seed = []
        for seed in seeds:
            batch, ctx, position = _text_setup(paragraphs, seed, copies, fault, vocab)
            result, seconds = _timed(gate, batch, ctx)
            found = {f.index for f in result.findings}
            named = [f.related == f"dataset:{position[f.index]}" for f in result.findings
                     if f.index < copies]
            truth_sim = [jaccard(shingles(batch.text[i]), shingles(ctx.existing.text[s]))
                         for i, s in enumerate(position)]  # type: ignore[index, union-attr]
            per_seed.append(_scores(found, set(range(copies))) | {
                "seconds": seconds,
                "records_per_s": (len(batch) + len(ctx.existing)) / seconds,  # type: ignore[arg-type]
                "names_source": float(np.mean(named)) if named else 0.0,
                "copy_jaccard_median": float(np.median(truth_sim)),
                "copy_jaccard_q05": float(np.quantile(truth_sim, 0.05))})
        row = {"fault": fault, "seeds": len(seeds), "copies": copies,
               "paragraphs": len(paragraphs)}
        for key in per_seed[0]:
            row[key] = statistics.median(s[key] for s in per_seed)
        rows.append(row)
        print(f"  {fault:12s} P {row['precision']:.3f} R {row['recall']:.3f} F1 {row['f1']:.3f}"
              f"  copy Jaccard median {row['copy_jaccard_median']:.2f} (5 % below "
              f"{row['copy_jaccard_q05']:.2f})  {row['records_per_s']:,.0f} records/s")
    sets = [shingles(p) for p in paragraphs]
    nearest = [max((jaccard(s, t) for j, t in enumerate(sets) if j != i), default=0.0)
               for i, s in enumerate(sets)]
    return {"paragraphs_raw": len(raw), "repeats_removed": removed,
            "paragraphs": len(paragraphs),
            "distinct_nearest_jaccard_quantiles": {
                q: float(np.quantile(nearest, q)) for q in (0.5, 0.99, 1.0)},
            "rows": rows}


def semantic(seeds: list[int], copies: int) -> dict[str, Any]:
    from plexnet.data.gates import semantic as module
    from plexnet.data.gates.semantic import SemanticDuplicates, embed

    paragraphs, _ = distinct(stdlib_paragraphs())
    vocab = sorted({w for p in paragraphs for w in re.findall(r"[A-Za-z]+", p)})
    t0 = time.perf_counter()
    module._model()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors = embed(paragraphs)
    embed_s = time.perf_counter() - t0
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    nearest = sims.max(axis=1)
    gate = SemanticDuplicates()
    rows = []
    for fault in ("case_only", "edit_5pct", "edit_10pct", "reworded"):
        per_seed = []
        for seed in seeds:
            batch, ctx, position = _text_setup(paragraphs, seed, copies, fault, vocab)
            result, seconds = _timed(gate, batch, ctx)
            found = {f.index for f in result.findings}
            copy_vec = embed(list(batch.text[:copies]))  # type: ignore[index]
            source_vec = embed([ctx.existing.text[i] for i in position])  # type: ignore[union-attr]
            cos = (copy_vec * source_vec).sum(axis=1)
            per_seed.append(_scores(found, set(range(copies))) | {
                "seconds": seconds, "copy_cosine_q05": float(np.quantile(cos, 0.05)),
                "copy_cosine_median": float(np.median(cos))})
        row = {"fault": fault, "seeds": len(seeds), "copies": copies}
        for key in per_seed[0]:
            row[key] = statistics.median(s[key] for s in per_seed)
        rows.append(row)
        print(f"  semantic {fault:12s} P {row['precision']:.3f} R {row['recall']:.3f} "
              f"F1 {row['f1']:.3f}  copy cosine median {row['copy_cosine_median']:.3f} "
              f"(5 % below {row['copy_cosine_q05']:.3f})")
    quantiles = {q: float(np.quantile(nearest, q)) for q in (0.5, 0.9, 0.99, 0.995)}
    print(f"  distinct paragraphs' nearest cosine: {quantiles}; model load {load_s:.1f} s, "
          f"embedding {len(paragraphs) / embed_s:,.0f} paragraphs/s")
    return {"paragraphs": len(paragraphs), "distinct_nearest_cosine_quantiles": quantiles,
            "distinct_above_min_cosine": float(np.mean(nearest >= gate.min_cosine)),
            "model_load_s": load_s, "embed_paragraphs_per_s": len(paragraphs) / embed_s,
            "rows": rows}


# -- outliers ----------------------------------------------------------------------------------


def _photo_patches(count: int, rng: np.random.Generator) -> np.ndarray:
    photos = [im.mean(axis=2) for im in load_sample_images().images]
    out = []
    for _ in range(count):
        photo = photos[int(rng.integers(len(photos)))]
        side = int(rng.integers(8, 40))
        r0 = int(rng.integers(0, photo.shape[0] - side))
        c0 = int(rng.integers(0, photo.shape[1] - side))
        patch = ndimage.zoom(photo[r0:r0 + side, c0:c0 + side], 8 / side, order=1)[:8, :8]
        out.append(np.round(patch / 255 * 16))
    return np.asarray(out).reshape(count, -1)


def outliers(seeds: list[int], gate: Any = None) -> dict[str, Any]:
    """Flag rates of ``gate`` (default: ``outliers``) on clean and corrupted digits."""
    data = load_digits()
    x, y = data.data.astype(float), data.target.astype(np.int64)
    gate = gate or Outliers()
    per_seed = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(x))
        dataset, rest = order[:DATASET], order[DATASET:]
        bad = {"uniform_noise": rng.integers(0, 17, (100, 64)).astype(float),
               "all_zero": np.zeros((100, 64)),
               "wrong_scale_0_1": np.round(x[rng.choice(rest, 100)] / 16, 3),
               "photo_patches": _photo_patches(100, rng)}
        parts = [x[rest], *bad.values()]
        batch = Records.make(np.zeros(sum(len(p) for p in parts), np.int64),
                             x=np.concatenate(parts))
        ctx = GateContext(schema=DIGITS, existing=Records.make(y[dataset], x=x[dataset]),
                          seed=seed)
        result, seconds = _timed(gate, batch, ctx)
        flags = np.zeros(len(batch), bool)
        flags[list(result.indices())] = True
        scores = {f.index: f.score for f in result.findings}
        row: dict[str, Any] = {"clean_flag_rate": float(flags[:len(rest)].mean()),
                               "seconds": seconds, "threshold": result.stats["threshold"]}
        lo = len(rest)
        for name, part in bad.items():
            row[f"caught_{name}"] = float(flags[lo:lo + len(part)].mean())
            got = [scores[i] / result.stats["threshold"] for i in range(lo, lo + len(part))
                   if i in scores]
            row[f"min_ratio_{name}"] = float(min(got)) if got else 0.0
            lo += len(part)
        # A new dataset: every digit plus 5 of each corruption, judged against itself.
        junk = np.concatenate([part[:5] for part in bad.values()])
        fresh = gate.check(Records.make(np.zeros(len(x) + len(junk), np.int64),
                                        x=np.r_[x, junk]), GateContext(schema=DIGITS, seed=seed))
        fresh_flags = np.zeros(len(x) + len(junk), bool)
        fresh_flags[list(fresh.indices())] = True
        row["new_dataset_clean_flag_rate"] = float(fresh_flags[:len(x)].mean())
        row["new_dataset_caught_junk"] = float(fresh_flags[len(x):].mean())
        per_seed.append(row)
    out = {"seeds": len(seeds), "dataset": DATASET, "clean": len(x) - DATASET,
           "params": gate.params()}
    for key in per_seed[0]:
        out[key] = statistics.median(s[key] for s in per_seed)
    out["clean_flag_rate_max"] = max(s["clean_flag_rate"] for s in per_seed)
    print(f"  {gate.name}: " + ", ".join(f"{k} {v:.3f}" for k, v in out.items()
                                     if isinstance(v, float)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds, 20k scale run")
    parser.add_argument("--only", choices=["digits", "distinct", "scale", "text", "semantic",
                                           "outliers", "reconstruction"], action="append")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    parser.add_argument("--out", type=Path, default=RESULTS / "data_dedup.json")
    args = parser.parse_args()
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    parts = args.only or ["digits", "distinct", "scale", "text", "semantic", "outliers",
                          "reconstruction"]
    out: dict[str, Any] = {
        "command": "python bench/data_dedup.py" + (" --quick" if args.quick else "")
        + "".join(f" --only {p}" for p in args.only or []),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(),
                    "numpy": np.__version__, "threads": args.threads},
        "seeds": seeds, "near_duplicates_params": NearDuplicates().params()}
    with threadpool_limits(args.threads):
        for part in parts:
            print(f"{part}:", flush=True)
            t0 = time.perf_counter()
            if part == "digits":
                out[part] = digits(seeds, copies=200)
            elif part == "distinct":
                out[part] = distinct_digits(seeds[:3], copies=200)
            elif part == "scale":
                out[part] = scale(20_000 if args.quick else 100_000, 1 if args.quick else 3)
            elif part == "text":
                out[part] = text(seeds, copies=150)
            elif part == "semantic":
                out[part] = semantic(seeds[:3], copies=150)
            elif part == "outliers":
                out[part] = outliers(seeds)
            else:
                from plexnet.models.gates import Reconstruction

                out[part] = outliers(seeds, Reconstruction())
            out[part]["part_seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists() and args.only:  # a partial run updates the stored results
        stored = json.loads(args.out.read_text())
        stored.update({k: v for k, v in out.items() if k in parts})
        stored.setdefault("partial_commands", []).append(out["command"])
        out = stored
    args.out.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
