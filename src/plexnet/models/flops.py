"""Training cost: the 6·N·D estimate against FLOPs counted by PyTorch.

The usual rule for the cost of training a dense network is ``6·N·D`` floating-point
operations: ``N`` parameters, ``D`` samples (or tokens), and per sample 2 FLOPs per
weight in the forward pass (one multiply, one add) and 4 in the backward pass (the
gradient with respect to the layer's input and the one with respect to its weights).
:func:`measure_flops` counts what actually ran, with
:class:`torch.utils.flop_counter.FlopCounterMode`, which adds ``2·M·N·K`` for every
matrix product (``mm``, ``addmm``, ``bmm``, convolutions, attention) it sees.

The two differ, and :func:`flops_report` gives their ratio, because:

* the first layer's input gradient is never computed (the data does not require a
  gradient), so an MLP's measured count is ``6·B·W - 2·B·W₁`` per step of ``B``
  samples (``W`` weights, ``W₁`` of them in the first layer): below 1 by about ``W₁/3W``;
* ``N`` counts biases (and any other parameters outside a matrix product), but the
  counter adds nothing for a bias add, an activation, the loss or the optimizer step;
  those are elementwise and cheap next to the products, which is why the rule ignores
  them too;
* a recipe without a backward pass (k-means) or with extra forward passes (a policy
  acting, then learning) is not what the rule describes; the ratio says by how much;
* a convolution reuses each weight at every output pixel, so a CNN (``cnn.py``) does
  far more than 6 FLOPs per parameter and sample: the rule, written for dense layers
  (and transformers, whose weights are used once per token), undercounts it. A 3x3
  convolution from ``c_in`` to ``c_out`` channels on an ``h x w`` map costs
  ``2·9·c_in·c_out·h·w`` forward, ``h·w`` times its weight count (the counter sees
  ``convolution`` and ``convolution_backward``, the latter without the input
  gradient of a first layer, as for the MLP).

Measured for ``MLP(64, [128], 10)`` (digits): 0.70; for ``MLP(64, [256, 256], 10)``
(most weights past the first layer): 0.93 (``tests/models/test_flops.py``); for the
digits CNN (8x8, channels [16, 32], dense 128, N = 22 602): 4.32, 585 216 FLOPs a
sample against 6·N = 135 612 (``tests/models/test_cnn.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plexnet.models.errors import ModelError

__all__ = ["flops_report", "measure_flops"]


def measure_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of the matrix products that ``fn()`` runs (e.g. one training step).

    ``fn`` runs once, for real: a training step changes its model, so measure on a
    copy when the model's bytes matter.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def flops_report(params: int, samples: int, step_flops: int,
                 step_samples: int = 1) -> dict[str, Any]:
    """N, D, the 6·N·D estimate and the measured total (``step_flops`` per
    ``step_samples`` samples, scaled to ``samples``), and measured / estimate.

    Raises:
        ModelError: for a negative count or a step of no samples.
    """
    if min(params, samples, step_flops) < 0 or step_samples <= 0:
        raise ModelError(f"flop counts must be non-negative and a step must hold samples; "
                         f"got params={params}, samples={samples}, step_flops={step_flops}, "
                         f"step_samples={step_samples}")
    estimate = 6 * params * samples
    measured = round(step_flops * samples / step_samples)
    return {"params": params, "samples": samples, "flops_estimate": estimate,
            "flops_measured": measured,
            "flops_ratio": round(measured / estimate, 4) if estimate else None}
