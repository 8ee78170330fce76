"""Ledger benchmark (not a test): append throughput vs raw SQLite, and proof latency.

What it measures, all on SQLite files in one temporary directory, with the same
pragmas on both sides (WAL, synchronous=FULL):

1. Batched appends: plexnet appends signed ``credit.transfer`` entries in batches
   (each batch one transaction: signature checks, projections, leaves, tree nodes,
   a signed tree head), against raw ``executemany`` inserts of the *same entry
   bytes* into a two-column table, one transaction per batch.
2. Single appends: one entry per transaction on both sides.
3. Proof latency at 10^4, 10^5 and 10^6 entries: inclusion proofs for random
   leaves and consistency proofs from random older sizes, each read from the
   stored tree (SQLAlchemy round trips included), median and 95th percentile.

Runs alternate plexnet and raw so both see the same machine noise; medians are
reported. Entries are signed before timing starts (signing is the client's cost).

    python bench/ledger.py                 # the full run (about 10 minutes here)
    python bench/ledger.py --quick         # a smoke run (sizes up to 10^4)
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.ledger import Entry, Ledger
from plexnet.ledger.kinds.credits import Mint, Transfer
from plexnet.ledger.kinds.identity import IdentityRegister

RESULTS = Path(__file__).parent / "results"


def _signed_transfers(alice: Identity, to: str, n: int) -> list[Entry]:
    return [Entry.create(alice, Transfer(to=to, amount=1)) for _ in range(n)]


def _new_ledger(path: Path) -> tuple[Ledger, Identity, Identity]:
    operator, alice, bob = (Identity.generate(n) for n in ("operator", "alice", "bob"))
    ledger = Ledger.create(connect(f"sqlite:///{path}"), operator)
    ledger.append([Entry.create(p, IdentityRegister(did=p.did, name=p.name))
                   for p in (alice, bob)])
    ledger.append([Entry.create(operator, Mint(to=alice.did, amount=2**52))])
    return ledger, alice, bob


def _raw_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS raw (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    return db


def _raw_insert(db: sqlite3.Connection, start: int, blobs: list[bytes], batch: int) -> float:
    began = time.perf_counter()
    for i in range(0, len(blobs), batch):
        db.execute("BEGIN")
        db.executemany("INSERT INTO raw (seq, data) VALUES (?, ?)",
                       [(start + i + j, b) for j, b in enumerate(blobs[i:i + batch])])
        db.execute("COMMIT")
    return len(blobs) / (time.perf_counter() - began)


def _plexnet_append(ledger: Ledger, entries: list[Entry], batch: int) -> float:
    began = time.perf_counter()
    for i in range(0, len(entries), batch):
        ledger.append(entries[i:i + batch])
    return len(entries) / (time.perf_counter() - began)


def throughput(workdir: Path, runs: int, n_batched: int, batch: int, n_single: int) -> dict:
    ledger, alice, bob = _new_ledger(workdir / "throughput.db")
    raw = _raw_db(workdir / "raw.db")
    rows: dict[str, list[float]] = {"batched_plexnet": [], "batched_raw": [],
                                    "single_plexnet": [], "single_raw": []}
    raw_seq = 0
    for run in range(runs):
        entries = _signed_transfers(alice, bob.did, n_batched)
        blobs = [e.to_bytes() for e in entries]
        # alternate who goes first, so neither side always meets a warmer cache
        order = ("plexnet", "raw") if run % 2 == 0 else ("raw", "plexnet")
        for side in order:
            if side == "plexnet":
                rows["batched_plexnet"].append(_plexnet_append(ledger, entries, batch))
            else:
                rows["batched_raw"].append(_raw_insert(raw, raw_seq, blobs, batch))
                raw_seq += len(blobs)
        singles = _signed_transfers(alice, bob.did, n_single)
        single_blobs = [e.to_bytes() for e in singles]
        for side in order:
            if side == "plexnet":
                rows["single_plexnet"].append(_plexnet_append(ledger, singles, 1))
            else:
                rows["single_raw"].append(_raw_insert(raw, raw_seq, single_blobs, 1))
                raw_seq += len(single_blobs)
        print(f"  run {run + 1}/{runs}: batched {rows['batched_plexnet'][-1]:,.0f} vs raw "
              f"{rows['batched_raw'][-1]:,.0f}/s; single {rows['single_plexnet'][-1]:,.0f} vs "
              f"raw {rows['single_raw'][-1]:,.0f}/s", flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {
        "batch_size": batch, "entries_per_batched_run": n_batched,
        "entries_per_single_run": n_single, "runs": runs,
        "median_per_s": {k: round(v, 1) for k, v in med.items()},
        "all_runs_per_s": {k: [round(x, 1) for x in v] for k, v in rows.items()},
        "ratio_batched": round(med["batched_plexnet"] / med["batched_raw"], 4),
        "ratio_single": round(med["single_plexnet"] / med["single_raw"], 4),
        "entry_bytes": len(blobs[0]),
    }


def proofs(workdir: Path, sizes: list[int], samples: int) -> dict:
    ledger, alice, bob = _new_ledger(workdir / "proofs.db")
    rng = random.Random(0)
    out = {}
    build_began = time.perf_counter()
    for size in sizes:
        while ledger.size() < size:
            ledger.append(_signed_transfers(alice, bob.did, min(10_000, size - ledger.size())))
        inclusion, consistency = [], []
        for _ in range(samples):
            seq = rng.randrange(size)
            began = time.perf_counter()
            proof = ledger.inclusion_proof(seq)
            inclusion.append(time.perf_counter() - began)
            old = rng.randrange(1, size)
            began = time.perf_counter()
            cons = ledger.consistency_proof(old)
            consistency.append(time.perf_counter() - began)
        proof.verify()
        cons.verify()
        out[str(size)] = {
            "inclusion_ms": _summary(inclusion), "consistency_ms": _summary(consistency),
            "proof_hashes": len(proof.path),
        }
        print(f"  size {size:>9,}: inclusion median {out[str(size)]['inclusion_ms']['median']} ms"
              f", consistency median {out[str(size)]['consistency_ms']['median']} ms "
              f"(built in {time.perf_counter() - build_began:.0f} s so far)", flush=True)
    return out


def _summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {"median": round(statistics.median(ms), 3),
            "p95": round(ms[int(0.95 * (len(ms) - 1))], 3), "samples": len(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "ledger.json")
    args = parser.parse_args()
    sizes = [10**3, 10**4] if args.quick else [10**4, 10**5, 10**6]
    n_batched, n_single = (2_000, 100) if args.quick else (20_000, 300)
    with tempfile.TemporaryDirectory(prefix="plexnet-bench-") as tmp:
        workdir = Path(tmp)
        print("append throughput (entries/s):", flush=True)
        tp = throughput(workdir, args.runs, n_batched, 1_000, n_single)
        print("proof latency:", flush=True)
        pr = proofs(workdir, sizes, 200 if args.quick else 1_000)
    result = {"machine": {"python": platform.python_version(), "cpu": platform.processor()
                          or platform.machine(), "sqlite": sqlite3.sqlite_version},
              "throughput": tp, "proofs": pr, "quick": args.quick}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    m = tp["median_per_s"]
    print(f"\nbatched: plexnet {m['batched_plexnet']:,.0f}/s, raw {m['batched_raw']:,.0f}/s, "
          f"ratio {tp['ratio_batched']:.3f}")
    print(f"single:  plexnet {m['single_plexnet']:,.0f}/s, raw {m['single_raw']:,.0f}/s, "
          f"ratio {tp['ratio_single']:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
