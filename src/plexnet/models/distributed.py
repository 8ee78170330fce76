"""``train.supervised`` as a gang task: the MLP recipe, data-parallel over ``n`` ranks.

The same parameters and defaults as :func:`supervised.train_mlp` and the same
train/validation split, for MLPs only: ``arch`` ``"cnn"`` and a second input (a
parent model to fine-tune) are refused with a :class:`ModelError`, as ``dp`` is,
rather than silently training something else. The differences are what data
parallelism and segment replays need:

* The run is a sequence of global steps. Step ``s`` is batch ``s mod B`` of epoch
  ``s div B`` (``B`` batches an epoch), in an order drawn from
  ``default_rng([seed, 1, epoch])``, so any segment can start anywhere.
* Each rank takes ``batch[rank::n]`` of every batch, sums its loss, all-reduces
  the flat gradient with an explicit SUM and divides by the batch size: the
  gradient of the batch mean, reduced in a fixed order (no DDP buckets). A
  gang of one has nothing to reduce and divides the summed loss instead.
* A worker continues from the state it just saved rather than re-reading it;
  the bytes are the same either way (the checkpoint holds the whole state),
  which is what lets a verifier replay any segment from its checkpoint.
* A checkpoint is a safetensors file: the model's tensors under ``model.``,
  Adam's per-parameter state under ``optim.<i>.``, and one metadata entry
  (``plexnet``: canonical JSON with the architecture and the step). One entry,
  because safetensors writes several metadata keys in hash-map order, which
  changes from process to process and would break byte-for-byte replays.

``finish`` turns the last checkpoint into the usual model artifact
(:func:`mlp.save_mlp`) with the accuracy metrics ``train_mlp`` reports.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from plexnet.compute.gang import GangContext, GangTask, SegmentResult, register_gang
from plexnet.compute.task import TaskResult
from plexnet.core import canonical
from plexnet.core.blobstore import BlobStore
from plexnet.data.dataset import load_arrays, load_manifest
from plexnet.models.errors import ArtifactError, ModelError
from plexnet.models.mlp import MLP, predict, save_mlp
from plexnet.models.supervised import new_model, new_optimizer, split_indices, training_params

__all__ = ["DistributedSupervised", "load_checkpoint", "save_checkpoint"]

# x, y, classes, train rows, validation rows, and x[train], y[train] as tensors
_Data = tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]


def save_checkpoint(model: MLP, opt: torch.optim.Optimizer, step: int) -> bytes:
    """Model and Adam state after ``step`` steps as safetensors bytes (deterministic)."""
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for i, param in enumerate(model.parameters()):
        for key, value in opt.state.get(param, {}).items():
            tensors[f"optim.{i}.{key}"] = torch.as_tensor(value).detach().contiguous()
    meta = {**model.config, "step": step, "format": "plexnet.checkpoint.v1"}
    return st_save(dict(sorted(tensors.items())),
                   metadata={"plexnet": canonical.dumps(meta).decode()})


def load_checkpoint(data: bytes, p: dict[str, Any]) -> tuple[MLP, torch.optim.Adam, int]:
    """Rebuild the model, its Adam optimizer (hyper-parameters from ``p``) and the step.

    Raises:
        ArtifactError: if the bytes are not a plexnet checkpoint.
    """
    try:
        tensors = st_load(data)
        header = canonical.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        meta: dict[str, Any] = canonical.loads(header["__metadata__"]["plexnet"])
        if meta.get("format") != "plexnet.checkpoint.v1":
            raise ValueError(f"format {meta.get('format')!r}")
        model = MLP(int(meta["in"]), [int(h) for h in meta["hidden"]], int(meta["out"]))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        opt = new_optimizer(model, p)
        for i, param in enumerate(model.parameters()):
            state = {k.split(".", 2)[2]: v for k, v in tensors.items()
                     if k.startswith(f"optim.{i}.")}
            if state:
                opt.state[param] = state
        return model, opt, int(meta["step"])
    except Exception as exc:  # safetensors, JSON and torch each raise their own types
        raise ArtifactError(f"not a plexnet training checkpoint: {exc}") from None


def _gang_params(params: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    """:func:`training_params` for the gang, which trains MLPs from scratch only."""
    p = training_params(params)
    if p["arch"] != "mlp":
        raise ModelError(f"the gang version of train.supervised trains MLPs only, not arch "
                         f"{p['arch']!r}: submit the job as a parallel (not coupled) one")
    if len(inputs) == 2:
        raise ModelError("the gang version of train.supervised cannot fine-tune from a parent "
                         "model: submit the job as a parallel (not coupled) one")
    if len(inputs) != 1:
        raise ModelError("train.supervised takes exactly one input: a dataset manifest CID")
    return p


@register_gang("train.supervised")
class DistributedSupervised(GangTask):
    """Train an MLP classifier on the dataset version named by the single input, in a gang."""

    def __init__(self) -> None:
        self._data: dict[str, _Data] = {}  # by manifest CID (content-addressed) and split
        self._live: tuple[str, bytes, MLP, torch.optim.Adam] | None = None  # last saved
        self._perm: tuple[int, int, torch.Tensor] = (-1, -1, torch.empty(0))

    def _load(self, blobs: BlobStore, inputs: list[str], p: dict[str, Any]) -> _Data:
        key = f"{inputs[0]}/{p['seed']}/{p['val_fraction']}"
        if key not in self._data:
            x, y, manifest = load_arrays(blobs, inputs[0])
            val, train = split_indices(np.random.default_rng(int(p["seed"])), len(y), p)
            self._data[key] = (x, y, len(manifest.schema_.labels), train, val,
                               torch.as_tensor(x[train], dtype=torch.float32),
                               torch.as_tensor(y[train], dtype=torch.long))
        return self._data[key]

    def prepare(self, blobs: BlobStore, inputs: list[str], params: dict[str, Any]) -> None:
        p = _gang_params(params, inputs)
        self._load(blobs, inputs, p)
        new_optimizer(MLP(1, [], 1), p)  # the first optimizer imports torch._dynamo (~1.4 s)

    def total_steps(self, blobs: BlobStore, inputs: list[str], params: dict[str, Any]) -> int:
        p = _gang_params(params, inputs)
        records = len(load_manifest(blobs, inputs[0]).leaves)
        n_train = records - round(records * float(p["val_fraction"]))
        return int(p["epochs"]) * math.ceil(n_train / int(p["batch_size"]))

    def _start(self, blobs: BlobStore, data: _Data, p: dict[str, Any], start: str | None,
               s0: int) -> tuple[MLP, torch.optim.Adam]:
        """Model and optimizer at step ``s0``: fresh, as this worker just saved them, or loaded.

        Continuing in memory gives the same bytes as loading ``start`` would: the
        checkpoint holds the whole state, and gradients start from None either way.
        """
        x, _, n_classes, train, *_ = data
        key = canonical.dumps(p)
        if start is not None and self._live is not None and self._live[:2] == (start, key):
            return self._live[2], self._live[3]
        if start is not None:
            model, opt, at = load_checkpoint(blobs.get(start), p)
            if at != s0:
                raise ModelError(f"checkpoint {start} is at step {at}, not {s0}")
            return model, opt
        if s0 != 0:
            raise ModelError(f"a segment from step {s0} needs a start checkpoint")
        torch.manual_seed(int(p["seed"]))
        model = new_model(x[train], n_classes, p)
        return model, new_optimizer(model, p)

    def _order(self, seed: int, epoch: int, n: int) -> torch.Tensor:
        """Epoch ``epoch``'s order of the training rows: a function of (seed, epoch) alone."""
        if self._perm[:2] != (seed, epoch):
            perm = np.random.default_rng([seed, 1, epoch]).permutation(n)
            self._perm = (seed, epoch, torch.as_tensor(perm))
        return self._perm[2]

    def run(self, ctx: GangContext, inputs: list[str], params: dict[str, Any],
            start: str | None, steps: tuple[int, int]) -> SegmentResult:
        import torch.distributed as dist

        p = _gang_params(params, inputs)
        torch.set_num_threads(1)  # determinism: one reduction order inside each kernel
        data = self._load(ctx.blobs, inputs, p)
        train, xt, yt = data[3], data[5], data[6]
        (s0, s1), batch = steps, int(p["batch_size"])
        model, opt = self._start(ctx.blobs, data, p, start, s0)
        per_epoch = math.ceil(len(train) / batch)
        weights = list(model.parameters())
        loss_fn = nn.CrossEntropyLoss(reduction="sum")
        loss, shard, seen = torch.zeros(()), 1, 0
        model.train()
        for step in range(s0, s1):
            epoch, b = divmod(step, per_epoch)
            idx = self._order(int(p["seed"]), epoch, len(train))[b * batch : (b + 1) * batch]
            mine = idx[ctx.rank :: ctx.world_size]  # (B / n,) this rank's shard
            opt.zero_grad()  # to None, as after a load
            loss = loss_fn(model(xt[mine]), yt[mine])
            if ctx.world_size == 1:  # nothing to reduce: scale the loss, not each gradient
                (loss / len(idx)).backward()
            else:
                loss.backward()
                grads = [q.grad for q in weights if q.grad is not None]
                flat = torch.cat([g.reshape(-1) for g in grads])
                dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=ctx.group)
                flat.div_(len(idx))  # the sum over the batch, then its mean
                offset = 0
                for g in grads:
                    g.copy_(flat[offset : offset + g.numel()].view_as(g))
                    offset += g.numel()
            opt.step()
            seen, shard = seen + len(idx), max(1, len(mine))
            ctx.progress(step + 1)
        model.eval()
        t0 = time.perf_counter()
        cid = ctx.blobs.put(save_checkpoint(model, opt, s1))
        self._live = (cid, canonical.dumps(p), model, opt)
        # this rank's shard loss at the segment's last step (not all-reduced: cheap)
        return SegmentResult(cid, time.perf_counter() - t0,
                             {"samples": seen, "shard_loss": round(loss.item() / shard, 5)})

    def finish(self, blobs: BlobStore, inputs: list[str], params: dict[str, Any],
               checkpoint: str) -> TaskResult:
        p = _gang_params(params, inputs)
        x, y, _, train, val, _, _ = self._load(blobs, inputs, p)
        model, _, step = load_checkpoint(blobs.get(checkpoint), p)
        model.eval()
        n_params = model.num_parameters()
        samples = step * int(p["batch_size"])  # an upper bound: last batches may be short
        metrics = {
            "params": n_params, "steps": step, "flops_estimate": 6 * n_params * samples,
            "train_accuracy": round(float((predict(model, x[train]) == y[train]).mean()), 4),
            "val_accuracy": (round(float((predict(model, x[val]) == y[val]).mean()), 4)
                             if len(val) else None),
        }
        return TaskResult(outputs={"model": blobs.put(save_mlp(model))}, metrics=metrics)
