"""Coupled task kinds and what runs on a gang's workers: segments, commitments, replays.

* :class:`GangTask` is the plug-in point for coupled task kinds (``@register_gang``);
  its determinism is what makes replays comparable byte for byte.
* :func:`segment_steps` sets how many steps a segment holds: Young/Daly's interval
  from the measured step time and checkpoint cost and the gang's MTBF
  (:func:`gang_mtbf_s`), within bounds that keep losses and commitments small.
* :func:`gang_worker` is one Ray Train worker: it runs this rank's segments, and
  after each its provider signs a commitment to the checkpoint CID and posts it to
  the coordinator's :class:`Board`; at the end it signs a ``job.receipt``.
* :func:`replay_segments` is the verifier: it re-runs committed segments from
  their start checkpoint with the same world size (local processes, gloo over
  localhost, so the same reduction order) and returns the end CIDs.

:mod:`plexnet.compute.coupled` coordinates gangs with these pieces.
"""

from __future__ import annotations

import math
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

from plexnet.compute.errors import ExecutionError, UnknownTask
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.runner import Faults
from plexnet.compute.task import TaskResult
from plexnet.compute.verification import mtbf_from_reliability, young_daly_interval
from plexnet.core.blobstore import BlobStore, LocalBlobStore
from plexnet.core.plugins import Registry
from plexnet.ledger import Entry
from plexnet.ledger.kinds import jobs as jb

__all__ = [
    "COMMIT_DOMAIN",
    "MIN_SEGMENTS",
    "Board",
    "GangContext",
    "GangTask",
    "Round",
    "Segment",
    "SegmentResult",
    "gang_mtbf_s",
    "gang_worker",
    "load_gang_task",
    "register_gang",
    "registered_gangs",
    "replay_segments",
    "segment_steps",
    "unknown_gang",
]

# A segment is at most 1/8 of the run (a loss costs at most that, and there is
# something to audit) and at least 1/256 of it (commitments stay small).
MIN_SEGMENTS: Final = 8
_MAX_SEGMENTS: Final = 256
COMMIT_DOMAIN: Final = "gang.commit"  # signing domain of per-segment commitments


def _nothing(_step: int) -> None:
    return None


@dataclass(frozen=True)
class GangContext:
    """What one rank may use while it runs a segment.

    ``group`` is a ``torch.distributed`` process group (gloo), already initialised;
    ``progress(step)`` may be called now and then with the steps done so far (it
    only feeds the useful-compute accounting when a member vanishes).
    """

    rank: int
    world_size: int
    group: Any
    blobs: BlobStore
    progress: Callable[[int], None] = _nothing


@dataclass(frozen=True)
class SegmentResult:
    """End checkpoint (CID, already stored), seconds spent writing it, and metrics (JSON)."""

    checkpoint: str
    checkpoint_s: float
    metrics: dict[str, Any] = field(default_factory=dict)


class GangTask(ABC):
    """Base class of coupled task kinds.

    To write one: subclass, implement :meth:`total_steps` and :meth:`run`
    (optionally :meth:`prepare` and :meth:`finish`), and decorate with
    ``@register_gang("kind.name")``; ``models/distributed.py`` is the example.
    ``run`` executes on every rank for steps ``[s0, s1)``: load ``start`` (None:
    a fresh start at step 0) from the blob store, take the steps, all-reducing
    over ``ctx.group``, store the end checkpoint and return its CID. It must be
    deterministic — one intra-op thread, fixed seeds, data order a function of
    (seed, step, rank), explicit reductions (no DDP bucketing) — and must depend
    only on its arguments: a verifier replays a segment from its start checkpoint
    and compares the end CID byte for byte, and a new gang resumes from it. A
    worker may keep the state it just saved in memory for the next segment only
    if that gives the same bytes as loading it. Report ``checkpoint_s`` (the
    checkpoint interval is chosen from it) and a ``samples`` metric if it counts.
    """

    name: ClassVar[str]

    @abstractmethod
    def total_steps(self, blobs: BlobStore, inputs: list[str], params: dict[str, Any]) -> int:
        """How many steps the whole job takes."""

    def prepare(self, blobs: BlobStore, inputs: list[str], params: dict[str, Any]) -> None:
        """Load and check the inputs once per worker, before the first (timed) segment."""
        return None  # optional: ``run`` may load lazily

    @abstractmethod
    def run(self, ctx: GangContext, inputs: list[str], params: dict[str, Any],
            start: str | None, steps: tuple[int, int]) -> SegmentResult:
        """Run steps ``[s0, s1)`` from checkpoint ``start``; see the class docstring."""

    def finish(self, blobs: BlobStore, inputs: list[str], params: dict[str, Any],
               checkpoint: str) -> TaskResult:
        """The job's outputs, made from its last checkpoint (deterministically)."""
        return TaskResult(outputs={"checkpoint": checkpoint})


