"""Encrypted inference benchmark (not a test): TenSEAL CKKS vs plaintext, per packing size.

Models (``plexnet.models.encrypted``): logistic regression on breast cancer (30
features, depth 1) and the ``64 -> 16 -> x² -> 10`` MLP on digits (depth 3), each
trained in plaintext on a 70/30 stratified split (seed 0).

1. Accuracy: the whole test set in one encrypted batch, decrypted by the owner,
   against the plaintext model on the same samples: accuracy of each, the gap in
   points, prediction agreement and the largest output error relative to the
   output scale. Goal: gap <= 0.5 points.
2. Latency per sample at several packing sizes (samples per ciphertext, the test
   set tiled to fill the batch): encrypt (owner), server compute, decrypt
   (owner), total, each the median over repetitions, divided by the batch size;
   ciphertext and public-context sizes. Goal: <= 20 ms per sample.
3. Baseline, side by side in the same run: logistic regression unpacked, one
   sample per ciphertext, its score by TenSEAL's rotate-and-sum ``dot`` (which
   needs Galois keys in the public context).

    python bench/models_encrypted.py            # about 2 minutes on 2 cores
    python bench/models_encrypted.py --quick    # fewer packing sizes, one repetition
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
import tenseal as ts
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from plexnet.models.encrypted import (
    CKKSServer,
    KeyOwner,
    PolyModel,
    train_logistic,
    train_square_mlp,
)

RESULTS = Path(__file__).parent / "results"
GOAL_GAP_POINTS = 0.5
GOAL_MS_PER_SAMPLE = 20.0


def _predict(scores: np.ndarray) -> np.ndarray:
    return (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(1)


def _tasks() -> list[tuple[str, PolyModel, np.ndarray, np.ndarray]]:
    out = []
    for name, loader in (("logreg_breast_cancer", load_breast_cancer),
                         ("mlp_sq_digits", load_digits)):
        d = loader()
        xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.3, random_state=0,
                                              stratify=d.target)
        model = train_logistic(xtr, ytr) if name.startswith("logreg") else \
            train_square_mlp(xtr, ytr, 10)
        out.append((name, model, xte, yte))
    return out


def _accuracy(model: PolyModel, owner: KeyOwner, server: CKKSServer, x: np.ndarray,
              y: np.ndarray) -> dict[str, Any]:
    plain = model.forward(x)
    enc = owner.decrypt(server.evaluate(model, owner.encrypt(x)))
    acc_plain = float((_predict(plain) == y).mean())
    acc_enc = float((_predict(enc) == y).mean())
    return {"n_test": len(y), "accuracy_plain": acc_plain, "accuracy_encrypted": acc_enc,
            "gap_points": round(100 * (acc_plain - acc_enc), 3),
            "agreement": float((_predict(plain) == _predict(enc)).mean()),
            "max_error_rel_to_scale": float(np.abs(enc - plain).max() / np.abs(plain).max())}


def _latency(model: PolyModel, owner: KeyOwner, server: CKKSServer, x: np.ndarray, batch: int,
             reps: int) -> dict[str, Any]:
    xb = np.resize(x, (batch, x.shape[1]))  # the test set tiled to fill the batch
    t_enc, t_srv, t_dec = [], [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        enc = owner.encrypt(xb)
        t1 = time.perf_counter()
        res = server.evaluate(model, enc)
        t2 = time.perf_counter()
        owner.decrypt(res)
        t3 = time.perf_counter()
        t_enc.append(t1 - t0)
        t_srv.append(t2 - t1)
        t_dec.append(t3 - t2)
    med = {k: statistics.median(v) for k, v in
           (("encrypt", t_enc), ("compute", t_srv), ("decrypt", t_dec))}
    per = {f"{k}_ms_per_sample": 1e3 * v / batch for k, v in med.items()}
    per["total_ms_per_sample"] = sum(per.values())
    return {"batch": batch, "ciphertexts_in": enc.n_columns, "ciphertexts_out": res.n_columns,
            "bytes_in": enc.nbytes, "bytes_out": res.nbytes,
            "bytes_per_ciphertext": enc.nbytes // enc.n_columns,
            **{f"{k}_s_batch": v for k, v in med.items()}, **per}


def _unpacked_baseline(model: PolyModel, x: np.ndarray, n: int) -> dict[str, Any]:
    """One sample per ciphertext; score = rotate-and-sum dot product + bias."""
    p = KeyOwner.for_model(model).params
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, p.poly_modulus_degree,
                     coeff_mod_bit_sizes=list(p.coeff_mod_bit_sizes))
    ctx.global_scale = 2.0 ** p.scale_bits
    ctx.generate_galois_keys()
    public = ctx.copy()
    public.make_context_public()
    server_ctx = ts.context_from(public.serialize(save_galois_keys=True))
    (w, b), = model.layers
    t_enc, t_srv, t_dec, err = [], [], [], []
    for row in x[:n]:
        t0 = time.perf_counter()
        data = ts.ckks_vector(ctx, row).serialize()
        t1 = time.perf_counter()
        out = (ts.ckks_vector_from(server_ctx, data).dot(w[0].tolist()) + float(b[0])).serialize()
        t2 = time.perf_counter()
        score = ts.ckks_vector_from(ctx, out).decrypt()[0]
        t3 = time.perf_counter()
        t_enc.append(t1 - t0)
        t_srv.append(t2 - t1)
        t_dec.append(t3 - t2)
        err.append(abs(score - float(row @ w[0] + b[0])))
    per = {f"{k}_ms_per_sample": 1e3 * statistics.median(v) for k, v in
           (("encrypt", t_enc), ("compute", t_srv), ("decrypt", t_dec))}
    per["total_ms_per_sample"] = sum(per.values())
    return {"samples": n, "public_context_bytes_with_galois": len(public.serialize(
        save_galois_keys=True)), "max_abs_error": float(max(err)), **per}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer packing sizes, 1 repetition")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; quick 1)")
    parser.add_argument("--out", type=Path, default=RESULTS / "models_encrypted.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    reps = args.reps or (1 if args.quick else 3)
    batches = [1, 256, 4096] if args.quick else [1, 16, 256, 1024, 4096]

    results: dict[str, Any] = {}
    for name, model, x, y in _tasks():
        owner = KeyOwner.for_model(model)
        server = CKKSServer(owner.public_context())
        p = owner.params
        entry: dict[str, Any] = {
            "model_layers": [list(w.shape) for w, _ in model.layers], "depth": model.depth,
            "ckks": {"poly_modulus_degree": p.poly_modulus_degree,
                     "coeff_mod_bit_sizes": list(p.coeff_mod_bit_sizes),
                     "scale_bits": p.scale_bits, "slots": p.slots},
            "public_context_bytes": len(owner.public_context()),
            "accuracy": _accuracy(model, owner, server, x, y),
            "latency": [_latency(model, owner, server, x, b, reps) for b in batches],
        }
        if len(model.layers) == 1:
            entry["unpacked_baseline"] = _unpacked_baseline(model, x, 3 if args.quick else 10)
        best = min(r["total_ms_per_sample"] for r in entry["latency"])
        entry["goals"] = {"gap_points_max": GOAL_GAP_POINTS,
                          "ms_per_sample_max": GOAL_MS_PER_SAMPLE,
                          "gap_met": entry["accuracy"]["gap_points"] <= GOAL_GAP_POINTS,
                          "best_total_ms_per_sample": best,
                          "latency_met": best <= GOAL_MS_PER_SAMPLE}
        results[name] = entry

    for name, e in results.items():
        a = e["accuracy"]
        print(f"\n{name}  layers {e['model_layers']}  depth {e['depth']}  "
              f"ckks {e['ckks']['poly_modulus_degree']} {e['ckks']['coeff_mod_bit_sizes']}  "
              f"public context {e['public_context_bytes'] / 1e6:.2f} MB")
        print(f"  accuracy plain {a['accuracy_plain']:.4f}  encrypted {a['accuracy_encrypted']:.4f}"
              f"  gap {a['gap_points']:.2f} pt  agreement {a['agreement']:.4f}"
              f"  max err/scale {a['max_error_rel_to_scale']:.1e}")
        print(f"  {'batch':>6} {'enc ms/s':>9} {'srv ms/s':>9} {'dec ms/s':>9} {'total':>9}"
              f" {'KB/ct':>7} {'MB in':>7} {'MB out':>7}")
        for r in e["latency"]:
            print(f"  {r['batch']:>6} {r['encrypt_ms_per_sample']:>9.3f}"
                  f" {r['compute_ms_per_sample']:>9.3f} {r['decrypt_ms_per_sample']:>9.3f}"
                  f" {r['total_ms_per_sample']:>9.3f} {r['bytes_per_ciphertext'] / 1e3:>7.0f}"
                  f" {r['bytes_in'] / 1e6:>7.2f} {r['bytes_out'] / 1e6:>7.2f}")
        if "unpacked_baseline" in e:
            u = e["unpacked_baseline"]
            print(f"  unpacked (1 sample/ct, rotate-and-sum dot):"
                  f" enc {u['encrypt_ms_per_sample']:.2f}"
                  f"  srv {u['compute_ms_per_sample']:.2f}  dec {u['decrypt_ms_per_sample']:.2f}"
                  f"  total {u['total_ms_per_sample']:.2f} ms/sample; public context with Galois "
                  f"keys {u['public_context_bytes_with_galois'] / 1e6:.1f} MB")
        g = e["goals"]
        print(f"  goals: gap <= {GOAL_GAP_POINTS} pt {'met' if g['gap_met'] else 'MISSED'}; "
              f"best {g['best_total_ms_per_sample']:.3f} ms/sample <= {GOAL_MS_PER_SAMPLE} "
              f"{'met' if g['latency_met'] else 'MISSED'}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "models_encrypted",
        "command": " ".join(["python", "bench/models_encrypted.py", *sys.argv[1:]]),
        "parameters": {"quick": args.quick, "repetitions": reps, "batches": batches,
                       "split": "70/30 stratified, random_state 0", "torch_threads": 1},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "tenseal": ts.__version__},
        "results": results,
    }, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
