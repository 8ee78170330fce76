"""The ``infer.batch`` task kind: predictions for one shard of a dataset version.

Inputs: ``[model CID, dataset manifest CID]``; the model is a classifier artifact
(an MLP or a CNN, :func:`~plexnet.models.mlp.load_classifier`). A job of ``units``
shards splits the dataset's records into that many contiguous slices; unit ``u``
predicts slice ``u``. Output: the predicted labels as a ``.npy`` int64 array (no pickle).
Deterministic on CPU (one thread), so replicas of a shard agree byte for byte.
Metrics: ``samples``, and ``flops`` = 2·N per sample (N parameters; for a CNN an
undercount, since each convolution weight is applied at every pixel: see ``flops.py``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch

from plexnet.compute.task import TaskContext, TaskKind, TaskResult, register
from plexnet.data.dataset import load_arrays
from plexnet.models.errors import ModelError
from plexnet.models.mlp import load_classifier, predict

__all__ = ["BatchInference", "decode_predictions", "shard_slice"]


def shard_slice(n_records: int, unit: int, units: int) -> slice:
    """Records of shard ``unit`` of ``units`` (contiguous, sizes differ by at most one)."""
    if not 0 <= unit < units:
        raise ModelError(f"shard {unit} of {units} does not exist")
    bounds = np.linspace(0, n_records, units + 1).round().astype(int)
    return slice(int(bounds[unit]), int(bounds[unit + 1]))


def decode_predictions(data: bytes) -> np.ndarray:
    """Predictions from an ``infer.batch`` output blob (never unpickles)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


@register("infer.batch")
class BatchInference(TaskKind):
    """Predict labels for one shard of a dataset with a registered model."""

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        if len(inputs) != 2:
            raise ModelError("infer.batch takes two inputs: a model CID and a dataset manifest CID")
        if params:
            raise ModelError(f"infer.batch takes no parameters, got {sorted(params)}")
        torch.set_num_threads(1)
        model = load_classifier(ctx.blobs.get(inputs[0]))
        x, _y, _manifest = load_arrays(ctx.blobs, inputs[1])
        rows = shard_slice(len(x), ctx.unit, ctx.units)
        labels = predict(model, x[rows]).astype("<i8")
        out = io.BytesIO()
        np.save(out, labels, allow_pickle=False)
        cid = ctx.blobs.put(out.getvalue())
        n = sum(q.numel() for q in model.parameters())
        return TaskResult(outputs={"predictions": cid},
                          metrics={"samples": len(labels), "flops": 2 * n * len(labels)})
