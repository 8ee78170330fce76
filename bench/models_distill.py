"""Distillation, int8 quantization and ONNX export on digits, measured side by side.

Teacher: a 64-512-512-10 MLP (train_mlp). Student: a 64-32-10 MLP distilled from
it (T 4, alpha 0.7), next to the same student trained on labels alone. Reports
held-out accuracy, the parameter ratio and the latency ratio (PyTorch CPU, one
thread, batch 1 and batch 256, medians over many timed batches), the promotion
gate's decision, and for teacher and student: ONNX fp32 / int8 and torch dynamic
int8 size, latency and accuracy against fp32 PyTorch. Also a temperature x alpha
sweep of the student (the defaults' evidence).

Goal (the issue): >= 97 % of the teacher's accuracy with >= 5x fewer parameters
and >= 2x faster (DistilBERT: 97 % with 40 % fewer parameters and 60 % faster).

    python bench/models_distill.py            # full run (a few minutes on 2 cores)
    python bench/models_distill.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from plexnet.models.compress import (
    check_onnx,
    export_onnx,
    onnx_predict,
    onnx_session,
    quantize_dynamic_int8,
    quantize_onnx_int8,
)
from plexnet.models.distill import distill
from plexnet.models.mlp import MLP, save_mlp
from plexnet.models.promotion import Measurement, measure, promote, torch_forward
from plexnet.models.supervised import train_mlp

OUT = Path(__file__).parent / "results" / "models_distill.json"
TORCH, ORT = "torch-cpu-1thread", "onnxruntime-cpu-1thread"


def _torch_size(model: torch.nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)  # the quantized model has no safetensors form
    return len(buf.getvalue())


def _lat(fwd, x, y, batch: int, reps: int, runtime: str) -> Measurement:
    return measure(fwd, x, y, batch_size=batch, reps=reps, warmup=max(3, reps // 10),
                   runtime=runtime)


def _formats(model: MLP, x: np.ndarray, y: np.ndarray, reps: dict[int, int]) -> dict:
    """Size, accuracy and latency of one model in four forms, measured back to back."""
    onnx32 = export_onnx(model, torch.zeros(1, x.shape[1]))
    diff = check_onnx(model, onnx32, x)
    onnx8 = quantize_onnx_int8(onnx32)
    q = quantize_dynamic_int8(model)
    s32, s8 = onnx_session(onnx32), onnx_session(onnx8)
    forms = {
        "torch_fp32": (torch_forward(model), TORCH, len(save_mlp(model))),
        "torch_int8_dynamic": (torch_forward(q), TORCH, _torch_size(q)),
        "onnx_fp32": (lambda a: onnx_predict(s32, a), ORT, len(onnx32)),
        "onnx_int8": (lambda a: onnx_predict(s8, a), ORT, len(onnx8)),
    }
    out: dict = {"onnx_max_abs_diff": diff}
    for name, (fwd, runtime, size) in forms.items():
        row: dict = {"size_bytes": size, "runtime": runtime}
        for batch, n in reps.items():
            m = _lat(fwd, x, y, batch, n, runtime)
            row["accuracy"] = m.accuracy
            row[f"latency_ms_b{batch}"] = round(m.latency_s * 1e3, 4)
        out[name] = row
    base = out["torch_fp32"]
    for name in forms:
        out[name]["size_ratio_vs_torch_fp32"] = round(out[name]["size_bytes"]
                                                      / base["size_bytes"], 3)
        for batch in reps:
            key = f"latency_ms_b{batch}"
            out[name][f"speedup_b{batch}_vs_torch_fp32"] = round(base[key] / out[name][key], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few epochs and reps, small sweep")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()

    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    test, train = order[:400], order[400:]
    x, y, xt, yt = d.data[train], d.target[train], d.data[test], d.target[test]
    teacher_epochs, student_epochs = (10, 20) if args.quick else (30, 40)
    reps = {1: 50, 256: 10} if args.quick else {1: 500, 256: 60}

    teacher, t_metrics = train_mlp(x, y, 10, {"hidden": [512, 512], "epochs": teacher_epochs,
                                              "seed": 0})
    student, s_metrics = distill(teacher, x, y, [32], epochs=student_epochs, seed=args.seed)
    alone, _ = train_mlp(x, y, 10, {"hidden": [32], "epochs": student_epochs,
                                    "seed": args.seed, "lr": 3e-3})
    tiny, _ = distill(teacher, x, y, [2], epochs=student_epochs, seed=args.seed)

    models = {"teacher": teacher, "student": student, "student_no_teacher": alone,
              "tiny_student": tiny}
    meas: dict[str, dict[int, Measurement]] = {k: {} for k in models}
    for batch, n in reps.items():  # interleaved per batch size: same machine state
        for name, model in models.items():
            meas[name][batch] = _lat(torch_forward(model), xt, yt, batch, n, TORCH)

    rows = {}
    for name, model in models.items():
        rows[name] = {"hidden": model.config["hidden"], "params": model.num_parameters(),
                      "test_accuracy": meas[name][1].accuracy,
                      **{f"latency_ms_b{b}": round(meas[name][b].latency_s * 1e3, 4)
                         for b in reps}}
    gates = {}
    for name in ("student", "student_no_teacher", "tiny_student"):
        for batch in reps:
            g = promote(meas["teacher"][batch], meas[name][batch])
            gates[f"{name}_b{batch}"] = {"promoted": g.decision, "reasons": list(g.reasons),
                                         "accuracy_share": round(g.accuracy_share, 4),
                                         "speedup": round(g.speedup, 3)}

    sweep = []
    grid = (itertools.product([1.0, 4.0], [0.7]) if args.quick
            else itertools.product([1.0, 2.0, 4.0, 8.0], [0.5, 0.7, 0.9]))
    seeds = [1] if args.quick else [1, 2]
    for temperature, alpha in grid:
        accs = []
        for seed in seeds:
            m, _ = distill(teacher, x, y, [32], temperature=temperature, alpha=alpha,
                           epochs=student_epochs, seed=seed)
            accs.append(measure(torch_forward(m), xt, yt, batch_size=1, reps=1).accuracy)
        sweep.append({"temperature": temperature, "alpha": alpha, "seeds": seeds,
                      "test_accuracy": accs})
    labels_only = []
    for seed in seeds:
        m, _ = train_mlp(x, y, 10, {"hidden": [32], "epochs": student_epochs, "seed": seed,
                                    "lr": 3e-3})
        labels_only.append(measure(torch_forward(m), xt, yt, batch_size=1, reps=1).accuracy)

    formats = {"teacher": _formats(teacher, xt, yt, reps), "student": _formats(student, xt, yt,
                                                                               reps)}

    t_acc, s_acc = rows["teacher"]["test_accuracy"], rows["student"]["test_accuracy"]
    goal = {
        "accuracy_share": round(s_acc / t_acc, 4),
        "param_ratio": round(rows["teacher"]["params"] / rows["student"]["params"], 2),
        **{f"speedup_b{b}": round(rows["teacher"][f"latency_ms_b{b}"]
                                  / rows["student"][f"latency_ms_b{b}"], 2) for b in reps},
    }
    goal["met"] = bool(goal["accuracy_share"] >= 0.97 and goal["param_ratio"] >= 5
                       and all(goal[f"speedup_b{b}"] >= 2 for b in reps))

    print(f"{'model':<20}{'hidden':>12}{'params':>9}{'test acc':>10}"
          + "".join(f"{f'ms b{b}':>11}" for b in reps))
    for name, r in rows.items():
        print(f"{name:<20}{r['hidden']!s:>12}{r['params']:>9}{r['test_accuracy']:>10.4f}"
              + "".join(f"{r[f'latency_ms_b{b}']:>11.4f}" for b in reps))
    print("\npromotion gate (>= 97% of teacher accuracy, >= 2x faster):")
    for key, g in gates.items():
        print(f"  {key:<26} {'PROMOTED' if g['promoted'] else 'refused':<9} "
              f"share {g['accuracy_share']:.3f}  speedup {g['speedup']:.2f}x")
    print(f"\nsweep (student [32], test accuracy per seed; labels only: {labels_only}):")
    for s in sweep:
        print(f"  T={s['temperature']:<4} alpha={s['alpha']:<4} {s['test_accuracy']}")
    for who, f in formats.items():
        print(f"\n{who}: ONNX max |diff| vs torch {f['onnx_max_abs_diff']:.2e}")
        print(f"  {'form':<20}{'bytes':>10}{'size x':>8}{'acc':>8}"
              + "".join(f"{f'ms b{b}':>10}{'speedup':>9}" for b in reps))
        for form in ("torch_fp32", "torch_int8_dynamic", "onnx_fp32", "onnx_int8"):
            r = f[form]
            print(f"  {form:<20}{r['size_bytes']:>10}{r['size_ratio_vs_torch_fp32']:>8.3f}"
                  f"{r['accuracy']:>8.4f}"
                  + "".join(f"{r[f'latency_ms_b{b}']:>10.4f}"
                            f"{r[f'speedup_b{b}_vs_torch_fp32']:>9.2f}" for b in reps))
    print(f"\ngoal (>= 97% of teacher, >= 5x fewer params, >= 2x faster at batch "
          f"{', '.join(map(str, reps))}): share {goal['accuracy_share']:.3f}, params "
          f"{goal['param_ratio']}x fewer, "
          + ", ".join(f"{goal[f'speedup_b{b}']}x faster at b{b}" for b in reps)
          + f" -> {'MET' if goal['met'] else 'NOT MET'}")

    result = {
        "command": "python " + " ".join(["bench/models_distill.py", *sys.argv[1:]]),
        "parameters": {"quick": args.quick, "seed": args.seed, "data": "sklearn digits",
                       "train_records": len(train), "test_records": len(test),
                       "teacher_hidden": [512, 512], "teacher_epochs": teacher_epochs,
                       "student_hidden": [32], "student_epochs": student_epochs,
                       "temperature": s_metrics["temperature"], "alpha": s_metrics["alpha"],
                       "reps": {str(b): n for b, n in reps.items()}, "latency": "median",
                       "threads": 1, "torch": torch.__version__,
                       "python": platform.python_version(), "machine": platform.machine()},
        "teacher_train_metrics": t_metrics,
        "student_train_metrics": s_metrics,
        "models": rows,
        "promotion": gates,
        "sweep": {"grid": sweep, "labels_only": labels_only},
        "formats": formats,
        "goal": goal,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
