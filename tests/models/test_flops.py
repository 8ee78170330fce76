"""FLOPs: the counter matches the matrix-product arithmetic, and 6·N·D is close to it."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from plexnet.models import ModelError
from plexnet.models.flops import flops_report, measure_flops
from plexnet.models.mlp import MLP


def _step(model: MLP, batch: int) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(batch, model.config["in"]), torch.randint(0, model.config["out"], (batch,))
    opt = torch.optim.Adam(model.parameters())
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _weights(model: MLP) -> tuple[int, int]:
    linears = [m for m in model.net if isinstance(m, nn.Linear)]
    return sum(m.weight.numel() for m in linears), linears[0].weight.numel()


@pytest.mark.parametrize(("hidden", "low", "high"), [([128], 0.69, 0.71), ([256, 256], 0.92, 0.94)])
def test_an_mlp_step_counts_what_the_rule_predicts(hidden, low, high):
    torch.set_num_threads(1)
    model, batch = MLP(64, hidden, 10), 32
    step = measure_flops(lambda: _step(model, batch))
    w, w_first = _weights(model)
    # Forward 2 FLOPs per weight, backward 4, less the first layer's input gradient
    # (the data needs none); biases, ReLU, the loss and Adam count nothing.
    assert step == batch * (6 * w - 2 * w_first)
    report = flops_report(model.num_parameters(), 10 * batch, step, batch)
    assert report["flops_measured"] == 10 * step
    assert report["flops_estimate"] == 6 * model.num_parameters() * 10 * batch
    assert low < report["flops_ratio"] < high < 1  # close to 1, below it, for the reasons above


def test_the_count_is_linear_in_the_batch():
    model = MLP(16, [32], 4)
    one = measure_flops(lambda: _step(copy.deepcopy(model), 1))
    assert measure_flops(lambda: _step(copy.deepcopy(model), 50)) == 50 * one


def test_a_forward_pass_without_gradients_is_a_third_of_the_rule():
    model = MLP(16, [32], 4)
    with torch.no_grad():
        flops = measure_flops(lambda: model(torch.zeros(10, 16)))
    assert flops == 2 * 10 * _weights(model)[0]


@pytest.mark.parametrize("args", [(-1, 10, 5, 1), (10, -1, 5, 1), (10, 10, -5, 1), (10, 10, 5, 0)])
def test_bad_counts_are_refused(args):
    with pytest.raises(ModelError, match="non-negative"):
        flops_report(*args)


def test_no_samples_no_ratio():
    assert flops_report(100, 0, 0)["flops_ratio"] is None
