"""LM pipeline benchmark (not a test): pretrain -> SFT -> reward model, DPO at toy scale.

The four ``lm.*`` task kinds (``plexnet.models.lm``) run in this process through a real
blob store, on the standard library's docstrings (``stdlib_corpus()``), each stage with
the previous stage's output CID:

1. ``lm.pretrain``: a 2-layer, d_model 96, context 128 byte-level transformer; validation
   bits per byte against the unigram baseline of the same split.
2. ``lm.sft``: instruction pairs ``upper: w -> W`` and ``reverse: w -> w[::-1]`` over the
   corpus's words; greedy exact match on 64 held-out words (128 pairs) before and after.
3. ``lm.reward``: the SFT trunk plus a scalar head, Bradley-Terry loss on (correct,
   corrupted) answer pairs; held-out pairwise accuracy (chance 0.5) before and after.
4. ``lm.dpo``: DPO (beta 0.1) against the frozen SFT model; the chosen-minus-rejected
   log-likelihood margin and the implicit reward margin on held-out pairs.

Every stage reports N, D (tokens), 6·N·D, FLOPs measured with FlopCounterMode (one step x
steps), wall time and cost (``--price``, USD per device-hour). With several ``--seeds``
every number is the median over seeds (each seed a whole pipeline).

    python bench/models_lm.py            # about 5 minutes on one core
    python bench/models_lm.py --quick    # a smaller model, about 30 s
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from plexnet.compute.task import TaskContext, load_task
from plexnet.core.blobstore import LocalBlobStore
from plexnet.models.lm import stdlib_corpus

RESULTS = Path(__file__).parent / "results"
FULL = {"pretrain": {"context": 128, "d_model": 96, "n_layer": 2, "n_head": 4,
                     "steps": 2000, "batch_size": 16, "lr": 3e-3},
        "sft": {"tasks": ["upper", "reverse"], "steps": 1200, "lr": 3e-3},
        "reward": {"tasks": ["upper", "reverse"], "steps": 200},
        "dpo": {"tasks": ["upper", "reverse"], "steps": 100}}
QUICK = {"pretrain": {"context": 64, "d_model": 64, "n_layer": 2, "n_head": 4,
                      "steps": 300, "batch_size": 16, "lr": 3e-3},
         "sft": {"tasks": ["upper"], "steps": 600, "lr": 3e-3},
         "reward": {"tasks": ["upper"], "steps": 80},
         "dpo": {"tasks": ["upper"], "steps": 40}}
SHOWN = {
    "pretrain": ["val_bpb_init", "val_bpb", "unigram_bpb"],
    "sft": ["exact_match_before", "exact_match"],
    "reward": ["pairwise_accuracy_before", "pairwise_accuracy"],
    "dpo": ["logp_margin_before", "logp_margin", "reward_margin", "reward_accuracy",
            "exact_match_before", "exact_match"],
}


def pipeline(corpus: bytes, recipe: dict[str, dict[str, Any]], seed: int, threads: int,
             price: float) -> dict[str, Any]:
    """Run the four stages once; each stage's metrics and output CID."""
    with tempfile.TemporaryDirectory() as root:
        blobs = LocalBlobStore(Path(root))
        ctx = TaskContext(blobs=blobs, provider="bench", job_id=f"lm-{seed}")
        corpus_cid = blobs.put(corpus)
        common = {"seed": seed, "threads": threads, "price_per_device_hour": price}
        out: dict[str, Any] = {}

        def stage(name: str, inputs: list[str]) -> str:
            t0 = time.perf_counter()
            result = load_task(f"lm.{name}").run(ctx, inputs, {**recipe[name], **common})
            out[name] = {**result.metrics, "outputs": result.outputs,
                         "task_s": round(time.perf_counter() - t0, 3)}
            print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
            return next(iter(result.outputs.values()))

        base = stage("pretrain", [corpus_cid])
        tuned = stage("sft", [base, corpus_cid])
        stage("reward", [tuned, corpus_cid])
        stage("dpo", [tuned, corpus_cid])
    return out


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage in runs[0]:
        out[stage] = {}
        for key, value in runs[0][stage].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[stage][key] = statistics.median(r[stage][key] for r in runs)
            else:
                out[stage][key] = value
    return out


def table(result: dict[str, Any]) -> str:
    head = (f"{'stage':9} {'N':>8} {'D tokens':>11} {'6ND':>10} {'measured':>10} "
            f"{'ratio':>6} {'wall s':>7} {'cost $':>9}  quality")
    lines = [head, "-" * len(head)]
    for stage, m in result.items():
        quality = ", ".join(f"{k} {m[k]:.4g}" for k in SHOWN[stage])
        lines.append(f"{stage:9} {m['params']:>8,} {m['tokens']:>11,} "
                     f"{m['flops_estimate']:>10.3g} {m['flops_measured']:>10.3g} "
                     f"{m['flops_ratio']:>6.3f} {m['wall_s']:>7.1f} {m['cost_usd']:>9.2e}  "
                     f"{quality}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller model, fewer steps")
    parser.add_argument("--seeds", type=int, default=1, help="pipelines to run (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--price", type=float, default=0.05,
                        help="USD per device-hour for cost_usd (default: one vCPU-hour)")
    parser.add_argument("--out", type=Path, default=RESULTS / "models_lm.json")
    args = parser.parse_args()
    recipe = QUICK if args.quick else FULL
    corpus = stdlib_corpus()
    runs = []
    for seed in range(args.seeds):
        print(f"seed {seed}:", flush=True)
        runs.append(pipeline(corpus, recipe, seed, args.threads, args.price))
    result = _median(runs)
    print(table(result))
    out = {
        "command": "python bench/models_lm.py" + (" --quick" if args.quick else "")
        + (f" --seeds {args.seeds}" if args.seeds != 1 else "")
        + (f" --threads {args.threads}" if args.threads != 1 else "")
        + (f" --price {args.price}" if args.price != 0.05 else ""),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(),
                    "torch": torch.__version__, "threads": args.threads},
        "corpus_bytes": len(corpus), "recipe": recipe, "seeds": list(range(args.seeds)),
        "median": result, "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