def unknown_gang(name: str) -> UnknownTask:
    return UnknownTask(f"unknown gang task kind {name!r}; registered: "
                       f"{', '.join(_GANGS.names()) or 'none'}")


_GANGS: Registry[type[GangTask]] = Registry("gang task kind", "name", unknown_gang)
register_gang = _GANGS.register
"""Class decorator: ``@register_gang("train.supervised")`` makes the class that gang kind."""


def registered_gangs() -> dict[str, str]:
    """Registered gang task kinds and the modules that define them."""
    return _GANGS.modules()


def load_gang_task(name: str, module: str | None = None) -> GangTask:
    """An instance of gang kind ``name``, importing ``module`` first if needed (as ``load_task``).

    Raises:
        UnknownTask: if no such kind is registered, even after the import.
    """
    import importlib

    if name not in _GANGS and module is not None:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            raise UnknownTask(f"gang module {module!r} is not installed on this node") from None
    return _GANGS.get(name)()


# --- segment length (pure) ----------------------------------------------------


def gang_mtbf_s(reliabilities: Sequence[float]) -> float:
    """MTBF of a gang, which fails when any member does: ``1 / sum(1 / M_i)``."""
    rate = sum(1.0 / mtbf_from_reliability(r) for r in reliabilities)
    return math.inf if rate == 0 else 1.0 / rate


def segment_steps(step_s: float, checkpoint_s: float, mtbf_s: float, total_steps: int) -> int:
    """Steps per segment: Young/Daly's interval over the step time, in [1/256, 1/8] of the run."""
    low = max(1, math.ceil(total_steps / _MAX_SEGMENTS))
    high = max(1, math.ceil(total_steps / MIN_SEGMENTS))
    tau = young_daly_interval(max(0.0, checkpoint_s), mtbf_s)
    steps = high if math.isinf(tau) or step_s <= 0 else round(tau / step_s)
    return min(high, max(low, steps))


# --- on the workers -------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One committed segment: steps ``[start_step, end_step)`` from ``start`` to ``checkpoint``."""

    start_step: int
    end_step: int
    start: str | None
    checkpoint: str


@dataclass(frozen=True)
class Round:
    """Everything a gang's workers need for one round (pickled to them)."""

    job_id: str
    task: str
    module: str
    inputs: tuple[str, ...]
    params: dict[str, Any]
    index: int
    members: tuple[str, ...]
    keys: tuple[str, ...]
    attempts: tuple[int, ...]
    start: str | None
    start_step: int
    total_steps: int
    first_steps: int
    mtbf_s: float
    blob_root: str
    keystore_root: str
    faults: Faults | None
    board: Any


