"""The ``bench.matmul`` task kind: deterministic, FLOP-counted work.

For calibration (how fast is this provider really?) and for verification tests
(replicas must agree byte for byte). Integer arithmetic modulo a prime keeps it
exact on every CPU and BLAS — float results can differ in the last bit between
honest machines, which would look like cheating.

Parameters: ``n`` (matrix size, default 128), ``repeats`` (chained products,
default 1), ``seed`` (default 0). Unit ``u`` multiplies matrices drawn from
(seed, u), so shards differ and replicas of one shard agree. Output: the final
product as little-endian int64 bytes. Metrics: ``flops`` = 2·n³·repeats.
"""

from __future__ import annotations

import time
from typing import Any, Final

import numpy as np

from plexnet.compute.errors import ComputeError
from plexnet.compute.task import TaskContext, TaskKind, TaskResult, register

__all__ = ["MODULUS", "MatmulBenchmark", "matmul_work"]

# A prime below 2^20: a row of n ≤ 4096 products of values below it sums below
# 2^52, so int64 never overflows before the reduction.
MODULUS: Final = 1_048_573
_MAX_N: Final = 4096


def matmul_work(n: int, repeats: int, seed: int, unit: int) -> np.ndarray:
    """The unit's result: A · B^repeats mod MODULUS, A and B drawn from (seed, unit)."""
    if not 1 <= n <= _MAX_N or repeats < 1:
        raise ComputeError(f"bench.matmul needs 1 <= n <= {_MAX_N} and repeats >= 1")
    rng = np.random.default_rng([seed, unit])
    a = rng.integers(0, MODULUS, size=(n, n), dtype=np.int64)
    b = rng.integers(0, MODULUS, size=(n, n), dtype=np.int64)
    for _ in range(repeats):
        # Split b into 10-bit halves so no partial sum can overflow int64.
        lo, hi = b & 0x3FF, b >> 10
        a = ((a @ lo) % MODULUS + ((a @ hi) % MODULUS) * 1024) % MODULUS
    return a


@register("bench.matmul")
class MatmulBenchmark(TaskKind):
    """Multiply integer matrices; output the product; report FLOPs and time."""

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        unknown = set(params) - {"n", "repeats", "seed"}
        if unknown:
            raise ComputeError(f"bench.matmul: unknown parameters {sorted(unknown)}")
        n, repeats = int(params.get("n", 128)), int(params.get("repeats", 1))
        started = time.perf_counter()
        product = matmul_work(n, repeats, int(params.get("seed", 0)), ctx.unit)
        seconds = time.perf_counter() - started
        cid = ctx.blobs.put(product.astype("<i8").tobytes())
        flops = 2 * n**3 * repeats
        return TaskResult(outputs={"product": cid},
                          metrics={"flops": flops, "n": n, "repeats": repeats,
                                   "compute_s": round(seconds, 4)})
