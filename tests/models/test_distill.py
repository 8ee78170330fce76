"""Distillation on digits: the loss, the student's accuracy, the task kind, the promotion gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from plexnet.compute.task import TaskContext, load_task
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.identity import Identity
from plexnet.data import Records, Schema, publish
from plexnet.models import ModelError
from plexnet.models.distill import distill, distillation_loss
from plexnet.models.mlp import load_mlp, predict, save_mlp
from plexnet.models.promotion import Measurement, measure, promote, torch_forward
from plexnet.models.supervised import train_mlp


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    test, train = order[:400], order[400:]  # the test records are never trained on
    return d.data[train], d.target[train], d.data[test], d.target[test]


@pytest.fixture(scope="module")
def teacher(digits):
    x, y, _, _ = digits
    model, _ = train_mlp(x, y, 10, {"hidden": [512, 512], "epochs": 20, "seed": 0})
    return model


def _acc(model, x, y) -> float:
    return float((predict(model, x) == y).mean())


# --- the loss ---------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_term_is_kl_scaled_by_t_squared(temperature):
    # Teacher logits (T·ln 3, 0) soften to (3/4, 1/4) at every T; the student's zeros to (1/2, 1/2).
    teacher = torch.tensor([[temperature * math.log(3.0), 0.0]])
    student = torch.zeros(1, 2)
    y = torch.tensor([0])
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    soft = distillation_loss(student, teacher, y, temperature, alpha=1.0)
    assert soft.item() == pytest.approx(temperature**2 * kl, rel=1e-5)
    hard = distillation_loss(student, teacher, y, temperature, alpha=0.0)
    assert hard.item() == pytest.approx(math.log(2.0), rel=1e-6)  # CE of a uniform guess
    mixed = distillation_loss(student, teacher, y, temperature, alpha=0.7)
    assert mixed.item() == pytest.approx(0.7 * soft.item() + 0.3 * hard.item(), rel=1e-6)


def test_no_gradient_reaches_the_teacher():
    teacher = torch.randn(4, 3, requires_grad=True)
    student = torch.randn(4, 3, requires_grad=True)
    distillation_loss(student, teacher, torch.tensor([0, 1, 2, 0]), 4.0, 0.7).backward()
    assert teacher.grad is None and student.grad is not None


@pytest.mark.parametrize("temperature, alpha", [(0.0, 0.5), (-1.0, 0.5), (float("nan"), 0.5),
                                                (4.0, -0.1), (4.0, 1.5)])
def test_bad_knobs_are_refused(temperature, alpha):
    s = torch.zeros(2, 3)
    with pytest.raises(ModelError):
        distillation_loss(s, s, torch.tensor([0, 1]), temperature, alpha)


def test_mismatched_logits_are_refused():
    with pytest.raises(ModelError, match="class counts"):
        distillation_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.tensor([0, 1]), 4.0, 0.7)


# --- training ---------------------------------------------------------------------------

def test_student_keeps_the_teachers_accuracy(digits, teacher):
    x, y, xt, yt = digits
    student, metrics = distill(teacher, x, y, [32], epochs=40, seed=1)
    alone, _ = train_mlp(x, y, 10, {"hidden": [32], "epochs": 40, "seed": 1, "lr": 3e-3})
    t_acc, s_acc, a_acc = _acc(teacher, xt, yt), _acc(student, xt, yt), _acc(alone, xt, yt)
    assert t_acc > 0.95
    assert s_acc >= 0.97 * t_acc or s_acc >= a_acc, (t_acc, s_acc, a_acc)
    assert metrics["param_ratio"] > 100  # 64-512-512-10 against 64-32-10
    assert metrics["params"] == student.num_parameters() == 64 * 32 + 32 + 32 * 10 + 10
    assert metrics["flops_estimate"] == (6 * metrics["params"] * metrics["samples"]
                                         + 2 * metrics["teacher_params"] * int(len(y) * 0.85))
    assert load_mlp(save_mlp(student)).config["hidden"] == [32]


def test_distillation_is_deterministic(digits, teacher):
    x, y, _, _ = digits
    a, _ = distill(teacher, x, y, [16], epochs=3, seed=5)
    b, _ = distill(teacher, x, y, [16], epochs=3, seed=5)
    assert save_mlp(a) == save_mlp(b)


def test_bad_training_inputs_are_refused(digits, teacher):
    x, y, _, _ = digits
    with pytest.raises(ModelError, match="teacher has 10 classes"):
        distill(teacher, x, y + 1, [8], epochs=1)  # labels 1..10: one class too many
    with pytest.raises(ModelError, match="do not fit"):
        distill(teacher, x[:, :32], y, [8], epochs=1)
    with pytest.raises(ModelError, match="temperature"):
        distill(teacher, x, y, [8], temperature=0.0, epochs=1)
    with pytest.raises(ModelError, match="alpha"):
        distill(teacher, x, y, [8], alpha=1.01, epochs=1)
    with pytest.raises(ModelError, match="positive widths"):
        distill(teacher, x, y, [], epochs=1)


def test_train_distill_task_kind(tmp_path, digits, teacher):
    d = load_digits()
    blobs = LocalBlobStore(tmp_path / "blobs")
    schema = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)])
    owner = Identity.generate("owner")
    records = Records.make(d.target, x=d.data, contributor=owner.did)
    dataset, _, _ = publish(owner, blobs, "digits", 1, schema, [(records, None)], "BSD-3-Clause")
    teacher_cid = blobs.put(save_mlp(teacher))
    task = load_task("train.distill", "plexnet.models.distill")
    ctx = TaskContext(blobs=blobs, provider="p", job_id="j")
    params = {"hidden": [16], "epochs": 3, "seed": 2}
    r1 = task.run(ctx, [dataset, teacher_cid], params)
    r2 = task.run(ctx, [dataset, teacher_cid], params)
    assert r1.outputs == r2.outputs  # a replica reproduces the CID
    student = load_mlp(blobs.get(r1.outputs["model"]))
    assert student.config == {"arch": "mlp", "in": 64, "hidden": [16], "out": 10}
    assert r1.metrics["dataset"] == "digits@1" and r1.metrics["teacher"] == teacher_cid
    assert r1.metrics["val_accuracy"] > 0.5
    with pytest.raises(ModelError, match="two inputs"):
        task.run(ctx, [dataset], params)
    with pytest.raises(ModelError, match="unknown distillation parameters"):
        task.run(ctx, [dataset, teacher_cid], {"temprature": 2.0})
    three = Schema(kind="image", shape=[8, 8], labels=["0", "1", "2"])
    small = Records.make(d.target[d.target < 3], x=d.data[d.target < 3], contributor=owner.did)
    other, _, _ = publish(owner, blobs, "digits012", 1, three, [(small, None)], "BSD-3-Clause")
    with pytest.raises(ModelError, match="10 classes"):
        task.run(ctx, [other, teacher_cid], params)


# --- the promotion gate ---------------------------------------------------------------------

def test_tiny_student_fails_the_gate_and_a_good_one_passes(digits, teacher):
    x, y, xt, yt = digits
    tiny, _ = distill(teacher, x, y, [2], epochs=10, seed=0)
    good, _ = distill(teacher, x, y, [32], epochs=40, seed=1)
    t = measure(torch_forward(teacher), xt, yt, batch_size=256, reps=15)
    s_tiny = measure(torch_forward(tiny), xt, yt, batch_size=256, reps=15)
    s_good = measure(torch_forward(good), xt, yt, batch_size=256, reps=15)
    verdict = promote(t, s_tiny)
    assert not verdict.decision
    assert verdict.accuracy_share < 0.97 and "< 97% required" in verdict.reasons[0]
    assert verdict.student == s_tiny and verdict.teacher == t  # the measurements are recorded
    passed = promote(t.to_dict(), s_good.to_dict())  # the dict form is accepted too
    assert passed.decision, passed.reasons
    assert passed.speedup >= 2.0


def _m(accuracy: float, latency_s: float, **kw) -> Measurement:
    fields = {"batch_size": 256, "reps": 10, "runtime": "torch-cpu-1thread", "samples": 400}
    return Measurement(accuracy=accuracy, latency_s=latency_s, **{**fields, **kw})


def test_gate_decisions_are_pure_and_stated():
    teacher = _m(0.98, 0.010)
    assert promote(teacher, _m(0.96, 0.002)).decision  # 98.0 % of the accuracy, 5x faster
    slow = promote(teacher, _m(0.97, 0.006))
    assert not slow.decision and "< 2x required" in slow.reasons[1]
    assert not promote(teacher, _m(0.90, 0.001)).decision
    assert promote(teacher, _m(0.90, 0.001), min_accuracy_share=0.9).decision
    assert not promote(teacher, _m(0.97, 0.004), min_speedup=3.0).decision


def test_gate_refuses_measurements_it_cannot_compare():
    with pytest.raises(ModelError, match="measure both the same way"):
        promote(_m(0.98, 0.01), _m(0.97, 0.001, batch_size=1))
    with pytest.raises(ModelError, match="measure both the same way"):
        promote(_m(0.98, 0.01), _m(0.97, 0.001, runtime="onnxruntime-cpu-1thread"))
    with pytest.raises(ModelError, match="lack a field"):
        promote({"accuracy": 0.9}, _m(0.97, 0.001))
    with pytest.raises(ModelError, match="min_speedup"):
        promote(_m(0.98, 0.01), _m(0.97, 0.001), min_speedup=0)
    with pytest.raises(ModelError):
        measure(lambda a: a, np.zeros((0, 4)), np.zeros(0))
