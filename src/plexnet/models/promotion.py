"""The promotion gate: a compressed model replaces its teacher only if it keeps quality.

A student (distilled, quantized or exported) is promoted when, measured side by
side with its teacher,

* its accuracy on a held-out set is at least ``min_accuracy_share`` of the
  teacher's (default 0.97: DistilBERT's published result, 97 % of BERT's GLUE
  score, is the bar the field quotes for "as good"), and
* it is at least ``min_speedup`` times faster (default 2.0: below that a smaller
  model rarely pays for a second artifact to register, serve and route to).

Both figures come from :func:`measure`: accuracy on held-out records, and latency
as the median over repeated timed batches (the median, because a shared CPU's
interruptions make the mean jump). The gate refuses to compare measurements taken
with different batch sizes or runtimes, since such a ratio means nothing.
:func:`promote` is pure: it returns a frozen :class:`Promotion` with the decision,
the ratios it computed and one reason per failed (or passed) condition; whoever
registers models carries it out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from plexnet.models.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Measurement", "Promotion", "measure", "promote", "torch_forward"]


@dataclass(frozen=True)
class Measurement:
    """Held-out accuracy and median latency of one model on one runtime.

    Attributes:
        accuracy: share of held-out records classified correctly, in [0, 1].
        latency_s: median seconds for one forward pass over ``batch_size`` records.
        batch_size: records per timed forward pass.
        reps: timed passes the median is over.
        runtime: where it ran, e.g. ``"torch-cpu-1thread"`` or ``"onnxruntime-cpu-1thread"``.
        samples: held-out records the accuracy is over.
    """

    accuracy: float
    latency_s: float
    batch_size: int
    reps: int
    runtime: str
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Promotion:
    """The gate's decision, the ratios behind it and why."""

    decision: bool
    reasons: tuple[str, ...]
    accuracy_share: float
    speedup: float
    teacher: Measurement
    student: Measurement


def torch_forward(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy -> logits function for a torch model (eval mode, no autograd, one thread)."""
    import torch

    torch.set_num_threads(1)
    model.eval()

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(x, dtype=torch.float32)).numpy()

    return forward


def measure(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray, *,
            batch_size: int = 256, reps: int = 50, warmup: int = 5,
            runtime: str = "torch-cpu-1thread") -> Measurement:
    """Accuracy of ``forward`` on (x, y) and its median latency on ``batch_size`` records.

    The timed batch is the first ``batch_size`` rows of ``x``, tiled if there are
    fewer, so every model measured with the same (x, batch_size) sees the same input.

    Raises:
        ModelError: for an empty set, a batch size or reps below 1, or logits of the
            wrong shape.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if len(x) == 0 or len(x) != len(y):
        raise ModelError(f"need held-out records with one label each; got {len(x)} rows and "
                         f"{len(y)} labels")
    if batch_size < 1 or reps < 1:
        raise ModelError(f"batch_size and reps must be >= 1, got {batch_size} and {reps}")
    logits = forward(x)
    if logits.ndim != 2 or len(logits) != len(x):
        raise ModelError(f"forward returned shape {logits.shape} for {len(x)} records")
    accuracy = float((logits.argmax(axis=1) == y).mean())
    batch = np.ascontiguousarray(np.resize(x, (batch_size, x.shape[1])))
    for _ in range(warmup):
        forward(batch)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        forward(batch)
        times.append(time.perf_counter() - start)
    return Measurement(accuracy=round(accuracy, 4), latency_s=float(np.median(times)),
                       batch_size=batch_size, reps=reps, runtime=runtime, samples=len(x))


def _as_measurement(m: Measurement | Mapping[str, Any], who: str) -> Measurement:
    if isinstance(m, Measurement):
        return m
    try:
        return Measurement(**{k: m[k] for k in Measurement.__dataclass_fields__})
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{who} metrics lack a field the gate needs ({exc}); measure them "
                         "with plexnet.models.promotion.measure") from None


def promote(teacher_metrics: Measurement | Mapping[str, Any],
            student_metrics: Measurement | Mapping[str, Any], *,
            min_accuracy_share: float = 0.97, min_speedup: float = 2.0) -> Promotion:
    """Decide whether the student may replace the teacher.

    Args:
        teacher_metrics, student_metrics: :class:`Measurement` objects or their
            ``to_dict()`` form, measured with the same batch size and runtime.
        min_accuracy_share: student accuracy / teacher accuracy must reach this.
        min_speedup: teacher latency / student latency must reach this.

    Raises:
        ModelError: for thresholds out of range or measurements that cannot be compared.
    """
    if not 0.0 < min_accuracy_share <= 1.5:
        raise ModelError(f"min_accuracy_share must be in (0, 1.5], got {min_accuracy_share}")
    if not min_speedup > 0:
        raise ModelError(f"min_speedup must be > 0, got {min_speedup}")
    teacher = _as_measurement(teacher_metrics, "teacher")
    student = _as_measurement(student_metrics, "student")
    if (teacher.batch_size, teacher.runtime) != (student.batch_size, student.runtime):
        raise ModelError(f"teacher measured at batch {teacher.batch_size} on {teacher.runtime}, "
                         f"student at batch {student.batch_size} on {student.runtime}: "
                         "measure both the same way")
    if teacher.accuracy <= 0 or teacher.latency_s <= 0 or student.latency_s <= 0:
        raise ModelError("accuracy and latencies must be positive to form ratios")
    share = student.accuracy / teacher.accuracy
    speedup = teacher.latency_s / student.latency_s
    ok_acc, ok_speed = share >= min_accuracy_share, speedup >= min_speedup
    reasons = (
        f"accuracy {student.accuracy:.4f} is {share:.1%} of the teacher's {teacher.accuracy:.4f}"
        f" ({'>=' if ok_acc else '<'} {min_accuracy_share:.0%} required)",
        f"{speedup:.2f}x faster than the teacher at batch {teacher.batch_size} on "
        f"{teacher.runtime} ({'>=' if ok_speed else '<'} {min_speedup:g}x required)",
    )
    return Promotion(decision=ok_acc and ok_speed, reasons=reasons, accuracy_share=share,
                     speedup=speedup, teacher=teacher, student=student)