class Board:
    """A Ray actor on the coordinator's node: commitments, progress and receipts per round."""

    def __init__(self) -> None:
        self.rounds: dict[int, dict[str, dict[int, Any]]] = {}

    def _at(self, index: int) -> dict[str, dict[int, Any]]:
        return self.rounds.setdefault(index, {"commits": {}, "progress": {}, "receipts": {}})

    def commit(self, index: int, rank: int, payload: dict[str, Any], signature: str) -> None:
        self._at(index)["commits"].setdefault(rank, []).append((payload, signature))

    def progress(self, index: int, rank: int, step: int) -> None:
        seen = self._at(index)["progress"]
        seen[rank] = max(seen.get(rank, 0), step)

    def receipt(self, index: int, rank: int, data: bytes) -> None:
        self._at(index)["receipts"][rank] = data

    def read(self, index: int) -> dict[str, dict[int, Any]]:
        return self._at(index)


def gang_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: this rank's segments, a signed commitment after each, a receipt."""
    import ray
    import torch
    import torch.distributed as dist
    from ray import train

    from plexnet.core.keystore import Keystore

    plan: Round = config["plan"]
    rank, n = train.get_context().get_world_rank(), train.get_context().get_world_size()
    provider, attempt = plan.members[rank], plan.attempts[rank]
    here = ray.get_runtime_context().get_node_labels().get("provider")
    if here != provider:
        raise ExecutionError(f"rank {rank} of job {plan.job_id} landed on {here}, not {provider}")
    blobs = LocalBlobStore(Path(plan.blob_root))
    me = Keystore(Path(plan.keystore_root)).load(plan.keys[rank])
    task, sent = load_gang_task(plan.task, plan.module), [0.0]

    def progress(step: int) -> None:
        if time.perf_counter() - sent[0] >= 0.1:  # fire and forget, ten times a second
            sent[0] = time.perf_counter()
            plan.board.progress.remote(plan.index, rank, step)

    ctx = GangContext(rank, n, dist.group.WORLD, blobs, progress)
    started, step, start, k = time.perf_counter(), plan.start_step, plan.start, plan.first_steps
    task.prepare(blobs, list(plan.inputs), plan.params)
    ray.get(plan.board.progress.remote(plan.index, rank, step))  # started (untimed)
    prepare_s = time.perf_counter() - started
    checkpoints: list[str] = []
    bounds, train_s, samples, measured = [step], 0.0, 0, [0.0, 0.0]
    while step < plan.total_steps:
        end = min(plan.total_steps, step + k)
        t0 = time.perf_counter()
        seg = task.run(ctx, list(plan.inputs), plan.params, start, (step, end))
        spent = time.perf_counter() - t0
        train_s, samples = train_s + spent, samples + int(seg.metrics.get("samples", 0))
        committed = seg.checkpoint
        if plan.faults and plan.faults.fakes(provider, f"{plan.job_id}@{step}", rank, attempt):
            committed = blobs.put(_corrupt(blobs.get(seg.checkpoint)))  # lies, keeps training
        claim = {"v": 1, "job_id": plan.job_id, "unit": rank, "attempt": attempt,
                 "steps": [step, end], "checkpoint": committed}
        t0 = time.perf_counter()
        ray.get(plan.board.commit.remote(plan.index, rank, claim,
                                         me.sign_json(COMMIT_DOMAIN, claim)))
        cost = seg.checkpoint_s + time.perf_counter() - t0  # write, sign and post
        if len(checkpoints) < 2:  # the second segment runs warm; the ranks agree on k
            agreed = torch.tensor([(spent - seg.checkpoint_s) / (end - step), cost],
                                  dtype=torch.float64)
            if n > 1:
                dist.all_reduce(agreed, op=dist.ReduceOp.MAX)
            measured = [float(agreed[0]), float(agreed[1])]
            k = segment_steps(measured[0], measured[1], plan.mtbf_s, plan.total_steps)
        checkpoints.append(committed)
        bounds.append(end)
        step, start = end, seg.checkpoint
    assert start is not None, "a round starts from a checkpoint or runs at least one segment"
    done = task.finish(blobs, list(plan.inputs), plan.params, start)
    metrics = {**done.metrics, "checkpoints": checkpoints, "boundaries": bounds,
               "start_checkpoint": plan.start, "world_size": n, "segment_steps": k,
               "step_s": round(measured[0], 7), "checkpoint_s": round(measured[1], 6),
               "samples": samples, "train_s": round(train_s, 4),
               "prepare_s": round(prepare_s, 4),
               "wall_s": round(time.perf_counter() - started, 4)}
    receipt = Entry.create(me, jb.JobReceipt(
        job_id=plan.job_id, unit=rank, attempt=attempt,
        inputs=[*plan.inputs, *([plan.start] if plan.start else [])],
        outputs=[checkpoints[-1] if checkpoints else start, *done.outputs.values()],
        metrics=metrics))
    ray.get(plan.board.receipt.remote(plan.index, rank, receipt.to_bytes()))


