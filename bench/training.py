"""Training benchmark (not a test): ``train.supervised`` through plexnet, and under churn.

1. Throughput, samples/s, on one synthetic dataset (scikit-learn's
   ``make_classification``: 20,000 records, 64 features, 10 classes) and one model
   (``models.mlp.MLP``, hidden [256, 256], Adam, batch 128, one intra-op thread):
   * a plain PyTorch loop, in this process and in a Ray worker on a provider's
     node (the like-for-like baseline for the gang's worker), while the cluster
     idles, interleaved with
   * the ``train.supervised`` gang task in this process (world size 1, no Ray);
   * ``run_coupled_job`` with a gang of one and of two on a local Ray cluster:
     training throughput inside the workers (``samples / train_s`` from the
     receipt: every segment's checkpoint load, data load and checkpoint write
     included) and end to end (Ray Train start-up, audit and settlement too).
   The goal is >= 0.95x the plain loop on the node for the single worker's training.
2. Churn: a 2-worker gang on a fresh 4-provider cluster; once the gang has
   committed a random 20-80% of the steps, at a uniformly random moment within
   the next segment, one member's machine dies — its node is removed and its
   worker processes are killed at once, as a power cut would
   (``LocalCluster.remove`` alone leaves them running until they notice, some
   seconds later). Useful-compute fraction: steps that count over steps run.
   The goal is >= 90%.

    python bench/training.py            # about 6 minutes on 2 cores
    python bench/training.py --quick    # one churn job, fewer epochs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import make_classification
from torch import nn

import plexnet.models.distributed  # noqa: F401  registers the train.supervised gang kind
from plexnet.compute import JobSpec, ProviderProfile
from plexnet.compute.cluster import LocalCluster
from plexnet.compute.coupled import run_coupled_job
from plexnet.compute.gang import GangContext, load_gang_task
from plexnet.compute.job import VerificationPolicy, Workload
from plexnet.compute.placement import ProviderState
from plexnet.compute.settlement import Participant
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.database import connect
from plexnet.core.keystore import Keystore
from plexnet.data import Column, Records, Schema, publish
from plexnet.ledger import Entry, Ledger, verify_ledger
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds import jobs as jb
from plexnet.ledger.kinds.identity import IdentityRegister
from plexnet.models.mlp import MLP

RESULTS = Path(__file__).parent / "results"
NAMES = ("p0", "p1", "p2", "p3")
HIDDEN = [256, 256]
BATCH = 128
GOAL_RATIO = 0.95
GOAL_USEFUL = 0.90


def _profile(name: str) -> ProviderProfile:
    return ProviderProfile(name=name, device_kind="cpu", device_model="bench", peak_flops=1e10,
                           memory_gb=8, tier="fog", region="local", bandwidth_mbps=1000,
                           rtt_ms=1, price_per_device_hour=0.10 + 0.01 * NAMES.index(name),
                           stake_micro=cr.micro(1), reliability=0.95)


class World:
    """A ledger, keys, a blob store and the dataset, in a fresh directory."""

    def __init__(self, root: Path, x: np.ndarray, y: np.ndarray) -> None:
        self.root = root
        keys = Keystore(root / "keys")
        self.operator, self.requester = keys.create("operator"), keys.create("requester")
        self.ledger = Ledger.create(connect(f"sqlite:///{root / 'ledger.db'}"), self.operator)
        people = {n: keys.create(n) for n in NAMES}
        self.ledger.append([Entry.create(i, IdentityRegister(did=i.did, name=i.name))
                            for i in (self.requester, *people.values())])
        batch = [Entry.create(self.operator, cr.Mint(to=self.requester.did,
                                                     amount=cr.micro(1000)))]
        for n, me in people.items():
            p = _profile(n)
            batch += [Entry.create(self.operator, cr.Mint(to=me.did, amount=cr.micro(10))),
                      Entry.create(me, cr.Escrow(escrow_id=f"stake-{n}", amount=p.stake_micro,
                                                 arbiter=self.operator.did)),
                      Entry.create(me, jb.ProviderRegister(profile=p.model_dump(mode="json")))]
        self.ledger.append(batch)
        self.participants = [Participant(ProviderState(_profile(n)), people[n].did, n,
                                         f"stake-{n}") for n in NAMES]
        self.blobs = LocalBlobStore(root / "blobs")
        schema = Schema(kind="tabular", columns=[Column(name=f"f{i}") for i in range(x.shape[1])],
                        labels=[str(c) for c in range(int(y.max()) + 1)])
        records = Records.make(y, x=x, contributor=self.requester.did)
        self.dataset, _, _ = publish(self.requester, self.blobs, "bench", 1, schema,
                                     [(records, None)], "CC0-1.0")

    def run(self, job_id: str, units: int, params: dict[str, Any], **kw: Any) -> Any:
        job = JobSpec(job_id=job_id, task="train.supervised", inputs=[self.dataset],
                      params=params, workload=Workload(kind="coupled", units=units),
                      flops=1e9, deadline_s=1800, budget_micro=cr.micro(50),
                      verification=VerificationPolicy(checkpoint_every_steps=20,
                                                      audit_segments=1))
        self.ledger.append([
            Entry.create(self.requester, cr.Escrow(escrow_id=job_id, amount=job.budget_micro,
                                                   arbiter=self.operator.did)),
            Entry.create(self.requester, jb.JobSubmit(job_id=job_id, task=job.task,
                                                      spec=job.model_dump(mode="json"),
                                                      escrow_id=job_id, units=units))])
        started = time.perf_counter()
        report = run_coupled_job(job, self.participants, operator=self.operator,
                                 requester_did=self.requester.did, escrow_id=job_id,
                                 ledger=self.ledger, blob_root=self.root / "blobs",
                                 keystore_root=self.root / "keys", seed=1, **kw)
        check = verify_ledger(self.ledger.engine)
        assert check.ok and check.balances == check.minted, check.problems
        return report, time.perf_counter() - started


def plain_loop(x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> dict[str, float]:
    """The baseline: the same model, data split, batches and optimizer, in plain PyTorch."""
    torch.set_num_threads(1)
    torch.manual_seed(params["seed"])
    rng = np.random.default_rng(params["seed"])
    order = rng.permutation(len(y))
    train = order[round(len(y) * 0.15):]
    model = MLP(x.shape[1], HIDDEN, int(y.max()) + 1)
    model.get_buffer("mean").copy_(torch.as_tensor(x[train].mean(axis=0)))
    model.get_buffer("scale").copy_(torch.as_tensor(x[train].std(axis=0)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.as_tensor(x[train], dtype=torch.float32)
    yt = torch.as_tensor(y[train], dtype=torch.long)
    samples, started = 0, time.perf_counter()
    for _ in range(params["epochs"]):
        perm = torch.as_tensor(rng.permutation(len(train)))
        for start in range(0, len(train), BATCH):
            idx = perm[start : start + BATCH]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
            samples += len(idx)
    seconds = time.perf_counter() - started
    return {"samples": samples, "seconds": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 1)}


def recipe_in_process(world: World, params: dict[str, Any]) -> dict[str, float]:
    """The gang task's own loop, world size 1, no Ray: the recipe's overhead alone."""
    task = load_gang_task("train.supervised")
    total = task.total_steps(world.blobs, [world.dataset], params)
    ctx = GangContext(0, 1, None, world.blobs)
    task.prepare(world.blobs, [world.dataset], params)  # loading data is not training
    started, samples, start, step = time.perf_counter(), 0, None, 0
    while step < total:  # segments of 1/8 of the run, as a gang of one would take them
        end = min(total, step + max(1, total // 8))
        seg = task.run(ctx, [world.dataset], params, start, (step, end))
        samples, start, step = samples + seg.metrics["samples"], seg.checkpoint, end
    seconds = time.perf_counter() - started
    return {"samples": samples, "seconds": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 1)}


def _through_plexnet(world: World, job_id: str, units: int,
                     params: dict[str, Any]) -> dict[str, Any]:
    report, wall_s = world.run(job_id, units, params)
    m = report.metrics
    return {"workers": units, "samples": m["samples"], "train_s": m["train_s"],
            "samples_per_s": round(m["samples"] / m["train_s"], 1),
            "end_to_end_s": round(wall_s, 2),
            "end_to_end_samples_per_s": round(m["samples"] / wall_s, 1),
            "segments": len(m["checkpoints"]), "segment_steps": m["segment_steps"],
            "checkpoint_s": m["checkpoint_s"], "audited": len(report.audited),
            "val_accuracy": m["val_accuracy"]}


def _descendants(parent: int) -> list[int]:
    """Processes below ``parent`` (Linux /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(proc.name))
    found, frontier = [], [parent]
    while frontier:
        kids = children.get(frontier.pop(), [])
        found += kids
        frontier += kids
    return found


