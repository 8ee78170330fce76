"""Reinforcement learning: CartPole's dynamics, and a REINFORCE agent that beats random play."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plexnet.compute.task import TaskContext, load_task
from plexnet.core.blobstore import LocalBlobStore
from plexnet.models import ModelError
from plexnet.models.mlp import load_mlp
from plexnet.models.rl import CartPole, random_returns, rollout, train_reinforce


def test_an_unpushed_pole_falls_the_way_physics_says():
    env = CartPole(np.random.default_rng(0))
    env.state = (0.0, 0.0, 0.01, 0.0)
    s, reward, done = env.step(1)
    # First step: positions move with the old velocities (Euler), so only the
    # velocities change; the push right accelerates the cart right and tips the pole left.
    assert s[0] == 0.0 and s[2] == 0.01 and s[1] > 0 and s[3] < 0 and reward == 1.0
    assert not done
    # The pole equation at rest: θ̈ = (g·sin θ - cos θ·F/M) / (l·(4/3 - m·cos²θ/M))
    expected = (9.8 * math.sin(0.01) - math.cos(0.01) * 10.0 / 1.1) / (
        0.5 * (4 / 3 - 0.1 * math.cos(0.01) ** 2 / 1.1))
    assert s[3] == pytest.approx(0.02 * expected, rel=1e-12)


def test_episodes_end_at_the_limits():
    env = CartPole(np.random.default_rng(0))
    env.reset()
    env.state = (0.0, 0.0, 0.2, 1.0)  # past 12° after one step
    assert env.step(0)[2]
    env.reset()
    env.state = (2.39, 1.0, 0.0, 0.0)
    assert env.step(1)[2]


def test_a_random_policy_scores_about_twenty_two():
    returns = random_returns(200, seed=0)
    assert 18 < np.mean(returns) < 27 and min(returns) >= 8  # 8+ steps to tip 12° from rest


def test_the_agent_learns_to_balance():
    policy, m = train_reinforce({"episodes": 100, "seed": 0})
    # Measured: last-20 mean 191 vs random 22; greedy 196; 17,100 steps in about 6 s.
    assert m["mean_return_last20"] >= 150 > 5 * m["random_mean_return"]
    assert m["greedy_mean_return"] >= 150
    assert m["samples"] >= 100 * 9 and m["episodes"] == 100
    assert m["flops_estimate"] == 6 * m["params"] * m["samples"] and m["params"] == 835
    assert 0.75 < m["flops_ratio"] < 0.85
    rng = np.random.default_rng(7)
    assert rollout(CartPole(rng), policy, rng, greedy=True)[2] > 100


def test_the_task_kind_is_reproducible(tmp_path):
    ctx = TaskContext(blobs=LocalBlobStore(tmp_path), provider="p1", job_id="j1")
    task = load_task("train.rl", "plexnet.models.rl")
    first = task.run(ctx, [], {"episodes": 30, "seed": 3})
    again = task.run(ctx, [], {"episodes": 30, "seed": 3})
    other = task.run(ctx, [], {"episodes": 30, "seed": 4})
    assert first.outputs == again.outputs and first.metrics == again.metrics
    assert first.outputs != other.outputs
    policy = load_mlp(ctx.blobs.get(first.outputs["policy"]))
    assert policy.config == {"arch": "mlp", "in": 4, "hidden": [64], "out": 2}
    with pytest.raises(ModelError, match="no inputs"):
        task.run(ctx, ["bafy"], {})


@pytest.mark.parametrize(("params", "match"), [
    ({"episodes": 0}, "episodes"),
    ({"episodes": 2.5}, "episodes"),
    ({"lr": 0}, "lr"),
    ({"gamma": 1.5}, "gamma"),
    ({"gamma": 0}, "gamma"),
    ({"seed": -1}, "seed"),
    ({"hidden": [0]}, "hidden"),
    ({"epochs": 5}, "unknown rl parameters"),
])
def test_bad_params_are_refused(params, match):
    with pytest.raises(ModelError, match=match):
        train_reinforce(params)
