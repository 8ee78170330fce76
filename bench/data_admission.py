"""Admission throughput benchmark (not a test): 100,000 records through every default gate.

The issue's bar: 100,000 records through admission in minutes on this machine. One
contributor signs the records in as batches (``contribute``: validation, a Parquet
shard, the Merkle root, a signed entry), the curator admits them with
:func:`plexnet.data.admission.default_policy` (every gate plexnet ships that applies),
in process (:class:`~plexnet.data.runner.LocalRunner`), and appends the ``data.admit``
and ``dataset.publish`` entries to a real SQLite ledger. Reported: wall time per
stage, seconds per gate, records per second end to end, and the verdict counts.

Two datasets, both with a known answer of "almost nothing wrong":

* ``image`` — 8x8 images: scikit-learn's digits, each drawn many times through a
  random rotation (±10°), zoom (0.9-1.1) plus Gaussian pixel noise (sd 1
  grey levels), rounded and clipped to 0..16 — distinct images of real digits;
* ``tabular`` — ``make_classification`` rows (20 numeric columns, 10 classes).

Planted into each: 0.5 % exact copies of earlier records, which every run must reject.

    python bench/data_admission.py                     # 100,000 records of each kind
    python bench/data_admission.py --records 20000     # smaller
    python bench/data_admission.py --quick             # 10,000, image only
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.data import Records, Schema, contribute
from plexnet.data.admission import admit, default_policy
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds.identity import IdentityRegister

RESULTS = Path(__file__).parent / "results"
COPIES = 0.005  # share of planted exact copies


def image_records(n: int, rng: np.random.Generator) -> tuple[Records, Schema]:
    from scipy import ndimage
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    pick = rng.integers(0, len(y), n)
    out = np.empty((n, 64))
    for k, i in enumerate(pick):
        image = x[i].reshape(8, 8)
        image = ndimage.rotate(image, rng.uniform(-10, 10), reshape=False, order=1)
        zoom = rng.uniform(0.9, 1.1)
        image = ndimage.affine_transform(image, np.eye(2) / zoom, order=1,
                                         offset=3.5 - 3.5 / zoom)
        out[k] = (image + rng.normal(0, 1.0, (8, 8))).ravel()
    out = np.clip(np.round(out), 0, 16)
    schema = Schema(kind="image", shape=[8, 8], labels=[str(d) for d in range(10)],
                    value_range=(0, 16))
    return Records.make(y[pick].astype(np.int64), x=out), schema


def tabular_records(n: int, rng: np.random.Generator) -> tuple[Records, Schema]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n, n_features=20, n_informative=12, n_classes=10,
                               n_clusters_per_class=1, class_sep=2.0, flip_y=0.0,
                               random_state=int(rng.integers(1 << 31)))
    schema = Schema(kind="tabular", labels=[f"c{d}" for d in range(10)],
                    columns=[{"name": f"f{j}", "type": "number"} for j in range(20)])
    return Records.make(y.astype(np.int64), x=x), schema


def plant_copies(records: Records, rng: np.random.Generator) -> tuple[
        Records, np.ndarray, np.ndarray]:
    """Records with ``COPIES`` of them (``spots``, all past the first tenth) overwritten
    by copies of records in the first tenth (``originals``)."""
    assert records.x is not None
    n = len(records)
    spots = np.sort(rng.choice(np.arange(n // 10, n), round(COPIES * n), replace=False))
    originals = rng.integers(0, n // 10, len(spots))
    x, y = records.x.copy(), records.y.copy()
    x[spots], y[spots] = x[originals], y[originals]
    return Records.make(y, x=x), spots, originals


def run(kind: str, n: int, batches: int, seed: int, root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    records, schema = (image_records if kind == "image" else tabular_records)(n, rng)
    records, spots, originals = plant_copies(records, rng)
    made_s = time.perf_counter() - started
    blobs = LocalBlobStore(root / f"{kind}-blobs")
    operator, curator, alice = (Identity.generate(n) for n in ("op", "curator", "alice"))
    ledger = Ledger.create(connect(f"sqlite:///{root / f'{kind}-ledger.db'}"), operator)
    ledger.append([Entry.create(p, IdentityRegister(did=p.did, name=name))
                   for name, p in (("curator", curator), ("alice", alice))])
    timings: dict[str, float] = {"generate_s": made_s}
    started = time.perf_counter()
    entries = []
    bounds = np.linspace(0, n, batches + 1).astype(int)
    for lo, hi in itertools.pairwise(bounds):
        _, entry = contribute(alice, blobs, kind, schema, records.subset(range(lo, hi)))
        entries.append(entry)
    ledger.append(entries)
    timings["contribute_s"] = time.perf_counter() - started
    started = time.perf_counter()
    policy = default_policy(schema)
    result = admit(curator, blobs, kind, entries, schema=schema, license_="CC-BY-4.0",
                   policy=policy, seed=seed)
    timings["admit_s"] = time.perf_counter() - started
    started = time.perf_counter()
    ledger.append(list(result.entries))
    timings["append_s"] = time.perf_counter() - started
    timings["total_s"] = sum(v for k, v in timings.items() if k != "generate_s")
    per_gate: dict[str, float] = {}
    for verdict in result.verdicts:
        for g, t in zip(verdict.gates, verdict.seconds, strict=True):
            per_gate[g.name] = per_gate.get(g.name, 0.0) + t
    decision = np.concatenate([verdict.decisions for verdict in result.verdicts])
    by_exact = np.zeros(n, dtype=bool)
    for b, verdict in enumerate(result.verdicts):
        for i, reasons in verdict.reasons.items():
            by_exact[bounds[b] + i] |= any(name == "exact_duplicates" for name, _ in reasons)
    # A copy of a record that was held out (flagged) is no copy of the dataset: it is
    # judged afresh. So every copy is either rejected as one, or its original was kept out.
    caught = int(by_exact[spots].sum())
    original_out = int((decision[originals] != "accepted").sum())
    stats = {r.gate: r.stats for r in result.verdicts[-1].results}
    return {"records": n, "batches": batches, "timings_s": timings, "gates_s": per_gate,
            "admission_timings_s": result.timings_s, "counts": result.counts(),
            "planted_copies": len(spots), "copies_rejected": caught,
            "copies_of_held_out_records": original_out,
            "last_batch_label_issues": stats.get("label_issues"),
            "records_per_s": n / timings["total_s"],
            "gates": [g.name for g in policy.gates]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--kinds", nargs="+", default=["image", "tabular"],
                    choices=["image", "tabular"])
    ap.add_argument("--quick", action="store_true", help="10,000 image records")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "data_admission.json")
    args = ap.parse_args()
    n, kinds = (10_000, ["image"]) if args.quick else (args.records, args.kinds)
    results: dict[str, Any] = {"command": " ".join(["python", *sys.argv]),
                               "platform": platform.platform(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            out = run(kind, n, args.batches, args.seed, Path(tmp))
            results["runs"][kind] = out
            t = out["timings_s"]
            print(f"\n{kind}: {n:,} records in {args.batches} batches — {t['total_s']:.1f} s "
                  f"end to end ({out['records_per_s']:,.0f} records/s): contribute "
                  f"{t['contribute_s']:.1f} s, admit {t['admit_s']:.1f} s, ledger append "
                  f"{t['append_s']:.1f} s")
            for name, s in sorted(out["gates_s"].items(), key=lambda kv: -kv[1]):
                print(f"  {name:<22}{s:>8.2f} s")
            print(f"  verdicts {out['counts']}; planted exact copies rejected "
                  f"{out['copies_rejected']}/{out['planted_copies']} (copies of records held "
                  f"out: {out['copies_of_held_out_records']})")
            print(f"  label_issues on the last batch: {out['last_batch_label_issues']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