def _raylet_pid(node_id: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"raylet") and f"--node_id={node_id}".encode() in argv:
                return int(proc.name)
    return None


def churn_job(x: np.ndarray, y: np.ndarray, params: dict[str, Any],
              rng: np.random.Generator, index: int) -> dict[str, Any]:
    at = float(rng.uniform(0.2, 0.8))
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster([_profile(n) for n in NAMES]) as cluster:
        world = World(Path(tmp), x, y)
        total = load_gang_task("train.supervised").total_steps(world.blobs, [world.dataset],
                                                                params)
        killed: dict[str, Any] = {}
        commits: list[float] = []

        def power_cut(victim: str, step: int) -> None:
            raylet = _raylet_pid(cluster.node_ids()[victim])
            doomed = _descendants(raylet) if raylet else []
            cluster.remove(victim)
            for pid in doomed:  # the machine is gone: so are its processes
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed.update(provider=victim, after_commit_at_step=step, processes=len(doomed))

        def kill(members: Any, step: int) -> None:
            # Called as the gang commits a segment; a failure comes at a random moment,
            # so wait a uniform share of one segment's duration before pulling the plug.
            commits.append(time.perf_counter())
            if killed or step < at * total or len(commits) < 2:
                return
            # the early segments are short; polls may see two commits at once
            segment_s = max(commits[-1] - commits[-2], (commits[-1] - commits[0]) /
                            (len(commits) - 1))
            victim = members[int(rng.integers(len(members)))]
            killed["timer"] = threading.Timer(float(rng.uniform(0, 1)) * segment_s, power_cut,
                                              args=(victim, step))
            killed["timer"].start()

        report, wall_s = world.run(f"churn-{index}", 2, params, kill=kill)
        killed.pop("timer").cancel()  # too late, if the job finished first
    return {"killed": killed, "total_steps": report.total_steps, "steps_run": report.steps_run,
            "useful_fraction": round(report.useful_fraction, 4), "gangs": report.gangs,
            "segment_steps": report.metrics["segment_steps"], "wall_s": round(wall_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    epochs = 6 if args.quick else 20
    x, y = make_classification(n_samples=20_000, n_features=64, n_informative=32,
                               n_classes=10, random_state=0)
    x, y = x.astype(np.float32), y.astype(np.int64)
    params = {"epochs": epochs, "hidden": HIDDEN, "batch_size": BATCH, "seed": 0}
    out: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.machine(),
                    "cores": os.cpu_count(), "torch": torch.__version__},
        "data": {"records": len(y), "features": x.shape[1], "classes": 10},
        "params": params, "goal_ratio": GOAL_RATIO, "goal_useful_fraction": GOAL_USEFUL}
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster([_profile(n) for n in NAMES[:3]]):
        import ray

        world = World(Path(tmp), x, y)
        plain, recipe = [], []
        for _ in range(3):  # interleaved: the machine's speed drifts by several per cent
            plain.append(plain_loop(x, y, params))
            recipe.append(recipe_in_process(world, params))
        # the same loop in a Ray worker on the node the single-worker gang will use
        pinned = ray.remote(plain_loop).options(resources={"provider_p0": 0.01}, num_cpus=1)
        plain_on_node = [ray.get(pinned.remote(x, y, params)) for _ in range(3)]
        single = _through_plexnet(world, "single", 1, params)
        gang = _through_plexnet(world, "gang2", 2, params)

    def median(rows: list[dict[str, float]]) -> float:
        return float(np.median([r["samples_per_s"] for r in rows]))

    on_node = median(plain_on_node)
    single["ratio_to_plain_on_node"] = round(single["samples_per_s"] / on_node, 3)
    single["ratio_to_plain_in_driver"] = round(single["samples_per_s"] / median(plain), 3)
    gang["ratio_to_plain_on_node"] = round(gang["samples_per_s"] / on_node, 3)
    out["throughput"] = {
        "plain_pytorch_in_driver": plain, "plain_pytorch_on_node": plain_on_node,
        "recipe_in_process": recipe,
        "recipe_ratio_to_plain_in_driver": round(median(recipe) / median(plain), 3),
        "plexnet_single_worker": single, "plexnet_gang_of_2": gang,
        "single_meets_goal": single["ratio_to_plain_on_node"] >= GOAL_RATIO}
    print(json.dumps(out["throughput"], indent=2), flush=True)
    rng = np.random.default_rng(7)
    jobs = [churn_job(x, y, params, rng, i) for i in range(1 if args.quick else 3)]
    mean = float(np.mean([j["useful_fraction"] for j in jobs]))
    out["churn"] = {"jobs": jobs, "mean_useful_fraction": round(mean, 4),
                    "meets_goal": mean >= GOAL_USEFUL}
    print(json.dumps(out["churn"], indent=2), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