def _corrupt(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


# --- replay (the verifier) ---------------------------------------------------------


def _replay_rank(rank: int, n: int, init: str, task_name: str, module: str, inputs: list[str],
                 params: dict[str, Any], spans: list[tuple[str | None, int, int]],
                 blob_root: str, out: Any) -> None:
    import torch.distributed as dist

    try:
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=n)
        task, blobs = load_gang_task(task_name, module), LocalBlobStore(Path(blob_root))
        ctx = GangContext(rank, n, dist.group.WORLD, blobs)
        out.put((rank, [task.run(ctx, inputs, params, start, (a, b)).checkpoint
                        for start, a, b in spans], None))
    except Exception as exc:  # reported to the parent, which raises
        out.put((rank, [], f"{type(exc).__name__}: {exc}"))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _replay_here(task: str, module: str, inputs: list[str], params: dict[str, Any],
                 spans: list[tuple[str | None, int, int]], n: int, blob_root: str) -> list[str]:
    import multiprocessing

    mp = multiprocessing.get_context("spawn")  # fresh interpreters: one default group each
    with tempfile.TemporaryDirectory(prefix="plexnet-replay-") as tmp:
        out = mp.Queue()
        procs = [mp.Process(target=_replay_rank, args=(r, n, f"file://{tmp}/rendezvous", task,
                                                       module, inputs, params, spans,
                                                       blob_root, out)) for r in range(n)]
        for p in procs:
            p.start()
        results = dict((rank, (cids, err)) for rank, cids, err in (out.get(timeout=3600)
                                                                   for _ in procs))
        for p in procs:
            p.join()
    errors = [f"rank {r}: {err}" for r, (_, err) in sorted(results.items()) if err]
    if errors:
        raise ExecutionError(f"replay of {task} failed: {'; '.join(errors)}")
    if any(results[r][0] != results[0][0] for r in results):
        raise ExecutionError(f"replay of {task}: the ranks ended on different checkpoints")
    return list(results[0][0])


def replay_segments(task: str, inputs: list[str], params: dict[str, Any],
                    segments: Sequence[Segment], world_size: int, blob_root: Path,
                    provider: ProviderProfile | None = None) -> list[str]:
    """Re-run ``segments`` from their start checkpoints; return the end checkpoint CIDs.

    Runs ``world_size`` processes on one node (gloo over localhost): on
    ``provider``'s node, pinned by its custom resource, or here if None.

    Raises:
        UnknownTask: if ``task`` is not a registered gang kind.
        ExecutionError: if the replay fails.
    """
    module = registered_gangs().get(task)
    if module is None:
        raise unknown_gang(task)
    spans = [(s.start, s.start_step, s.end_step) for s in segments]
    args = (task, module, list(inputs), dict(params), spans, world_size, str(blob_root))
    if provider is None:
        return _replay_here(*args)
    import ray

    remote = ray.remote(_replay_here).options(resources={provider.resource: 0.01}, num_cpus=1,
                                              max_retries=0, name=f"replay:{task}")
    try:
        ends: list[str] = ray.get(remote.remote(*args))
    except ExecutionError:
        raise
    except Exception as exc:  # the verifier's node died, or the replay raised there
        raise ExecutionError(f"replay on {provider.name} failed: {exc}") from None
    return ends


